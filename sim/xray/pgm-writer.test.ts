/** The simulated scanner's PGM files against bytes written out by hand from Netpbm's pgm(5). */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writePgm } from './pgm-writer.js';
import { SimulatedScanner } from './simulated-scanner.js';

/** "P5", LF, "2 1", LF, "65535", LF, then 0x0102 and 0xFFFF most significant byte first. */
const TWO_BY_ONE_16_BIT = Buffer.concat([Buffer.from('P5\n2 1\n65535\n', 'latin1'), Buffer.from([0x01, 0x02, 0xff, 0xff])]);
/** maxval 255: one byte per sample. */
const TWO_BY_TWO_8_BIT = Buffer.concat([Buffer.from('P5\n2 2\n255\n', 'latin1'), Buffer.from([0x00, 0x7f, 0x80, 0xff])]);

describe('PGM (P5) writer', () => {
  it('writes the header and big-endian samples of pgm(5)', () => {
    expect(writePgm({ width: 2, height: 1, maxval: 65535, pixels: Uint16Array.from([0x0102, 0xffff]) })).toEqual(TWO_BY_ONE_16_BIT);
    expect(writePgm({ width: 2, height: 2, maxval: 255, pixels: Uint16Array.from([0, 127, 128, 255]) })).toEqual(TWO_BY_TWO_8_BIT);
  });

  it('refuses a raster that does not fit its header', () => {
    expect(() => writePgm({ width: 2, height: 2, maxval: 65535, pixels: new Uint16Array(3) })).toThrow(RangeError);
    expect(() => writePgm({ width: 1, height: 1, maxval: 0, pixels: new Uint16Array(1) })).toThrow(RangeError);
  });

  it('is what the simulated scanner drops: header, then width × height × 2 bytes', () => {
    const folder = mkdtempSync(join(tmpdir(), 'sim-pgm-'));
    try {
      new SimulatedScanner(folder, 'xray-1', () => Date.UTC(2026, 10, 26)).completed('scan-1', 'GE123AB', { width: 64, height: 32 });
      const bytes = readFileSync(join(folder, 'scan-1.pgm'));
      const header = 'P5\n64 32\n65535\n';
      expect(bytes.subarray(0, header.length).toString('latin1')).toBe(header);
      expect(bytes.length).toBe(header.length + 64 * 32 * 2);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
