/**
 * `npm run bench -- footprint`: what `run` costs on the post's PC. The 4-lane demo post's simulator
 * runs in a process of its own (`sim`: cameras, weighbridges, barriers, scanner, trucks and the
 * registration desk on real sockets), the gateway in another (`run`, compiled JS, with the
 * environment of deploy/border-gateway.service: its NODE_OPTIONS heap flags and the rest), against
 * a local Mosquitto (bench/footprint/stack.ts). Printed: cold start (spawn → /healthz 200 → first
 * event at the broker), RSS at start, peak and end with its slope over the second half, CPU and
 * disk bytes per crossing, database sizes, and where the resident memory lies (V8 heap by space,
 * other anonymous memory, each mapped file).
 *
 * Traffic: the demo's own, `npm start`'s ×120 clock at its 6 trucks per lane per hour (a truck
 * every 5 s of real time on each lane, ≈ 2,700 crossings an hour on four lanes). That is the
 * busiest the post sustains: the barrier takes a truck at a time in real time (arm travel, loop),
 * ≈ 4.5 s each, and at the README's ×240 the released trucks queue at the barriers without end,
 * so open crossings (and memory) would grow with the queue, not with the gateway.
 *
 * Several flag sets can run side by side (each its own broker, simulator and gateway), so they
 * meet the same machine load; the later ones are printed as ratios against the first.
 *
 *   BENCH_FOOTPRINT_MINUTES     how long each gateway runs (default 10)
 *   BENCH_FOOTPRINT_SAMPLE_SEC  seconds between samples (default 5)
 *   BENCH_FOOTPRINT_SPEED       the simulator's traffic clock (default 120)
 *   BENCH_FOOTPRINT_INTERVAL    mean seconds of traffic time between trucks on a lane (default 600)
 *   BENCH_FOOTPRINT_VARIANTS    flag sets instead of the unit's, ";"-separated; each holds node
 *                               flags and NAME=VALUE environment words, e.g.
 *                               "--max-old-space-size=96; --max-old-space-size=96 --max-semi-space-size=2";
 *                               the word `unit` stands for the unit's flags and environment, and
 *                               `models.engine=onnxruntime` sets the post's model engine, e.g.
 *                               "unit; unit models.engine=onnxruntime"
 *   BENCH_FOOTPRINT_SNAPSHOT_AT minutes at which to write heap snapshots, e.g. "2,9" (default none)
 *   BENCH_FOOTPRINT_PICTURE_BYTES bytes of each camera snapshot, each one different (`sim
 *                               --snapshot-bytes`; default the simulator's 1×1 JPEG): a real
 *                               camera's are 100–500 KB, and the gateway holds the last few
 *   BENCH_FOOTPRINT_OUT         a file for every sample as JSON (default none)
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../core/package-info.js';
import type { ProbeLine } from './footprint/probe.js';
import { leastSquaresSlope } from './footprint/proc-stats.js';
import { fileSizes, runStack, stopEverything, type Sample, type StackOptions, type StackResult } from './footprint/stack.js';
import { deployedRuntime } from './scale/deployed-runtime.js';

const MINUTES = Number(process.env.BENCH_FOOTPRINT_MINUTES ?? 10);
const SAMPLE_SEC = Number(process.env.BENCH_FOOTPRINT_SAMPLE_SEC ?? 5);
const SPEED = Number(process.env.BENCH_FOOTPRINT_SPEED ?? 120);
const INTERVAL_SEC = Number(process.env.BENCH_FOOTPRINT_INTERVAL ?? 600);
const SNAPSHOT_AT = (process.env.BENCH_FOOTPRINT_SNAPSHOT_AT ?? '').split(',').filter(Boolean).map(Number);
const PICTURE_BYTES = process.env.BENCH_FOOTPRINT_PICTURE_BYTES === undefined ? null : Number(process.env.BENCH_FOOTPRINT_PICTURE_BYTES);
const CONFIG_FILE = join(PACKAGE_ROOT, 'config', 'examples', 'demo-four-lane.yaml');
const MB = 1024 * 1024;

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface Variant {
  label: string;
  nodeOptions: string;
  env: Record<string, string>;
  modelEngine?: 'auto' | 'onnxruntime';
}

/** The environment the systemd unit gives the gateway (its `Environment=` lines), NODE_OPTIONS apart. */
function unitVariant(): Variant {
  const { nodeFlags, env } = deployedRuntime();
  return { label: 'unit', nodeOptions: nodeFlags.join(' '), env };
}

