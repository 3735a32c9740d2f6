/**
 * DICOS images (what cargo scanners export) read as the gateway reads PGM scans, checked against
 * files nobody here wrote: the DICOS Toolkit's DX images (fixtures/dicos/SOURCES.md) and files
 * Debian's pydicom writes, their samples compared with pydicom's own decoding. Then what a
 * scanner must not be able to do with a DICOS header: make the reader throw, loop, recurse without
 * end, read past its bounds or announce a body it does not hold. And the whole way through the
 * drop folder, screening, the thumbnail and a push's streamed image.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { readScanForScreening } from '../../gateway/workflow/scan-image.js';
import { xrayThumbnail } from '../../gateway/workflow/xray-thumbnail.js';
import { REPO_ROOT } from '../../test/helpers/gateway-process.js';
import { tempDir, xrayFolderConfig } from '../../test/helpers/test-config.js';
import { DICOS_HEADER_MAX_BYTES, parseDicosHeader } from './dicos.js';
import { IncomingScanImage, prepareIncoming } from './incoming-scan-image.js';
import { readSample, type ScanImageHeader } from './pgm.js';
import { parseScanImageHeader } from './scan-image-header.js';
import { XrayFolderDriver, type XrayReading } from './xray-folder-driver.js';

const FIXTURES = join(REPO_ROOT, 'drivers', 'xray', 'fixtures', 'dicos');
const PEER = join(REPO_ROOT, 'test', 'helpers', 'pydicom-peer.py');
const fixture = (name: string): Buffer => readFileSync(join(FIXTURES, name));

/** Samples as pydicom decodes them (raw stored values, little-endian uint16). */
function peerSamples(path: string): Uint16Array {
  const run = spawnSync('/usr/bin/python3', [PEER, 'read', path], { maxBuffer: 64 * 1024 * 1024 });
  if (run.status !== 0) throw new Error(`pydicom: ${run.stderr.toString()}`);
  const bytes = Buffer.from(run.stdout);
  return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
}

function headerOf(bytes: Buffer): ScanImageHeader {
  const parsed = parseScanImageHeader(bytes, {}, true);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.header;
}

function samplesOf(bytes: Buffer, header: ScanImageHeader): number[] {
  return Array.from({ length: header.width * header.height }, (_, i) => readSample(header, bytes, header.headerBytes + i * 2));
}

/** An explicit VR little endian element (short length form unless the VR takes the long one). */
function element(group: number, elementNumber: number, vr: string, value: Buffer, undefinedLength = false): Buffer {
  const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elementNumber, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(undefinedLength ? 0xffffffff : value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, value]);
}
const us = (n: number): Buffer => Buffer.from([n & 0xff, n >> 8]);
const tagged = (group: number, elementNumber: number, length: number): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt16LE(group, 0);
  bytes.writeUInt16LE(elementNumber, 2);
  bytes.writeUInt32LE(length, 4);
  return bytes;
};

/** A DICOS file of explicit VR little endian with the given elements before its pixel data. */
function dicosFile(before: Buffer[], pixel: { rows?: number; columns?: number; bitsAllocated?: number; signed?: boolean; pixelBytes?: number; undefinedPixels?: boolean } = {}): Buffer {
  const rows = pixel.rows ?? 2;
  const columns = pixel.columns ?? 3;
  const syntax = Buffer.from('1.2.840.10008.1.2.1\0', 'latin1');
  const meta = element(0x0002, 0x0010, 'UI', syntax);
  const image = [
    element(0x0028, 0x0002, 'US', us(1)),
    element(0x0028, 0x0004, 'CS', Buffer.from('MONOCHROME2 ', 'latin1')),
    element(0x0028, 0x0010, 'US', us(rows)),
    element(0x0028, 0x0011, 'US', us(columns)),
    element(0x0028, 0x0100, 'US', us(pixel.bitsAllocated ?? 16)),
    element(0x0028, 0x0101, 'US', us(16)),
    element(0x0028, 0x0102, 'US', us(15)),
    element(0x0028, 0x0103, 'US', us(pixel.signed ? 1 : 0)),
  ];
  const samples = Buffer.alloc(pixel.pixelBytes ?? rows * columns * 2, 7);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), meta, ...before, ...image, element(0x7fe0, 0x0010, 'OW', samples, pixel.undefinedPixels)]);
}

