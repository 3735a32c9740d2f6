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
import { DriverBase, type DriverContext } from '../driver.js';
import { imageStats, parsePgm } from './pgm.js';
import { scanMetadataSchema } from './scan-file.js';
import type { XrayReading } from './xray-folder-driver.js';

export type AckedXrayReading = XrayReading & { ack: { resolve(): void; reject(error: unknown): void } };

export class XrayHttpDriver extends DriverBase<AckedXrayReading> {
  readonly id: string;
  readonly kind = 'xray' as const;
  refused = 0;

  constructor(
    private readonly config: XrayHttpConfig,
    /** Where received images are kept (the gateway's data directory). */
    private readonly imageDir: string,
    context: DriverContext,
  ) {
    super(context);
    this.id = config.id;
  }

  get path(): string {
    return this.config.connection.path;
  }

  private stopped = true;

  start(): Promise<void> {
    this.stopped = false;
    mkdirSync(this.imageDir, { recursive: true });
    this.setHealth('up');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.removeAllListeners();
    return Promise.resolve();
  }

  async handle(contentType: string | undefined, body: Buffer): Promise<{ status: number; body: string }> {
    // A stopped driver stores nothing, so it must not say 200: the scanner keeps the scan and retries.
    if (this.stopped) return { status: 503, body: 'device input stopped' };
    const refuse = (reason: string): { status: number; body: string } => {
      this.refused += 1;
      this.setHealth('degraded', `refused push: ${reason}`);
      return { status: 400, body: reason };
    };
    const boundary = boundaryOf(contentType);
    const parts = boundary ? parseMultipart(body, boundary) : [];
    const metadataBytes = boundary ? parts.find((p) => p.name === 'metadata' || p.contentType === 'application/json')?.body : body;
    if (!metadataBytes) return refuse('no metadata part');
    let json: unknown;
    try {
      json = JSON.parse(metadataBytes.toString('utf8'));
    } catch (error) {
      return refuse(`unreadable metadata: ${(error as Error).message}`);
    }
    const parsed = scanMetadataSchema.safeParse(json);
    if (!parsed.success) return refuse(`invalid metadata: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const metadata = parsed.data;
    let image: XrayReading['image'] = null;
    let imageRef: string | null = null;
    if (metadata.status === 'completed') {
      const imagePart = parts.find((p) => p.name === 'image' || p.contentType === 'image/x-portable-graymap');
      if (!imagePart) return refuse('a completed scan must carry its image part');
      const decoded = parsePgm(imagePart.body);
      if (!decoded.ok) return refuse(`image: ${decoded.error}`);
      if (decoded.image.maxval <= 255) return refuse('image: 8-bit image, a 16-bit greyscale image is required');
      imageRef = join(this.imageDir, `${metadata.scanId}.pgm`);
      writeFileSync(imageRef, imagePart.body);
      image = { width: decoded.image.width, height: decoded.image.height, ...imageStats(decoded.image) };
    }
    const stored = new Promise<void>((resolve, reject) =>
      this.emitReading({
        type: 'scan',
        deviceId: this.id,
        status: metadata.status,
        scanId: metadata.scanId,
        scannerId: metadata.scannerId,
        plate: metadata.plate,
        container: metadata.container,
        scannerTime: metadata.time,
        imageRef,
        image,
        metadataRef: metadata.metadataRef,
        decision: metadata.decision ?? null,
        atMs: this.context.clock.now(),
        ack: { resolve, reject },
      }),
    );
    try {
      await stored;
      this.setHealth('up');
      return { status: 200, body: 'stored' };
    } catch (error) {
      return { status: 503, body: `not stored: ${(error as Error).message}` };
    }
  }
}
