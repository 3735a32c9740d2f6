/**
 * The drop folder as an adversary writes it: paths out of the folder, symbolic links, FIFOs,
 * directories, sparse 1.5 GB files and oversized metadata, each refused with its reason (read
 * no further than its header) while the event loop keeps turning, and a valid scan still read
 * afterwards. Real files in a temporary folder.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { SimulatedScanner } from '../../sim/xray/simulated-scanner.js';
import { countingTurns } from '../../test/helpers/loop-turns.js';
import { tempDir, xrayFolderConfig } from '../../test/helpers/test-config.js';
import type { DriverHealth } from '../driver.js';
import { fileNameProblem, RefusedNames } from './drop-folder-files.js';
import { encodePgm, imageStats, parsePgm, parsePgmHeader, PGM_HEADER_MAX_BYTES, PGM_MAX_SIDE, SampleStats } from './pgm.js';
import { SCAN_TEXT_MAX_CHARS, scanMetadataSchema } from './scan-file.js';
import { XrayFolderDriver, type XrayReading } from './xray-folder-driver.js';

const GB_1_5 = 1_500_000_000;
const TIME = '2026-11-26T06:00:00Z';

function metadata(scanId: string, image: string): string {
  return JSON.stringify({ scanId, scannerId: 'scanner-A', status: 'completed', plate: 'GE123AB', time: TIME, image });
}

function validImage(): Buffer {
  return encodePgm({ width: 4, height: 2, maxval: 65535, pixels: Uint16Array.from([0, 1000, 2000, 3000, 4000, 5000, 6000, 65535]) });
}

describe('X-ray drop folder under attack', () => {
  const drivers: XrayFolderDriver[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const driver of drivers.splice(0)) await driver.stop();
  });

  function setup(options: Record<string, unknown> = {}) {
    const folder = tempDir('xray-adv-');
    const config = xrayFolderConfig(folder, options);
    const logs: { msg: string; code?: string; files?: string[]; reason?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as (typeof logs)[number]) });
    const driver = new XrayFolderDriver(config, { clock: systemClock, logger });
    drivers.push(driver);
    const readings: XrayReading[] = [];
    driver.on('reading', (reading) => readings.push(reading));
    const healths: DriverHealth[] = [];
    driver.on('health', (health) => healths.push(health));
    /** Resolves with the reason once `name` has been refused (already or later). */
    const refused = (name: string): Promise<string> => {
      const match = (h: DriverHealth): boolean => h.lastError?.startsWith(`quarantined ${name}: `) === true;
      const seen = healths.find(match);
      if (seen) return Promise.resolve(seen.lastError!.slice(`quarantined ${name}: `.length));
      return new Promise((resolve) =>
        driver.on('health', (h) => {
          if (match(h)) resolve(h.lastError!.slice(`quarantined ${name}: `.length));
        }),
      );
    };
    const reading = (scanId: string): Promise<XrayReading> => {
      const seen = readings.find((r) => r.scanId === scanId);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => driver.on('reading', (r) => r.scanId === scanId && resolve(r)));
    };
    return { folder, driver, readings, logs, refused, reading };
  }

  it('refuses image references that leave the folder, and touches nothing they name', async () => {
    const { folder, driver, refused, reading, readings } = setup();
    const outside = tempDir('xray-outside-');
    writeFileSync(join(outside, 'secret.pgm'), validImage());
    writeFileSync(join(folder, 'dotdot.json'), metadata('s1', '../etc/passwd'));
    writeFileSync(join(folder, 'sibling.json'), metadata('s2', `../${basename(outside)}/secret.pgm`));
    writeFileSync(join(folder, 'absolute.json'), metadata('s3', join(outside, 'secret.pgm')));
    writeFileSync(join(folder, 'nul.json'), metadata('s4', 'a\u0000.pgm'));
    writeFileSync(join(folder, 'long.json'), metadata('s5', `${'a'.repeat(200)}.pgm`));
    writeFileSync(join(folder, 'odd.json'), metadata('s6', 'scan 1$.pgm'));
    await driver.start();
    expect(await refused('dotdot.json')).toBe('image reference "../etc/passwd" is a path, not a plain file name in the drop folder');
    expect(await refused('sibling.json')).toMatch(/is a path, not a plain file name/);
    expect(await refused('absolute.json')).toMatch(/is a path, not a plain file name/);
    expect(await refused('nul.json')).toMatch(/NUL/);
    expect(await refused('long.json')).toMatch(/longer than 128/);
    expect(await refused('odd.json')).toMatch(/characters other than/);
    expect(readFileSync(join(outside, 'secret.pgm'))).toEqual(validImage());
    // Only the metadata files were moved aside, each with its reason.
    expect(readdirSync(join(folder, 'quarantine')).sort()).toEqual(
      ['absolute.json', 'dotdot.json', 'long.json', 'nul.json', 'odd.json', 'sibling.json'].flatMap((n) => [n, `${n}.reason.txt`]).sort(),
    );
    writeFileSync(join(folder, 'ok.pgm'), validImage());
    writeFileSync(join(folder, 'ok.json'), metadata('ok', 'ok.pgm'));
    expect((await reading('ok')).image).toMatchObject({ width: 4, height: 2, min: 0, max: 65535 });
    expect(readings.map((r) => r.scanId)).toEqual(['ok']);
  });

  it('follows no symbolic link, inside or outside the folder, for images or metadata', async () => {
    const { folder, driver, refused } = setup();
    const outside = tempDir('xray-outside-');
    writeFileSync(join(outside, 'secret.pgm'), validImage());
    writeFileSync(join(outside, 'meta.json'), metadata('m', 'x.pgm'));
    symlinkSync(join(outside, 'secret.pgm'), join(folder, 'out.pgm'));
    writeFileSync(join(folder, 'out.json'), metadata('s1', 'out.pgm'));
    writeFileSync(join(folder, 'real.pgm'), validImage());
    symlinkSync('real.pgm', join(folder, 'in.pgm'));
    writeFileSync(join(folder, 'in.json'), metadata('s2', 'in.pgm'));
    symlinkSync(join(outside, 'meta.json'), join(folder, 'linked.json'));
    await driver.start();
    expect(await refused('out.json')).toBe('image out.pgm is a symbolic link, not a regular file');
    expect(await refused('in.json')).toBe('image in.pgm is a symbolic link, not a regular file');
    expect(await refused('linked.json')).toBe('metadata linked.json is a symbolic link, not a regular file');
    // The links were moved aside as links; what they pointed at is where it was.
    expect(lstatSync(join(folder, 'quarantine', 'out.pgm')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(outside, 'secret.pgm'))).toEqual(validImage());
    expect(existsSync(join(outside, 'meta.json'))).toBe(true);
    expect(existsSync(join(folder, 'real.pgm'))).toBe(true);
  });

  it('refuses FIFOs and directories named like scans without blocking the event loop', async () => {
    const { folder, driver, refused, reading } = setup();
    execFileSync('mkfifo', [join(folder, 'fifo.json'), join(folder, 'piped.pgm')]);
    writeFileSync(join(folder, 'piped.json'), metadata('s1', 'piped.pgm'));
    mkdirSync(join(folder, 'dir.json'));
    mkdirSync(join(folder, 'dirimg.pgm'));
    writeFileSync(join(folder, 'dirimg.json'), metadata('s2', 'dirimg.pgm'));
    let timerFired = false;
    setTimeout(() => (timerFired = true), 0);
    const { result: reasons, turns } = await countingTurns(async () => {
      await driver.start();
      return Promise.all([refused('fifo.json'), refused('piped.json'), refused('dir.json'), refused('dirimg.json')]);
    });
    expect(reasons).toEqual([
      'metadata fifo.json is a FIFO, not a regular file',
      'image piped.pgm is a FIFO, not a regular file',
      'metadata dir.json is a directory, not a regular file',
      'image dirimg.pgm is a directory, not a regular file',
    ]);
    expect(turns).toBeGreaterThan(1);
    expect(timerFired).toBe(true);
    expect(lstatSync(join(folder, 'quarantine', 'fifo.json')).isFIFO()).toBe(true);
    new SimulatedScanner(folder, 'scanner-A').completed('after', 'GE123AB');
    expect((await reading('after')).image).toMatchObject({ width: 256, height: 128 });
  });

  it('refuses 1.5 GB sparse images by size, and large ones by header, reading nothing past the header', async () => {
    const probe = await open(fileURLToPath(import.meta.url), 'r');
    const fileHandleProto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
    await probe.close();
    const reads: number[] = [];
    const realRead = fileHandleProto.read;
    vi.spyOn(fileHandleProto, 'read').mockImplementation(function (this: unknown, ...args: unknown[]) {
      // read(buffer, offset, length, position): how far into the file this read reaches.
      reads.push(Number(args[3]) + Number(args[2]));
      return realRead.apply(this, args);
    });

    // Default bounds (256 MiB images): the size alone refuses both, before the header is read.
    const small = setup();
    const sparse = (folder: string, name: string, header: string, size: number): void => {
      writeFileSync(join(folder, name), header);
      truncateSync(join(folder, name), size);
      writeFileSync(join(folder, name.replace('.pgm', '.json')), metadata(name, name));
    };
    sparse(small.folder, 'huge-dims.pgm', 'P5\n40000 37500\n65535\n', GB_1_5);
    sparse(small.folder, 'huge-file.pgm', 'P5\n4 2\n65535\n', GB_1_5);
    await small.driver.start();
    expect(await small.refused('huge-dims.json')).toBe(`image huge-dims.pgm is ${GB_1_5} bytes, more than the 268435456 allowed`);
    expect(await small.refused('huge-file.json')).toBe(`image huge-file.pgm is ${GB_1_5} bytes, more than the 268435456 allowed`);

    // Bounds raised to 1 GiB: a 600 MB file passes the size bound and is refused by its header.
    const large = setup({ maxImageBytes: 1024 * 1024 * 1024 });
    sparse(large.folder, 'wide.pgm', 'P5\n20000 15000\n65535\n', 600_000_000);
    sparse(large.folder, 'lying.pgm', 'P5\n4 2\n65535\n', 600_000_000);
    sparse(large.folder, 'short.pgm', 'P5\n16384 16384\n65535\n', 600_000_000);
    await large.driver.start();
    expect(await large.refused('wide.json')).toBe('image wide.pgm: bad PGM size 20000x15000 (each side 1 to 16384)');
    expect(await large.refused('lying.json')).toBe(`image lying.pgm: image has ${600_000_000 - 'P5\n4 2\n65535\n'.length - 16} bytes after its 16 bytes of samples`);
    expect(await large.refused('short.json')).toBe(`image short.pgm: image has ${600_000_000 - 'P5\n16384 16384\n65535\n'.length - 16384 * 16384 * 2} bytes after its 536870912 bytes of samples`);
    expect(reads.length).toBeGreaterThan(0);
    expect(Math.max(...reads)).toBeLessThanOrEqual(PGM_HEADER_MAX_BYTES);
    // Moved aside, not copied: the quarantine holds the same sparse files.
    expect(lstatSync(join(large.folder, 'quarantine', 'wide.pgm')).size).toBe(600_000_000);
    for (const { folder } of [small, large]) rmSync(folder, { recursive: true, force: true });
  });

  it('refuses oversized metadata unread, and remembers what it cannot move aside', async () => {
    const { folder, driver, refused, reading, logs } = setup();
    writeFileSync(join(folder, 'big.json'), JSON.stringify({ padding: 'x'.repeat(70 * 1024) }));
    // A directory in quarantine/ under the same name makes the move aside fail (ENOTEMPTY).
    mkdirSync(join(folder, 'stuck.json'));
    mkdirSync(join(folder, 'quarantine', 'stuck.json', 'occupied'), { recursive: true });
    await driver.start();
    expect(await refused('big.json')).toMatch(/^metadata big\.json is 716\d\d bytes, more than the 65536 allowed$/);
    expect(await refused('stuck.json')).toBe('metadata stuck.json is a directory, not a regular file');
    // Two more passes over the folder (each reads a scan sorted after stuck.json).
    const scanner = new SimulatedScanner(folder, 'scanner-A');
    scanner.started('z-1', 'GE123AB');
    await reading('z-1');
    scanner.started('z-2', 'GE123AB');
    await reading('z-2');
    const refusals = logs.filter((l) => l.msg === 'scan file refused');
    expect(refusals.map((l) => [l.code, l.files])).toEqual([
      ['GW_ERR_XRAY_FILE_REFUSED', ['big.json']],
      ['GW_ERR_XRAY_FILE_REFUSED', ['stuck.json']],
    ]);
    expect(existsSync(join(folder, 'stuck.json'))).toBe(true);
    expect(driver.quarantined).toBe(2);
    expect(driver.health().state).toBe('up');
  });

  it('is down when processed/ or quarantine/ is a link out of the folder', async () => {
    const { folder, driver } = setup();
    await driver.start();
    const down = new Promise<DriverHealth>((resolve) => driver.on('health', (h) => h.state === 'down' && resolve(h)));
    rmSync(join(folder, 'processed'), { recursive: true });
    symlinkSync(tempDir('xray-elsewhere-'), join(folder, 'processed'));
    driver.scan();
    expect((await down).lastError).toMatch(/processed\/ is not a directory/);
  });

  it('reads a valid scan with the same figures as the in-memory decoder', async () => {
    const { folder, driver, reading } = setup();
    await driver.start();
    new SimulatedScanner(folder, 'scanner-A').completed('scan-7', 'GE123AB', { width: 1024, height: 1024 });
    const read = await reading('scan-7');
    const decoded = parsePgm(readFileSync(join(folder, 'processed', 'scan-7.pgm')));
    if (!decoded.ok) throw new Error(decoded.error);
    expect(read.image).toEqual({ width: 1024, height: 1024, ...imageStats(decoded.image) });
  });
});

