/**
 * One point of the lane scale curve, in a process of its own so that its peak RSS is this post's
 * alone: `lanes` lanes, each with a truck every `intervalSec` on average (the traffic clock).
 * Everything in process on a manual clock, as the workflow benchmark: the simulator's trucks, the
 * lane API (fastify `inject`), the workflow with both models, the outbox (real SQLite). Prints
 * one JSON line.
 *
 * The post first fills up for WARMUP_HOURS (a crossing takes ≈ 2¼ h, so the post is then as full
 * as it gets, and the JIT warm); the figures are of the `hours` after that, with trucks still
 * arriving: CPU, events committed and crossings completed in that window. So a vehicle's cost is
 * the steady state's, with no start-up or emptying spread over few vehicles at one lane.
 *
 * The clock is bench/scale/heap-clock.ts; CLOCK `array` runs the tests' ManualClock instead, to
 * see what its linear timer scans cost at this many lanes.
 *
 *   node [--expose-gc] dist-bench/bench/scale/lanes-child.js LANES HOURS INTERVAL_SEC [heap|array]
 */
import { join } from 'node:path';
import { systemClock } from '../../core/clock.js';
import { Gateway } from '../../gateway/daemon.js';
import { createLogger } from '../../gateway/logger.js';
import { startPostRuntime } from '../../gateway/post-runtime.js';
import { resolveUplinkSettings } from '../../gateway/uplink/resolve-settings.js';
import { TrafficGenerator } from '../../sim/traffic.js';
import { seededRandom } from '../../sim/truck-profiles.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { DeviceFeedStandIn, InProcessDesk } from '../../test/helpers/post-harness.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { percentile } from '../uplink-bench.js';
import { HeapClock } from './heap-clock.js';
import { lanePostConfig, scaleLanes, WARMUP_HOURS } from './lane-post.js';
import { commitLatencyProbe, HeapPeakSampler, memoryAfterRun, type LanePoint } from './measures.js';

const [lanesText, hoursText, intervalText, clockKind = 'heap'] = process.argv.slice(2);
const lanes = Number(lanesText);
const hours = Number(hoursText);
const intervalSec = Number(intervalText);
if (!(lanes >= 1 && hours > 0 && intervalSec > 0) || (clockKind !== 'heap' && clockKind !== 'array')) {
  throw new Error('usage: lanes-child.js LANES HOURS INTERVAL_SEC [heap|array]');
}

const config = lanePostConfig(lanes);
const startWallMs = Date.UTC(2026, 10, 26);
const clock = clockKind === 'heap' ? new HeapClock(startWallMs) : new ManualClock(startWallMs);
const dataDir = tempDir('bench-scale-lanes-');
const logger = createLogger('silent');
const gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, eventClock: clock, dataDir, http: false });
const feed = new DeviceFeedStandIn();
const runtime = await startPostRuntime({ config, gateway, devices: feed, clock, logger, random: seededRandom(1) });
const desk = await InProcessDesk.create(gateway);
// The clock waits for the desk's calls under way, as the day tests' does (post-harness.ts).
clock.settleWith(() => desk.settled());
const traffic = new TrafficGenerator(scaleLanes(feed, lanes, clock, join(dataDir, 'scans')), {
  clock,
  deviceClock: clock,
  intervalSec,
  desk,
  random: seededRandom(2),
  watchlist: [],
  onError: (error) => logger.error({ err: error }, 'truck failed'),
});
const latencies = commitLatencyProbe(gateway.outbox);

const heapPeak = new HeapPeakSampler();
traffic.start();
await clock.runFor(WARMUP_HOURS * 3_600_000);
latencies.clear();
const before = { seq: gateway.outbox.lastSeq, ...runtime.post.counts, trucks: traffic.trucks };
const cpuBefore = process.cpuUsage();
const started = performance.now();
await clock.runFor(hours * 3_600_000);
const wallSec = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const events = gateway.outbox.lastSeq - before.seq;
const vehicles = runtime.post.counts.completed - before.completed;
const abandoned = runtime.post.counts.abandoned - before.abandoned;
const heapPeakMb = heapPeak.stop();
const memory = memoryAfterRun();
traffic.stop();
await runtime.stop();
await gateway.stop();

const commit = latencies.sorted();
const point: LanePoint = {
  lanes,
  clock: clockKind,
  trucks: traffic.trucks - before.trucks,
  failed: traffic.failed,
  vehicles,
  abandoned,
  events,
  wallSec,
  cpuMs: (cpu.user + cpu.system) / 1000,
  commitP50Ms: percentile(commit, 50),
  commitP99Ms: percentile(commit, 99),
  heapPeakMb,
  ...memory,
};
process.stdout.write(`${JSON.stringify(point)}\n`);
