/**
 * Benchmarks of the lane issue, each against a baseline measured in the same process:
 * - risk inference per vehicle (one run: the vehicle and its ten contribution rows) in the
 *   gateway's own graph evaluator and in onnxruntime, against the same trees walked in TypeScript
 *   for the same eleven rows;
 * - X-ray screening of a 1024×1024 16-bit image in both engines, against the same densest-block
 *   computation written as a plain TypeScript loop;
 * - vehicles per second through the whole workflow (simulated trucks, lane API, workflow, both
 *   models, outbox) on the manual clock, against the outbox committing the same number of events
 *   with no workflow in front of it;
 * - a plate's visit history read from the gateway's database at a month of arrivals, against the
 *   same counts from a map in memory (how the gateway held it until the eleventh session), and
 *   the heap that map takes.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import Database from 'better-sqlite3';
import { parseConfigText } from '../config/load-config.js';
import { systemClock } from '../core/clock.js';
import { predictProbability } from '../edge-models/gradient-boosting.js';
import { RISK_FEATURES } from '../edge-models/risk-features.js';
import { verifyModel } from '../edge-models/manifest.js';
import { RiskModel } from '../edge-models/risk-model.js';
import { featuresOf, trainRiskModel, trainXrayModel, WATCHLIST } from '../edge-models/train-models.js';
import { XrayScreeningModel, type XrayImage } from '../edge-models/xray-screening.js';
import { Gateway } from '../gateway/daemon.js';
import { createLogger } from '../gateway/logger.js';
import { startPostRuntime } from '../gateway/post-runtime.js';
import type { EventDraft } from '../contract/envelope.js';
import { LaneStore, VISITS_MAX_ROWS, VISITS_WINDOW_MS } from '../gateway/workflow/lane-store.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import { TrafficGenerator } from '../sim/traffic.js';
import { labelledCrossings, seededRandom } from '../sim/truck-profiles.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { MemoryVisitHistory } from '../test/helpers/memory-visit-history.js';
import { DeviceFeedStandIn, InProcessDesk, standInLanes } from '../test/helpers/post-harness.js';
import { tempDir } from '../test/helpers/test-config.js';
import { percentile } from './uplink-bench.js';

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

function timeEach(count: number, fn: (i: number) => void): number[] {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    fn(i);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

async function timeEachAsync(count: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const start = performance.now();
    await fn(i);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b);
}

const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;

export async function riskInferenceBench(vehicles: number): Promise<void> {
  const dir = tempDir('bench-models-');
  const keys = generateKeyPairSync('ed25519');
  const trained = trainRiskModel({ outDir: dir, privateKeyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), version: '0.0.1', seed: 42, trainRows: 20_000, testRows: 2000 });
  // The TypeScript baseline walks the very trees that were exported.
  const { ensemble } = trained;
  const verified = verifyModel(trained.manifestPath, [keys.publicKey], 'risk');
  const inputs = labelledCrossings(vehicles, seededRandom(9), WATCHLIST).map((r) => featuresOf(r.profile));
  const baseline = timeEach(vehicles, (i) => {
    const row = inputs[i] as Float32Array;
    predictProbability(ensemble, row);
    for (let f = 0; f < RISK_FEATURES.length; f += 1) predictProbability(ensemble, row);
  });
  const means: Record<string, number> = {};
  for (const engine of ['auto', 'onnxruntime'] as const) {
    const model = await RiskModel.load(verified, engine);
    // Warm up before measuring.
    for (let i = 0; i < 200; i += 1) await model.score(inputs[i % inputs.length] as Float32Array);
    const times = await timeEachAsync(vehicles, (i) => model.score(inputs[i] as Float32Array));
    means[model.runsIn] = mean(times);
    console.log(`  risk inference per vehicle (${model.runsIn === 'gateway' ? "the gateway's evaluator" : 'onnxruntime'}, ${ensemble.trees.length} trees, 11 rows incl. contributions): p50 ${fmt(percentile(times, 50), 3)} ms, p99 ${fmt(percentile(times, 99), 3)} ms over ${fmt(vehicles)} vehicles   (target p99 ≤ 1 ms)`);
    await model.release();
  }
  console.log(`    baseline: the same trees walked in TypeScript, p50 ${fmt(percentile(baseline, 50), 3)} ms; ratio to it (means): evaluator ${fmt((means.gateway ?? NaN) / mean(baseline), 1)}, onnxruntime ${fmt((means.onnxruntime ?? NaN) / mean(baseline), 1)}`);
}

/** The same densest-block computation as the ONNX graph, as a plain loop (the baseline). */
function densestBlockTs(image: XrayImage, block: number): number {
  let peak = 0;
  for (let by = 0; by + block <= image.height; by += block) {
    for (let bx = 0; bx + block <= image.width; bx += block) {
      let sum = 0;
      for (let y = by; y < by + block; y += 1) for (let x = bx; x < bx + block; x += 1) sum += image.pixels[y * image.width + x] as number;
      peak = Math.max(peak, sum / (block * block) / image.maxval);
    }
  }
  return peak;
}

