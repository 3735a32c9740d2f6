/**
 * 16-bit greyscale images as binary PGM (Netpbm P5): an ASCII header `P5 <width> <height>
 * <maxval>` and the samples, big-endian two bytes each when maxval > 255. Simple, lossless, read
 * by every imaging tool, and what the simulated scanner writes.
 */

export interface GreyImage {
  width: number;
  height: number;
  maxval: number;
  pixels: Uint16Array;
}

export type PgmResult = { ok: true; image: GreyImage } | { ok: false; error: string };

export function parsePgm(bytes: Buffer): PgmResult {
  // Header: magic, width, height, maxval, separated by whitespace (comments start with #).
  const fields: string[] = [];
  let offset = 0;
  while (fields.length < 4) {
    while (offset < bytes.length && /\s/.test(String.fromCharCode(bytes[offset] as number))) offset += 1;
    if (bytes[offset] === 0x23) {
      while (offset < bytes.length && bytes[offset] !== 0x0a) offset += 1;
      continue;
    }
    const start = offset;
    while (offset < bytes.length && !/\s/.test(String.fromCharCode(bytes[offset] as number))) offset += 1;
    if (start === offset) return { ok: false, error: 'truncated PGM header' };
    fields.push(bytes.subarray(start, offset).toString('latin1'));
    if (fields.length === 1 && fields[0] !== 'P5') return { ok: false, error: `not a binary PGM (magic ${JSON.stringify(fields[0])})` };
  }
  offset += 1; // the single whitespace byte after maxval
  const [, w, h, m] = fields.map(Number) as [number, number, number, number];
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0 || w * h > 64 * 1024 * 1024) return { ok: false, error: `bad PGM size ${fields[1]}x${fields[2]}` };
  if (!Number.isInteger(m) || m <= 0 || m > 65535) return { ok: false, error: `bad PGM maxval ${fields[3]}` };
  const bytesPerSample = m > 255 ? 2 : 1;
  const expected = w * h * bytesPerSample;
  const available = bytes.length - offset;
  if (available < expected) return { ok: false, error: `truncated image: expected ${expected} bytes of samples, got ${available}` };
  const pixels = new Uint16Array(w * h);
  for (let i = 0; i < pixels.length; i += 1) {
    pixels[i] = bytesPerSample === 2 ? bytes.readUInt16BE(offset + i * 2) : (bytes[offset + i] as number);
  }
  return { ok: true, image: { width: w, height: h, maxval: m, pixels } };
}

export function encodePgm(image: GreyImage): Buffer {
  const header = Buffer.from(`P5\n${image.width} ${image.height}\n${image.maxval}\n`, 'latin1');
  const body = Buffer.alloc(image.pixels.length * 2);
  image.pixels.forEach((value, i) => body.writeUInt16BE(value, i * 2));
  return Buffer.concat([header, body]);
}

/** Summary figures that travel with the scan event (the image itself stays on disk). */
export function imageStats(image: GreyImage): { min: number; max: number; mean: number } {
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
