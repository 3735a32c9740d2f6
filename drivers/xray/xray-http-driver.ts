/**
 * X-ray scanner pushing over HTTP to the gateway: POST `<path>` with the scan metadata as JSON
 * (the drop-folder schema), or as multipart with a `metadata` JSON part and, for a completed
 * scan, the 16-bit PGM image part. A bad or partial push is refused with 400 and its reason; a
 * good one is answered 200 once stored (the reading's `ack`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { XrayHttpConfig } from '../../config/schema.js';
import { boundaryOf, parseMultipart } from '../anpr/multipart.js';
import type { DriverContext } from '../driver.js';
import { PushDriverBase, type Ack } from '../push-driver.js';
import { imageStats, parsePgm } from './pgm.js';
import { scanFields, scanMetadataSchema } from './scan-file.js';
import type { XrayReading } from './xray-folder-driver.js';

export type AckedXrayReading = XrayReading & { ack: Ack };

export class XrayHttpDriver extends PushDriverBase<AckedXrayReading> {
  readonly id: string;
  readonly kind = 'xray' as const;

  constructor(
    config: XrayHttpConfig,
    /** Where received images are kept (the gateway's data directory). */
    private readonly imageDir: string,
    context: DriverContext,
  ) {
    super(config.connection.path, context);
    this.id = config.id;
  }

  override start(): Promise<void> {
    mkdirSync(this.imageDir, { recursive: true });
    return super.start();
  }

  protected decode(contentType: string | undefined, body: Buffer): ((ack: Ack) => AckedXrayReading) | string {
    const boundary = boundaryOf(contentType);
    const parts = boundary ? parseMultipart(body, boundary) : [];
    const metadataBytes = boundary ? parts.find((p) => p.name === 'metadata' || p.contentType === 'application/json')?.body : body;
    if (!metadataBytes) return 'no metadata part';
    let json: unknown;
    try {
      json = JSON.parse(metadataBytes.toString('utf8'));
    } catch (error) {
      return `unreadable metadata: ${(error as Error).message}`;
    }
    const parsed = scanMetadataSchema.safeParse(json);
    if (!parsed.success) return `invalid metadata: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
    const metadata = parsed.data;
    let image: XrayReading['image'] = null;
    let imageRef: string | null = null;
    if (metadata.status === 'completed') {
      const imagePart = parts.find((p) => p.name === 'image' || p.contentType === 'image/x-portable-graymap');
      if (!imagePart) return 'a completed scan must carry its image part';
      const decoded = parsePgm(imagePart.body);
      if (!decoded.ok) return `image: ${decoded.error}`;
      if (decoded.image.maxval <= 255) return 'image: 8-bit image, a 16-bit greyscale image is required';
      imageRef = join(this.imageDir, `${metadata.scanId}.pgm`);
      writeFileSync(imageRef, imagePart.body);
      image = { width: decoded.image.width, height: decoded.image.height, ...imageStats(decoded.image) };
    }
    return (ack) => ({ type: 'scan', deviceId: this.id, ...scanFields(metadata), imageRef, image, atMs: this.context.clock.now(), ack });
  }
}
