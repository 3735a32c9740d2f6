/**
 * A scan's evidence across a restart that came after its crossing closed: the scan is recorded
 * with its `xray.scanned` (same transaction) and forgotten only once its evidence is stored, so the
 * next start takes it although no open crossing names it any more. Before the record, resume
 * looked at open crossings only, and this scan went without evidence.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createEventFactory } from '../../contract/envelope.js';
import { systemClock } from '../../core/clock.js';
import { encodePgm } from '../../drivers/xray/pgm.js';
import { SimulatedScanner } from '../../sim/xray/simulated-scanner.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { startTestGateway, tempDir, testConfig } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import { EvidenceCapture } from './evidence-capture.js';
import { EvidenceStore } from './evidence-store.js';
import { MAX_SCANS_AWAITING, ScansAwaitingEvidence } from './scans-awaiting-evidence.js';
import { UploadProgress } from './upload-progress.js';

const silent = pino({ level: 'silent' });
const settings = { fullImageDays: 7, forward: { plateSnapshots: true, xrayThumbnails: true } };
const scannedData = (crossingId: string, imageRef: string | null) => ({
  crossingId,
  clock: { synchronised: true, offsetMs: 0 },
  sinceArrivalSec: 300,
  scannerId: 'scanner-A',
  result: 'clear' as const,
  imageRef,
  screening: null,
});

describe('scans awaiting their evidence', () => {
  let gateway: Gateway | undefined;
  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
  });

  it('takes a scan whose capture a restart cut short, its crossing closed meanwhile', async () => {
    const dir = tempDir('scans-awaiting-');
    const config = testConfig(['mqtt://127.0.0.1:1']);
    const clock = new ManualClock(Date.UTC(2026, 10, 29, 8));
    const scan = join(dir, 'scan-1.pgm');
    writeFileSync(scan, encodePgm(new SimulatedScanner(dir, 'scanner-A').image(400, 200)));
    const open = async (g: Gateway): Promise<EvidenceStore> =>
      EvidenceStore.open({ db: g.outbox.database, dir: join(dir, 'evidence'), maxBytes: 64 * 1024 * 1024, fullImageDays: 7, reserveBytes: 0, maxEventBytes: 64 * 1024, gateway: g, uploads: new UploadProgress(g.outbox.database), clock, logger: silent });
    const capture = (g: Gateway, store: EvidenceStore, thumbnail?: () => Promise<never>): EvidenceCapture =>
      new EvidenceCapture({ store, devices: { onReadings: () => () => undefined }, onEvent: (listener) => g.onEvent(listener), image: () => null, awaiting: g.scansAwaiting, config: settings, clock, logger: silent, ...(thumbnail ? { thumbnail } : {}) });

    // First run: the scan is stored with its event; its thumbnail never comes (the run ends first).
    gateway = await startTestGateway(config, dir);
    let store = await open(gateway);
    let thumbnailAsked = false;
    const cut = capture(gateway, store, () => {
      thumbnailAsked = true;
      return new Promise<never>(() => undefined);
    });
    await gateway.emit('xray.scanned', 'lane-1', scannedData('c-1', scan), 'c-1');
    await gateway.emit('xray.scanned', 'lane-2', scannedData('c-2', null), 'c-2');
    while (!thumbnailAsked) await new Promise((resolve) => setImmediate(resolve));
    expect(gateway.scansAwaiting.all()).toEqual([{ crossingId: 'c-1', laneId: 'lane-1', path: scan, scannerId: 'scanner-A' }]);
    // Its crossing closes meanwhile (the next start hands over no open crossing), and the run ends.
    expect(store.index.holdsFor('c-1', 'xray-thumbnail')).toBe(false);
    cut.stop();
    await store.stop();
    await gateway.stop();

    // Next start: no open crossing is handed over; the record alone brings the scan back.
    gateway = await startTestGateway(config, dir);
    store = await open(gateway);
    const resumed = capture(gateway, store);
    resumed.resume([]);
    await resumed.idle();
    expect(store.index.holdsFor('c-1', 'xray-thumbnail')).toBe(true);
    expect(gateway.scansAwaiting.all()).toEqual([]);
    resumed.stop();
    await store.stop();
  });

  it('records a scan only with its event, only while evidence is kept, and at most MAX_SCANS_AWAITING', async () => {
    const db = new Database(':memory:');
    migrateGatewayDatabase(db);
    const events = createEventFactory('test-post', systemClock);
    const warnings: Record<string, unknown>[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
    const kept = new ScansAwaitingEvidence(db, true, logger);
    const none = new ScansAwaitingEvidence(db, false, logger);
    none.within()(events.create('xray.scanned', 'lane-1', scannedData('c-0', '/scans/0.pgm'), 'c-0'), db);
    expect(kept.all()).toEqual([]);
    // A digest names a picture already stored; another event type is not a scan.
    kept.within()(events.create('xray.scanned', 'lane-1', scannedData('c-0', `sha256:${'a'.repeat(64)}`), 'c-0'), db);
    kept.within()(events.create('vehicle.released', 'lane-1', { crossingId: 'c-0', clock: { synchronised: true, offsetMs: 0 }, sinceArrivalSec: 1 }, 'c-0'), db);
    expect(kept.all()).toEqual([]);
    // A commit that fails after the record (what the event's producer writes throws) leaves none.
    const failing = db.transaction(() =>
      kept.within(() => {
        throw new Error('the producer failed');
      })(events.create('xray.scanned', 'lane-1', scannedData('c-0', '/scans/0.pgm'), 'c-0'), db),
    );
    expect(() => failing()).toThrow('the producer failed');
    expect(kept.all()).toEqual([]);
    for (let i = 1; i <= MAX_SCANS_AWAITING + 3; i += 1) kept.within()(events.create('xray.scanned', 'lane-1', scannedData(`c-${i}`, `/scans/${i}.pgm`), `c-${i}`), db);
    const awaiting = kept.all();
    expect(awaiting).toHaveLength(MAX_SCANS_AWAITING);
    expect(awaiting[0]?.crossingId).toBe('c-4');
    // Logged once the writes are over, those pushed out that stayed out.
    await Promise.resolve();
    expect(warnings.map((line) => line.crossings)).toEqual([['c-1', 'c-2', 'c-3']]);
    kept.done({ crossingId: 'c-4', path: '/scans/4.pgm' });
    expect(kept.all()[0]?.crossingId).toBe('c-5');
  });
});

describe('scans awaiting their evidence, the database locked', () => {
  it('settles a scan without waiting for another connection\'s write lock: refused at once (GW_ERR_OUTBOX_LOCKED), still recorded', () => {
    const path = join(tempDir(), 'gateway.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    // The gateway's connection waits up to 5 s for a lock unless told not to (sqlite-outbox.ts).
    db.pragma('busy_timeout = 5000');
    migrateGatewayDatabase(db);
    const awaiting = new ScansAwaitingEvidence(db, true, silent);
    const scan = { crossingId: 'c-1', laneId: 'lane-1', path: '/var/lib/border-gateway/xray/scan-1.pgm', scannerId: 'scanner-A' };
    awaiting.record(scan);
    // An sqlite3 shell left in a transaction: a real second connection holding the write lock.
    const shell = new Database(path);
    shell.exec('BEGIN IMMEDIATE');
    try {
      expect(() => awaiting.done(scan)).toThrow(expect.objectContaining({ code: 'GW_ERR_OUTBOX_LOCKED' }));
      expect(awaiting.all()).toEqual([scan]);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    } finally {
      shell.exec('COMMIT');
      shell.close();
    }
    awaiting.done(scan);
    expect(awaiting.all()).toEqual([]);
    db.close();
  });
});
