/**
 * `npm run bench`: the edge models' and the workflow's figures, then the uplink's against a local
 * Mosquitto this script starts, printed as
 * ratios against a baseline measured in the same run (these machines are noisy; absolute numbers
 * vary, ratios much less). Not a test: nothing here passes or fails.
 *
 *   BENCH_EVENTS   events per throughput run (default 50000)
 *   BENCH_BACKLOG  backlog size for the drain (default 1000000)
 *   BENCH_SECONDS  seconds of the steady 1000 events/s latency run (default 10)
 *   BENCH_VEHICLES vehicles scored in the risk inference run (default 5000)
 *   BENCH_IMAGES   1024×1024 images screened (default 40)
 *   BENCH_HOURS    hours of 4-lane traffic through the workflow (default 24)
 *   BENCH_LOOKUPS  vehicles whose visit history is read, from the database and from a map (default 20000)
 *   BENCH_ONLY     "edge" to run only the edge-model and workflow figures, "uplink" only the uplink's
 *
 * `npm run bench -- peers` runs only the comparison with Node-RED instead (bench/peers.ts).
 * `npm run bench -- scale` runs only the scale curves (lanes, backlog; bench/scale.ts).
 * `npm run bench -- footprint` runs only what `run` costs over time: memory, CPU and disk per
 * crossing, cold start (bench/footprint.ts; BENCH_FOOTPRINT_MINUTES, default 10).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { tempDir } from '../test/helpers/test-config.js';
import { riskInferenceBench, visitHistoryBench, workflowBench, xrayScreeningBench } from './edge-bench.js';
import { underLoad } from './machine-load.js';
import { deployedRuntime } from './scale/deployed-runtime.js';
import { durablePublish, linkPublish, percentile, rawPublish, rawSteadyLatency, startDurable, steadyLatency } from './uplink-bench.js';

// `npm run bench -- WORD` runs one section on its own instead of the default run: a module whose
// top level runs it (imported lazily, so one section never loads another's setup).
const SECTIONS: Record<string, () => Promise<unknown>> = {
  footprint: () => import('./footprint.js'),
  peers: () => import('./peers.js'),
  scale: () => import('./scale.js'),
};
const section = process.argv[2];
if (section !== undefined) {
  const load = SECTIONS[section];
  if (!load) {
    console.error(`unknown bench section "${section}"; one of: ${Object.keys(SECTIONS).join(', ')} (or none for the default run)`);
    process.exit(64);
  }
  await load();
  process.exit(0);
}

const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
const BACKLOG = Number(process.env.BENCH_BACKLOG ?? 1_000_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WINDOW = 256;

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

// Mosquitto's default Receive Maximum is 20 and it leaves Nagle on; a VMC broker is tuned for
// many in-flight messages and prompt acknowledgements.
if (process.env.BENCH_ONLY !== 'uplink') {
  console.log('edge models and lane workflow');
  await riskInferenceBench(Number(process.env.BENCH_VEHICLES ?? 5000));
  await xrayScreeningBench(Number(process.env.BENCH_IMAGES ?? 40));
  await workflowBench(Number(process.env.BENCH_HOURS ?? 24), 300);
  visitHistoryBench(Number(process.env.BENCH_LOOKUPS ?? 20_000));
  if (process.env.BENCH_ONLY === 'edge') process.exit(0);
}

const broker = await Mosquitto.start({ extraConfig: ['max_inflight_messages 1000', 'set_tcp_nodelay true'] });
let bestRawQuiet: number | undefined;
try {
  console.log(`uplink benchmark: Mosquitto ${broker.url}, QoS 1, in-flight window ${WINDOW}, ${fmt(EVENTS)} events per run`);

  // Interleave baseline and durable runs, best of each, so a noisy moment hurts both alike; then
  // the same with a second process keeping one of the machine's cores busy.
  const throughput = async (): Promise<{ raw: number[]; link: number[]; durable: number[] }> => {
    const raw: number[] = [];
    const link: number[] = [];
    const durable: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      raw.push(await rawPublish(broker.url, EVENTS, WINDOW));
      link.push(await linkPublish(broker.url, EVENTS, WINDOW));
      const run = await startDurable(broker.url, tempDir('bench-'), WINDOW);
      durable.push(await durablePublish(run, EVENTS));
      await run.close();
    }
    return { raw, link, durable };
  };
  for (const [label, runs] of await quietThenLoaded(throughput)) {
    const bestRaw = Math.max(...runs.raw);
    const bestLink = Math.max(...runs.link);
    const bestDurable = Math.max(...runs.durable);
    console.log(`  ${label}:`);
    console.log(`    raw MQTT.js QoS 1 publish        ${fmt(bestRaw)} events/s (best of ${runs.raw.map((r) => fmt(r)).join(', ')})`);
    console.log(`    the gateway's link, no outbox    ${fmt(bestLink)} events/s (best of ${runs.link.map((r) => fmt(r)).join(', ')})`);
    console.log(`    durable path (commit→PUBACK→rm)  ${fmt(bestDurable)} events/s (best of ${runs.durable.map((r) => fmt(r)).join(', ')})`);
    console.log(`    ratio durable / raw              ${fmt(bestDurable / bestRaw, 2)}   (target ≥ 0.8)`);
    console.log(`    ratio durable / link             ${fmt(bestDurable / bestLink, 2)}   (what the outbox costs over its own publisher)`);
    bestRawQuiet ??= bestRaw;
  }

  await defaultBrokerDelivery();

  for (const [label, load] of [
    ['quiet machine', false],
    ['second process busy on one core', true],
  ] as const) {
    const measure = (): Promise<SteadyLatencies> => steadyLatencies(broker.url);
    printLatencies(`at 1,000 events/s, ${label}`, load ? await underLoad(measure) : await measure());
  }

  // Fill and drain each in a fresh process of their own (compiled JS, as the gateway runs), so
  // the drain's RSS is the uplink's and the outbox's, not this script's or the fill's.
  const script = fileURLToPath(new URL('./backlog-drain.js', import.meta.url));
  const child = (args: string[], nodeFlags: string[] = []): Record<string, number> => {
    const output = execFileSync(process.execPath, [...nodeFlags, script, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 });
    return JSON.parse(output.trim().split('\n').pop() as string) as Record<string, number>;
  };
  const dir = tempDir('bench-');
  const fill = child(['fill', dir, String(BACKLOG)]);
  console.log(`  backlog of ${fmt(BACKLOG)} stored in ${fmt(fill.fillSec ?? 0, 1)} s (${fmt(fill.fillRate ?? 0)} events/s), then drained after the broker returns:`);
  // V8 grows its heap lazily under a high allocation rate; the second run caps the old space as
  // docs/operations.md recommends for a post's 1-2 GB machine, the third runs with the node flags
  // of deploy/border-gateway.service (docs/benchmarks.md, "Footprint").
  for (const flags of [[], ['--max-old-space-size=96'], deployedRuntime().nodeFlags]) {
    const runDir = tempDir('bench-');
    // With its -wal, if one is left (a process that ended without closing its outbox): the last
    // commits may be there, and the drain would wait for them.
    for (const file of ['outbox.db', 'outbox.db-wal']) if (existsSync(join(dir, file))) execFileSync('cp', [join(dir, file), join(runDir, file)]);
    const drain = child(['drain', runDir, String(BACKLOG), broker.url], flags);
    console.log(
      `    node ${flags.join(' ') || '(default heap)'}: ${fmt(drain.drainSec ?? 0, 1)} s = ${fmt(drain.drainRate ?? 0)} events/s (${fmt((drain.drainRate ?? 0) / (bestRawQuiet ?? Number.NaN), 2)} × raw), peak RSS ${fmt(drain.peakRssMb ?? 0)} MB (${fmt(drain.rssBeforeMb ?? 0)} MB at start)   (target ≤ 150 MB)`,
    );
  }
} finally {
  await broker.stop();
}

/**
 * Against a Mosquitto left at its defaults (Receive Maximum 20, Nagle on), as a VMC we do not
 * configure may be: the gateway's durable path beside raw MQTT.js refilling after every PUBACK,
 * interleaved, best of three each, quiet and with a second process busy; then the latency at
 * 1,000 events/s under that load. The uplink used to wait for half its 19-slot window before
 * refilling, and every refill then waited out the delayed-ACK timer (≈ 380 events/s).
 */