export async function xrayScreeningBench(runs: number): Promise<void> {
  const dir = tempDir('bench-xray-');
  const keys = generateKeyPairSync('ed25519');
  const trained = await trainXrayModel({ outDir: dir, privateKeyPem: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), version: '0.0.1', seed: 42, trainRows: 0, testRows: 0, xrayImages: 100 });
  const verified = verifyModel(trained.manifestPath, [keys.publicKey], 'xray-screening');
  const scanner = new SimulatedScanner(dir, 'bench', () => 0, seededRandom(5));
  const images = [scanner.image(1024, 1024, { concealed: true }), scanner.image(1024, 1024)];
  const baseline = timeEach(runs, (i) => densestBlockTs(images[i % 2] as XrayImage, 16));
  const medians: Record<string, number> = {};
  for (const engine of ['auto', 'onnxruntime'] as const) {
    const model = await XrayScreeningModel.load(verified, engine);
    for (let i = 0; i < 3; i += 1) await model.screen(images[i % 2] as XrayImage);
    const times = await timeEachAsync(runs, (i) => model.screen(images[i % 2] as XrayImage));
    medians[model.runsIn] = percentile(times, 50);
    console.log(`  X-ray screening of a 1024×1024 16-bit image (${model.runsIn === 'gateway' ? "the gateway's evaluator" : 'onnxruntime'}, incl. conversion to float): p50 ${fmt(percentile(times, 50), 1)} ms, p99 ${fmt(percentile(times, 99), 1)} ms over ${runs} images   (target ≤ 100 ms)`);
    await model.release();
  }
  console.log(`    baseline: densest block in a TypeScript loop, p50 ${fmt(percentile(baseline, 50), 1)} ms; ratio to it (medians): evaluator ${fmt((medians.gateway ?? NaN) / percentile(baseline, 50), 2)}, onnxruntime ${fmt((medians.onnxruntime ?? NaN) / percentile(baseline, 50), 2)}`);
}

const LANES = ['lane-1', 'lane-2', 'lane-3', 'lane-4'];

function benchConfig(): ReturnType<typeof parseConfigText> {
  return parseConfigText(`
version: 1
post: { id: bench-post }
lanes:
${LANES.map((id) => `  - { id: ${id}, devices: [] }`).join('\n')}
uplink: { brokers: ["mqtt://127.0.0.1:1"] }
outbox: { path: outbox.db, maxBytes: 1073741824 }
`);
}

/** Trucks of `hours` of a 4-lane post (one every `intervalSec` per lane) through the workflow. */
export async function workflowBench(hours: number, intervalSec: number): Promise<void> {
  const config = benchConfig();
  const clock = new ManualClock(Date.UTC(2026, 10, 26));
  const dataDir = tempDir('bench-workflow-');
  const logger = createLogger('silent');
  const gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, eventClock: clock, dataDir, http: false });
  const feed = new DeviceFeedStandIn();
  const runtime = await startPostRuntime({ config, gateway, devices: feed, clock, logger, random: seededRandom(1) });
  const lanes = standInLanes(feed, LANES, clock, join(dataDir, 'scans'));
  const desk = await InProcessDesk.create(gateway);
  // The clock waits for the desk's calls under way, as the day tests' does (post-harness.ts).
  clock.settleWith(() => desk.settled());
  const traffic = new TrafficGenerator(lanes, { clock, deviceClock: clock, intervalSec, desk, random: seededRandom(2), watchlist: [] });
  const seqBefore = gateway.outbox.lastSeq;
  const start = performance.now();
  traffic.start();
  await clock.runFor(hours * 3_600_000);
  traffic.stopArrivals();
  await clock.runFor(16 * 3_600_000);
  const seconds = (performance.now() - start) / 1000;
  const events = gateway.outbox.lastSeq - seqBefore;
  const vehicles = runtime.post.counts.completed;
  traffic.stop();
  await runtime.stop();

  // Baseline: the outbox alone committing as many events, produced as fast as it takes them.
  mkdirSync(join(dataDir, 'baseline'));
  const baseGateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, dataDir: join(dataDir, 'baseline'), http: false });
  const clockQuality = { synchronised: false, offsetMs: null };
  const baseStart = performance.now();
  const commits: Promise<unknown>[] = [];
  for (let i = 0; i < events; i += 1) {
    commits.push(baseGateway.emit('vehicle.released', LANES[i % 4] as string, { crossingId: `c-${i}`, clock: clockQuality, sinceArrivalSec: i }, `c-${i}`));
    if (commits.length >= 1000) await Promise.all(commits.splice(0));
  }
  await Promise.all(commits);
  const baseSeconds = (performance.now() - baseStart) / 1000;
  await baseGateway.stop();
  await gateway.stop();
  console.log(`  whole workflow on the simulator (4 lanes, ${hours} h of traffic, manual clock): ${fmt(vehicles)} vehicles, ${fmt(events)} events in ${fmt(seconds, 1)} s = ${fmt(vehicles / seconds, 1)} vehicles/s (${fmt(events / vehicles, 1)} events each)`);
  console.log(`    baseline: the outbox alone commits ${fmt(events)} events at ${fmt(events / baseSeconds)} events/s; workflow events/s ÷ outbox events/s ${fmt(events / seconds / (events / baseSeconds), 2)}`);
}

