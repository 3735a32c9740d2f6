/**
 * A 4-lane day with the gateway in a child process killed with SIGKILL at 20 random moments and
 * started again on the same data, against the same day undisturbed (same seed). The child runs on
 * the test's clock (helpers/lockstep-gateway.ts), so the day takes minutes, and each kill lands
 * while the child works through a step of the day: its timers, risk assessments and commits.
 * Every truck completes exactly once, under the crossing id and with the arrival time it got
 * before any kill, and the TRS figures of the killed day are within 1% of the undisturbed one.
 *
 * What this does not cover: readings a device sends while the gateway is down. Each step here is
 * sent to a running gateway (a device retrying until it is heard); how the drivers recover a
 * camera's or a scale's words across an outage is tested with the drivers.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { crossingRecord, trsReport, type CrossingRecord, type TrsReport } from '../contract/trs-report.js';
import { TrafficGenerator } from '../sim/traffic.js';
import { seededRandom } from '../sim/truck-profiles.js';
import { FOUR_LANES, fourLaneConfig } from './helpers/four-lane-post.js';
import { LockstepGateway } from './helpers/lockstep-gateway.js';
import { ManualClock } from './helpers/manual-clock.js';
import { standInLanes } from './helpers/post-harness.js';
import { tempDir } from './helpers/test-config.js';

const HOUR = 3_600_000;
const KILLS = 20;
const DAY_START = Date.UTC(2026, 10, 26, 0, 0);

interface StoredEvent {
  type: string;
  time: string;
  data: Record<string, unknown>;
}

/** Every event the outbox holds (nothing was delivered: the post has no broker), in seq order. */
function storedEvents(path: string): StoredEvent[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], { payload: string }>('SELECT payload FROM events ORDER BY seq')
      .all()
      .map((row) => JSON.parse(row.payload) as StoredEvent);
  } finally {
    db.close();
  }
}

interface Day {
  trucks: number;
  completed: number;
  distinctCrossings: number;
  abandoned: number;
  /** Crossings whose completion names another arrival time than their one `vehicle.arrived`. */
  arrivalMismatches: string[];
  /** Crossings that arrived more than once (a second `vehicle.arrived` for one crossing id). */
  arrivedTwice: string[];
  /** Crossings that arrived and never completed, with the events each had. */
  unfinished: Record<string, string[]>;
  report: TrsReport;
  restored: number;
  killsMidStep: number;
  killed: number;
  readingsLost: number;
}

async function day(killAtMs: number[], cleanup: (() => Promise<void>)[]): Promise<Day> {
  const clock = new ManualClock(DAY_START);
  const dataDir = tempDir('day-kills-');
  const random = seededRandom(2026);
  const killDelay = seededRandom(31);
  const gateway = new LockstepGateway(dataDir);
  clock.settleWith(() => gateway.settled());
  cleanup.push(() => gateway.stop());
  await gateway.start(DAY_START);
  const lanes = standInLanes(gateway, FOUR_LANES, clock, join(dataDir, 'scans'));
  const errors: Error[] = [];
  const traffic = new TrafficGenerator(lanes, { clock, deviceClock: clock, intervalSec: 600, desk: gateway, random, retryRandom: seededRandom(5), watchlist: fourLaneConfig().workflow.watchlist, onError: (e) => errors.push(e) });
  cleanup.push(() => Promise.resolve(traffic.stop()));
  const pendingKills = [...killAtMs];
  const inStep = async (wallMs: number): Promise<void> => {
    await gateway.idle();
    // Killed during a lane API call since the last step: up again from this moment on.
    if (gateway.down) await startAgain(wallMs);
    if (pendingKills.length > 0 && wallMs - DAY_START >= (pendingKills[0] as number)) {
      pendingKills.shift();
      const delayMs = Math.floor(killDelay() * 8);
      if (pendingKills.length % 2 === 0) {
        // While it works through this step of the day (its timers, assessments, commits).
        await gateway.killDuring({ op: 'advance', toWallMs: wallMs }, delayMs);
        await startAgain(wallMs);
      } else {
        // While the next registration, inspection outcome or release is being committed.
        gateway.killDuringNextPost(delayMs);
      }
    }
    await gateway.advance(wallMs);
  };
  const startAgain = async (wallMs: number): Promise<void> => {
    await gateway.start(wallMs);
    if (process.env.DAY_PROGRESS) console.log(`kill ${gateway.kills} at ${((wallMs - DAY_START) / HOUR).toFixed(2)} h: ${gateway.restoredAtStart.at(-1)} open crossings restored`);
  };
  traffic.start();
  await clock.runFor(24 * HOUR, inStep);
  traffic.stopArrivals();
  await clock.runFor(12 * HOUR, inStep);
  await gateway.idle();
  await gateway.stop();
  expect(errors).toEqual([]);

  const events = storedEvents(join(dataDir, 'outbox.db'));
  const completed = events.filter((e) => e.type === 'crossing.completed');
  const arrivals = new Map<string, string[]>();
  for (const event of events.filter((e) => e.type === 'vehicle.arrived')) {
    const id = (event.data as { crossingId: string }).crossingId;
    arrivals.set(id, [...(arrivals.get(id) ?? []), String(event.time)]);
  }
  const records = completed.map((e) => crossingRecord(e as unknown as Parameters<typeof crossingRecord>[0])).filter((r): r is CrossingRecord => r !== null);
  return {
    trucks: traffic.trucks,
    completed: completed.length,
    distinctCrossings: new Set(completed.map((e) => (e.data as { crossingId: string }).crossingId)).size,
    abandoned: completed.filter((e) => (e.data as { outcome: string }).outcome === 'abandoned').length,
    arrivalMismatches: completed
      .map((e) => e.data as { crossingId: string; milestones: { arrived?: string } })
      .filter((c) => {
        const arrived = arrivals.get(c.crossingId)?.[0];
        return arrived === undefined || c.milestones.arrived === undefined || Date.parse(c.milestones.arrived) !== Date.parse(arrived);
      })
      .map((c) => c.crossingId),
    unfinished: Object.fromEntries(
      [...arrivals.keys()]
        .filter((id) => !completed.some((e) => e.data.crossingId === id))
        .map((id) => [id, events.filter((e) => e.data.crossingId === id).map((e) => e.type)]),
    ),
    arrivedTwice: [...arrivals.entries()].filter(([, times]) => times.length > 1).map(([id]) => id),
    report: trsReport(records),
    restored: gateway.restoredAtStart.slice(1).reduce((sum, n) => sum + n, 0),
    killsMidStep: gateway.killsMidStep,
    killed: gateway.kills,
    readingsLost: gateway.readingsLost,
  };
}