async function defaultBrokerDelivery(): Promise<void> {
  const plain = await Mosquitto.start();
  try {
    const count = Math.min(EVENTS, 10_000);
    const rounds = async (): Promise<{ raw: number[]; durable: number[] }> => {
      const raw: number[] = [];
      const durable: number[] = [];
      for (let round = 0; round < 3; round += 1) {
        raw.push(await rawPublish(plain.url, count, 19, 1));
        const run = await startDurable(plain.url, tempDir('bench-'), WINDOW);
        durable.push(await durablePublish(run, count));
        await run.close();
      }
      return { raw, durable };
    };
    console.log(`  default Mosquitto (Receive Maximum 20, Nagle on), ${fmt(count)} events per run:`);
    for (const [label, runs] of await quietThenLoaded(rounds)) {
      const bestRaw = Math.max(...runs.raw);
      const bestDurable = Math.max(...runs.durable);
      console.log(`    ${label}:`);
      console.log(`      raw MQTT.js, 19 in flight, refill per PUBACK  ${fmt(bestRaw)} events/s (best of ${runs.raw.map((r) => fmt(r)).join(', ')})`);
      console.log(`      durable path                                 ${fmt(bestDurable)} events/s (best of ${runs.durable.map((r) => fmt(r)).join(', ')}) = ${fmt(bestDurable / bestRaw, 2)} × raw`);
    }
    printLatencies('default Mosquitto at 1,000 events/s, second process busy on one core', await underLoad(() => steadyLatencies(plain.url)));
  } finally {
    await plain.stop();
  }
}

