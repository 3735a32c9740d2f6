/**
 * How much a .tar.gz unpacks to, measured before `restore` unpacks anything: gunzipped as a stream
 * (in zlib's thread pool, a chunk at a time) and never written, stopping as soon as it passes the
 * bound. A few kilobytes of gzip can hold gigabytes of zeros, and GNU tar has no limit of its own:
 * unpacked beside the data directory, such an archive filled the disk the gateway writes to.
 *
 * The count is the tar stream's length, which is at least what its files take (their bytes, plus
 * 512-byte headers and padding). That holds for plain files and folders; a sparse entry (GNU 'S',
 * or PAX GNU.sparse.*) unpacks to more than it takes in the stream, so entries are read as they pass
 * and anything but a file, a folder, a long name or a PAX header is refused here (restore refuses
 * links and devices anyway: backup writes none).
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { GatewayError } from '../core/errors.js';

const BLOCK = 512;
/** PAX header data read at most (a backup's are a few hundred bytes; mtime, path, size). */
const MAX_PAX_BYTES = 64 * 1024;

const padded = (size: number): number => Math.ceil(size / BLOCK) * BLOCK;

/** The size field of a header: octal digits, or GNU's base-256 (top bit set) for large values. */
function sizeOf(field: Buffer): number {
  if ((field[0] ?? 0) & 0x80) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i += 1) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = field.toString('ascii').replace(/[\0 ]+$/g, '').trim();
  return text === '' ? 0 : Number.parseInt(text, 8);
}

/** Walks a tar stream's headers as chunks come, refusing what could unpack to more than it takes. */
class TarWalk {
  /** Bytes of the stream so far. */
  bytes = 0;
  private skip = 0;
  private want = BLOCK;
  private mode: 'header' | 'pax' = 'header';
  private parts: Buffer[] = [];
  private have = 0;
  private paxSize = 0;
  private paxLocal = false;
  /** A PAX `size` for the next entry (files over 8 GiB). */
  private nextSize: number | null = null;
  private ended = false;

  constructor(private readonly refuse: (problem: string) => Error) {}

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - offset);
        this.skip -= n;
        offset += n;
        continue;
      }
      const n = Math.min(this.want - this.have, chunk.length - offset);
      this.parts.push(chunk.subarray(offset, offset + n));
      this.have += n;
      offset += n;
      if (this.have < this.want) continue;
      const block = Buffer.concat(this.parts);
      this.parts = [];
      this.have = 0;
      if (this.mode === 'header') this.header(block);
      else this.pax(block);
    }
  }

  private header(block: Buffer): void {
    // The end of the archive (GNU tar stops reading at a zero block); what follows is counted only.
    if (block.every((byte) => byte === 0)) {
      this.ended = true;
      return;
    }
    const type = block[156] === 0 ? '0' : String.fromCharCode(block[156] ?? 0);
    let size = sizeOf(block.subarray(124, 136));
    if (!Number.isSafeInteger(size) || size < 0) throw this.refuse('a tar header with an unreadable size');
    switch (type) {
      case '0':
      case '7':
      case '5':
        if (this.nextSize !== null) size = this.nextSize;
        this.nextSize = null;
        this.skip = padded(size);
        return;
      case 'x':
      case 'g':
        if (size > MAX_PAX_BYTES) throw this.refuse(`a PAX header of ${size} bytes`);
        this.mode = 'pax';
        this.paxSize = size;
        this.paxLocal = type === 'x';
        this.want = Math.max(BLOCK, padded(size));
        if (size === 0) {
          this.mode = 'header';
          this.want = BLOCK;
        }
        return;
      case 'L':
      case 'K':
        if (size > MAX_PAX_BYTES) throw this.refuse(`a long name of ${size} bytes`);
        this.skip = padded(size);
        return;
      default:
        throw this.refuse(`an entry of tar type '${type}' (a link, a device or a sparse file): not a plain file or folder`);
    }
  }

  private pax(block: Buffer): void {
    const text = block.subarray(0, this.paxSize).toString('utf8');
    // Records: "<length> <key>=<value>\n".
    for (const record of text.split('\n')) {
      const match = /^\d+ ([^=]+)=(.*)$/s.exec(record);
      if (!match) continue;
      const [, key = '', value = ''] = match;
      if (key.startsWith('GNU.sparse')) throw this.refuse('a sparse file (PAX GNU.sparse): not a plain file');
      if (key === 'size' && this.paxLocal) {
        const size = Number(value);
        if (!Number.isSafeInteger(size) || size < 0) throw this.refuse('a PAX size that is no number');
        this.nextSize = size;
      }
    }
    this.mode = 'header';
    this.want = BLOCK;
  }
}

/**
 * Resolves with the length of the tar stream in the .tar.gz `path` once it is known to be at most
 * `maxBytes`; rejects with `tooLarge(bytes)` as soon as it passes, `invalid(problem)` for what is not
 * a gzip of a tar of plain files and folders. Reads the file once; writes nothing.
 */
export function measureTarGz(path: string, maxBytes: number, errors: { tooLarge: (bytesSoFar: number) => GatewayError; invalid: (problem: string, cause?: unknown) => GatewayError }): Promise<number> {
  return new Promise((resolve, reject) => {
    const file = createReadStream(path);
    const gunzip = createGunzip();
    const walk = new TarWalk((problem) => errors.invalid(problem));
    let settled = false;
    const fail = (error: GatewayError): void => {
      if (settled) return;
      settled = true;
      file.destroy();
      gunzip.destroy();
      reject(error);
    };
    file.on('error', (error) => fail(errors.invalid(`cannot be read: ${error.message}`, error)));
    gunzip.on('error', (error) => fail(errors.invalid(`is not a gzip file: ${error.message}`, error)));
    gunzip.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        walk.push(chunk);
      } catch (error) {
        fail(error as GatewayError);
        return;
      }
      if (walk.bytes > maxBytes) fail(errors.tooLarge(walk.bytes));
    });
    gunzip.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(walk.bytes);
    });
    file.pipe(gunzip);
  });
}
