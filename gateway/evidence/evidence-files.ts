/**
 * The evidence store's files: one per piece, named by its digest, at `{dir}/{first two hex
 * digits}/{hex}` (so no folder holds more than a few hundred entries per 100,000 pieces). A piece
 * is written to a temporary file in `dir`, synced, then renamed into place: on disk it is whole or
 * absent. What a kill leaves behind (a temporary file; a piece whose index row never committed) is
 * found by `scan` and removed at start (evidence-store.ts).
 *
 * Pieces are streamed: a file is copied and hashed 1 MiB at a time, a chunk for the VMC is read at
 * its offset, a digest is checked by reading the file through. Nothing here holds a whole image
 * except `writeBytes`, whose caller already holds it (a camera's snapshot, a thumbnail).
 */
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rename, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { makePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../../core/private-files.js';
import { fileWriteStarted } from '../../core/file-writes.js';

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;
const HEX_NAME = /^[0-9a-f]{64}$/;
const FANOUT_NAME = /^[0-9a-f]{2}$/;
const TEMP_PREFIX = '.tmp-';
const COPY_BUFFER_BYTES = 1024 * 1024;
/** Opened as the workflow opens scan images: no symbolic link followed, no FIFO waited on. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** A piece written but not yet in place: `place` names it by its digest, `discard` drops it. */
export interface TempPiece {
  path: string;
  digest: string;
  bytes: number;
}

export class EvidenceFiles {
  private temps = 0;

  constructor(readonly dir: string) {}

  /** Creates the store's folder (0700: pictures of plates and cargo are evidence). */
  ensureDir(): void {
    makePrivateDir(this.dir, true);
  }

  pathOf(digest: string): string {
    const hex = digest.slice('sha256:'.length);
    return join(this.dir, hex.slice(0, 2), hex);
  }

  /** Bytes free for the gateway's user on the store's file system. */
  async availableBytes(): Promise<number> {
    const stats = await statfs(this.dir);
    return stats.bavail * stats.bsize;
  }

  /** Writes `body` to a synced temporary file; its digest is computed from the bytes written. */
  async writeBytes(body: Buffer): Promise<TempPiece> {
    const path = this.tempPath();
    const over = fileWriteStarted(body.length);
    try {
      const file = await open(path, 'wx', PRIVATE_FILE_MODE);
      try {
        await file.writeFile(body);
        await file.sync();
      } catch (error) {
        await file.close();
        await unlink(path).catch(() => undefined);
        throw error;
      }
      await file.close();
    } finally {
      over();
    }
    return { path, digest: `sha256:${createHash('sha256').update(body).digest('hex')}`, bytes: body.length };
  }

  /** Size of the regular file at `source` (throws for anything else). */
  async sizeOf(source: string): Promise<number> {
    const input = await open(source, READ_FLAGS);
    try {
      const stats = await input.stat();
      if (!stats.isFile()) throw new Error(`${source} is not a regular file`);
      return stats.size;
    } finally {
      await input.close();
    }
  }

  /**
   * Copies the regular file at `source` into a synced temporary file, hashing while copying; refuses
   * (throws) a file that is not regular, is larger than `maxBytes`, or changes size while copied.
   */
  async copyFile(source: string, maxBytes: number): Promise<TempPiece> {
    const input = await open(source, READ_FLAGS);
    try {
      const stats = await input.stat();
      if (!stats.isFile()) throw new Error(`${source} is not a regular file`);
      if (stats.size > maxBytes) throw new Error(`${source} is ${stats.size} bytes, more than the ${maxBytes} the store may hold`);
      const over = fileWriteStarted(stats.size);
      const path = this.tempPath();
      const output = await open(path, 'wx', PRIVATE_FILE_MODE).catch((error: unknown) => {
        over();
        throw error;
      });
      try {
        const hash = createHash('sha256');
        const buffer = Buffer.alloc(Math.min(COPY_BUFFER_BYTES, Math.max(1, stats.size)));
        let copied = 0;
        for (;;) {
          const { bytesRead } = await input.read(buffer, 0, buffer.length, copied);
          if (bytesRead === 0) break;
          copied += bytesRead;
          if (copied > stats.size) throw new Error(`${source} grew while it was copied`);
          const part = buffer.subarray(0, bytesRead);
          hash.update(part);
          await output.write(part, 0, bytesRead);
        }
        if (copied !== stats.size) throw new Error(`${source} shrank while it was copied (${copied} of ${stats.size} bytes)`);
        await output.sync();
        await output.close();
        return { path, digest: `sha256:${hash.digest('hex')}`, bytes: copied };
      } catch (error) {
        await output.close().catch(() => undefined);
        await unlink(path).catch(() => undefined);
        throw error;
      } finally {
        over();
      }
    } finally {
      await input.close();
    }
  }

  /** Renames a temporary piece into its place (dropping it when the same bytes are there already). */
  async place(piece: TempPiece): Promise<void> {
    const target = this.pathOf(piece.digest);
    const folder = join(target, '..');
    await mkdir(folder, { recursive: true, mode: PRIVATE_DIR_MODE });
    await rename(piece.path, target);
    // The rename is durable once the folder is synced: a power cut cannot then lose a piece whose
    // index row the outbox has committed (its fsync follows this).
    await syncFolder(folder);
  }

  async discard(piece: TempPiece): Promise<void> {
    await unlink(piece.path).catch(() => undefined);
  }

  /** Removes a stored piece; one already gone is no error. */
  async remove(digest: string): Promise<void> {
    try {
      await unlink(this.pathOf(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Chunk `index` of a stored piece: at most `chunkBytes` from `index × chunkBytes`. */
  async readChunk(digest: string, index: number, chunkBytes: number): Promise<Buffer> {
    const file = await open(this.pathOf(digest), READ_FLAGS);
    try {
      const buffer = Buffer.alloc(chunkBytes);
      let filled = 0;
      while (filled < chunkBytes) {
        const { bytesRead } = await file.read(buffer, filled, chunkBytes - filled, index * chunkBytes + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    } finally {
      await file.close();
    }
  }

  /** The file of piece `digest` open for reading, null when there is none. */
  private async openPiece(digest: string): Promise<FileHandle | null> {
    try {
      return await open(this.pathOf(digest), READ_FLAGS);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /**
   * The bytes of piece `digest` as they are on disk, at most `maxBytes` (its stored size), when
   * they still hash to it; else why not: the file is gone, or it changed (another size, other bytes).
   */
  async readPiece(digest: string, maxBytes: number): Promise<Buffer | 'missing' | 'changed'> {
    const file = await this.openPiece(digest);
    if (!file) return 'missing';
    try {
      const { size } = await file.stat();
      if (size > maxBytes) return 'changed';
      const body = Buffer.alloc(size);
      for (let position = 0; position < size; ) {
        const { bytesRead } = await file.read(body, position, size - position, position);
        if (bytesRead === 0) return 'changed';
        position += bytesRead;
      }
      return `sha256:${createHash('sha256').update(body).digest('hex')}` === digest ? body : 'changed';
    } finally {
      await file.close();
    }
  }

  /**
   * The digest of a stored piece's bytes as they are on disk now, null when it is missing, or
   * 'longer' when it holds more than `bytes` (read no further: a file that keeps growing must not
   * hold a read, and the store's stop that waits for it, for ever).
   */
  async digestOnDisk(digest: string, bytes: number): Promise<string | null> {
    const file = await this.openPiece(digest);
    if (!file) return null;
    try {
      const hash = createHash('sha256');
      const buffer = Buffer.alloc(COPY_BUFFER_BYTES);
      for (let position = 0; ; ) {
        const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        position += bytesRead;
        if (position > bytes) return 'longer';
        hash.update(buffer.subarray(0, bytesRead));
      }
      return `sha256:${hash.digest('hex')}`;
    } finally {
      await file.close();
    }
  }

  /**
   * Everything in the store's folder: the pieces by digest with their sizes, and what is not a
   * piece (temporary files; anything else found there), to be removed.
   */
  async scan(): Promise<{ pieces: Map<string, number>; strays: string[] }> {
    const pieces = new Map<string, number>();
    const strays: string[] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      const path = join(this.dir, entry.name);
      if (!entry.isDirectory() || !FANOUT_NAME.test(entry.name)) {
        if (entry.isFile() || entry.name.startsWith(TEMP_PREFIX)) strays.push(path);
        continue;
      }
      for (const inner of await readdir(path, { withFileTypes: true })) {
        const file = join(path, inner.name);
        if (inner.isFile() && HEX_NAME.test(inner.name) && inner.name.startsWith(entry.name)) {
          pieces.set(`sha256:${inner.name}`, (await lstat(file)).size);
        } else if (inner.isFile()) {
          strays.push(file);
        }
      }
    }
    return { pieces, strays };
  }

  /** Removes a file `scan` reported as stray. */
  async removeStray(path: string): Promise<void> {
    await unlink(path).catch(() => undefined);
  }

  private tempPath(): string {
    this.temps += 1;
    return join(this.dir, `${TEMP_PREFIX}${process.pid}-${this.temps}`);
  }
}

async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
