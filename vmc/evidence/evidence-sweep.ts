/**
 * Drops incomplete evidence that has had no chunk for the store's `maxPendingAgeMs` (a post whose
 * outbox dropped the rest, or garbage), and verified evidence not needed for its
 * `maxVerifiedAgeMs`, every few minutes. Every instance runs one; each piece is dropped in a
 * transaction of its own that checks its age again, so two sweeps never count one piece twice.
 * Kept apart from receiving chunks, so a chunk's transaction is not held up by a sweep's batch.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import type { VmcStore } from '../store/vmc-store.js';

export interface EvidenceSweepOptions {
  store: VmcStore;
  clock: Clock;
  logger: Logger;
  /** Told how many pieces each sweep dropped and why (the intake's counters). */
  onDropped: (reason: 'evicted-age' | 'expired', pieces: number) => void;
  /** Between sweeps (default 5 minutes: the age bound is days). */
  intervalMs?: number;
}

export class EvidenceSweep {
  private timer: TimerHandle | null = null;
  private running: Promise<number> | null = null;
  private stopped = false;

  constructor(private readonly options: EvidenceSweepOptions) {}

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      void this.sweep().finally(() => this.schedule());
    }, this.options.intervalMs ?? 300_000);
  }

  /** One sweep now (also what the timer runs); a sweep already running is joined. Resolves to the pieces dropped, both kinds. */
  sweep(): Promise<number> {
    this.running ??= this.sweepOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sweepOnce(): Promise<number> {
    const { store, clock, logger } = this.options;
    try {
      const stale = await store.sweepStaleEvidence(clock.now());
      if (stale > 0) this.options.onDropped('evicted-age', stale);
      const expired = await store.sweepExpiredEvidence(clock.now());
      if (expired > 0) this.options.onDropped('expired', expired);
      return stale + expired;
    } catch (error) {
      logger.warn({ err: error }, 'evidence sweep failed; trying again at the next interval');
      return 0;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    await this.running;
  }
}
