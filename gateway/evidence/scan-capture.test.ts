/**
 * The scan capture works through the record of scans awaiting evidence: it keeps a scan the store
 * refused and tries it again a minute later, takes scans beyond its eight in memory as those
 * finish, and lets go of a scan whose image is gone. The store here answers as EvidenceStore
 * does (null when it does not keep a piece); the record is the real one on SQLite.
 */
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import type { EvidenceStore } from './evidence-store.js';
import { NotAScanImage, type Thumbnail } from '../workflow/xray-thumbnail.js';
import { MAX_ATTEMPTS, MAX_SCANS_IN_MEMORY, ScanCapture, SCAN_RETRY_MS } from './scan-capture.js';
import { ScansAwaitingEvidence } from './scans-awaiting-evidence.js';

const silent = pino({ level: 'silent' });
const config = { fullImageDays: 0, forward: { plateSnapshots: true, xrayThumbnails: true } };
const madeFrom = (path: string): Thumbnail => ({ png: Buffer.from(path), imageWidth: 400, imageHeight: 200 });

/** Thumbnails that come only when the test lets them, one at a time, in the order asked for. */
function heldThumbnails(): { thumbnail: (path: string) => Promise<Thumbnail>; pending: (() => void)[]; releaseNext: () => Promise<void> } {
  const pending: (() => void)[] = [];
  return {
    pending,
    thumbnail: (path) => new Promise((resolve) => pending.push(() => resolve(madeFrom(path)))),
    releaseNext: async () => {
      while (pending.length === 0) await new Promise((resolve) => setImmediate(resolve));
      (pending.shift() as () => void)();
    },
  };
}

function harness(options: { keeps: (path: string) => boolean; thumbnail?: (path: string) => Promise<Thumbnail> }) {
  const db = new Database(':memory:');
  migrateGatewayDatabase(db);
  const awaiting = new ScansAwaitingEvidence(db, true, silent);
  const clock = new ManualClock(Date.UTC(2026, 10, 29, 8));
  const puts: string[] = [];
  const store = {
    index: { holdsFor: () => false },
    putFile: () => Promise.resolve(null),
    put: (png: Buffer) => {
      const path = png.toString();
      puts.push(path);
      return Promise.resolve(options.keeps(path) ? { digest: `sha256:${'0'.repeat(64)}`, bytes: png.length, chunks: 1 } : null);
    },
  } as unknown as Pick<EvidenceStore, 'put' | 'putFile' | 'index'>;
  const capture = new ScanCapture({ store, awaiting, config, clock, logger: silent, thumbnail: options.thumbnail ?? ((path) => Promise.resolve(madeFrom(path))) });
  const record = (n: number): void => awaiting.record({ crossingId: `c-${n}`, laneId: 'lane-1', path: `/scans/${n}.pgm`, scannerId: 'scanner-A' });
  const settled = (): Promise<void> => capture.idle();
  return { awaiting, clock, puts, capture, record, settled };
}

