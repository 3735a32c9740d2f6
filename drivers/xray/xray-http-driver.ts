/**
 * X-ray scanner pushing over HTTP to the gateway: POST `<path>` with the scan metadata as JSON
 * (the drop-folder schema), or as multipart with a `metadata` JSON part and, for a completed
 * scan, the 16-bit PGM image part. A bad or partial push is refused with 400 and its reason; a
 * good one is answered 200 once stored (the reading's `ack`). The HTTP layer bounds the whole
 * body; this parser bounds its parts: metadata to `maxMetadataBytes`, the image to
 * `maxImageBytes`, checked by its header and size before any sample is looked at.
 */
import { join } from 'node:path';
import type { XrayHttpConfig } from '../../config/schema.js';
import { boundaryOf, DEFAULT_MULTIPART_LIMITS, readMultipart } from '../anpr/multipart.js';
import { makePrivateDir, writePrivateFile } from '../../core/private-files.js';
import type { DriverContext } from '../driver.js';
import { PushDriverBase, type Ack } from '../push-driver.js';
import { bodySizeProblem, parsePgmHeader, PGM_HEADER_MAX_BYTES, SampleStats } from './pgm.js';
import { scanFields, scanMetadataSchema } from './scan-file.js';
import type { XrayReading } from './xray-folder-driver.js';

export type AckedXrayReading = XrayReading & { ack: Ack };

export class XrayHttpDriver extends PushDriverBase<AckedXrayReading> {
  readonly id: string;
  readonly kind = 'xray' as const;

  constructor(
    private readonly config: XrayHttpConfig,
    /** Where received images are kept (the gateway's data directory). */
    private readonly imageDir: string,
    context: DriverContext,
  ) {
    super(config.connection.path, context);
    this.id = config.id;
  }

  override start(): Promise<void> {
    // Scan images are evidence: owner only, whatever the umask (the data directory is 0700 too).
    makePrivateDir(this.imageDir, true);
    return super.start();
  }

  protected decode(contentType: string | undefined, body: Buffer): ((ack: Ack) => AckedXrayReading) | string {
    const boundary = boundaryOf(contentType);
    // Parts as large as the image may be (the listener's body limit bounds the whole push first).
    const read = boundary ? readMultipart(body, boundary, { ...DEFAULT_MULTIPART_LIMITS, maxPartBytes: Math.max(this.config.maxImageBytes, this.config.maxMetadataBytes) }) : { ok: true as const, parts: [] };
    if (!read.ok) return `malformed multipart push: ${read.error}`;
    const { parts } = read;
    const metadataBytes = boundary ? parts.find((p) => p.name === 'metadata' || p.contentType === 'application/json')?.body : body;
    if (!metadataBytes) return 'no metadata part';
    if (metadataBytes.length > this.config.maxMetadataBytes) return `metadata is ${metadataBytes.length} bytes, more than the ${this.config.maxMetadataBytes} allowed`;
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
      const bytes = imagePart.body;
      if (bytes.length > this.config.maxImageBytes) return `image: ${bytes.length} bytes, more than the ${this.config.maxImageBytes} allowed`;
      const parsed = parsePgmHeader(bytes.subarray(0, PGM_HEADER_MAX_BYTES), { maxBodyBytes: this.config.maxImageBytes });
      if (!parsed.ok) return `image: ${parsed.error}`;
      const { header } = parsed;
      const sizeProblem = bodySizeProblem(header, bytes.length);
      if (sizeProblem) return `image: ${sizeProblem}`;
      if (header.maxval <= 255) return 'image: 8-bit image, a 16-bit greyscale image is required';
      const stats = new SampleStats(header.bytesPerSample);
      stats.add(bytes.subarray(header.headerBytes));
      imageRef = join(this.imageDir, `${metadata.scanId}.pgm`);
      writePrivateFile(imageRef, bytes);
      image = { width: header.width, height: header.height, ...stats.result() };
    }
    return (ack) => ({ type: 'scan', deviceId: this.id, ...scanFields(metadata), imageRef, image, atMs: this.context.clock.now(), ack });
  }
}
