/**
 * Reading a drop folder the scanner (or whoever else can write there) controls: which names are
 * ours, and opening and reading a file so that nothing in the folder can make the gateway follow
 * a path out of it, block on it, or read more than a bound.
 *
 * - Names: a metadata file is `<name>.json` and an image `<name>.pgm` or `<name>.dcs`, `<name>` being 1-123
 *   characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit, without `..`. Everything
 *   else (dot files, `*.tmp`, `*.part`, other extensions) is a scanner's file in progress or not
 *   ours, and is left alone.
 * - Opening: `O_NOFOLLOW` (a symbolic link is refused, not followed), `O_NONBLOCK` (a FIFO opens
 *   at once instead of waiting for a writer; regular files ignore the flag), `O_NOCTTY`. The open
 *   descriptor is then `fstat`ed: only a regular file with a single link and a size within the
 *   bound is read, and only through that descriptor.
 * - Reading: asynchronous, in chunks of at most READ_CHUNK_BYTES into one reused buffer.
 */
import { constants } from 'node:fs';
import { lstat, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Stats } from 'node:fs';
import { bodySizeProblem, SampleStats, type ImageStats, type ScanImageHeader, type ScanImageLimits } from './pgm.js';
import { readScanImageHeaderAsync } from './scan-image-header.js';

/** Longest file name the driver looks at (with its extension). */
export const MAX_NAME_LENGTH = 128;
/** How much of a file is read at a time. */
export const READ_CHUNK_BYTES = 1024 * 1024;

const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Why `name` is not a plain file name of the drop folder with extension `extension`, or null. */
export function fileNameProblem(name: string, extensions: '.json' | readonly string[]): string | null {
  if (name.length === 0) return 'an empty name';
  if (name.length > MAX_NAME_LENGTH) return `a name longer than ${MAX_NAME_LENGTH} characters`;
  if (name.includes('/') || name.includes('\\')) return 'a path, not a plain file name';
  if (name.includes('\0')) return 'a name with a NUL byte';
  if (name.includes('..')) return 'a name containing ".."';
  if (!PLAIN_NAME.test(name)) return 'a name with characters other than A-Z a-z 0-9 . _ - (or not starting with a letter or digit)';
  const endings = typeof extensions === 'string' ? [extensions] : extensions;
  if (!endings.some((ending) => name.endsWith(ending) && name.length > ending.length)) return `a name not ending in ${endings.join(' or ')}`;
  return null;
}

/** A metadata file the driver picks up (`fileNameProblem(name, '.json')` is null). */
export function isMetadataName(name: string): boolean {
  return fileNameProblem(name, '.json') === null;
}

/** What identifies one file: the same name written again (a new inode or size) is looked at again. */
export function fileIdentity(stats: Pick<Stats, 'dev' | 'ino' | 'size' | 'mtimeMs'>): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
}

export interface OpenedFile {
  handle: FileHandle;
  size: number;
  dev: number;
  ino: number;
  identity: string;
}

export type OpenResult = { ok: true; file: OpenedFile } | { ok: false; error: string; missing: boolean };

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Opens `folder/name` for reading if it is a regular file of at most `maxBytes`; never blocks. */
export async function openRegularFile(folder: string, name: string, maxBytes: number): Promise<OpenResult> {
  let handle: FileHandle;
  try {
    handle = await open(join(folder, name), OPEN_FLAGS);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // O_NOFOLLOW on a symbolic link fails with ELOOP (Linux) or EMLINK (FreeBSD), open(2).
    if (code === 'ELOOP' || code === 'EMLINK') return { ok: false, error: 'is a symbolic link, not a regular file', missing: false };
    if (code === 'ENOENT') return { ok: false, error: 'is missing', missing: true };
    return { ok: false, error: `cannot be opened (${code ?? (error as Error).message})`, missing: false };
  }
  try {
    const stats = await handle.stat();
    const refuse = async (error: string): Promise<OpenResult> => {
      await handle.close();
      return { ok: false, error, missing: false };
    };
    if (!stats.isFile()) return await refuse(`is ${kindOf(stats)}, not a regular file`);
    if (stats.nlink !== 1) return await refuse(`has ${stats.nlink} hard links (a scanner's file has one)`);
    if (stats.size > maxBytes) return await refuse(`is ${stats.size} bytes, more than the ${maxBytes} allowed`);
    return { ok: true, file: { handle, size: stats.size, dev: stats.dev, ino: stats.ino, identity: fileIdentity(stats) } };
  } catch (error) {
    await handle.close().catch(() => undefined);
    return { ok: false, error: `cannot be examined (${(error as Error).message})`, missing: false };
  }
}

