/**
 * 16-bit greyscale images as binary PGM (Netpbm P5): an ASCII header `P5 <width> <height>
 * <maxval>` and the samples, big-endian two bytes each when maxval > 255. Simple, lossless, read
 * by every imaging tool, and what the simulated scanner writes.
 *
 * Images come from scanners, which are adversaries until proven otherwise: the header is parsed
 * on its own from the first bytes (`parsePgmHeader`), bounded, and tells exactly how many sample
 * bytes must follow, so a file can be refused by its header and size before its body is read.
 */

export interface GreyImage {
  width: number;
  height: number;
  maxval: number;
  pixels: Uint16Array;
}

export type PgmResult = { ok: true; image: GreyImage } | { ok: false; error: string };

/** Widest and tallest image accepted (a 16384 x 16384 16-bit image is 512 MiB of samples). */
export const PGM_MAX_SIDE = 16_384;
/** The header must end within this many bytes (magic, three numbers, and room for comments). */
export const PGM_HEADER_MAX_BYTES = 1024;

/**
 * Where a scan image's samples lie in its file and how to read them: what a PGM header says, and
 * what a DICOS header says (dicos.ts). Every reader of scan images reads samples by it
 * (`readSample`, SampleStats), so both formats mean the same to screening, thumbnails and statistics.
 */
export interface ScanImageHeader {
  format: 'pgm' | 'dicos';
  width: number;
  height: number;
  maxval: number;
  bytesPerSample: 1 | 2;
  /** Samples of two bytes, least significant first (DICOS); PGM's are most significant first. */
  littleEndian: boolean;
  /** The lowest sample is white (DICOS MONOCHROME1): read as maxval − sample. */
  inverted: boolean;
  /** The bits of a sample that hold its value (DICOS may set bits above its bits stored). */
  sampleMask: number;
  /** Bytes before the samples (the PGM header with the whitespace byte after maxval; DICOS's up to the Pixel Data's value). */
  headerBytes: number;
  /** Bytes of samples after the header: width x height x bytesPerSample. */
  bodyBytes: number;
  /** Bytes may follow the samples (DICOS elements after Pixel Data); a PGM ends with its samples. */
  trailingAllowed: boolean;
}

/** `incomplete`: only the file's first bytes were given, and more of them could complete the header. */
export type ScanImageHeaderResult = { ok: true; header: ScanImageHeader } | { ok: false; error: string; incomplete?: true };

export interface ScanImageLimits {
  /** Largest width and height; default PGM_MAX_SIDE. */
  maxSide?: number;
  /** Largest body (sample bytes) a header may announce; default: no limit beyond maxSide. */
  maxBodyBytes?: number;
}

/** The sample at `offset` of `bytes`, as its header says to read it. */
export function readSample(header: ScanImageHeader, bytes: Uint8Array, offset: number): number {
  const raw = header.bytesPerSample === 1 ? (bytes[offset] as number) : header.littleEndian ? (bytes[offset] as number) | ((bytes[offset + 1] as number) << 8) : ((bytes[offset] as number) << 8) | (bytes[offset + 1] as number);
  const value = raw & header.sampleMask;
  return header.inverted ? header.maxval - value : value;
}

// Netpbm whitespace is ASCII only (blank, TAB, CR, LF, VT, FF); /\s/ would also take NBSP and NEL.
const isWhitespace = (byte: number | undefined): boolean => byte === 0x20 || (byte !== undefined && byte >= 0x09 && byte <= 0x0d);
const DECIMAL = /^[0-9]{1,10}$/;

/**
 * Reads the header from the first bytes of a file (at most PGM_HEADER_MAX_BYTES are looked at).
 * Never throws; a header that announces more than the limits allow is refused.
 */
export function parsePgmHeader(bytes: Uint8Array, limits: ScanImageLimits = {}): ScanImageHeaderResult {
  const end = Math.min(bytes.length, PGM_HEADER_MAX_BYTES);
  const incomplete = (): ScanImageHeaderResult =>
    bytes.length >= PGM_HEADER_MAX_BYTES ? { ok: false, error: `PGM header longer than ${PGM_HEADER_MAX_BYTES} bytes` } : { ok: false, error: 'truncated PGM header', incomplete: true };
  const fields: string[] = [];
  let offset = 0;
  while (fields.length < 4) {
    while (offset < end && isWhitespace(bytes[offset])) offset += 1;
    if (offset < end && bytes[offset] === 0x23) {
      while (offset < end && bytes[offset] !== 0x0a && bytes[offset] !== 0x0d) offset += 1;
      continue;
    }
    const start = offset;
    while (offset < end && !isWhitespace(bytes[offset]) && offset - start <= 10) offset += 1;
    if (offset >= end) return incomplete();
    if (start === offset) return { ok: false, error: 'truncated PGM header' };
    const field = Buffer.from(bytes.buffer, bytes.byteOffset + start, offset - start).toString('latin1');
    if (fields.length === 0 && field !== 'P5') return { ok: false, error: `not a binary PGM (magic ${JSON.stringify(field.slice(0, 10))})` };
    if (fields.length > 0 && !DECIMAL.test(field)) return { ok: false, error: `bad PGM header field ${JSON.stringify(field.slice(0, 10))}` };
    fields.push(field);
  }
  // The token loop stopped on the single whitespace byte that ends the header.
  const headerBytes = offset + 1;
  const [, w, h, m] = fields.map(Number) as [number, number, number, number];
  const maxSide = limits.maxSide ?? PGM_MAX_SIDE;
  if (w < 1 || h < 1 || w > maxSide || h > maxSide) return { ok: false, error: `bad PGM size ${w}x${h} (each side 1 to ${maxSide})` };
  if (m < 1 || m > 65535) return { ok: false, error: `bad PGM maxval ${m}` };
  const bytesPerSample = m > 255 ? 2 : 1;
  const bodyBytes = w * h * bytesPerSample;
  if (limits.maxBodyBytes !== undefined && bodyBytes > limits.maxBodyBytes) {
    return { ok: false, error: `image of ${w}x${h} needs ${bodyBytes} bytes of samples, more than the ${limits.maxBodyBytes} allowed` };
  }
  return {
    ok: true,
    header: { format: 'pgm', width: w, height: h, maxval: m, bytesPerSample, littleEndian: false, inverted: false, sampleMask: bytesPerSample === 2 ? 0xffff : 0xff, headerBytes, bodyBytes, trailingAllowed: false },
  };
}

