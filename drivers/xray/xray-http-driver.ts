/**
 * X-ray scanner pushing over HTTP to the gateway: POST `<path>` with the scan metadata as JSON
 * (the drop-folder schema), or as multipart with a `metadata` JSON part and, for a completed
 * scan, the 16-bit PGM image part. A bad or partial push is refused with 400 and its reason; a
 * good one is answered 200 once stored (the reading's `ack`); 503 when the gateway could not keep
 * it (its disk), so the scanner sends it again. The HTTP layer bounds the whole body and hands it
 * on as it arrives; this reader bounds its parts: metadata to `maxMetadataBytes` (held), the image
 * to `maxImageBytes`, written to disk as it comes (incoming-scan-image.ts) and refused as soon as
 * its header says it is not a 16-bit image of the allowed size.
 */
import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { XrayHttpConfig } from '../../config/schema.js';
import { boundaryOf, DEFAULT_MULTIPART_LIMITS } from '../anpr/multipart.js';
import { MultipartStream } from '../anpr/multipart-stream.js';
import { makePrivateDir } from '../../core/private-files.js';
import type { DriverContext } from '../driver.js';
import { PushDriverBase, PushNotStored, type Ack, type PushBody } from '../push-driver.js';
import { IncomingScanImage, prepareIncoming } from './incoming-scan-image.js';
import { scanMetadataSchema, scanReading, type ScanMetadata } from './scan-file.js';
import type { XrayReading } from './xray-folder-driver.js';

export type AckedXrayReading = XrayReading & { ack: Ack };

type Builder = (ack: Ack) => AckedXrayReading;