/** Reads `length` bytes at `position` (fewer only at the end of the file). */
async function readAt(handle: FileHandle, buffer: Buffer, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** The whole content of a small file already bounded by `openRegularFile`. */
export async function readWhole(file: OpenedFile): Promise<Buffer> {
  const buffer = Buffer.alloc(file.size);
  const read = await readAt(file.handle, buffer, file.size, 0);
  return buffer.subarray(0, read);
}

export type ScanImageFileResult = { ok: true; header: ScanImageHeader; stats: ImageStats } | { ok: false; error: string };

/**
 * Checks an image file by its header and size before reading any sample: the header is read from
 * the first bytes, and the samples it announces must be exactly the rest of the file. Only then
 * is the body read, in chunks, into the summary figures.
 */
export async function readScanImageFile(file: OpenedFile, limits: ScanImageLimits): Promise<ScanImageFileResult> {
  const parsed = await readScanImageHeaderAsync(
    async (length) => {
      const head = Buffer.alloc(length);
      return head.subarray(0, await readAt(file.handle, head, length, 0));
    },
    file.size,
    limits,
  );
  if (!parsed.ok) return { ok: false, error: parsed.error };
  const { header } = parsed;
  const sizeProblem = bodySizeProblem(header, file.size);
  if (sizeProblem) return { ok: false, error: sizeProblem };
  const stats = new SampleStats(header);
  const chunk = Buffer.alloc(Math.min(READ_CHUNK_BYTES, header.bodyBytes));
  let position = header.headerBytes;
  let remaining = header.bodyBytes;
  while (remaining > 0) {
    const read = await readAt(file.handle, chunk, Math.min(chunk.length, remaining), position);
    if (read === 0) return { ok: false, error: `truncated image: expected ${header.bodyBytes} bytes of samples, got ${header.bodyBytes - remaining} (the file shrank while being read)` };
    stats.add(chunk.subarray(0, read));
    position += read;
    remaining -= read;
  }
  return { ok: true, header, stats: stats.result() };
}

/** Whether `path` is still the file that was opened (not swapped for another after the checks). */
export async function isSameFile(path: string, file: Pick<OpenedFile, 'dev' | 'ino'>): Promise<boolean> {
  try {
    const stats = await lstat(path);
    return stats.isFile() && stats.dev === file.dev && stats.ino === file.ino;
  } catch {
    return false;
  }
}

/**
 * Names refused but not moved aside (their move failed), with the identity they had, so a rescan
 * does not look at them again and again; bounded, the oldest forgotten first. A file written
 * again under the same name has another identity and is looked at.
 */
export class RefusedNames {
  private readonly entries = new Map<string, string>();

  constructor(private readonly capacity = 1000) {}

  get size(): number {
    return this.entries.size;
  }

  remember(name: string, identity: string): void {
    this.entries.delete(name);
    this.entries.set(name, identity);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  has(name: string, identity: string): boolean {
    return this.entries.get(name) === identity;
  }

  /** Forgets names no longer in the folder. */
  keepOnly(present: ReadonlySet<string>): void {
    for (const name of this.entries.keys()) if (!present.has(name)) this.entries.delete(name);
  }
}
