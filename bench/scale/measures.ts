/**
 * What each scale point measures about its own process, and the shapes of the points the
 * children print (one JSON line each) for bench/scale.ts to tabulate and plot.
 */
import type { SqliteOutbox } from '../../gateway/outbox/sqlite-outbox.js';

const MB = 1024 ** 2;

export interface MemoryAfterRun {
  /** V8 heap in use after a full collection (when run with --expose-gc; else as it stood). */
  heapUsedMb: number;
  rssMb: number;
  /** The process's largest resident set over its whole life (getrusage ru_maxrss). */
  peakRssMb: number;
  gcForced: boolean;
}

export interface LanePoint extends MemoryAfterRun {
  lanes: number;
  clock: 'heap' | 'array';
  /** Trucks that arrived in the measured window. */
  trucks: number;
  /** Trucks whose run through the simulator threw, over the whole run (should be 0). */
  failed: number;
  /** Crossings completed (`crossing.completed`) in the measured window. */
  vehicles: number;
  /** Crossings closed as abandoned in the window (an unmatched read, a truck never registered). */
  abandoned: number;
  /** Events committed to the outbox in the window. */
  events: number;
  wallSec: number;
  /** User + system CPU of the whole process in the window. */
  cpuMs: number;
  commitP50Ms: number;
  commitP99Ms: number;
  /** Largest V8 heap in use, sampled every 50 ms of real time during the traffic. */
  heapPeakMb: number;
}

export interface BacklogFill {
  backlog: number;
  fillSec: number;
  /** Events appended per second over the whole fill. */
  appendRate: number;
  /** CPU (user + system) of the fill per event, µs. */
  cpuUsPerEvent: number;
  /** The same over the first and the last tenth of the groups (a growing table slowing appends?). */
  firstTenthRate: number;
  lastTenthRate: number;
  /** Time of one group commit of 1000 appends (the calls to the last promise), ms. */
  groupCommitP50Ms: number;
  groupCommitP99Ms: number;
  groups: number;
  /** Database + WAL on disk once the backlog is stored. */
  dbBytes: number;
  peakRssMb: number;
}

export interface BacklogDrain {
  backlog: number;
  /** Opening the stored outbox and connecting the uplink. */
  startSec: number;
  /** From the uplink connected to the last acknowledgement. */
  drainSec: number;
  drainRate: number;
  /** CPU (user + system) of the drain per event, µs (the broker's not included). */
  cpuUsPerEvent: number;
  /** RSS once the modules are loaded, before the outbox is opened. */
  rssStartMb: number;
  peakRssMb: number;
}


export function memoryAfterRun(): MemoryAfterRun {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  const usage = process.memoryUsage();
  return { heapUsedMb: usage.heapUsed / MB, rssMb: usage.rss / MB, peakRssMb: peakRssMb(), gcForced: collect !== undefined };
}

/** The largest heap in use, sampled on a real timer (the manual clock's runs turn the loop often). */
export class HeapPeakSampler {
  private peak = process.memoryUsage().heapUsed;
  private readonly timer = setInterval(() => {
    this.peak = Math.max(this.peak, process.memoryUsage().heapUsed);
  }, 50);

  /** Stops sampling; the peak in MB. */
  stop(): number {
    clearInterval(this.timer);
    return Math.max(this.peak, process.memoryUsage().heapUsed) / MB;
  }
}

/** ru_maxrss is in KiB on Linux. */
export function peakRssMb(): number {
  return (process.resourceUsage().maxRSS * 1024) / MB;
}

/**
 * Times every append of `outbox` from the call to its durable commit (the wait a producer sees,
 * group commit and fsync included). The outbox has no hook for this, so its `append` is wrapped
 * on this one instance; the wrapper adds two clock reads per event.
 */
export function commitLatencyProbe(outbox: SqliteOutbox): { sorted(): number[]; clear(): void } {
  const times: number[] = [];
  const append = outbox.append.bind(outbox);
  outbox.append = (event, within) => {
    const started = performance.now();
    return append(event, within).then((committed) => {
      times.push(performance.now() - started);
      return committed;
    });
  };
  return {
    sorted: () => [...times].sort((a, b) => a - b),
    clear: () => {
      times.length = 0;
    },
  };
}