describe('drop-folder names and bounds', () => {
  it('accepts plain names only', () => {
    expect(fileNameProblem('scan-1.pgm', ['.pgm'])).toBeNull();
    expect(fileNameProblem('scan-1.dcs', ['.pgm', '.dcs'])).toBeNull();
    expect(fileNameProblem('scan-1.dcm', ['.pgm', '.dcs'])).toBe('a name not ending in .pgm or .dcs');
    expect(fileNameProblem('SCAN_2.v1.json', '.json')).toBeNull();
    for (const bad of ['../x.pgm', '/etc/x.pgm', 'a/b.pgm', 'a\\b.pgm', '.hidden.pgm', 'x..pgm', 'x.pgm.tmp', 'x.json', '', '.pgm', 'x\u0000.pgm', 'é.pgm', `${'a'.repeat(125)}.pgm`]) {
      expect(fileNameProblem(bad, ['.pgm']), bad).not.toBeNull();
    }
  });

  it('forgets the oldest refused names beyond its capacity', () => {
    const names = new RefusedNames(2);
    names.remember('a', '1');
    names.remember('b', '1');
    names.remember('c', '1');
    expect([names.has('a', '1'), names.has('b', '1'), names.has('c', '1'), names.has('c', '2')]).toEqual([false, true, true, false]);
    names.keepOnly(new Set(['c']));
    expect(names.size).toBe(1);
  });
});