function parseVariants(text: string): Variant[] {
  return text
    .split(';')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const words = entry.split(/\s+/);
      const unit = words.includes('unit') ? unitVariant() : { nodeOptions: '', env: {} };
      const env = { ...unit.env, ...Object.fromEntries(words.filter((w) => /^[A-Za-z_][A-Za-z0-9_]*=/.test(w)).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)])) };
      const engine = words.find((w) => w.startsWith('models.engine='))?.slice('models.engine='.length);
      if (engine !== undefined && engine !== 'auto' && engine !== 'onnxruntime') throw new Error(`models.engine=${engine}: auto or onnxruntime`);
      const nodeOptions = [unit.nodeOptions, ...words.filter((w) => w.startsWith('-'))].filter(Boolean).join(' ');
      return { label: entry, nodeOptions, env, ...(engine ? { modelEngine: engine } : {}) };
    });
}

/** The figures of one stack over its steady state: from the first sample after the first minute to the end. */
function figures(result: StackResult) {
  const { samples } = result;
  const last = samples[samples.length - 1] as Sample;
  const steadyFrom = samples.find((s) => s.sec >= 60) ?? last;
  const crossings = last.crossings - steadyFrom.crossings;
  const steadyMin = (last.sec - steadyFrom.sec) / 60;
  const secondHalf = samples.filter((s) => s.sec >= last.sec / 2);
  const gc = new Map<string, { count: number; ms: number }>();
  for (const s of samples.filter((x) => x.sec > steadyFrom.sec)) {
    for (const [kind, sum] of Object.entries(s.probe?.gc ?? {})) {
      const total = gc.get(kind) ?? { count: 0, ms: 0 };
      gc.set(kind, { count: total.count + sum.count, ms: total.ms + sum.ms });
    }
  }
  const gcMs = [...gc.values()].reduce((n, s) => n + s.ms, 0);
  return {
    last,
    steadyFrom,
    crossings,
    steadyMin,
    cpuMsPerCrossing: crossings > 0 ? (last.proc.cpuMs - steadyFrom.proc.cpuMs) / crossings : 0,
    coreShare: (last.proc.cpuMs - steadyFrom.proc.cpuMs) / (steadyMin * 60_000),
    bytesPerCrossing: crossings > 0 ? (last.proc.writeBytes - steadyFrom.proc.writeBytes) / crossings : 0,
    gc,
    gcMsPerCrossing: crossings > 0 ? gcMs / crossings : 0,
    peakMb: Math.max(result.startupPeak.kb, ...samples.map((s) => s.proc.hwmKb)) / 1024,
    rssSlope: leastSquaresSlope(secondHalf.map((s) => ({ x: s.sec / 60, y: s.proc.rssKb / 1024 }))) * 10,
    heapSlope: leastSquaresSlope(secondHalf.filter((s) => s.probe).map((s) => ({ x: s.sec / 60, y: (s.probe as ProbeLine).heapUsed / MB }))) * 10,
    meanRssMb: secondHalf.reduce((n, s) => n + s.proc.rssKb, 0) / Math.max(1, secondHalf.length) / 1024,
    maxSteadyRssMb: Math.max(...samples.filter((s) => s.sec >= steadyFrom.sec).map((s) => s.proc.rssKb)) / 1024,
  };
}

