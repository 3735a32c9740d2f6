/**
 * Checkpoints the outbox's WAL from a worker thread with a connection of its own, so the event
 * loop that publishes never waits for a checkpoint: copying the WAL's pages into the database and
 * the two fsyncs around it (synchronous=NORMAL) took the loop for milliseconds every ~1,500
 * events. The outbox's own connection runs with wal_autocheckpoint=0 while this works.
 *
 * PASSIVE checkpoints only: they take no lock a writer needs, so the outbox keeps committing
 * meanwhile; the next commit after a checkpoint that caught up rewinds the WAL to its start. One
 * that did not catch up (the outbox committed while it copied) leaves the rest for the next, and
 * under a steady stream of commits that can go on: so when the WAL has grown by
 * LOOP_CHECKPOINT_WAL_BYTES with no complete checkpoint, the outbox's connection checkpoints once
 * itself, between two of its commits, where it always completes. If the worker cannot start or
 * dies, the outbox's connection checkpoints for itself again (as SQLite does by default) and says
 * so: slower, never unsafe.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';

/**
 * A checkpoint is asked for once the WAL has grown by about this much since the last one began
 * (SQLite's own default waits for 1,000 pages, ~4 MB; the outbox's disk reserve assumes no more),
 * or after this many transactions, or this long after the last one.
 */
const CHECKPOINT_EVERY_WAL_BYTES = 1024 * 1024;
const CHECKPOINT_EVERY_TRANSACTIONS = 200;
const CHECKPOINT_EVERY_MS = 1000;
/**
 * WAL growth after which the loop checkpoints itself when the worker has not caught up. It must
 * stay below the WAL size the outbox's disk reserve allows for (disk-room.ts: SQLite's default of
 * 1,000 pages, ~4 MB) by more than one transaction adds (a removal chunk of 512 rows, ~0.6 MB):
 * at 16 MB, a loaded machine whose worker lagged through a backlog's removals grew the WAL past
 * the reserve on a nearly full disk, and a DELETE failed with SQLITE_FULL.
 */
const LOOP_CHECKPOINT_WAL_BYTES = 3 * 1024 * 1024;
/** SQLite's own default, restored when the worker is gone. */
const AUTOCHECKPOINT_PAGES = 1000;
/** The WAL file is cut back to this size when it is rewound (it keeps its high-water mark else). */
const WAL_SIZE_LIMIT_BYTES = 4 * 1024 * 1024;
/** What a transaction adds to the WAL: a frame (page + 24-byte header) per page it touched. */
const PAGE_BYTES = 4096;
const FRAME_BYTES = PAGE_BYTES + 24;
/**
 * Pages a transaction touches besides its rows' leaves: the table's and the index's inner pages
 * and the index leaf, the meta row, the first page and the freelist (a delete of 17 small rows
 * wrote 6 pages).
 */
const PAGES_PER_TRANSACTION = 5;
/**
 * How full a row's pages are, its index entry included: a transaction writing or deleting N bytes
 * of rows puts up to N / 0.6 bytes of pages in the WAL. Measured (rows of 200-1,500 bytes, 1 to
 * 512 per transaction, inserts and range deletes of the outbox's own table and index;
 * wal-checkpointer.test.ts keeps it so): the WAL grew by up to 1.6 times the rows' bytes, and by
 * 6 pages for a small delete. Counting the rows' bytes and 3 pages let a fast drain's deletes grow
 * the WAL past the disk reserve while the count said 3 MiB: a DELETE failed with SQLITE_FULL.
 */
const PAGE_FILL = 0.6;

/** What a transaction writing or deleting `rowBytes` of rows adds to the WAL, at most (see PAGE_FILL). */
export function walGrowthEstimate(rowBytes: number): number {
  return (Math.ceil(rowBytes / (PAGE_BYTES * PAGE_FILL)) + PAGES_PER_TRANSACTION) * FRAME_BYTES;
}

