/**
 * Makes the outbox's commits durable without holding up the event loop: fdatasync of the WAL file
 * runs in libuv's thread pool while the loop goes on publishing. One sync at a time; commits made
 * while it runs are covered by the next one, so under load one fsync serves many commits. While
 * commits are sparse and the disk is fast, a sync runs on the loop instead, within a budget of its
 * time (loop-sync-budget.ts): handing it to the pool and back cost more than the sync itself.
 *
 * Why syncing the WAL file is enough: in WAL mode a commit appends its pages and a commit frame
 * to the -wal file, and recovery after a power cut replays exactly the frames whose checksums
 * hold. Once fdatasync has returned, every frame written before it is on disk (Linux syncs the
 * inode's dirty pages whichever descriptor asks). The checkpointer (wal-checkpointer.ts) syncs
 * the WAL before it copies frames into the database, and the database before the WAL is reused.
 */
import { fdatasync, fdatasyncSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { FileDescriptor } from './file-descriptor.js';
import { DEFAULT_LOOP_SYNC_BUDGET, LoopSyncBudget, type LoopSyncBudgetOptions } from './loop-sync-budget.js';

/** A failed sync (I/O error, WAL file gone) is tried again this often; producers keep waiting. */
const SYNC_RETRY_MS = 1000;
/** A failing sync is logged at most once per this interval. */
const FAILURE_LOG_INTERVAL_MS = 60_000;

export interface WalSyncOptions {
  clock: Clock;
  logger: Logger;
  /** Everything committed up to `seq` is on disk. */
  onSynced: (seq: number) => void;
  /**
   * The asynchronous sync (fs.fdatasync); tests hold it to see what waits for it. When given,
   * every sync goes through it (none on the loop).
   */
  syncFile?: (fd: number, done: (error: Error | null) => void) => void;
  /** The sync on the loop (fs.fdatasyncSync); tests replace it. */
  syncFileNow?: (fd: number) => void;
  /** When syncs may run on the loop (default: a quarter of its time, while they average ≤ 2 ms). */
  loopBudget?: LoopSyncBudgetOptions;
}

export class WalSync {
  private readonly wal: FileDescriptor;
  private inFlight = false;
  /** Highest seq a sync has been asked to cover. */
  private wanted = 0;
  private synced = 0;
  private closed = false;
  private retryTimer: TimerHandle | null = null;
  private failureLoggedMono = Number.NEGATIVE_INFINITY;
  private readonly budget: LoopSyncBudget;
  private readonly counts = { onLoop: 0, inPool: 0 };

  constructor(
    private readonly walPath: string,
    private readonly options: WalSyncOptions,
  ) {
    this.wal = new FileDescriptor(walPath);
    this.budget = new LoopSyncBudget(options.clock, options.syncFile ? { ...DEFAULT_LOOP_SYNC_BUDGET, share: 0 } : (options.loopBudget ?? DEFAULT_LOOP_SYNC_BUDGET));
  }

  /** Syncs run on the loop and in the pool so far. */
  get syncs(): { onLoop: number; inPool: number } {
    return { ...this.counts };
  }

  /** Asks for everything committed up to `seq` to reach the disk; `onSynced` says when. */
  request(seq: number): void {
    if (seq > this.wanted) this.wanted = seq;
    this.start();
  }

  /**
   * Syncs now, on the calling thread (at close: there is no loop turn left to wait for). True
   * when everything committed so far is on disk.
   */
  syncNow(): boolean {
    try {
      this.syncOnThisThread();
      return true;
    } catch (error) {
      this.logFailure(error);
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    // A sync still running in the thread pool keeps the descriptor until it returns: closing it
    // now could let the number be reused under it.
    if (!this.inFlight) this.wal.close();
  }

  private start(): void {
    if (this.inFlight || this.closed || this.retryTimer || this.wanted <= this.synced) return;
    let fd: number;
    try {
      fd = this.wal.get();
    } catch (error) {
      this.failed(error);
      return;
    }
    const began = this.options.clock.monotonic();
    if (this.budget.allows()) {
      try {
        this.syncOnThisThread();
      } catch (error) {
        this.failed(error);
        return;
      }
      this.budget.took(this.options.clock.monotonic() - began, true);
      this.counts.onLoop += 1;
      this.options.onSynced(this.synced);
      return;
    }
    const target = this.wanted;
    this.inFlight = true;
    (this.options.syncFile ?? fdatasync)(fd, (error) => {
      this.inFlight = false;
      this.budget.took(this.options.clock.monotonic() - began, false);
      this.counts.inPool += 1;
      if (this.closed) {
        this.wal.close();
        return;
      }
      if (error) {
        this.failed(error);
        return;
      }
      this.synced = Math.max(this.synced, target);
      this.options.onSynced(target);
      this.start();
    });
  }

  /** fdatasync of the WAL on the calling thread; throws what it throws. Covers all wanted so far. */
  private syncOnThisThread(): void {
    (this.options.syncFileNow ?? fdatasyncSync)(this.wal.get());
    this.synced = this.wanted;
  }

  private failed(error: unknown): void {
    this.logFailure(error);
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = null;
      this.start();
    }, SYNC_RETRY_MS);
  }

  private logFailure(error: unknown): void {
    const now = this.options.clock.monotonic();
    if (now - this.failureLoggedMono < FAILURE_LOG_INTERVAL_MS) return;
    this.failureLoggedMono = now;
    const { code, message } = error as { code?: unknown; message?: unknown };
    this.options.logger.error(
      { code, message, wal: this.walPath, waitingUpTo: this.wanted, syncedUpTo: this.synced },
      'outbox cannot sync its WAL to disk; producers wait, retrying',
    );
  }
}
