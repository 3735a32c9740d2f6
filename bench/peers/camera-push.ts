/**
 * What a Hikvision ANPR camera POSTs for each plate it reads (ISAPI "HTTP listening"): a
 * multipart/form-data body with the `EventNotificationAlert` XML and two JPEGs, the plate crop
 * and the scene. The XML is the captured push in drivers/anpr/fixtures (see its SOURCES.md) with
 * only the plate, the event time and the alert UUID changed per read, so no peer can take one
 * read for a resend of another. Both peers get the very same bytes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../core/package-info.js';

const FIXTURE = join(PACKAGE_ROOT, 'drivers/anpr/fixtures/hikvision-isapi-anpr-alert.xml');
const BOUNDARY = 'MIME_boundary_bench_7c2f0a9e41';

export interface PushSizes {
  /** Bytes of the plate crop JPEG. */
  plateJpegBytes: number;
  /** Bytes of the scene JPEG. */
  sceneJpegBytes: number;
}

/** One push: the body as chunks (written without copying the pictures) and its headers. */
export interface CameraPush {
  plate: string;
  chunks: Buffer[];
  contentType: string;
  contentLength: number;
}

export class CameraPushes {
  private readonly template: string;
  private readonly plateJpeg: Buffer;
  private readonly sceneJpeg: Buffer;
  private readonly plateHead = partHead('licensePlatePicture.jpg', 'image/jpeg');
  private readonly sceneHead = partHead('detectionPicture.jpg', 'image/jpeg');
  private readonly crlf = Buffer.from('\r\n');
  private readonly close = Buffer.from(`--${BOUNDARY}--\r\n`);

  constructor(sizes: PushSizes) {
    this.template = readFileSync(FIXTURE, 'utf8');
    for (const field of ['<licensePlate>PECT600</licensePlate>', '<UUID>', '<dateTime>']) {
      if (!this.template.includes(field)) throw new Error(`${FIXTURE} no longer holds ${field}: the push template needs it`);
    }
    this.plateJpeg = fakeJpeg(sizes.plateJpegBytes, 1);
    this.sceneJpeg = fakeJpeg(sizes.sceneJpegBytes, 2);
  }

  /** The push of read number `n` of the run whose plates start with `prefix`. */
  push(prefix: string, n: number, atMs: number): CameraPush {
    const plate = `${prefix}${String(n).padStart(6, '0')}`;
    const xml = this.template
      .replace(/<licensePlate>[^<]*<\/licensePlate>/, `<licensePlate>${plate}</licensePlate>`)
      .replace(/<originalLicensePlate>[^<]*<\/originalLicensePlate>/, `<originalLicensePlate>${plate}</originalLicensePlate>`)
      .replace(/<dateTime>[^<]*<\/dateTime>/, `<dateTime>${new Date(atMs).toISOString()}</dateTime>`)
      .replace(/<UUID>[^<]*<\/UUID>/, `<UUID>bench-${plate}-${atMs.toString(36)}</UUID>`);
    const chunks = [partHead('anpr.xml', 'text/xml'), Buffer.from(xml), this.crlf, this.plateHead, this.plateJpeg, this.crlf, this.sceneHead, this.sceneJpeg, this.crlf, this.close];
    return { plate, chunks, contentType: `multipart/form-data; boundary=${BOUNDARY}`, contentLength: chunks.reduce((sum, chunk) => sum + chunk.length, 0) };
  }
}

function partHead(filename: string, type: string): Buffer {
  return Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${filename}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`);
}

/**
 * JPEG-shaped bytes (SOI … EOI) of the given size. Neither peer decodes a picture, so only the
 * size matters; the filler is a fixed xorshift sequence, never the boundary.
 */
function fakeJpeg(bytes: number, seed: number): Buffer {
  const jpeg = Buffer.alloc(Math.max(4, bytes));
  let state = 0x9e3779b9 ^ seed;
  for (let i = 0; i < jpeg.length; i += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    jpeg[i] = state & 0xff;
  }
  jpeg.set([0xff, 0xd8], 0);
  jpeg.set([0xff, 0xd9], jpeg.length - 2);
  return jpeg;
}
