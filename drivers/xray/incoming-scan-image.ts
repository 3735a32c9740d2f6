/**
 * A scan's image as a push brings it: written to a file of its own as its bytes arrive, checked
 * on the way (its header, PGM or DICOS, as soon as it is in, its size against the limit, its samples counted
 * for the reading's statistics), and kept under a name of its own only once the push is complete
 * and its image right. So an X-ray push is never held in memory, whatever its size; a push that
 * is refused, cut off or fails leaves nothing behind (`discard`), and one that a kill interrupts
 * leaves a file in INCOMING_DIR, which the driver empties at its next start.
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fileWriteStarted } from '../../core/file-writes.js';
import { makePrivateDir, PRIVATE_FILE_MODE } from '../../core/private-files.js';
import { PushNotStored } from '../push-driver.js';
import { bodySizeProblem, PGM_HEADER_MAX_BYTES, SampleStats, type ImageStats, type ScanImageHeader } from './pgm.js';
import { parseScanImageHeader, SCAN_HEADER_MAX_BYTES, SCAN_IMAGE_EXTENSIONS } from './scan-image-header.js';

/**
 * Images being received, in a folder of their own: a scan's name has no `/` (scan-file.ts), so no
 * kept image can be taken for one of these, whatever the scanner calls it.
 */
export const INCOMING_DIR = '.incoming';

/** Makes the folder of images being received under `dir`, and removes what pushes interrupted by a kill left there. */
export function prepareIncoming(dir: string): void {
  const incoming = join(dir, INCOMING_DIR);
  makePrivateDir(incoming, true);
  for (const name of readdirSync(incoming)) rmSync(join(incoming, name), { force: true, recursive: true });
}

/** The gateway's own failure to keep the image (the disk): the device is told to send it again. */
function notStored(step: string, error: unknown): PushNotStored {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return new PushNotStored(`scan image could not be ${step}: ${typeof code === 'string' ? code : String(message)}`, { cause: error });
}

export class IncomingScanImage {
  private file: FileHandle | null = null;
  private path: string | null = null;
  private kept = false;
  private bytes = 0;
  /** The first bytes, until the header can be read from them. */
  private head: Buffer[] = [];
  private headBytes = 0;
  /**
   * Bytes in before the header is looked at (again): a PGM's bound, then twice as many each time a
   * DICOS header needs more, so a scanner sending a byte at a time costs a few copies of the first
   * bytes, not one per byte.
   */
  private nextHeaderTry = PGM_HEADER_MAX_BYTES;
  private header: ScanImageHeader | null = null;
  private stats: SampleStats | null = null;

  constructor(
    private readonly dir: string,
    private readonly maxImageBytes: number,
  ) {}

  get started(): boolean {
    return this.path !== null;
  }

  /** Opens the file the image goes to (owner only: scans are evidence). */
  async begin(): Promise<void> {
    const path = join(this.dir, INCOMING_DIR, `${randomUUID()}.image`);
    try {
      this.file = await open(path, 'wx', PRIVATE_FILE_MODE);
    } catch (error) {
      throw notStored('created', error);
    }
    this.path = path;
  }

  /** Writes the next bytes of the image; the reason it is refused, when that is already clear. */
  async write(bytes: Buffer): Promise<string | null> {
    this.bytes += bytes.length;
    if (this.bytes > this.maxImageBytes) return `${this.bytes} bytes or more, more than the ${this.maxImageBytes} allowed`;
    const problem = this.check(bytes);
    if (problem) return problem;
    await this.writeOut(bytes);
    return null;
  }

  /**
   * The image is all here: its dimensions and sample statistics, or why it is refused (a header
   * it never completed, samples short or beyond what the header announced).
   */
  finish(): { width: number; height: number } & ImageStats | string {
    const problem = this.header ? null : this.readHeader(Buffer.concat(this.head), true);
    const { header, stats } = this;
    if (problem || !header || !stats) return problem ?? 'no image';
    const sizeProblem = bodySizeProblem(header, this.bytes);
    if (sizeProblem) return sizeProblem;
    return { width: header.width, height: header.height, ...stats.result() };
  }

  /** The extension of the image's format (`.pgm`, `.dcs`), once `finish` has accepted it. */
  get extension(): string {
    return SCAN_IMAGE_EXTENSIONS[this.header?.format ?? 'pgm'];
  }

  /** Makes the image durable under `path` (replacing an earlier push of the same scan). */
  async keepAs(path: string): Promise<void> {
    const file = this.file as FileHandle;
    try {
      await file.datasync();
      await file.close();
      this.file = null;
      await rename(this.path as string, path);
      this.kept = true;
    } catch (error) {
      throw notStored('stored', error);
    }
    // The rename is durable once the directory is synced: the event that names the file is.
    try {
      const dir = await open(this.dir, 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
    } catch (error) {
      throw notStored('stored', error);
    }
  }

  /** Closes and removes the file unless it was kept; safe to call more than once. */
  async discard(): Promise<void> {
    const file = this.file;
    this.file = null;
    await file?.close().catch(() => undefined);
    if (this.path && !this.kept) await unlink(this.path).catch(() => undefined);
    this.path = null;
  }

  /** Reads the header once enough bytes are in, then counts samples: a refusal as soon as one is clear. */
  private check(bytes: Buffer): string | null {
    if (this.stats) {
      this.stats.add(bytes);
      return null;
    }
    this.head.push(bytes);
    this.headBytes += bytes.length;
    if (this.headBytes < this.nextHeaderTry) return null;
    const head = Buffer.concat(this.head, this.headBytes);
    this.head = [head];
    this.nextHeaderTry = Math.min(this.headBytes * 2, SCAN_HEADER_MAX_BYTES);
    return this.readHeader(head, false);
  }

  /**
   * Reads the header from the image's first bytes and counts the samples among them; waits for
   * more bytes (null) while the header could still be completed by them (`whole`: no more come).
   */
  private readHeader(head: Buffer, whole: boolean): string | null {
    const parsed = parseScanImageHeader(head, { maxBodyBytes: this.maxImageBytes }, whole);
    if (!parsed.ok) return parsed.incomplete && !whole && head.length < SCAN_HEADER_MAX_BYTES ? null : parsed.error;
    if (parsed.header.maxval <= 255) return '8-bit image, a 16-bit greyscale image is required';
    this.head = [];
    this.header = parsed.header;
    this.stats = new SampleStats(parsed.header);
    this.stats.add(head.subarray(parsed.header.headerBytes, parsed.header.headerBytes + parsed.header.bodyBytes));
    return null;
  }

  private async writeOut(bytes: Buffer): Promise<void> {
    const file = this.file as FileHandle;
    const over = fileWriteStarted(bytes.length);
    try {
      let written = 0;
      while (written < bytes.length) written += (await file.write(bytes, written, bytes.length - written)).bytesWritten;
    } catch (error) {
      throw notStored('written', error);
    } finally {
      over();
    }
  }
}
