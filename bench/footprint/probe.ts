/**
 * Preloaded into the gateway child by the footprint bench only (`node --import …/probe.js`), never
 * by the gateway itself: what /proc cannot say about a Node process. Every BENCH_PROBE_MS it
 * appends one JSON line to BENCH_PROBE_FILE with process.memoryUsage(), V8's heap spaces and the
 * garbage collections since the last line (count and pause time by kind, so a semi-space too
 * small shows as scavenges). SIGUSR2 writes a heap snapshot into BENCH_PROBE_DIR (the snapshot
 * briefly doubles the heap: taken on request, never on the timer).
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { PerformanceObserver, constants as perfConstants } from 'node:perf_hooks';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

export interface ProbeLine {
  /** Date.now() of the sample. */
  at: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Committed bytes of each V8 heap space (new_space is both semi-spaces). */
  spaces: Record<string, { size: number; used: number }>;
  /** Collections since the previous line, by kind: count and summed pause in ms. */
  gc: Record<string, { count: number; ms: number }>;
}

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-sweep',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak-callbacks',
};

const file = process.env.BENCH_PROBE_FILE;
const everyMs = Number(process.env.BENCH_PROBE_MS ?? 5000);
const snapshotDir = process.env.BENCH_PROBE_DIR;
const STARTUP_MS = 40_000;

if (file) {
  let collections: ProbeLine['gc'] = {};
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      // Node 16+ puts the kind in `detail` (the older `entry.kind` is deprecated).
      const kind = GC_KINDS[(entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind ?? -1] ?? 'other';
      const sum = (collections[kind] ??= { count: 0, ms: 0 });
      sum.count += 1;
      sum.ms += entry.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  const sample = (): void => {
    const spaces: ProbeLine['spaces'] = {};
    for (const space of getHeapSpaceStatistics()) spaces[space.space_name] = { size: space.space_size, used: space.space_used_size };
    const line: ProbeLine = { at: Date.now(), ...process.memoryUsage(), spaces, gc: collections };
    collections = {};
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
  sample();
  // Often while the gateway starts (models load, lanes fill), where the peak usually lies.
  const startup = setInterval(sample, Math.min(250, everyMs));
  startup.unref();
  setTimeout(() => {
    clearInterval(startup);
    setInterval(sample, everyMs).unref();
  }, STARTUP_MS).unref();
}

if (snapshotDir) {
  // The gateway does not use SIGUSR2 (SIGUSR1 is Node's inspector signal).
  process.on('SIGUSR2', () => {
    const written = writeHeapSnapshot(join(snapshotDir, `gateway-${Date.now()}.heapsnapshot`));
    process.stderr.write(`footprint probe: heap snapshot ${written}\n`);
  });
}