describe('DICOS images from the DICOS Toolkit and pydicom', () => {
  it('are the files SOURCES.md names, byte for byte, and no others', () => {
    const sources = readFileSync(join(FIXTURES, 'SOURCES.md'), 'utf8');
    const recorded = [...sources.matchAll(/^[0-9a-f]{64} {2}(\S+)$/gm)].map((match) => match[1]);
    expect(readdirSync(FIXTURES).filter((name) => name !== 'SOURCES.md').sort()).toEqual([...recorded].sort());
    for (const name of ['SimpleProcessingDX.dcs', 'SimplePresentationDX.dcs']) {
      expect(sources).toContain(`${createHash('sha256').update(fixture(name)).digest('hex')}  ${name}`);
    }
  });

  it("reads the toolkit's uncompressed DX image sample for sample as pydicom does", () => {
    const bytes = fixture('SimpleProcessingDX.dcs');
    const header = headerOf(bytes);
    expect(header).toMatchObject({ format: 'dicos', width: 256, height: 128, maxval: 65535, bytesPerSample: 2, littleEndian: true, inverted: false, bodyBytes: 65536, headerBytes: bytes.length - 65536 });
    expect(samplesOf(bytes, header)).toEqual(Array.from(peerSamples(join(FIXTURES, 'SimpleProcessingDX.dcs'))));
  });

  it('refuses the JPEG lossless one, naming its transfer syntax and what to set instead', () => {
    const parsed = parseScanImageHeader(fixture('SimplePresentationDX.dcs'), {}, true);
    expect(parsed).toEqual({
      ok: false,
      error: 'DICOS image in transfer syntax 1.2.840.10008.1.2.4.70 (JPEG lossless, first-order prediction): only uncompressed little endian images are read; set the scanner to export uncompressed (1.2.840.10008.1.2.1)',
    });
  });

  it("reads pydicom's implicit VR, MONOCHROME1, 12-bit and deeply nested files as pydicom decodes them", () => {
    const dir = tempDir('dicos-peer-');
    const written = spawnSync('/usr/bin/python3', [PEER, 'write', dir], { encoding: 'utf8' });
    expect(written.status, written.stderr).toBe(0);
    const names = written.stdout.trim().split('\n');
    expect(names).toEqual(['implicit.dcs', 'monochrome1.dcs', 'twelve-bits.dcs', 'nested.dcs']);
    for (const name of names) {
      const bytes = readFileSync(join(dir, name));
      const header = headerOf(bytes);
      const mask = header.maxval;
      // pydicom gives the stored values as they are: the unused high bits, and MONOCHROME1's white-is-low.
      const expected = Array.from(peerSamples(join(dir, name)), (raw) => (header.inverted ? mask - (raw & mask) : raw & mask));
      expect(samplesOf(bytes, header), name).toEqual(expected);
      expect({ name, maxval: header.maxval, inverted: header.inverted }).toEqual({ name, maxval: name === 'twelve-bits.dcs' ? 4095 : 65535, inverted: name === 'monochrome1.dcs' });
    }
  });
});