function report(result: StackResult): void {
  const f = figures(result);
  const { last, steadyFrom } = f;
  const ms = (at: number | null): string => (at === null ? '—' : `${fmt(at)} ms`);
  const label = `[${result.options.label}]`;
  console.log(`${label} NODE_OPTIONS="${result.options.nodeOptions}"${Object.keys(result.options.env).length > 0 ? ` ${Object.entries(result.options.env).map(([k, v]) => `${k}=${v}`).join(' ')}` : ''}`);
  console.log(
    `  cold start: spawn → /healthz 200 ${ms(result.coldStart.healthz)}, → "gateway running" ${ms(result.coldStart.running)}, → first event at the broker ${ms(result.coldStart.firstEvent)}, → first vehicle.arrived ${ms(result.coldStart.firstArrival)}; ` +
      `CPU ${fmt(result.atFirstEvent?.cpuMs ?? 0)} ms and RSS ${fmt((result.atFirstEvent?.rssKb ?? 0) / 1024, 1)} MB at the first event`,
  );
  console.log(
    `  RSS: ${fmt((result.atFirstEvent?.rssKb ?? 0) / 1024, 1)} MB at the first event, ${fmt(steadyFrom.proc.rssKb / 1024, 1)} MB at 1 min, end ${fmt(last.proc.rssKb / 1024, 1)} MB, mean of the second half ${fmt(f.meanRssMb, 1)} MB, highest sample after 1 min ${fmt(f.maxSteadyRssMb, 1)} MB; ` +
      `peak (VmHWM) ${fmt(f.peakMb, 1)} MB, ${fmt(result.startupPeak.kb / 1024, 1)} MB of it by ${fmt(result.startupPeak.atMs / 1000, 1)} s; slope over the second half ${fmt(f.rssSlope, 2)} MB per 10 min (heap used ${fmt(f.heapSlope, 2)} MB per 10 min)`,
  );
  if (last.probe) {
    const p = last.probe;
    const spaces = Object.entries(p.spaces)
      .filter(([, s]) => s.size > 0)
      .map(([name, s]) => `${name.replace(/_space$/, '')} ${fmt(s.size / MB, 1)}`)
      .join(', ');
    console.log(
      `  at the end: heap ${fmt(p.heapUsed / MB, 1)} MB used of ${fmt(p.heapTotal / MB, 1)} MB (${spaces}), external ${fmt(p.external / MB, 1)} MB (array buffers ${fmt(p.arrayBuffers / MB, 1)} MB); ` +
        `RSS anonymous ${fmt(last.proc.rssAnonKb / 1024, 1)} MB + file-backed ${fmt(last.proc.rssFileKb / 1024, 1)} MB, ${last.proc.threads} threads`,
    );
  }
  console.log(`  collections after the first minute: ${[...f.gc].map(([kind, s]) => `${kind} ${fmt(s.count)} (${fmt(s.ms)} ms)`).join(', ') || 'none seen'}`);
  console.log(`  resident by mapping: ${result.mappings.slice(0, 8).map((m) => `${m.name} ${fmt(m.kb / 1024, 1)} MB`).join(', ')}`);
  const { tally } = result;
  const all = tally.completed + tally.abandoned;
  console.log(
    `  steady ${fmt(f.steadyMin, 1)} min: ${fmt(f.crossings)} crossings (${fmt((f.crossings / f.steadyMin) * 60)} per hour; ${tally.completed} completed and ${tally.abandoned} abandoned in all, ${tally.arrivals} arrivals, ${fmt(tally.events)} events), ` +
      `CPU ${fmt(f.cpuMsPerCrossing, 1)} ms per crossing (${fmt(f.coreShare * 100, 1)}% of a core; GC pauses ${fmt(f.gcMsPerCrossing, 1)} ms of it), ` +
      `disk ${fmt(f.bytesPerCrossing)} bytes written per crossing, log ${fmt(all > 0 ? result.logBytes / all : 0)} bytes per crossing (${fmt(result.logLines)} lines)`,
  );
  const dataFiles = fileSizes(result.dataDir);
  const files = dataFiles.filter((file) => !file.name.startsWith('probe/') && !file.name.includes('xray-drop/') && !file.name.startsWith('evidence/') && file.bytes > 0);
  const evidence = dataFiles.filter((file) => file.name.startsWith('evidence/'));
  const images = dataFiles.filter((file) => file.name.includes('xray-drop/'));
  const total = (list: { bytes: number }[]): string => fmt(list.reduce((n, file) => n + file.bytes, 0) / MB, 1);
  console.log(
    `  data directory: ${files.map((file) => `${file.name} ${fmt(file.bytes / 1024)} KB`).join(', ')}; evidence store ${evidence.length} files, ${total(evidence)} MB; X-ray drop folder ${images.length} files, ${total(images)} MB (written by the simulator)`,
  );
  console.log(
    `  database by table (what stays on disk: the outbox deletes what the broker acknowledged): ${result.tables
      .slice(0, 5)
      .map((t) => `${t.name} ${fmt(t.bytes / 1024)} KB (${fmt(all > 0 ? t.bytes / all : 0)} B per crossing)`)
      .join(', ')}`,
  );
  console.log(`  events by type: ${[...tally.byType].sort((a, b) => b[1] - a[1]).map(([type, n]) => `${type} ${n}`).join(', ')}`);
  if (result.simComplaints.length > 0) console.log(`  simulator complaints: ${result.simComplaints.length} (first: ${result.simComplaints[0]})`);
  if (result.stderr.length > 0) console.log(`  gateway stderr (not log lines): ${result.stderr.slice(0, 3).join(' | ')}`);
  if (SNAPSHOT_AT.length > 0) console.log(`  heap snapshots in ${result.probeDir}`);
}

