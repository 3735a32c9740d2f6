/**
 * A small greyscale PNG of a scan's 16-bit image (PGM or DICOS), for the console to draw the screening
 * regions over. Made without holding the image: only the header and the rows the thumbnail
 * samples are read (nearest neighbour, at most `maxSide` rows of one image row each), so a
 * 32 MiB scan costs a few hundred small reads and no large buffer, and never blocks the loop.
 *
 * The file is where the scanner driver wrote it (or the drop folder accepted it): opened as the
 * workflow opens it for screening — no symbolic link followed, no FIFO waited on, a regular file
 * whose size is exactly what its header announces.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import { bodySizeProblem, readSample } from '../../drivers/xray/pgm.js';
import { readScanImageHeaderAsync, SCAN_HEADER_MAX_BYTES } from '../../drivers/xray/scan-image-header.js';

export interface Thumbnail {
  png: Buffer;
  /** The scan's own size: screening regions are in its pixels. */
  imageWidth: number;
  imageHeight: number;
}

/** Largest scan looked at: as screening (4096 × 4096 16-bit samples and a header). */
const MAX_IMAGE_BYTES = 4096 * 4096 * 2 + SCAN_HEADER_MAX_BYTES;

/** The file is there but is not a scan image this gateway reads (not a regular file, too large, not a PGM): no retry mends it. */
export class NotAScanImage extends Error {
  override readonly name = 'NotAScanImage';
}

export async function xrayThumbnail(path: string, maxSide = 320): Promise<Thumbnail> {
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stats = await file.stat();
    if (!stats.isFile()) throw new NotAScanImage(`${path} is not a regular file`);
    if (stats.size > MAX_IMAGE_BYTES) throw new NotAScanImage(`${path} is ${stats.size} bytes, more than ${MAX_IMAGE_BYTES}`);
    const parsed = await readScanImageHeaderAsync(async (length) => {
      const head = Buffer.alloc(length);
      const { bytesRead } = await file.read(head, 0, length, 0);
      return head.subarray(0, bytesRead);
    }, stats.size);
    if (!parsed.ok) throw new NotAScanImage(parsed.error);
    const { header } = parsed;
    const problem = bodySizeProblem(header, stats.size);
    if (problem) throw new NotAScanImage(problem);
    const scale = Math.max(header.width, header.height) / maxSide;
    const width = Math.max(1, Math.round(header.width / Math.max(1, scale)));
    const height = Math.max(1, Math.round(header.height / Math.max(1, scale)));
    const rowBytes = header.width * header.bytesPerSample;
    const row = Buffer.alloc(rowBytes);
    const samples = new Uint16Array(width * height);
    for (let y = 0; y < height; y += 1) {
      const sourceY = Math.min(header.height - 1, Math.floor(((y + 0.5) * header.height) / height));
      await file.read(row, 0, rowBytes, header.headerBytes + sourceY * rowBytes);
      for (let x = 0; x < width; x += 1) {
        const sourceX = Math.min(header.width - 1, Math.floor(((x + 0.5) * header.width) / width));
        samples[y * width + x] = readSample(header, row, sourceX * header.bytesPerSample);
      }
    }
    return { png: greyPng(width, height, stretch(samples)), imageWidth: header.width, imageHeight: header.height };
  } finally {
    await file.close();
  }
}

/**
 * 16-bit samples to 8-bit grey over the range the thumbnail holds, dense (high absorption) dark
 * as on a cargo X-ray screen.
 */
function stretch(samples: Uint16Array): Uint8Array {
  let min = 65535;
  let max = 0;
  for (const value of samples) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  const range = Math.max(1, max - min);
  // A loop, not Uint8Array.from with an arrow: a closure made per call is optimised again per
  // image (docs/benchmarks.md, "Optimised again and again").
  const grey = new Uint8Array(samples.length);
  for (let i = 0; i < samples.length; i += 1) grey[i] = 255 - Math.round((((samples[i] as number) - min) * 255) / range);
  return grey;
}

/** An 8-bit greyscale PNG (PNG spec: IHDR colour type 0, one filter byte 0 per row, IEND). */
export function greyPng(width: number, height: number, grey: Uint8Array): Buffer {
  const raw = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y += 1) raw.set(grey.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