describe('a DICOS header a scanner made to hurt', () => {
  it('is refused, saying why, for every attribute the samples depend on', () => {
    const refusal = (bytes: Buffer): string => {
      const parsed = parseDicosHeader(bytes, {}, true);
      return parsed.ok ? 'accepted' : parsed.error;
    };
    expect(refusal(dicosFile([]))).toBe('accepted');
    expect(refusal(dicosFile([], { pixelBytes: 10 }))).toBe('DICOS pixel data of 10 bytes, not the 12 of 3x2 16-bit samples');
    expect(refusal(dicosFile([], { undefinedPixels: true }))).toBe('DICOS pixel data is encapsulated (compressed): only uncompressed images are read');
    expect(refusal(dicosFile([], { bitsAllocated: 8 }))).toBe('DICOS image of 8 bits allocated: 16-bit samples are required');
    expect(refusal(dicosFile([], { signed: true }))).toBe('DICOS image of signed samples: unsigned samples are required');
    expect(refusal(dicosFile([], { rows: 0 }))).toBe('bad DICOS image size 3x0 (each side 1 to 16384)');
    expect(refusal(dicosFile([], { rows: 20000, pixelBytes: 0 }))).toBe('bad DICOS image size 3x20000 (each side 1 to 16384)');
    expect(refusal(dicosFile([element(0x0028, 0x0008, 'IS', Buffer.from('3 '))]))).toBe('DICOS image of 3 frames: one frame is required');
    // A high bit other than bits stored − 1 (read from the file's own element, which comes later and wins).
    const highBit14 = dicosFile([]);
    const at = highBit14.indexOf(Buffer.from([0x28, 0x00, 0x02, 0x01, 0x55, 0x53]));
    highBit14.writeUInt16LE(14, at + 8);
    expect(refusal(highBit14)).toBe('DICOS image whose high bit 14 is not bits stored − 1 (15)');
    expect(refusal(dicosFile([], { rows: 4096, columns: 4096, pixelBytes: 0 }).subarray(0, 200))).toMatch(/^truncated DICOS file/);
    expect(parseDicosHeader(dicosFile([], { rows: 4096, columns: 4096, pixelBytes: 4096 * 4096 * 2 }), { maxBodyBytes: 1024 }, true)).toEqual({
      ok: false,
      error: 'image of 4096x4096 needs 33554432 bytes of samples, more than the 1024 allowed',
    });
  });

  it('stops at sequences nested deeper than 16, and at a header longer than its bound', () => {
    const nested = (depth: number): Buffer => {
      let inner = element(0x0008, 0x0100, 'SH', Buffer.from('CARGO '));
      for (let i = 0; i < depth; i += 1) {
        inner = Buffer.concat([element(0x0008, 0x1140, 'SQ', Buffer.alloc(0), true), tagged(0xfffe, 0xe000, 0xffffffff), inner, tagged(0xfffe, 0xe00d, 0), tagged(0xfffe, 0xe0dd, 0)]);
      }
      return inner;
    };
    expect(parseDicosHeader(dicosFile([nested(16)]), {}, true).ok).toBe(true);
    expect(parseDicosHeader(dicosFile([nested(17)]), {}, true)).toEqual({ ok: false, error: 'DICOS sequences nested deeper than 16' });
    expect(parseDicosHeader(dicosFile([nested(4000)]), {}, true)).toEqual({ ok: false, error: 'DICOS sequences nested deeper than 16' });
    // An item that never ends: the reader reaches the end of the file, not a loop.
    const endless = Buffer.concat([element(0x0008, 0x1140, 'SQ', Buffer.alloc(0), true), tagged(0xfffe, 0xe000, 0xffffffff), element(0x0008, 0x0100, 'SH', Buffer.from('CARGO '))]);
    expect(parseDicosHeader(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), element(0x0002, 0x0010, 'UI', Buffer.from('1.2.840.10008.1.2.1\0')), endless]), {}, true)).toMatchObject({ ok: false, error: expect.stringMatching(/^truncated DICOS file/) as unknown });
    // UN of undefined length holds a sequence encoded in implicit VR (PS3.5 6.2.2): its items' own
    // elements carry no VR, which an explicit reading would take for garbage.
    const implicitItem = Buffer.concat([tagged(0x0008, 0x0100, 6), Buffer.from('CARGO ')]);
    const unknownSequence = Buffer.concat([element(0x0009, 0x1001, 'UN', Buffer.alloc(0), true), tagged(0xfffe, 0xe000, 0xffffffff), implicitItem, tagged(0xfffe, 0xe00d, 0), tagged(0xfffe, 0xe0dd, 0)]);
    expect(parseDicosHeader(dicosFile([unknownSequence]), {}, true).ok).toBe(true);
    const padded = dicosFile([element(0x0009, 0x0010, 'OB', Buffer.alloc(DICOS_HEADER_MAX_BYTES))]);
    expect(parseDicosHeader(padded, {}, true)).toMatchObject({ ok: false, error: expect.stringMatching(/^DICOS header longer than 262144 bytes/) as unknown });
  });

  it('asks for more bytes while only the first ones are in, and says truncated once they are all', () => {
    const bytes = fixture('SimpleProcessingDX.dcs');
    expect(parseScanImageHeader(bytes.subarray(0, 100))).toMatchObject({ ok: false, incomplete: true });
    expect(parseScanImageHeader(bytes.subarray(0, 600))).toMatchObject({ ok: false, incomplete: true });
    expect(parseScanImageHeader(bytes.subarray(0, 600), {}, true)).toMatchObject({ ok: false, error: expect.stringMatching(/^truncated DICOS file/) as unknown });
    expect(parseScanImageHeader(bytes.subarray(0, 1474))).toMatchObject({ ok: true });
  });

  it('never throws on changed or random bytes, and never announces samples it does not hold', () => {
    const base = fixture('SimpleProcessingDX.dcs').subarray(0, 1474 + 64);
    const changed = fc.tuple(fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat({ max: base.length })).map(([edits, cut]) => {
      const copy = Buffer.from(base);
      for (const [at, byte] of edits) if (at >= 132) copy[at] = byte;
      return copy.subarray(0, cut);
    });
    const random = fc.uint8Array({ maxLength: 600 }).map((tail) => Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from(tail)]));
    fc.assert(
      fc.property(fc.oneof(changed, random), fc.boolean(), (bytes, whole) => {
        const parsed = parseDicosHeader(bytes, { maxBodyBytes: 1 << 20 }, whole);
        if (!parsed.ok) return parsed.error.length > 0;
        const { header } = parsed;
        return header.headerBytes <= Math.min(bytes.length, DICOS_HEADER_MAX_BYTES) && header.bodyBytes === header.width * header.height * 2 && header.bodyBytes <= 1 << 20;
      }),
      { numRuns: 5000 },
    );
  });
});