/** `measure` on the machine as it is, then with a second process keeping one core busy. */
async function quietThenLoaded<T>(measure: () => Promise<T>): Promise<[string, T][]> {
  return [
    ['quiet machine', await measure()],
    ['second process busy on one core', await underLoad(measure)],
  ];
}

interface SteadyLatencies {
  raw: number[];
  durable: number[];
}

/**
 * The durable path's latency beside raw MQTT.js publishing at the same rate to the same broker
 * in the same load, one after the other: the raw figure is what the machine's scheduling and the
 * broker cost with nothing stored.
 */
async function steadyLatencies(brokerUrl: string): Promise<SteadyLatencies> {
  const raw = await rawSteadyLatency(brokerUrl, 1000, SECONDS);
  const steady = await startDurable(brokerUrl, tempDir('bench-'), WINDOW);
  const durable = await steadyLatency(steady, 1000, SECONDS);
  await steady.close();
  return { raw, durable };
}

function printLatencies(label: string, { raw, durable }: SteadyLatencies): void {
  const line = (latencies: number[]): string =>
    `p50 ${fmt(percentile(latencies, 50), 2)} ms, p99 ${fmt(percentile(latencies, 99), 2)} ms, max ${fmt(latencies[latencies.length - 1] ?? 0, 2)} ms over ${fmt(latencies.length)} events`;
  console.log(`  ${label}:`);
  console.log(`    raw MQTT.js publish→PUBACK       ${line(raw)}`);
  console.log(`    durable append→PUBACK            ${line(durable)}   (target p99 ≤ 10 ms)`);
  console.log(`    p99 durable / raw                ${fmt(percentile(durable, 99) / percentile(raw, 99), 2)}`);
}