describe('a 4-lane day, the gateway killed with SIGKILL 20 times', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('completes every truck once, with its first arrival time, and TRS figures within 1% of the undisturbed day', async () => {
    const undisturbed = await day([], cleanup);
    const pick = seededRandom(77);
    const moments = Array.from({ length: KILLS }, () => Math.round((0.5 + pick() * 23) * HOUR)).sort((a, b) => a - b);
    const killedDay = await day(moments, cleanup);
    const figures = (d: Day): Record<string, unknown> => ({ trucks: d.trucks, completed: d.completed, restored: d.restored, killed: d.killed, killsMidStep: d.killsMidStep, registration: d.report.registration, crossing: d.report.crossing, xrayShare: d.report.xrayShare });
    console.log(`4-lane day, ${KILLS} SIGKILLs: ${JSON.stringify({ undisturbed: figures(undisturbed), killed: figures(killedDay) })}`);

    expect(killedDay.killed).toBe(KILLS);
    expect(killedDay.readingsLost).toBe(0);
    for (const result of [undisturbed, killedDay]) {
      expect(result.unfinished).toEqual({});
      expect(result.completed).toBe(result.trucks);
      expect(result.distinctCrossings).toBe(result.trucks);
      expect(result.abandoned).toBe(0);
      expect(result.arrivedTwice).toEqual([]);
      expect(result.arrivalMismatches).toEqual([]);
    }
    // The kills found crossings open and the child carried them on.
    expect(killedDay.restored).toBeGreaterThan(KILLS);
    expect(killedDay.trucks).toBe(undisturbed.trucks);
    const within1 = (a: number | null, b: number | null): void => expect(Math.abs((a ?? Number.NaN) - (b ?? Number.NaN)) / (b ?? Number.NaN)).toBeLessThan(0.01);
    within1(killedDay.report.registration.avgMin, undisturbed.report.registration.avgMin);
    within1(killedDay.report.registration.medianMin, undisturbed.report.registration.medianMin);
    within1(killedDay.report.crossing.avgMin, undisturbed.report.crossing.avgMin);
    within1(killedDay.report.crossing.medianMin, undisturbed.report.crossing.medianMin);
    within1(killedDay.report.crossing.p90Min, undisturbed.report.crossing.p90Min);
    within1(killedDay.report.xrayShare, undisturbed.report.xrayShare);
    expect(killedDay.report.vehicles).toBe(undisturbed.report.vehicles);
    expect(killedDay.report.byDirection).toEqual(undisturbed.report.byDirection);
  }, 600_000);
});
