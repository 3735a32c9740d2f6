import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { SimulatedScanner } from '../../sim/xray/simulated-scanner.js';
import { tempDir, xrayFolderConfig } from '../../test/helpers/test-config.js';
import { encodePgm, imageStats, parsePgm } from './pgm.js';
import { XrayFolderDriver, type XrayReading } from './xray-folder-driver.js';

describe('16-bit PGM', () => {
  it('round-trips a 16-bit image and rejects truncated or foreign files with a reason', () => {
    const image = { width: 3, height: 2, maxval: 65535, pixels: Uint16Array.from([0, 1, 256, 65535, 42000, 7]) };
    const bytes = encodePgm(image);
    expect(bytes.subarray(0, 13).toString('latin1')).toBe('P5\n3 2\n65535\n');
    expect(parsePgm(bytes)).toEqual({ ok: true, image });
    expect(imageStats(image)).toEqual({ min: 0, max: 65535, mean: Math.round((0 + 1 + 256 + 65535 + 42000 + 7) / 6) });
    expect(parsePgm(bytes.subarray(0, bytes.length - 1))).toEqual({ ok: false, error: 'truncated image: expected 12 bytes of samples, got 11' });
    expect(parsePgm(Buffer.from('P6\n3 2\n255\n'))).toMatchObject({ ok: false, error: 'not a binary PGM (magic "P6")' });
    expect(parsePgm(Buffer.from('P5\n3'))).toMatchObject({ ok: false, error: 'truncated PGM header' });
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, withMagic) => {
        const input = withMagic ? Buffer.concat([Buffer.from('P5 4 4 65535 '), Buffer.from(bytes)]) : Buffer.from(bytes);
        const result = parsePgm(input);
        return typeof result.ok === 'boolean';
      }),
      { numRuns: 500 },
    );
  });
});

describe('X-ray drop-folder driver', () => {
  const drivers: XrayFolderDriver[] = [];
  afterEach(async () => {
    for (const driver of drivers.splice(0)) await driver.stop();
  });

  function setup(folder = tempDir('xray-')) {
    const driver = new XrayFolderDriver(xrayFolderConfig(folder), { clock: systemClock, logger: pino({ level: 'silent' }) });
    drivers.push(driver);
    const readings: XrayReading[] = [];
    driver.on('reading', (reading) => readings.push(reading));
    const until = (count: number): Promise<void> =>
      readings.length >= count ? Promise.resolve() : new Promise((resolve) => driver.on('reading', () => readings.length >= count && resolve()));
    return { folder, driver, readings, until, scanner: new SimulatedScanner(folder, 'scanner-A') };
  }

  it('reports started, completed (with the image checked) and decided scans, and archives the files', async () => {
    const { folder, driver, readings, until, scanner } = setup();
    await driver.start();
    scanner.started('scan-1', 'GE123AB');
    scanner.completed('scan-1', 'GE123AB');
    scanner.decided('scan-1', 'suspect');
    await until(3);
    const completed = readings.find((r) => r.status === 'completed');
    expect(completed).toMatchObject({ scanId: 'scan-1', scannerId: 'scanner-A', plate: 'GE123AB', metadataRef: 'scan-1.uff', image: { width: 256, height: 128 } });
    expect(completed!.image!.max).toBeGreaterThan(40_000);
    expect(readings.find((r) => r.status === 'decided')?.decision).toEqual({ analyst: 'analyst-1', result: 'suspect' });
    expect(existsSync(join(folder, 'processed', 'scan-1.pgm'))).toBe(true);
    expect(completed!.imageRef).toBe(join(folder, 'processed', 'scan-1.pgm'));
    expect(driver.health().state).toBe('up');
  });

  it('quarantines a truncated image and a corrupt metadata file with their reasons, and goes on', async () => {
    const { folder, driver, readings, until, scanner } = setup();
    await driver.start();
    const degraded = new Promise((resolve) => driver.on('health', (h) => h.state === 'degraded' && resolve(h)));
    scanner.completed('scan-2', 'AB123CD', { truncate: true });
    await degraded;
    expect(readFileSync(join(folder, 'quarantine', 'scan-2.json.reason.txt'), 'utf8')).toMatch(/^image scan-2\.pgm: truncated image: expected 65536 bytes of samples, got \d+\n$/);
    expect(existsSync(join(folder, 'quarantine', 'scan-2.pgm'))).toBe(true);
    // A metadata file that does not parse may be half-written: refused once it has not changed
    // from one pass to the next.
    const refusedCorrupt = new Promise((resolve) => driver.on('health', (h) => h.state === 'degraded' && String(h.lastError).includes('scan-3.json') && resolve(h)));
    scanner.corruptMetadata('scan-3.json');
    scanner.completed('scan-4', 'XY987ZZ');
    await until(1);
    await refusedCorrupt;
    expect(readings.map((r) => r.scanId)).toEqual(['scan-4']);
    expect(readFileSync(join(folder, 'quarantine', 'scan-3.json.reason.txt'), 'utf8')).toMatch(/^unreadable metadata: /);
    expect(driver.quarantined).toBe(2);
    // And goes on: the next good scan is read and the driver is up again.
    scanner.completed('scan-5', 'KT515OB');
    await until(2);
    expect(driver.health().state).toBe('up');
  });

  it('reports a drop folder it may only read as down, naming the fix, and takes the scans once it may write', async () => {
    // As the unit's ProtectSystem=strict shows it: the scanner writes the folder, the gateway sees
    // it through a read-only mount of the same files. Needs root for mount (as the deploy tests).
    expect(process.getuid?.(), 'this test needs root: mount --bind').toBe(0);
    const folder = tempDir('xray-share-');
    for (const sub of ['processed', 'quarantine']) mkdirSync(join(folder, sub));
    const view = tempDir('xray-view-');
    execFileSync('mount', ['--bind', folder, view]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', view]);
      const { driver, readings } = setup(view);
      // A scan already there stays where the scanner put it, untouched and unreported.
      new SimulatedScanner(folder, 'scanner-A').completed('scan-ro', 'GE123AB');
      await driver.start();
      expect(driver.health()).toMatchObject({ state: 'down' });
      expect(driver.health().lastError).toContain(`${view} is not writable (EROFS)`);
      expect(driver.health().lastError).toContain(`ReadWritePaths=${view}`);
      expect(readings).toEqual([]);
      expect(existsSync(join(folder, 'scan-ro.pgm'))).toBe(true);
      // Writable again (the drop-in added): the next pass takes the scan.
      execFileSync('mount', ['-o', 'remount,bind,rw', view]);
      const taken = new Promise<void>((resolve) => driver.on('reading', () => resolve()));
      driver.scan();
      await taken;
      expect(readings[0]).toMatchObject({ scanId: 'scan-ro', status: 'completed' });
      expect(driver.health().state).toBe('up');
    } finally {
      for (const driver of drivers.splice(0)) await driver.stop();
      execFileSync('umount', [view]);
    }
  });
});