describe('a DICOS scan through the gateway', () => {
  const drivers: XrayFolderDriver[] = [];
  afterEach(async () => {
    for (const driver of drivers.splice(0)) await driver.stop();
  });

  it('is read from the drop folder, screened and drawn as its samples say; a compressed one is quarantined with the reason', async () => {
    const folder = tempDir('xray-dicos-');
    const driver = new XrayFolderDriver(xrayFolderConfig(folder), { clock: systemClock, logger: pino({ level: 'silent' }) });
    drivers.push(driver);
    const readings: XrayReading[] = [];
    driver.on('reading', (reading) => readings.push(reading));
    const quarantined = new Promise<string>((resolve) => driver.on('health', (health) => health.lastError?.startsWith('quarantined jpeg.json') && resolve(health.lastError)));
    const meta = (scanId: string, image: string) => JSON.stringify({ scanId, scannerId: 'scanner-A', status: 'completed', plate: 'GE123AB', time: '2026-11-26T06:00:00Z', image });
    writeFileSync(join(folder, 'cargo-1.dcs'), fixture('SimpleProcessingDX.dcs'));
    writeFileSync(join(folder, 'cargo-1.json'), meta('cargo-1', 'cargo-1.dcs'));
    writeFileSync(join(folder, 'jpeg.dcs'), fixture('SimplePresentationDX.dcs'));
    writeFileSync(join(folder, 'jpeg.json'), meta('jpeg', 'jpeg.dcs'));
    await driver.start();
    expect(await quarantined).toMatch(/^quarantined jpeg\.json: image jpeg\.dcs: DICOS image in transfer syntax 1\.2\.840\.10008\.1\.2\.4\.70/);
    await expect.poll(() => readings.length).toBe(1);
    const peer = peerSamples(join(FIXTURES, 'SimpleProcessingDX.dcs'));
    const sum = peer.reduce((total, value) => total + value, 0);
    expect(readings[0]).toMatchObject({ scanId: 'cargo-1', imageRef: join(folder, 'processed', 'cargo-1.dcs'), image: { width: 256, height: 128, min: Math.min(...peer), max: Math.max(...peer), mean: Math.round(sum / peer.length) } });
    const screened = readScanForScreening(join(folder, 'processed', 'cargo-1.dcs'));
    expect(screened.width).toBe(256);
    expect(Array.from(screened.samples)).toEqual(Array.from(peer, (value) => Math.fround(value * (1 / 65535))));
    const thumbnail = await xrayThumbnail(join(folder, 'processed', 'cargo-1.dcs'), 64);
    expect(thumbnail).toMatchObject({ imageWidth: 256, imageHeight: 128 });
    expect(thumbnail.png.subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it('looks at a header trickled a byte at a time a few times, not once per byte', async () => {
    const dir = tempDir('xray-dicos-trickle-');
    prepareIncoming(dir);
    // A header that goes on for 12 KB (a private OB element before the pixel data).
    const bytes = dicosFile([element(0x0009, 0x0010, 'OB', Buffer.alloc(12_000))]);
    const image = new IncomingScanImage(dir, 1 << 20);
    await image.begin();
    const concat = vi.spyOn(Buffer, 'concat');
    for (let at = 0; at < 12_500; at += 1) expect(await image.write(bytes.subarray(at, at + 1))).toBeNull();
    // At 1, 2, 4 and 8 KiB: a copy of what came so far each time (12,500 copies before).
    expect(concat.mock.calls.length).toBeLessThanOrEqual(5);
    concat.mockRestore();
    for (let at = 12_500; at < bytes.length; at += 1000) expect(await image.write(bytes.subarray(at, at + 1000))).toBeNull();
    expect(image.finish()).toMatchObject({ width: 3, height: 2, min: 0x0707, max: 0x0707 });
    await image.discard();
  });

  it('is received from a push in pieces of any size, its header waited for, and kept as .dcs', async () => {
    const dir = tempDir('xray-dicos-push-');
    prepareIncoming(dir);
    const bytes = fixture('SimpleProcessingDX.dcs');
    const image = new IncomingScanImage(dir, 1 << 20);
    await image.begin();
    for (let at = 0; at < bytes.length; at += 97) expect(await image.write(bytes.subarray(at, at + 97))).toBeNull();
    const peer = peerSamples(join(FIXTURES, 'SimpleProcessingDX.dcs'));
    expect(image.finish()).toEqual({ width: 256, height: 128, min: Math.min(...peer), max: Math.max(...peer), mean: Math.round(peer.reduce((t, v) => t + v, 0) / peer.length) });
    expect(image.extension).toBe('.dcs');
    await image.keepAs(join(dir, 'cargo-1.dcs'));
    expect(readFileSync(join(dir, 'cargo-1.dcs'))).toEqual(bytes);
    await image.discard();
  });
});