describe('scan capture', () => {
  it('keeps a scan the store refused and takes it again a minute later, until it is stored', async () => {
    let refusing = true;
    const { awaiting, clock, puts, capture, record, settled } = harness({ keeps: () => !refusing });
    record(1);
    await settled();
    expect(puts).toEqual(['/scans/1.pgm']);
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1']);
    // Not before the minute is up, however often the capture looks at the record.
    record(2);
    refusing = false;
    await settled();
    expect(puts).toEqual(['/scans/1.pgm', '/scans/2.pgm']);
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1']);
    clock.advance(SCAN_RETRY_MS - 1);
    await settled();
    expect(puts).toEqual(['/scans/1.pgm', '/scans/2.pgm']);
    clock.advance(1);
    await settled();
    expect(puts).toEqual(['/scans/1.pgm', '/scans/2.pgm', '/scans/1.pgm']);
    expect(awaiting.all()).toEqual([]);
    capture.stop();
  });

  it('gives a scan the store keeps refusing MAX_ATTEMPTS tries in one run and leaves it recorded for the next', async () => {
    const { awaiting, clock, puts, capture, record, settled } = harness({ keeps: () => false });
    record(1);
    await settled();
    for (let i = 0; i < MAX_ATTEMPTS + 2; i += 1) {
      clock.advance(SCAN_RETRY_MS);
      await settled();
    }
    expect(puts).toHaveLength(MAX_ATTEMPTS);
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1']);
    capture.stop();
  });

  it('takes the scans beyond the eight in memory as those finish, in one run', async () => {
    const held = heldThumbnails();
    const { awaiting, puts, capture, record, settled } = harness({ keeps: () => true, thumbnail: held.thumbnail });
    const scans = MAX_SCANS_IN_MEMORY + 4;
    for (let n = 1; n <= scans; n += 1) record(n);
    await new Promise((resolve) => setImmediate(resolve));
    for (let made = 0; made < scans; made += 1) await held.releaseNext();
    await settled();
    expect(puts).toEqual(Array.from({ length: scans }, (_, i) => `/scans/${i + 1}.pgm`));
    expect(awaiting.all()).toEqual([]);
    capture.stop();
  });

  it('lets go of a scan whose image is gone, and tries again one the file system refused for now', async () => {
    const error = (code: string): Error => Object.assign(new Error(code), { code });
    let failure = error('ENOENT');
    const { awaiting, clock, puts, capture, record, settled } = harness({ keeps: () => true, thumbnail: (path) => (path === '/scans/1.pgm' ? Promise.reject(failure) : Promise.resolve(madeFrom(path))) });
    record(1);
    await settled();
    expect(awaiting.all()).toEqual([]);
    failure = error('EMFILE');
    record(1);
    await settled();
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1']);
    failure = error('ENOENT');
    clock.advance(SCAN_RETRY_MS);
    await settled();
    expect(awaiting.all()).toEqual([]);
    expect(puts).toEqual([]);
    capture.stop();
  });

  it('sets no timer while memory is full: a refused scan due again waits for one to finish', async () => {
    const held = heldThumbnails();
    let refusing = true;
    const { awaiting, clock, puts, capture, record, settled } = harness({
      keeps: () => !refusing,
      thumbnail: (path) => (path === '/scans/1.pgm' ? Promise.resolve(madeFrom(path)) : held.thumbnail(path)),
    });
    record(1);
    await settled();
    refusing = false;
    for (let n = 2; n <= MAX_SCANS_IN_MEMORY + 1; n += 1) record(n);
    await Promise.resolve();
    // Eight taken (one making its thumbnail, seven queued) when scan 1 falls due: with a timer
    // armed at 0 ms, the manual clock's advance would run it for ever.
    clock.advance(SCAN_RETRY_MS);
    while (held.pending.length > 0 || puts.length < MAX_SCANS_IN_MEMORY + 1) {
      await held.releaseNext();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await settled();
    expect(puts.filter((path) => path === '/scans/1.pgm')).toHaveLength(2);
    expect(awaiting.all()).toEqual([]);
    capture.stop();
  });

  it('after stop, takes nothing more and retries nothing; what it held stays recorded', async () => {
    const { awaiting, clock, puts, capture, record, settled } = harness({ keeps: () => false });
    record(1);
    await settled();
    capture.stop();
    record(2);
    clock.advance(SCAN_RETRY_MS * 2);
    await settled();
    expect(puts).toEqual(['/scans/1.pgm']);
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1', 'c-2']);
  });

  it('lets go of a file that is not a scan image, and tries again after any other failure', async () => {
    let failure: Error = new NotAScanImage('/scans/1.pgm is not a regular file');
    const { awaiting, clock, capture, record, settled } = harness({ keeps: () => true, thumbnail: () => Promise.reject(failure) });
    record(1);
    await settled();
    expect(awaiting.all()).toEqual([]);
    failure = new Error('something nobody foresaw');
    record(1);
    await settled();
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1']);
    clock.advance(SCAN_RETRY_MS);
    await settled();
    expect(awaiting.all().map((scan) => scan.crossingId)).toEqual(['c-1']);
    capture.stop();
  });
});
