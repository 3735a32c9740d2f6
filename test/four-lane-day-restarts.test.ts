/**
 * A day of a 4-lane post on the injected clock, twice with the same seed: once undisturbed, once
 * with the gateway stopped and started again on the same data at 24 random moments (the lane
 * workflow rebuilt from the database each time, the trucks and devices carrying on). Every truck
 * completes exactly once in both, and the TRS figures of the restarted day are within 1% of the
 * undisturbed one. Crash consistency itself (SIGKILL mid-commit) is shown by
 * test/restart-safe-lanes.test.ts on real processes; this one shows that a day with many restarts
 * adds up to the same day.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { Gateway } from '../gateway/daemon.js';
import { createLogger } from '../gateway/logger.js';
import { startPostRuntime, type PostRuntime } from '../gateway/post-runtime.js';
import { readOutbox } from '../gateway/trs/event-sources.js';
import { crossingRecord, trsReport, type CrossingRecord, type TrsReport } from '../contract/trs-report.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import type { CrossingView, LaneDesk } from '../sim/gateway-client.js';
import { TrafficGenerator } from '../sim/traffic.js';
import { seededRandom } from '../sim/truck-profiles.js';
import { ManualClock } from './helpers/manual-clock.js';
import { DeviceFeedStandIn, InProcessDesk, standInLanes } from './helpers/post-harness.js';
import { tempDir } from './helpers/test-config.js';
import { FOUR_LANES, fourLaneConfig } from './helpers/four-lane-post.js';

const HOUR = 3_600_000;
const RESTARTS = 24;

const LANES = FOUR_LANES;
const config = fourLaneConfig();

/** The lane API of whichever gateway runs now. */
class CurrentDesk implements LaneDesk {
  current: InProcessDesk | null = null;
  private desk(): InProcessDesk {
    if (!this.current) throw new Error('no gateway running');
    return this.current;
  }
  register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    return this.desk().register(laneId, request);
  }
  crossing(laneId: string, crossingId: string): Promise<CrossingView | null> {
    return this.desk().crossing(laneId, crossingId);
  }
  inspection(laneId: string, crossingId: string, outcome: 'cleared' | 'irregularity'): Promise<void> {
    return this.desk().inspection(laneId, crossingId, outcome);
  }
  release(laneId: string, crossingId: string, reason: string): Promise<void> {
    return this.desk().release(laneId, crossingId, reason);
  }
  settled(): Promise<boolean> {
    return this.current?.settled() ?? Promise.resolve(false);
  }
}

interface Day {
  trucks: number;
  completed: number;
  distinctCrossings: number;
  abandoned: number;
  report: TrsReport;
  restored: number;
}

async function day(restartAtMs: number[], cleanup: (() => Promise<void>)[]): Promise<Day> {
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 0, 0));
  const dataDir = tempDir('day-restarts-');
  const logger = createLogger('silent');
  const random = seededRandom(2026);
  const feed = new DeviceFeedStandIn();
  const desk = new CurrentDesk();
  clock.settleWith(() => desk.settled());
  let gateway: Gateway | null = null;
  let runtime: PostRuntime | null = null;
  let restored = 0;
  const start = async (): Promise<void> => {
    gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, eventClock: clock, dataDir, http: false });
    runtime = await startPostRuntime({ config, gateway, devices: feed, clock, logger, random });
    restored += runtime.post.lanes.size === 0 ? 0 : [...runtime.post.lanes.values()].reduce((sum, lane) => sum + lane.workflow.open().length, 0);
    desk.current = await InProcessDesk.create(gateway);
  };
  const stop = async (): Promise<void> => {
    feed.forgetListeners();
    desk.current = null;
    await runtime?.stop();
    await gateway?.stop();
  };
  cleanup.push(stop);
  await start();
  restored = 0;
  const lanes = standInLanes(feed, LANES, clock, join(dataDir, 'scans'));
  const errors: Error[] = [];
  const traffic = new TrafficGenerator(lanes, { clock, deviceClock: clock, intervalSec: 600, desk, random, watchlist: config.workflow.watchlist, onError: (e) => errors.push(e) });
  cleanup.push(() => Promise.resolve(traffic.stop()));
  traffic.start();
  let elapsed = 0;
  for (const at of restartAtMs) {
    await clock.runFor(at - elapsed);
    elapsed = at;
    await stop();
    await start();
  }
  await clock.runFor(24 * HOUR - elapsed);
  traffic.stopArrivals();
  await clock.runFor(12 * HOUR);
  await stop();
  expect(errors).toEqual([]);
  const events = [...readOutbox(join(dataDir, 'outbox.db'), (event) => event)];
  const completed = events.filter((e) => e.type === 'crossing.completed');
  const records = completed.map(crossingRecord).filter((r): r is CrossingRecord => r !== null);
  return {
    trucks: traffic.trucks,
    completed: completed.length,
    distinctCrossings: new Set(completed.map((e) => (e.data as { crossingId: string }).crossingId)).size,
    abandoned: completed.filter((e) => (e.data as { outcome: string }).outcome === 'abandoned').length,
    report: trsReport(records),
    restored,
  };
}

describe('a 4-lane day restarted 24 times', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('completes every truck once, with TRS figures within 1% of the undisturbed day', async () => {
    const undisturbed = await day([], cleanup);
    const pick = seededRandom(99);
    const moments = Array.from({ length: RESTARTS }, () => Math.round((0.5 + pick() * 23) * HOUR)).sort((a, b) => a - b);
    const restarted = await day(moments, cleanup);
    console.log(`4-lane day restarted ${RESTARTS} times: ${JSON.stringify({ undisturbed: { trucks: undisturbed.trucks, registration: undisturbed.report.registration, crossing: undisturbed.report.crossing }, restarted: { trucks: restarted.trucks, restored: restarted.restored, registration: restarted.report.registration, crossing: restarted.report.crossing } })}`);
    for (const result of [undisturbed, restarted]) {
      expect(result.completed).toBe(result.trucks);
      expect(result.distinctCrossings).toBe(result.trucks);
      expect(result.abandoned).toBe(0);
    }
    // Open crossings were carried across the restarts (not every restart finds one open).
    expect(restarted.restored).toBeGreaterThan(RESTARTS);
    expect(restarted.trucks).toBe(undisturbed.trucks);
    const within1 = (a: number | null, b: number | null): void => expect(Math.abs((a ?? Number.NaN) - (b ?? Number.NaN)) / (b ?? Number.NaN)).toBeLessThan(0.01);
    within1(restarted.report.registration.avgMin, undisturbed.report.registration.avgMin);
    within1(restarted.report.crossing.avgMin, undisturbed.report.crossing.avgMin);
    within1(restarted.report.crossing.p90Min, undisturbed.report.crossing.p90Min);
    within1(restarted.report.xrayShare, undisturbed.report.xrayShare);
  }, 240_000);
});
