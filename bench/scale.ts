/**
 * `npm run bench -- scale`: scale curves. Not a test: nothing here passes or fails.
 *
 * Every point runs in a fresh Node process with the environment and heap flags of
 * deploy/border-gateway.service (read from the unit: scale/deployed-runtime.ts).
 *
 * Lanes: the whole lane workflow (bench/scale/lanes-child.ts) with 1, 4, 16 and 64 lanes and the
 * same traffic per lane, with --expose-gc to read the heap after a full collection. The figure is
 * CPU per vehicle: it should stay flat unless something costs O(lanes) per event. Other work on
 * the machine inflates CPU time too (shared caches and cores), so each lane count runs twice and
 * the cheaper run is kept.
 *
 * Backlog: the outbox holding 10k, 100k and 1M events (bench/scale/backlog-child.ts): the fill,
 * then the drain to a local Mosquitto (points under 1M three times, the median reported), beside
 * raw MQTT.js publishing to the same broker in the same run (the peer a drain rate is read against).
 *
 * Prints Markdown tables for docs/benchmarks.md and writes docs/benchmarks/{lanes,backlog}.{svg,png}
 * and scale-results.json (the points the tables and plots were made from; a run of one section
 * keeps the other's).
 *
 *   BENCH_SCALE_LANES         lane counts (default 1,4,16,64)
 *   BENCH_SCALE_HOURS         hours of arrivals per point (default 24)
 *   BENCH_SCALE_INTERVAL_SEC  mean seconds between trucks on a lane (default 300: 12 per hour)
 *   BENCH_SCALE_LANE_ROUNDS   runs of each lane count, up then down, the cheapest kept (default 2)
 *   BENCH_SCALE_BACKLOGS      backlog sizes (default 10000,100000,1000000)
 *   BENCH_SCALE_MAX_BACKLOG   leave out backlogs above this (a quick run: 100000)
 *   BENCH_SCALE_REPEATS       runs of each backlog under 1M, the median reported (default 3)
 *   BENCH_SCALE_ONLY          "lanes" or "backlog"; "plots" draws the figures again from
 *                             scale-results.json without measuring anything
 *   BENCH_SCALE_OUT           folder of the figures (default docs/benchmarks in the package)
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { tempDir } from '../test/helpers/test-config.js';
import { runChild } from './scale/children.js';
import { deployedRuntime } from './scale/deployed-runtime.js';
import { WARMUP_HOURS } from './scale/lane-post.js';
import { backlogFigure, lanesFigure, type RunFacts } from './scale/figures.js';
import type { BacklogDrain, BacklogFill, LanePoint } from './scale/measures.js';
import { writeFigures } from './scale/rasterise.js';
import { figureSvg } from './scale/svg-plot.js';
import { backlogTable, fmt, lanesTable, type BacklogPoint } from './scale/tables.js';
import { rawPublish } from './uplink-bench.js';

const list = (text: string | undefined, fallback: number[]): number[] => (text ? text.split(',').map(Number) : fallback);
const LANES = list(process.env.BENCH_SCALE_LANES, [1, 4, 16, 64]);
const HOURS = Number(process.env.BENCH_SCALE_HOURS ?? 24);
const INTERVAL_SEC = Number(process.env.BENCH_SCALE_INTERVAL_SEC ?? 300);
const MAX_BACKLOG = Number(process.env.BENCH_SCALE_MAX_BACKLOG ?? Number.POSITIVE_INFINITY);
const BACKLOGS = list(process.env.BENCH_SCALE_BACKLOGS, [10_000, 100_000, 1_000_000]).filter((n) => n <= MAX_BACKLOG);
const ONLY = process.env.BENCH_SCALE_ONLY;
if (ONLY !== undefined && !['lanes', 'backlog', 'plots'].includes(ONLY)) throw new Error(`BENCH_SCALE_ONLY is lanes, backlog or plots, not "${ONLY}"`);
const OUT = process.env.BENCH_SCALE_OUT ?? join(PACKAGE_ROOT, 'docs', 'benchmarks');
/** As the post runs Node (the systemd unit's NODE_OPTIONS and environment). */
const DEPLOYED = deployedRuntime();
const LANE_NODE_FLAGS = ['--expose-gc', ...DEPLOYED.nodeFlags];
/** Runs of each lane count; the one with the least CPU per vehicle is reported. */
const LANE_ROUNDS = Number(process.env.BENCH_SCALE_LANE_ROUNDS ?? 2);
const WINDOW = 256;
const RAW_EVENTS = 50_000;
/** Short points are repeated (median taken): a 10k fill is over in a second, at one noisy moment's mercy. */
const REPEATS = Number(process.env.BENCH_SCALE_REPEATS ?? 3);
const REPEAT_BELOW = 1_000_000;

/** The run whose `key` is the median (the lower one of an even count). */
function median<T>(runs: readonly T[], key: (run: T) => number): T {
  const sorted = [...runs].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)] as T;
}