/** The size check every reader makes: the samples must be there, and a PGM's must fill the rest of the file exactly. */
export function bodySizeProblem(header: ScanImageHeader, totalBytes: number): string | null {
  const available = totalBytes - header.headerBytes;
  if (available < header.bodyBytes) return `truncated image: expected ${header.bodyBytes} bytes of samples, got ${Math.max(0, available)}`;
  if (available > header.bodyBytes && !header.trailingAllowed) return `image has ${available - header.bodyBytes} bytes after its ${header.bodyBytes} bytes of samples`;
  return null;
}

/** Decodes a whole PGM held in memory (already bounded by whoever read it). */
export function parsePgm(bytes: Buffer, limits: ScanImageLimits = {}): PgmResult {
  const parsed = parsePgmHeader(bytes, limits);
  if (!parsed.ok) return parsed;
  const { header } = parsed;
  const problem = bodySizeProblem(header, bytes.length);
  if (problem) return { ok: false, error: problem };
  const pixels = new Uint16Array(header.width * header.height);
  const offset = header.headerBytes;
  for (let i = 0; i < pixels.length; i += 1) {
    pixels[i] = header.bytesPerSample === 2 ? bytes.readUInt16BE(offset + i * 2) : (bytes[offset + i] as number);
  }
  return { ok: true, image: { width: header.width, height: header.height, maxval: header.maxval, pixels } };
}

export function encodePgm(image: GreyImage): Buffer {
  const header = Buffer.from(`P5\n${image.width} ${image.height}\n${image.maxval}\n`, 'latin1');
  const body = Buffer.alloc(image.pixels.length * 2);
  image.pixels.forEach((value, i) => body.writeUInt16BE(value, i * 2));
  return Buffer.concat([header, body]);
}

export interface ImageStats {
  min: number;
  max: number;
  mean: number;
}

/** Summary figures that travel with the scan event (the image itself stays on disk). */
export function imageStats(image: GreyImage): ImageStats {
  let min = 65535;
  let max = 0;
  let sum = 0;
  for (const value of image.pixels) {
    if (value < min) min = value;
    if (value > max) max = value;
    sum += value;
  }
  return { min, max, mean: Math.round(sum / image.pixels.length) };
}

/**
 * The same figures from the sample bytes fed in chunks of any size, so a large image is never
 * held (or decoded) whole; bytes past the header's samples are not taken.
 */
export class SampleStats {
  private min = 65535;
  private max = 0;
  private sum = 0;
  private count = 0;
  /** The first byte of a 16-bit sample split across two chunks. */
  private readonly carry = new Uint8Array(2);
  private carried = false;
  /** Bytes taken so far: what comes after the header's samples (DICOS elements) is not counted. */
  private fed = 0;

  constructor(private readonly header: ScanImageHeader) {}

  get samples(): number {
    return this.count;
  }

  /** Takes the next bytes of the samples, in chunks of any size. */
  add(bytes: Uint8Array): void {
    const { header } = this;
    const chunk = bytes.subarray(0, Math.max(0, header.bodyBytes - this.fed));
    this.fed += chunk.length;
    let i = 0;
    if (header.bytesPerSample === 2 && this.carried && chunk.length > 0) {
      this.carry[1] = chunk[0] as number;
      this.take(readSample(header, this.carry, 0));
      this.carried = false;
      i = 1;
    }
    for (; i + header.bytesPerSample <= chunk.length; i += header.bytesPerSample) this.take(readSample(header, chunk, i));
    if (i < chunk.length) {
      this.carry[0] = chunk[i] as number;
      this.carried = true;
    }
  }

  result(): ImageStats {
    return { min: this.min, max: this.max, mean: this.count === 0 ? 0 : Math.round(this.sum / this.count) };
  }

  private take(value: number): void {
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.sum += value;
    this.count += 1;
  }
}