// Plain JavaScript, evaluated in the worker: it needs no build step and no loader under tsx.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
// A checkpoint copies WAL frames into the database file; it needs no page cache to speak of.
db.pragma('cache_size = -1024');
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.close();
    return;
  }
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ ok: true, busy: result.busy, log: result.log, checkpointed: result.checkpointed });
  } catch (error) {
    parentPort.postMessage({ ok: false, code: error.code, message: error.message });
  }
});
`;

type CheckpointReply = { ok: true; busy: number; log: number; checkpointed: number } | { ok: false; code?: string; message?: string };

export interface WalCheckpointerStats {
  /** Checkpoints by the worker that copied frames into the database. */
  checkpoints: number;
  /** Of all checkpoints, those that copied every frame (the WAL may then be rewound). */
  complete: number;
  /** Checkpoints the outbox's own connection ran because the worker had not caught up. */
  onLoop: number;
  failures: number;
  /** False once the worker is gone and the outbox's connection checkpoints for itself. */
  offLoop: boolean;
}

export interface WalCheckpointerEvents {
  /** The worker answered a checkpoint request (whether or not it copied anything). */
  answered: [];
}

export class WalCheckpointer extends EventEmitter<WalCheckpointerEvents> {
  private readonly worker: Worker | null;
  private busy = false;
  private transactions = 0;
  private walBytes = 0;
  /** Estimated WAL growth since a checkpoint last copied every frame. */
  private walBytesSinceComplete = 0;
  private lastStartedMono: number;
  private closed = false;
  private readonly counts = { checkpoints: 0, complete: 0, onLoop: 0, failures: 0 };

  constructor(
    private readonly db: Database.Database,
    path: string,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    super();
    this.lastStartedMono = clock.monotonic();
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    let worker: Worker | null = null;
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3');
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path } });
      worker.unref();
      worker.on('message', (reply: CheckpointReply) => this.onReply(reply));
      worker.on('error', (error) => this.onWorkerGone(error));
      worker.on('exit', (code) => {
        if (!this.closed) this.onWorkerGone(new Error(`checkpoint worker exited with code ${code}`));
      });
      db.pragma('wal_autocheckpoint = 0');
    } catch (error) {
      logger.warn({ err: error }, 'outbox checkpoints on the event loop: no worker thread');
    }
    this.worker = worker;
  }

  /**
   * A transaction that wrote or deleted `rowBytes` of rows committed: checkpoint when the WAL has
   * grown enough, enough transactions have committed, or enough time has passed.
   */
  committed(rowBytes: number): void {
    const growth = walGrowthEstimate(rowBytes);
    this.transactions += 1;
    this.walBytes += growth;
    this.walBytesSinceComplete += growth;
    if (!this.worker || this.closed) return;
    if (this.walBytesSinceComplete >= LOOP_CHECKPOINT_WAL_BYTES) this.checkpointOnLoop();
    if (this.busy) return;
    const due =
      this.walBytes >= CHECKPOINT_EVERY_WAL_BYTES ||
      this.transactions >= CHECKPOINT_EVERY_TRANSACTIONS ||
      this.clock.monotonic() - this.lastStartedMono >= CHECKPOINT_EVERY_MS;
    if (!due) return;
    this.busy = true;
    this.transactions = 0;
    this.walBytes = 0;
    this.lastStartedMono = this.clock.monotonic();
    this.worker.postMessage('checkpoint');
  }

  stats(): WalCheckpointerStats {
    return { ...this.counts, offLoop: this.worker !== null && !this.closed };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.worker?.postMessage('close');
  }

  private onReply(reply: CheckpointReply): void {
    this.busy = false;
    this.emit('answered');
    if (reply.ok) {
      // Counted when it copied something: a PASSIVE checkpoint that found every frame still in a
      // reader's snapshot (or busy) is not one.
      if (reply.checkpointed > 0) this.counts.checkpoints += 1;
      if (reply.busy === 0 && reply.checkpointed === reply.log) this.caughtUp();
      return;
    }
    // SQLITE_BUSY: another checkpoint (the outbox's own, after a full disk) is running; the next
    // commit asks again.
    this.counts.failures += 1;
    if (reply.code !== 'SQLITE_BUSY') this.logger.warn({ code: reply.code, message: reply.message }, 'outbox WAL checkpoint failed; will retry');
  }

  /** The worker has not caught up for a long while: one checkpoint here, between commits. */
  private checkpointOnLoop(): void {
    try {
      // PASSIVE never waits: busy (the worker is mid-checkpoint) means try again next commit.
      const [result] = this.db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
      if (result?.busy !== 0) return;
      this.counts.onLoop += 1;
      if (result.checkpointed === result.log) this.caughtUp();
    } catch (error) {
      this.counts.failures += 1;
      this.logger.warn({ err: error }, 'outbox WAL checkpoint failed; will retry');
    }
  }

  private caughtUp(): void {
    this.counts.complete += 1;
    this.walBytesSinceComplete = 0;
  }

  private onWorkerGone(error: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.logger.error({ err: error }, 'outbox checkpoint worker is gone: checkpointing on the event loop');
    try {
      this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    } catch {
      // The database is closing: nothing left to checkpoint for.
    }
  }
}
