/**
 * The lane store on its own: a crossing written with its event comes back with its stamps moved
 * onto a new process's monotonic clock (the outage measured by the wall clock), a closed one does
 * not; the visit history keeps 30 days within its row bound.
 */
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { EventDraft } from '../../contract/envelope.js';
import type { Crossing } from './lane-workflow.js';
import { LaneStore, MAX_OUTAGE_MS, VISITS_WINDOW_MS } from './lane-store.js';

const MINUTE = 60_000;
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

  it('forgets a crossing closed in the same transaction as its completed event', () => {
    const db = new Database(':memory:');
    const clock = new ManualClock();
    const store = new LaneStore(db, clock);
    const c = crossing(clock);
    store.within(c)(event, db);
    store.within(c, { closed: true })(event, db);
    expect(store.restoreCrossings().size).toBe(0);
  });

  it('keeps visits of the last 30 days, and mismatches, across a restart', () => {
    const db = new Database(':memory:');
    const clock = new ManualClock();
    const store = new LaneStore(db, clock);
    store.within(null, { visit: { plate: 'GE-123-AB', atMs: clock.now() - VISITS_WINDOW_MS - 1 } })(event, db);
    store.within(null, { visit: { plate: 'ge 123 ab', atMs: clock.now() - MINUTE } })(event, db);
    store.within(null, { visit: { plate: 'GE123AB', atMs: clock.now() } })(event, db);
    store.within(null, { mismatch: 'GE123AB' })(event, db);
    const { arrivals, mismatches } = new LaneStore(db, clock).restoreVisits();
    expect([...arrivals.values()].map((times) => times.length)).toEqual([2]);
    expect([...mismatches.values()]).toEqual([1]);
  });
});