const PGM_CONTENT_TYPE = 'image/x-portable-graymap';

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
    prepareIncoming(this.imageDir);
    return super.start();
  }

  protected async receive(contentType: string | undefined, body: PushBody): Promise<Builder | string> {
    const chunks = Buffer.isBuffer(body) ? [body] : body;
    const boundary = boundaryOf(contentType);
    if (!boundary) {
      const metadata = await this.metadataOnly(chunks);
      if (typeof metadata !== 'object') return metadata;
      return metadata.status === 'completed' ? 'a completed scan must carry its image part' : this.reading(metadata, null, null);
    }
    const image = new IncomingScanImage(this.imageDir, this.config.maxImageBytes);
    let releaseRoom = (): void => undefined;
    const takeRoom = async (): Promise<void> => {
      releaseRoom = await this.takeRoom();
    };
    try {
      const read = await this.readParts(chunks, boundary, image, takeRoom);
      if (typeof read === 'string') return read;
      const { metadata, imageProblem } = read;
      if (metadata.status !== 'completed') return this.reading(metadata, null, null);
      if (!image.started) return 'a completed scan must carry its image part';
      if (imageProblem) return `image: ${imageProblem}`;
      const checked = image.finish();
      if (typeof checked === 'string') return `image: ${checked}`;
      // Read while the driver stopped: nothing is kept (handle answers 503).
      if (this.isStopped) throw new PushNotStored('device input stopped');
      // A name of its own: the reading names these bytes, whatever another push of the same scan
      // (a resend racing it) brings; a resend stored again is a second file of the same scan.
      const imageRef = join(this.imageDir, `${metadata.scanId}.${randomBytes(6).toString('hex')}${image.extension}`);
      await image.keepAs(imageRef);
      return this.reading(metadata, imageRef, checked);
    } finally {
      await image.discard();
      // Kept or discarded, the image is what the disk counts now.
      releaseRoom();
    }
  }

  /**
   * Room for an image before a byte of it is written (write-room.ts), as large as the largest
   * allowed; refused (503: the scanner keeps it and sends it again) when it would leave the disk
   * with less than the outbox's room, counting the images still being received: scanners that send
   * and send (or lie about their scans) must not fill the disk the outbox commits every lane's
   * events to. The images are deleted by the tmpfiles rule of docs/deployment.md, not by the
   * gateway. Returns what lets the room go.
   */
  private async takeRoom(): Promise<() => void> {
    const room = this.context.writeRoom;
    if (!room) return () => undefined;
    const taken = await room.take(this.imageDir, this.config.maxImageBytes);
    if ('refused' in taken) throw new PushNotStored(taken.refused);
    return taken.release;
  }

  /**
   * Reads the parts as they arrive: the metadata part held (bounded) and read as soon as it ends,
   * the image part written out by `image`, others passed over. An image is checked as it comes
   * only for a completed scan (the status the old whole-push reader looked at it for): refused at
   * once when the metadata came first and said so, else its first problem is noted, the rest
   * passed over, and the status decides at the end.
   */
  private async readParts(
    chunks: AsyncIterable<Buffer> | Buffer[],
    boundary: string,
    image: IncomingScanImage,
    takeRoom: () => Promise<void>,
  ): Promise<{ metadata: ScanMetadata; imageProblem: string | null } | string> {
    // Parts as large as the image may be (the listener's body limit bounds the whole push first).
    const parser = new MultipartStream(boundary, { ...DEFAULT_MULTIPART_LIMITS, maxPartBytes: Math.max(this.config.maxImageBytes, this.config.maxMetadataBytes) });
    let metadataBytes: Buffer[] | null = null;
    let metadataLength = 0;
    let metadata: ScanMetadata | string | null = null;
    let imageProblem: string | null = null;
    let current: 'metadata' | 'image' | 'other' = 'other';
    const completed = (): boolean | null => (metadata === null ? null : typeof metadata === 'object' && metadata.status === 'completed');
    for await (const chunk of chunks) {
      const events = parser.feed(chunk);
      if (typeof events === 'string') return `malformed multipart push: ${events}`;
      for (const event of events) {
        if (event.kind === 'part') {
          const { name, contentType } = event.part;
          current = 'other';
          if (!metadataBytes && (name === 'metadata' || contentType === 'application/json')) {
            current = 'metadata';
            metadataBytes = [];
          } else if (!image.started && (name === 'image' || contentType === PGM_CONTENT_TYPE) && completed() !== false) {
            current = 'image';
            await takeRoom();
            await image.begin();
          }
        } else if (event.kind === 'data' && current === 'metadata') {
          metadataLength += event.bytes.length;
          if (metadataLength > this.config.maxMetadataBytes) return this.metadataTooLarge();
          // A copy: the view is of a chunk of the push, which must not stay with it.
          metadataBytes?.push(Buffer.from(event.bytes));
        } else if (event.kind === 'data' && current === 'image') {
          const refused = await image.write(event.bytes);
          if (refused && completed()) return `image: ${refused}`;
          if (refused) {
            imageProblem = refused;
            current = 'other';
          }
        } else if (event.kind === 'end') {
          if (current === 'metadata') metadata = this.parseMetadata(Buffer.concat(metadataBytes as Buffer[]));
          current = 'other';
        }
      }
    }
    const refused = parser.finish();
    if (refused) return `malformed multipart push: ${refused}`;
    if (metadata === null) return 'no metadata part';
    if (typeof metadata === 'string') return metadata;
    return { metadata, imageProblem };
  }

  /** A push that is only the metadata (JSON): read whole, within `maxMetadataBytes`. */
  private async metadataOnly(chunks: AsyncIterable<Buffer> | Buffer[]): Promise<ScanMetadata | string> {
    const held: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of chunks) {
      bytes += chunk.length;
      if (bytes > this.config.maxMetadataBytes) return this.metadataTooLarge();
      held.push(chunk);
    }
    return this.parseMetadata(Buffer.concat(held));
  }

  private metadataTooLarge(): string {
    return `metadata is more than the ${this.config.maxMetadataBytes} bytes allowed`;
  }

  private parseMetadata(bytes: Buffer): ScanMetadata | string {
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch (error) {
      return `unreadable metadata: ${(error as Error).message}`;
    }
    const parsed = scanMetadataSchema.safeParse(json);
    if (!parsed.success) return `invalid metadata: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`;
    return parsed.data;
  }

  private reading(metadata: ScanMetadata, imageRef: string | null, image: XrayReading['image']): Builder {
    return (ack) => ({
      ...scanReading(this.id, metadata, imageRef, image, this.context.clock.now()),
      // A reading not stored names its image to nobody: the file goes with it (the scanner sends again).
      ack: imageRef === null ? ack : { resolve: () => ack.resolve(), reject: (error) => void unlink(imageRef).catch(() => undefined).finally(() => ack.reject(error)) },
    });
  }
}