const runStarted = performance.now();
const facts: RunFacts = {
  when: `${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores (shared)`,
  nodeFlags: DEPLOYED.nodeFlags.join(' '),
  perLane: `${fmt(3600 / INTERVAL_SEC)} trucks per lane per hour; ${HOURS} h measured after a ${WARMUP_HOURS} h warm-up; the cheaper of ${LANE_ROUNDS} runs`,
};
mkdirSync(OUT, { recursive: true });
interface Results {
  lanes?: { facts: RunFacts; points: LanePoint[] };
  backlog?: { facts: RunFacts; rawRate: number; points: BacklogPoint[] };
}
// A run of one section keeps the other's points.
const resultsPath = join(OUT, 'scale-results.json');
const results = (existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : {}) as Results;

if (ONLY === undefined || ONLY === 'lanes') {
  console.log(`lane scale: ${facts.perLane}; lanes ${LANES.join(', ')}; ${LANE_ROUNDS} rounds; node ${LANE_NODE_FLAGS.join(' ')}`);
  const runs = new Map<number, LanePoint[]>(LANES.map((lanes) => [lanes, []]));
  for (let round = 0; round < LANE_ROUNDS; round += 1) {
    // Up, then down: a busy spell of the machine lands on different lane counts in each round.
    for (const lanes of round % 2 === 0 ? LANES : [...LANES].reverse()) {
      const point = await runChild<LanePoint>('lanes-child.js', [String(lanes), String(HOURS), String(INTERVAL_SEC)], LANE_NODE_FLAGS, DEPLOYED.env);
      runs.get(lanes)?.push(point);
      console.log(`  ${lanes} lanes: ${fmt(point.vehicles)} vehicles, ${fmt(point.cpuMs / point.vehicles, 2)} CPU ms each, peak RSS ${fmt(point.peakRssMb)} MB (${fmt(point.wallSec, 1)} s)`);
    }
  }
  // The least disturbed run of each: neighbours on a shared machine only ever add CPU time.
  const points = LANES.map((lanes) => (runs.get(lanes) ?? []).reduce((best, run) => (run.cpuMs / run.vehicles < best.cpuMs / best.vehicles ? run : best)));
  results.lanes = { facts, points };
  console.log(`\n${lanesTable(points)}\n`);
}

if ((ONLY === undefined || ONLY === 'backlog') && BACKLOGS.length > 0) {
  const broker = await Mosquitto.start({ extraConfig: ['max_inflight_messages 1000', 'set_tcp_nodelay true'] });
  try {
    console.log(`backlog scale: ${BACKLOGS.map((n) => fmt(n)).join(', ')} events; Mosquitto ${broker.url}, QoS 1, window ${WINDOW}; node ${DEPLOYED.nodeFlags.join(' ')}`);
    // The peer before and after the points (best of both), so a noisy spell hurts it as it did them.
    const raw = [await rawPublish(broker.url, RAW_EVENTS, WINDOW)];
    const points: BacklogPoint[] = [];
    for (const backlog of BACKLOGS) {
      const fills: BacklogFill[] = [];
      const drains: BacklogDrain[] = [];
      for (let round = 0; round < (backlog >= REPEAT_BELOW ? 1 : REPEATS); round += 1) {
        const dir = tempDir('bench-scale-backlog-');
        try {
          fills.push(await runChild<BacklogFill>('backlog-child.js', ['fill', dir, String(backlog)], DEPLOYED.nodeFlags, DEPLOYED.env));
          drains.push(await runChild<BacklogDrain>('backlog-child.js', ['drain', dir, String(backlog), broker.url], DEPLOYED.nodeFlags, DEPLOYED.env));
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }
      const point = { fill: median(fills, (f) => f.appendRate), drain: median(drains, (d) => d.drainRate) };
      points.push(point);
      console.log(
        `  ${fmt(backlog)} (median of ${fills.length}): append ${fmt(point.fill.appendRate)} events/s, drain ${fmt(point.drain.drainRate)} events/s, drain peak RSS ${fmt(point.drain.peakRssMb)} MB`,
      );
    }
    raw.push(await rawPublish(broker.url, RAW_EVENTS, WINDOW));
    const rawRate = Math.max(...raw);
    console.log(`  raw MQTT.js QoS 1 publish, window ${WINDOW}: ${fmt(rawRate)} events/s (best of ${raw.map((r) => fmt(r)).join(', ')})`);
    results.backlog = { facts, rawRate, points };
    console.log(`\n${backlogTable(points, rawRate)}\n`);
  } finally {
    await broker.stop();
  }
}

// Both figures from the points on file, so a run of one section redraws the other as it was.
const { lanes, backlog } = results;
if (ONLY === 'plots') {
  if (lanes) console.log(`lanes (${lanes.facts.when}; ${lanes.facts.perLane}):\n\n${lanesTable(lanes.points)}\n`);
  if (backlog) console.log(`backlog (${backlog.facts.when}):\n\n${backlogTable(backlog.points, backlog.rawRate)}\n`);
}
await writeFigures([
  ...(lanes ? [{ svgPath: join(OUT, 'lanes.svg'), pngPath: join(OUT, 'lanes.png'), svg: figureSvg(lanesFigure(lanes.points, lanes.facts)) }] : []),
  ...(backlog ? [{ svgPath: join(OUT, 'backlog.svg'), pngPath: join(OUT, 'backlog.png'), svg: figureSvg(backlogFigure(backlog.points, backlog.rawRate, backlog.facts)) }] : []),
]);
writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
console.log(`figures and points in ${OUT}; the whole scale run took ${fmt((performance.now() - runStarted) / 60_000, 1)} min`);
