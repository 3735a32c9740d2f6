/**
 * Scans the store for `seq` gaps every few seconds and reports what opened and closed. Every
 * instance runs one; the store locks each post's row while scanning it, so two scans never
 * report one gap twice.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { GapChanges, VmcStore } from './store/vmc-store.js';

export interface GapWatchOptions {
  store: VmcStore;
  clock: Clock;
  logger: Logger;
  /** Between scans (default 5 s). */
  intervalMs?: number;
  /** How long an event may be missing before it counts as a gap (default 10 s; see VmcStore.scanGaps). */
  graceMs?: number;
}

export class GapWatch {
  private timer: TimerHandle | null = null;
  private running: Promise<GapChanges | null> | null = null;
  private stopped = false;

  constructor(private readonly options: GapWatchOptions) {}

  start(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      void this.scan().finally(() => this.schedule());
    }, this.options.intervalMs ?? 5000);
  }

  /** One scan now (also what the timer runs); a scan already running is joined, not doubled. */
  scan(): Promise<GapChanges | null> {
    this.running ??= this.scanOnce().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async scanOnce(): Promise<GapChanges | null> {
    const { store, clock, logger } = this.options;
    try {
      const changes = await store.scanGaps(clock.now(), this.options.graceMs ?? 10_000);
      for (const gap of changes.opened) logger.warn({ postId: gap.postId, firstSeq: gap.firstSeq, lastSeq: gap.lastSeq, missing: gap.missing }, 'seq gap: events of this post are missing');
      for (const restart of changes.restarts) {
        logger.warn(
          { code: 'GW_ERR_VMC_SEQ_RESTART', postId: restart.postId, firstSeq: restart.firstSeq, previousSeq: restart.lastSeq },
          "seq restart: this post's gateway started a new seq run (a new outbox); gap scanning starts again from it",
        );
      }
      for (const gap of changes.closed) logger.info({ postId: gap.postId, firstSeq: gap.firstSeq, lastSeq: gap.lastSeq, openedAt: gap.openedAt }, 'seq gap closed: the missing events arrived');
      return changes;
    } catch (error) {
      logger.warn({ err: error }, 'gap scan failed; trying again at the next interval');
      return null;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) this.options.clock.clearTimeout(this.timer);
    await this.running;
  }
}
