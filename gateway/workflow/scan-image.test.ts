import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodePgm, parsePgm } from '../../drivers/xray/pgm.js';
import { scaleImage } from '../../edge-models/xray-screening.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { readScanForScreening } from './scan-image.js';

/** A 16-bit image whose samples differ from pixel to pixel (so a misaligned read shows). */
function image(width: number, height: number): { width: number; height: number; maxval: number; pixels: Uint16Array } {
  const pixels = new Uint16Array(width * height);
  for (let i = 0; i < pixels.length; i += 1) pixels[i] = (i * 7919) % 65536;
  return { width, height, maxval: 65535, pixels };
}

describe('readScanForScreening', () => {
  const dir = tempDir('scan-image-');

  it('reads a 16-bit image larger than one chunk into the same samples as decoding it whole', () => {
    // 1000 × 700 × 2 bytes: 1.4 MB, read in two chunks.
    const original = image(1000, 700);
    const path = join(dir, 'big.pgm');
    writeFileSync(path, encodePgm(original));
    const decoded = parsePgm(encodePgm(original));
    if (!decoded.ok) throw new Error(decoded.error);
    const read = readScanForScreening(path);
    expect({ width: read.width, height: read.height }).toEqual({ width: 1000, height: 700 });
    expect(read.samples).toEqual(scaleImage(decoded.image).samples);
  });

  it('reads an 8-bit image, scaled by its own maxval', () => {
    const path = join(dir, 'eight.pgm');
    writeFileSync(path, Buffer.concat([Buffer.from('P5\n3 2\n200\n', 'latin1'), Buffer.from([0, 50, 100, 150, 200, 10])]));
    expect([...readScanForScreening(path).samples]).toEqual([0, 50, 100, 150, 200, 10].map((v) => Math.fround(v * (1 / 200))));
  });

  it('refuses a truncated image, trailing bytes, a file over the bound, a symbolic link and a folder, saying why', () => {
    const whole = encodePgm(image(64, 64));
    writeFileSync(join(dir, 'short.pgm'), whole.subarray(0, whole.length - 3));
    expect(() => readScanForScreening(join(dir, 'short.pgm'))).toThrow(/truncated image/);
    writeFileSync(join(dir, 'long.pgm'), Buffer.concat([whole, Buffer.from([1, 2])]));
    expect(() => readScanForScreening(join(dir, 'long.pgm'))).toThrow(/bytes after its/);
    writeFileSync(join(dir, 'ok.pgm'), whole);
    expect(() => readScanForScreening(join(dir, 'ok.pgm'), 1024)).toThrow(/more than 1024 screened/);
    symlinkSync(join(dir, 'ok.pgm'), join(dir, 'link.pgm'));
    expect(() => readScanForScreening(join(dir, 'link.pgm'))).toThrow(/ELOOP/);
    mkdirSync(join(dir, 'folder.pgm'));
    expect(() => readScanForScreening(join(dir, 'folder.pgm'))).toThrow(/not a regular file/);
    writeFileSync(join(dir, 'text.pgm'), 'P2\n1 1\n255\n0\n');
    expect(() => readScanForScreening(join(dir, 'text.pgm'))).toThrow(/not a binary PGM/);
  });
});