const variants = process.env.BENCH_FOOTPRINT_VARIANTS ? parseVariants(process.env.BENCH_FOOTPRINT_VARIANTS) : [unitVariant()];
const base: Omit<StackOptions, 'label' | 'nodeOptions' | 'env'> = {
  configFile: CONFIG_FILE,
  speed: SPEED,
  intervalSec: INTERVAL_SEC,
  minutes: MINUTES,
  sampleSec: SAMPLE_SEC,
  snapshotAt: SNAPSHOT_AT,
  pictureBytes: PICTURE_BYTES,
  progress: (line) => console.log(line),
};
// Other work on the machine stretches wall-clock figures (cold start), much less CPU time.
const load = (): string => `load average ${loadavg().map((n) => fmt(n, 1)).join(' ')} on ${cpus().length} cores`;
console.log(
  `footprint: \`run\` of the 4-lane demo post, its simulator in another process at ×${SPEED}, a truck every ${fmt(INTERVAL_SEC)} s of traffic time per lane ` +
    `(${fmt(INTERVAL_SEC / SPEED, 1)} s real), ${PICTURE_BYTES === null ? "the simulator's 1×1 JPEG pictures" : `${fmt(PICTURE_BYTES / 1024)} KiB pictures`}, ${fmt(MINUTES)} min${variants.length > 1 ? `, ${variants.length} flag sets side by side` : ''}; ${load()}`,
);
// Interrupted (Ctrl-C, a timeout's SIGTERM): no simulator, gateway or broker is left behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stopEverything();
    process.exit(130);
  });
}
// Settled one by one: a flag set the gateway refuses fails its own stack, not the others'.
const settled = await Promise.allSettled(variants.map((variant) => runStack({ ...base, ...variant })));
const results: StackResult[] = [];
for (const [index, outcome] of settled.entries()) {
  if (outcome.status === 'fulfilled') results.push(outcome.value);
  else console.log(`[${(variants[index] as Variant).label}] failed: ${outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason)}`);
}
if (results.length === 0) throw new Error('no stack ran to the end');
console.log(`finished; ${load()}`);
for (const result of results) report(result);

if (results.length > 1) {
  const baseline = figures(results[0] as StackResult);
  console.log(`side by side, against [${(results[0] as StackResult).options.label}]:`);
  for (const result of results) {
    const f = figures(result);
    console.log(
      `  [${result.options.label}] mean RSS ${fmt(f.meanRssMb, 1)} MB (${fmt(f.meanRssMb / baseline.meanRssMb, 2)}×), highest ${fmt(f.maxSteadyRssMb, 1)} MB, slope ${fmt(f.rssSlope, 2)} MB/10 min, ` +
        `CPU per crossing ${fmt(f.cpuMsPerCrossing, 1)} ms (${fmt(f.cpuMsPerCrossing / baseline.cpuMsPerCrossing, 2)}×), GC ${fmt(f.gcMsPerCrossing, 1)} ms per crossing`,
    );
  }
}
if (process.env.BENCH_FOOTPRINT_OUT) {
  writeFileSync(process.env.BENCH_FOOTPRINT_OUT, JSON.stringify(results.map((r) => ({ options: { ...r.options, progress: undefined }, coldStart: r.coldStart, startupPeak: r.startupPeak, samples: r.samples, mappings: r.mappings })), null, 1));
}
