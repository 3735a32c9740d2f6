/**
 * How much of the event loop's time the WAL's fdatasync may take on the loop itself.
 *
 * A sync in libuv's thread pool costs two thread wake-ups besides the sync: on a quiet 2-core
 * machine, a camera push answered one at a time spent more on those than on the sync (in
 * `npm run bench -- peers` at one push in flight, syncing on the loop took the gateway from
 * 0.60–0.80 to 0.87–1.01 of Node-RED's pushes/s; with a share of 0.1 rather than 0.25, about
 * 300 pushes/s at 0.3–0.5 ms a sync ran out of budget: 0.69–0.78). Under load the pool is what
 * keeps the loop publishing while the disk works, and one sync there serves many commits. So a
 * sync runs on the loop only while that has taken at most `share` of the loop's time (a bucket
 * of `burstMs`, refilled at `share` ms per ms), and only while recent syncs have been short (their
 * moving average at most `maxAverageMs`): a slow disk (an SD card's 10–50 ms) always goes to the
 * pool.
 */
import type { Clock } from '../../core/clock.js';

export interface LoopSyncBudgetOptions {
  /** Share of the loop's time syncs may take on it (0 turns syncing on the loop off). */
  share: number;
  /** Most sync time saved up while the loop was idle. */
  burstMs: number;
  /** Syncs go to the pool while their moving average is above this. */
  maxAverageMs: number;
}

export const DEFAULT_LOOP_SYNC_BUDGET: LoopSyncBudgetOptions = { share: 0.25, burstMs: 20, maxAverageMs: 2 };

export class LoopSyncBudget {
  private tokensMs: number;
  private lastMono: number;
  /** Moving average of sync durations, wherever they ran (a pool sync's includes its hand-offs). */
  private averageMs = 0;

  constructor(
    private readonly clock: Clock,
    private readonly options: LoopSyncBudgetOptions = DEFAULT_LOOP_SYNC_BUDGET,
  ) {
    this.tokensMs = options.burstMs;
    this.lastMono = clock.monotonic();
  }

  /** True when the next sync may run on the loop. */
  allows(): boolean {
    if (this.options.share <= 0) return false;
    const now = this.clock.monotonic();
    this.tokensMs = Math.min(this.options.burstMs, this.tokensMs + (now - this.lastMono) * this.options.share);
    this.lastMono = now;
    return this.tokensMs > 0 && this.averageMs <= this.options.maxAverageMs;
  }

  /** A sync took `ms`; `onLoop` when it ran on the loop (and so spent the budget). */
  took(ms: number, onLoop: boolean): void {
    if (onLoop) this.tokensMs -= ms;
    this.averageMs = this.averageMs * 0.8 + ms * 0.2;
  }
}