describe('PGM header on arbitrary bytes', () => {
  const headerLike = fc
    .tuple(
      fc.constantFrom('P5', 'P5', 'P6', 'p5', 'P55', ''),
      fc.array(fc.oneof(fc.nat({ max: 70_000 }).map(String), fc.constantFrom('0', '-1', '1e3', '0x10', '99999999999', '#c\n', '', ' ', '\t', '\r', '\u00a0')), { maxLength: 5 }),
      fc.constantFrom(' ', '\n', '\t', '\r\n', ''),
      fc.uint8Array({ maxLength: 64 }),
    )
    .map(([magic, fields, sep, tail]) => Buffer.concat([Buffer.from(`${magic}${sep}${fields.join(sep || ' ')}${sep}`, 'latin1'), Buffer.from(tail)]));

  it('never throws and never announces a body beyond the bounds', () => {
    fc.assert(
      fc.property(fc.oneof(headerLike, fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b))), fc.integer({ min: 0, max: 1024 * 1024 * 1024 }), (bytes, cap) => {
        const result = parsePgmHeader(bytes, { maxBodyBytes: cap });
        if (!result.ok) return typeof result.error === 'string' && result.error.length > 0;
        const { header } = result;
        return (
          header.bodyBytes <= cap &&
          header.width >= 1 &&
          header.height >= 1 &&
          header.width <= PGM_MAX_SIDE &&
          header.height <= PGM_MAX_SIDE &&
          header.bodyBytes === header.width * header.height * header.bytesPerSample &&
          header.headerBytes <= Math.min(bytes.length, PGM_HEADER_MAX_BYTES)
        );
      }),
      { numRuns: 10_000 },
    );
  });

  it('summarises samples the same however the body is chunked, in either byte order', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 2, maxLength: 200 }), fc.array(fc.nat({ max: 200 }), { maxLength: 6 }), fc.boolean(), (raw, cuts, littleEndian) => {
        const body = Buffer.from(raw.subarray(0, raw.length - (raw.length % 2)));
        const parsed = parsePgmHeader(Buffer.from(`P5 ${body.length / 2} 1 65535\n`));
        if (!parsed.ok) throw new Error(parsed.error);
        const header = { ...parsed.header, littleEndian };
        const whole = new SampleStats(header);
        whole.add(body);
        // Bytes past the samples are not taken.
        whole.add(Buffer.from([0xff, 0xff]));
        const chunked = new SampleStats(header);
        const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
        let start = 0;
        for (const point of [...points, body.length]) {
          chunked.add(body.subarray(start, point));
          start = point;
        }
        const pixels = Uint16Array.from({ length: body.length / 2 }, (_, i) => (littleEndian ? body.readUInt16LE(i * 2) : body.readUInt16BE(i * 2)));
        const expected = imageStats({ width: pixels.length, height: 1, maxval: 65535, pixels });
        expect(chunked.result()).toEqual(whole.result());
        expect(whole.result()).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("a scanner's metadata", () => {
  const base = { scanId: 'S-1', scannerId: 'xr-1', status: 'decided', plate: 'GE111AA', container: 'MSCU1234565', time: '2026-12-02T10:00:00Z', image: 'S-1.pgm', metadataRef: 'S-1.uff', decision: { analyst: 'a.aliyev', result: 'clear', note: 'ok' } };
  const fields: [keyof typeof SCAN_TEXT_MAX_CHARS, (value: string) => Record<string, unknown>][] = [
    ['scannerId', (value) => ({ ...base, scannerId: value })],
    ['plate', (value) => ({ ...base, plate: value })],
    ['container', (value) => ({ ...base, container: value })],
    ['image', (value) => ({ ...base, image: value })],
    ['metadataRef', (value) => ({ ...base, metadataRef: value })],
    ['analyst', (value) => ({ ...base, decision: { ...base.decision, analyst: value } })],
    ['note', (value) => ({ ...base, decision: { ...base.decision, note: value } })],
  ];

  it.each(fields)('takes a %s as long as its bound and refuses one character more', (field, withValue) => {
    const max = SCAN_TEXT_MAX_CHARS[field];
    expect(scanMetadataSchema.safeParse(withValue('x'.repeat(max))).success).toBe(true);
    const refused = scanMetadataSchema.safeParse(withValue('x'.repeat(max + 1)));
    expect(refused.success).toBe(false);
    // A 60,000-character word within the 64 KiB file is refused the same way.
    expect(scanMetadataSchema.safeParse(withValue('x'.repeat(60_000))).success).toBe(false);
  });
});
