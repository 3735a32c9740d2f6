/**
 * The lane store on its own: a crossing written with its event comes back with its stamps moved
 * onto a new process's monotonic clock (the outage measured by the wall clock), a closed one does
 * not; the visit history keeps 30 days within its row bounds and is read from the database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { EventDraft } from '../../contract/envelope.js';
import type { Crossing } from './lane-workflow.js';
import { LaneStore, MAX_OUTAGE_MS, VISITS_WINDOW_MS } from './lane-store.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
const event = {} as EventDraft;

function crossing(clock: ManualClock): Crossing {
  return {
    crossingId: 'c-1',
    laneId: 'lane-1',
    state: 'registered',
    plate: 'GE123AB',
    plateConfidence: 0.9,
    vehicleType: 'truck',
    detectedBy: 'anpr',
    declaration: { direction: 'import', declaredWeightKg: 12_000, documents: [], aeo: false, previousVisits30d: null },
    weightKg: null,
    risk: null,
    xray: false,
    inspectionOutcome: null,
    scan: null,
    wallMs: { arrived: clock.now() - 30 * MINUTE, registered: clock.now() - 5 * MINUTE },
    monoMs: { arrived: clock.monotonic() - 30 * MINUTE, registered: clock.monotonic() - 5 * MINUTE },
    clock: { synchronised: true, offsetMs: 0 },
  };
}

describe('lane store', () => {
  it('restores an open crossing with its stamps on the new monotonic clock, the outage from the wall clock', () => {
    const db = new Database(':memory:');
    const before = new ManualClock(Date.UTC(2026, 10, 28, 8, 0, 0));
    before.advance(3 * 60 * MINUTE); // this process has run for three hours
    const open = { ...crossing(before), entryPicture: `sha256:${'a1'.repeat(32)}` };
    new LaneStore(db, before).within(open)(event, db);

    // Killed; a new process starts 10 minutes later, its monotonic clock from zero.
    const after = new ManualClock(before.now() + 10 * MINUTE);
    const [restored] = new LaneStore(db, after).restoreCrossings().get('lane-1') ?? [];
    expect(restored?.crossing.crossingId).toBe('c-1');
    expect(restored?.crossing.wallMs).toEqual(open.wallMs);
    expect(restored?.crossing.entryPicture).toBe(open.entryPicture);
    expect(restored?.crossing.durationsAcrossRestart).toBe(true);
    // Arrived 30 min before the snapshot, which was 10 min ago: 40 min before now on the new clock.
    expect(after.monotonic() - (restored?.crossing.monoMs.arrived as number)).toBe(40 * MINUTE);
    expect(after.monotonic() - (restored?.crossing.monoMs.registered as number)).toBe(15 * MINUTE);
    expect(restored?.lastWrittenWallMs).toBe(before.now());
  });

  it('believes an outage of at most a week: a wall clock stepped years ahead adds no more', () => {
    const db = new Database(':memory:');
    const before = new ManualClock(Date.UTC(2026, 10, 28, 8, 0, 0));
    new LaneStore(db, before).within(crossing(before))(event, db);
    const after = new ManualClock(before.now() + 3 * 365 * 24 * 60 * MINUTE);
    const [restored] = new LaneStore(db, after).restoreCrossings().get('lane-1') ?? [];
    expect(after.monotonic() - (restored?.crossing.monoMs.arrived as number)).toBe(MAX_OUTAGE_MS + 30 * MINUTE);
  });

  it('restores the plates that left each lane, aged across the outage by the wall clock, believed from 0 to the window', () => {
    const db = new Database(':memory:');
    const before = new ManualClock(Date.UTC(2026, 10, 28, 8, 0, 0));
    before.advance(3 * 60 * MINUTE);
    const store = new LaneStore(db, before);
    store.within(null, { exits: { laneId: 'lane-1', plates: [{ plate: 'GE123A8', agoMs: 3 * MINUTE }, { plate: 'XY987ZZ', agoMs: 0 }] } })(event, db);
    store.within(null, { exits: { laneId: 'lane-2', plates: [{ plate: 'AA111AA', agoMs: MINUTE }] } })(event, db);
    // A later exit rewrites its lane's row, with nothing older than the window in it.
    before.advance(MINUTE);
    store.within(null, { exits: { laneId: 'lane-2', plates: [{ plate: 'AA111AA', agoMs: 2 * MINUTE }, { plate: 'BB222BB', agoMs: 0 }] } })(event, db);

    // Back 90 s after the last write: ages grow by the outage; what is 5 minutes old or more is gone.
    const after = new ManualClock(before.now() + 90_000);
    expect(Object.fromEntries(new LaneStore(db, after).restoreRecentExits(5 * MINUTE))).toEqual({
      'lane-1': [{ plate: 'XY987ZZ', agoMs: MINUTE + 90_000 }],
      'lane-2': [
        { plate: 'AA111AA', agoMs: 2 * MINUTE + 90_000 },
        { plate: 'BB222BB', agoMs: 90_000 },
      ],
    });
    // A wall clock stepped back: as old as at the writing, not younger (and not for ever).
    const stepped = new ManualClock(before.now() - DAY);
    expect(new LaneStore(db, stepped).restoreRecentExits(5 * MINUTE).get('lane-2')).toEqual([
      { plate: 'AA111AA', agoMs: 2 * MINUTE },
      { plate: 'BB222BB', agoMs: 0 },
    ]);
    // Stepped ahead (or a long outage): nothing.
    expect(new LaneStore(db, new ManualClock(before.now() + DAY)).restoreRecentExits(5 * MINUTE).size).toBe(0);
  });

  it('forgets a crossing closed in the same transaction as its completed event', () => {
    const db = new Database(':memory:');
    const clock = new ManualClock();
    const store = new LaneStore(db, clock);
    const c = crossing(clock);
    store.within(c)(event, db);
    store.within(c, { closed: true })(event, db);
    expect(store.restoreCrossings().size).toBe(0);
  });

  it('counts the arrivals of the last 30 days before a moment, OCR-tolerant, across a restart', () => {
    const db = new Database(':memory:');
    const clock = new ManualClock();
    const store = new LaneStore(db, clock);
    const now = clock.now();
    store.within(null, { visit: { plate: 'GE-123-AB', atMs: now - VISITS_WINDOW_MS - 1 } })(event, db);
    store.within(null, { visit: { plate: 'ge 123 ab', atMs: now - 2 * DAY } })(event, db);
    store.within(null, { visit: { plate: 'GE-I23-AB', atMs: now - DAY } })(event, db);
    store.within(null, { visit: { plate: 'GE123AB', atMs: now } })(event, db);
    store.within(null, { mismatch: 'GE123AB' })(event, db);
    // Read by a new process's store: nothing of it was held in memory.
    const restarted = new LaneStore(db, clock);
    expect(restarted.visits('GE123AB', now + 1)).toBe(3);
    expect(restarted.visits('GE123AB', now)).toBe(2); // before the moment only
    expect(restarted.visits('GE123AB', now - DAY + VISITS_WINDOW_MS + 1)).toBe(1); // the day-old one only
    expect(restarted.visits('OTHER-1', now + 1)).toBe(0);
    expect(restarted.visits(null, now + 1)).toBe(0);
    expect(restarted.mismatchesOf('GE-123-AB')).toBe(1);
    expect(restarted.mismatchesOf('OTHER-1')).toBe(0);
    expect(restarted.mismatchesOf(null)).toBe(0);
  });

  it("forgets arrivals older than 30 days as new ones are written, and holds at most maxVisits rows", () => {
    const db = new Database(':memory:');
    const clock = new ManualClock();
    const store = new LaneStore(db, clock, { maxVisits: 10, maxMismatchPlates: 10 });
    const t0 = clock.now();
    // A month and a half of passing traffic, a plate every tenth of a day.
    for (let i = 0; i < 450; i += 1) store.within(null, { visit: { plate: `XX-${i}-YY`, atMs: t0 + i * (DAY / 10) } })(event, db);
    expect(rows(db, 'visits')).toBe(10);
    expect(store.visits('XX-439-YY', t0 + DAY * 60)).toBe(0);
    expect(store.visits('XX-440-YY', t0 + DAY * 45)).toBe(1);
    // Under the row bound, the window alone decides.
    const wideDb = new Database(':memory:');
    const wide = new LaneStore(wideDb, clock);
    for (let i = 0; i < 450; i += 1) wide.within(null, { visit: { plate: `XX-${i}-YY`, atMs: t0 + i * (DAY / 10) } })(event, wideDb);
    expect(rows(wideDb, 'visits')).toBe(301); // arrivals 149…449: the last 30 days
  });

  it('remembers mismatches for at most maxMismatchPlates plates, the longest unchanged forgotten first', () => {
    const db = new Database(':memory:');
    const store = new LaneStore(db, new ManualClock(), { maxVisits: 10, maxMismatchPlates: 2 });
    for (const plate of ['AA-111-AA', 'BB-222-BB', 'AA-111-AA', 'CC-333-CC']) store.within(null, { mismatch: plate })(event, db);
    expect(store.mismatchesOf('AA-111-AA')).toBe(2);
    expect(store.mismatchesOf('BB-222-BB')).toBe(0);
    expect(store.mismatchesOf('CC-333-CC')).toBe(1);
    expect(rows(db, 'plate_mismatches')).toBe(2);
    // The bound holds for a store that starts on a full table.
    const restarted = new LaneStore(db, new ManualClock(), { maxVisits: 10, maxMismatchPlates: 2 });
    restarted.within(null, { mismatch: 'DD-444-DD' })(event, db);
    expect(rows(db, 'plate_mismatches')).toBe(2);
    expect(restarted.mismatchesOf('AA-111-AA')).toBe(0);
  });

  it("counts a plate's visits through its index, not a scan of the month", () => {
    const db = new Database(':memory:');
    new LaneStore(db, new ManualClock());
    const plan = db.prepare('EXPLAIN QUERY PLAN SELECT COUNT(*) AS n FROM visits WHERE plate_key = ? AND wall_ms >= ? AND wall_ms < ?').all('GE123AB', 0, 1) as { detail: string }[];
    expect(plan.map((step) => step.detail).join('; ')).toMatch(/USING COVERING INDEX visits_by_plate \(plate_key=\? AND wall_ms>\? AND wall_ms<\?\)/);
  });

  it('keeps a barrier cycle in memory while another connection holds the write lock, and writes it once the lock is gone', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lane-store-lock-'));
    try {
      const clock = new ManualClock();
      const db = new Database(join(dir, 'gateway.db'));
      db.pragma('journal_mode = WAL');
      // The gateway's connection waits up to 5 s for a lock unless told not to (sqlite-outbox.ts).
      db.pragma('busy_timeout = 5000');
      const store = new LaneStore(db, clock);
      store.saveCycle('lane-1', { phase: 'closed' });
      // An sqlite3 shell left in a transaction: a real second connection holding the write lock.
      const shell = new Database(join(dir, 'gateway.db'));
      shell.exec('BEGIN IMMEDIATE');
      let timerRan = false;
      clock.setTimeout(() => (timerRan = true), 50);
      // Neither throws nor waits: the barrier's polling goes on.
      store.saveCycle('lane-1', { phase: 'opening' });
      store.saveCycle('lane-1', { phase: 'open' });
      store.saveCycle('lane-2', { phase: 'closed' });
      expect(store.cyclesWaiting).toBe(2);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      // Tried again (in vain) on the loop's timers, which keep running meanwhile.
      clock.advance(100);
      expect(timerRan).toBe(true);
      expect(store.cyclesWaiting).toBe(2);
      expect(store.restoreCycles().get('lane-1')).toEqual({ phase: 'closed' });
      shell.exec('COMMIT');
      shell.close();
      clock.advance(200);
      expect(store.cyclesWaiting).toBe(0);
      expect(store.restoreCycles()).toEqual(new Map([['lane-1', { phase: 'open' }], ['lane-2', { phase: 'closed' }]]));
      store.stop();
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});


function rows(db: Database.Database, table: string): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
}