/** Heap used after full collections (gc exposed for this process on first use). */
function settledHeap(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * A month of a busy post's arrivals (VISITS_MAX_ROWS: 8,000 trucks a day for 30 days, a third of
 * them regulars coming back every few days) in the gateway's database, and `lookups` vehicles
 * assessed against it: a plate's visits and mismatches per vehicle, as the risk features read them.
 */
export function visitHistoryBench(lookups: number): void {
  const dir = tempDir('bench-visits-');
  const db = new Database(join(dir, 'outbox.db'));
  db.pragma('journal_mode = WAL');
  const clock = new ManualClock(Date.UTC(2026, 10, 26));
  const store = new LaneStore(db, clock);
  const random = seededRandom(3);
  const regulars = Array.from({ length: 2_000 }, (_, i) => `GE-${String(i).padStart(4, '0')}-RG`);
  const plateOf = (i: number): string => (random() < 1 / 3 ? (regulars[Math.floor(random() * regulars.length)] as string) : `TR-${i}-${Math.floor(random() * 1e6)}`);
  const start = clock.now() - VISITS_WINDOW_MS;
  const step = VISITS_WINDOW_MS / VISITS_MAX_ROWS;
  const arrivals: { plate: string; atMs: number }[] = Array.from({ length: VISITS_MAX_ROWS }, (_, i) => ({ plate: plateOf(i), atMs: Math.round(start + i * step) + 1 }));
  const event = {} as EventDraft;
  const write = db.transaction((batch: { plate: string; atMs: number }[]) => {
    for (const visit of batch) store.within(null, { visit })(event, db);
  });
  for (let i = 0; i < arrivals.length; i += 10_000) write(arrivals.slice(i, i + 10_000));
  db.pragma('wal_checkpoint(TRUNCATE)');
  const dbBytes = statSync(join(dir, 'outbox.db')).size;

  const before = settledHeap();
  const memory = new MemoryVisitHistory();
  for (const visit of arrivals) memory.recordArrival(visit.plate, visit.atMs);
  const mapBytes = settledHeap() - before;

  const asked = Array.from({ length: lookups }, (_, i) => (i % 2 === 0 ? (arrivals[Math.floor(random() * arrivals.length)] as { plate: string }).plate : `NEW-${i}`));
  const now = clock.now() + 1;
  let checksum = 0;
  for (let i = 0; i < 1_000; i += 1) checksum += store.visits(asked[i % lookups] as string, now) + memory.visits(asked[i % lookups] as string, now);
  const fromDb = timeEach(lookups, (i) => {
    checksum += store.visits(asked[i] as string, now) + store.mismatchesOf(asked[i] as string);
  });
  const fromMap = timeEach(lookups, (i) => {
    checksum += memory.visits(asked[i] as string, now) + memory.mismatchesOf(asked[i] as string);
  });
  const differ = asked.filter((plate) => store.visits(plate, now) !== memory.visits(plate, now)).length;
  db.close();
  console.log(
    `  visit history at ${fmt(VISITS_MAX_ROWS)} arrivals (a month at 8,000 trucks a day), ${fmt(lookups)} vehicles assessed: read from the database p50 ${fmt(percentile(fromDb, 50) * 1000, 1)} µs, p99 ${fmt(percentile(fromDb, 99) * 1000, 1)} µs per vehicle; ` +
      `the database file ${fmt(dbBytes / 1024 / 1024, 1)} MB${differ > 0 ? `; ${differ} counts DIFFER from the map's` : ''} (checksum ${checksum % 10})`,
  );
  console.log(`    baseline: the same counts from a map in memory, p50 ${fmt(percentile(fromMap, 50) * 1000, 1)} µs (database ÷ map, means: ${fmt(mean(fromDb) / mean(fromMap), 1)}); the map held ${fmt(mapBytes / 1024 / 1024, 1)} MB of heap, the gateway now none`);
}
