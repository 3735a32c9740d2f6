/**
 * Checkpoints the outbox's WAL without a thread of its own and without an fsync on the event loop.
 * A checkpoint copies WAL frames into the database file; SQLite (synchronous=NORMAL) fsyncs the
 * WAL before and the database after, on the thread that asks, which held the publishing loop for
 * milliseconds every ~1,500 events. A worker thread did it instead until the eighth session; its
 * isolate held ≈ 5 MB of the 4-lane post's RSS (the footprint bench, side by side).
 *
 * Each checkpoint is a cycle of three steps, with the fsyncs in libuv's pool:
 *
 * 1. A read transaction opens on a connection of its own (the pin). Its snapshot is every frame
 *    committed so far, and while it stays open no checkpoint can copy a frame beyond it, and no
 *    writer (of any process) can rewind the WAL over the frames it sees. (When every frame had
 *    been copied already, the pin reads the database file alone and a writer may rewind: then no
 *    checkpoint can copy anything while it is open, and what was copied before was synced before
 *    the previous cycle's pin let go.)
 * 2. fdatasync of the WAL: every frame in the pin's snapshot is on disk.
 * 3. A PASSIVE checkpoint on a second connection, switched to synchronous=OFF for that call only,
 *    copies those frames (and only those: the pin bounds it) into the database file, on the loop:
 *    a read and a write per page. (Only for the call: a connection closed last checkpoints with
 *    its own setting, and better-sqlite3 closes what is open when the process ends.)
 * 4. fdatasync of the database file, then the pin lets go. Only now may a writer rewind the WAL
 *    and overwrite the frames that were copied: their pages are on disk in the database.
 *
 * So at a power cut at any moment the WAL holds every frame the database file may lack, as SQLite's
 * own checkpoint guarantees with its two fsyncs. What SQLite's checkpoint does that this does not:
 * wait for nothing. The outbox keeps committing meanwhile (its frames land beyond the pin's
 * snapshot, for the next cycle).
 *
 * A cycle is complete when it copied every frame, and then the next commit rewinds the WAL to its
 * start. Under a steady stream of commits a cycle never is (the outbox committed while the WAL was
 * synced), and the WAL would grow: once it has grown by HOLD_COMMITS_WAL_BYTES with no complete
 * cycle, the outbox holds its commits (`holdsCommits`) until a cycle begun with nothing after it
 * ends (`released`): two fsyncs in the pool, while the loop goes on publishing.
 *
 * If the connections cannot open, the outbox's own connection checkpoints as SQLite does by
 * default, and says so: slower, never unsafe.
 */
import { EventEmitter } from 'node:events';
import { fdatasync, fdatasyncSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { FileDescriptor } from './file-descriptor.js';

/**
 * A checkpoint begins once the WAL has grown by about this much since the last one began (SQLite's
 * own default waits for 1,000 pages, ~4 MB; the outbox's disk reserve assumes no more), or after
 * this many transactions, or this long after the last one.
 */
const CHECKPOINT_EVERY_WAL_BYTES = 1024 * 1024;
const CHECKPOINT_EVERY_TRANSACTIONS = 200;
const CHECKPOINT_EVERY_MS = 1000;
/**
 * WAL growth with no complete checkpoint after which commits wait for one. It must stay below the
 * WAL size the outbox's disk reserve allows for (disk-room.ts: SQLite's default of 1,000 pages,
 * ~4 MB) by more than one transaction adds (a removal chunk of 512 rows, ~0.6 MB): at 16 MB, a
 * loaded machine whose checkpoints lagged through a backlog's removals grew the WAL past the
 * reserve on a nearly full disk, and a DELETE failed with SQLITE_FULL.
 */
const HOLD_COMMITS_WAL_BYTES = 3 * 1024 * 1024;
/** After a failed cycle (an I/O error, a full disk) the next begins no sooner than this. */
const RETRY_AFTER_FAILURE_MS = 1000;
/** A failing cycle is logged at most once per this interval. */
const FAILURE_LOG_INTERVAL_MS = 60_000;
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

/** What `PRAGMA wal_checkpoint` answers: frames in the WAL and how many are in the database. */
interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export interface WalCheckpointerStats {
  /** Cycles that copied frames into the database. */
  checkpoints: number;
  /**
   * Of those, the ones that copied every frame with nothing committed before the database's sync
   * returned: the next commit rewinds the WAL.
   */
  complete: number;
  /** Cycles during which the outbox held its commits because the WAL had grown too far. */
  held: number;
  failures: number;
  /** False when the outbox's own connection checkpoints (with its fsyncs on the loop). */
  offLoop: boolean;
}

export interface WalCheckpointerEvents {
  /** A cycle ended (whether or not it copied anything, or failed). */
  answered: [];
  /** Commits may go on: the cycle they waited for has ended. */
  released: [];
}

export interface WalCheckpointerOptions {
  clock: Clock;
  logger: Logger;
  /** Test hook: replaces fs.fdatasync of the WAL and of the database file. */
  syncFile?: (fd: number, done: (error: Error | null) => void) => void;
}

type Phase = 'idle' | 'syncing-wal' | 'syncing-database';

export class WalCheckpointer extends EventEmitter<WalCheckpointerEvents> {
  /** Reads, to hold a snapshot: see the file comment. Null when the outbox checkpoints itself. */
  private readonly pin: { db: Database.Database; begin: Database.Statement; read: Database.Statement; end: Database.Statement } | null;
  /** Copies frames, with synchronous=OFF for the copy: the cycle does its fsyncs. */
  private readonly copier: Database.Database | null;
  private readonly sync: (fd: number, done: (error: Error | null) => void) => void;
  private readonly walFile: FileDescriptor;
  private readonly databaseFile: FileDescriptor;
  private phase: Phase = 'idle';
  /** A sync runs in the pool: its descriptor stays open until it returns. */
  private syncInFlight = false;
  /** The outbox's commits wait for the current cycle (or the next one) to end. */
  private holding = false;
  /** This cycle began while commits were held: nothing was committed after its snapshot. */
  private cycleHeld = false;
  private transactions = 0;
  private walBytes = 0;
  /** Estimated WAL growth since a cycle last let the WAL be rewound. */
  private walBytesSinceComplete = 0;
  /** This cycle's copy took every frame, and nothing has been committed since. */
  private copiedAll = false;
  private lastStartedMono: number;
  private failedMono = Number.NEGATIVE_INFINITY;
  private failureLoggedMono = Number.NEGATIVE_INFINITY;
  private lastResult: CheckpointResult = { busy: 0, log: 0, checkpointed: 0 };
  private retryTimer: TimerHandle | null = null;
  private closed = false;
  /** The outbox's connection has closed too: the descriptors may go (see releaseFiles). */
  private filesReleased = false;
  private readonly counts = { checkpoints: 0, complete: 0, held: 0, failures: 0 };

  constructor(
    db: Database.Database,
    path: string,
    private readonly options: WalCheckpointerOptions,
  ) {
    super();
    this.lastStartedMono = options.clock.monotonic();
    this.sync = options.syncFile ?? fdatasync;
    this.walFile = new FileDescriptor(`${path}-wal`);
    this.databaseFile = new FileDescriptor(path);
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    let pin: WalCheckpointer['pin'] = null;
    let copier: Database.Database | null = null;
    try {
      pin = openPin(path);
      copier = openCopier(path);
      db.pragma('wal_autocheckpoint = 0');
    } catch (error) {
      pin?.db.close();
      copier?.close();
      pin = null;
      copier = null;
      options.logger.warn({ err: error }, 'outbox checkpoints with its own connection: the checkpoint connections did not open');
    }
    this.pin = pin;
    this.copier = copier;
  }

  /** True while the outbox must not commit: it waits for `released`. */
  get holdsCommits(): boolean {
    return this.holding;
  }

  /** True while a cycle holds its snapshot: a checkpoint that waits for readers would wait for it. */
  get pinned(): boolean {
    return this.phase !== 'idle';
  }

  /**
   * A transaction that wrote or deleted `rowBytes` of rows committed: checkpoint when the WAL has
   * grown enough, enough transactions have committed, or enough time has passed; hold commits
   * when the WAL has grown too far with no complete checkpoint.
   */
  committed(rowBytes: number): void {
    const growth = walGrowthEstimate(rowBytes);
    // Appended after the copy: the WAL cannot be rewound at the end of this cycle.
    this.copiedAll = false;
    this.transactions += 1;
    this.walBytes += growth;
    this.walBytesSinceComplete += growth;
    if (!this.copier || this.closed) return;
    const now = this.options.clock.monotonic();
    if (now - this.failedMono < RETRY_AFTER_FAILURE_MS) return;
    if (this.walBytesSinceComplete >= HOLD_COMMITS_WAL_BYTES && !this.holding) {
      this.holding = true;
      this.counts.held += 1;
    }
    if (this.phase !== 'idle') return;
    const due =
      this.holding ||
      this.walBytes >= CHECKPOINT_EVERY_WAL_BYTES ||
      this.transactions >= CHECKPOINT_EVERY_TRANSACTIONS ||
      now - this.lastStartedMono >= CHECKPOINT_EVERY_MS;
    if (due) this.begin();
  }

  stats(): WalCheckpointerStats {
    return { ...this.counts, offLoop: this.copier !== null && !this.closed };
  }

  /**
   * Ends the cycle under way (the database synced here if frames were copied, so the pin may let
   * go) and closes the connections. The outbox calls it once it will commit no more, just before
   * its own connection closes: that one, closed last, checkpoints the rest with SQLite's fsyncs.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) this.options.clock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.phase === 'syncing-database') {
      try {
        fdatasyncSync(this.databaseFile.get());
      } catch (error) {
        // Nothing commits after this: the outbox's connection, closing next, syncs at its checkpoint.
        this.logFailure(error);
      }
    }
    const cycleUnderWay = this.phase !== 'idle';
    this.endCycle();
    this.copier?.close();
    this.pin?.db.close();
    // Whoever waits for the cycle (checkpointWhole) hears that it is over.
    if (cycleUnderWay) this.emit('answered');
  }

  /**
   * Closes the descriptors the syncs use, once the outbox's own connection has closed: closing a
   * descriptor of the database file drops every POSIX lock this process holds on it, SQLite's
   * included.
   */
  releaseFiles(): void {
    this.filesReleased = true;
    // A sync still running in the pool keeps its descriptor until it returns (its callback closes).
    if (!this.syncInFlight) this.closeDescriptors();
  }

  private begin(): void {
    this.phase = 'syncing-wal';
    this.cycleHeld = this.holding;
    this.transactions = 0;
    this.walBytes = 0;
    this.lastStartedMono = this.options.clock.monotonic();
    let walFd: number;
    try {
      const pin = this.pin as NonNullable<WalCheckpointer['pin']>;
      pin.begin.run();
      // The snapshot is taken at the first read, not at BEGIN.
      pin.read.get();
      walFd = this.walFile.get();
    } catch (error) {
      this.failed(error);
      return;
    }
    this.syncInPool(walFd, (error) => {
      if (this.closed) return this.afterClose();
      if (error) return this.failed(error);
      this.copy();
    });
  }

  /** The WAL is on disk up to the pin's snapshot: copy those frames, then sync the database. */
  private copy(): void {
    let copyError: unknown = null;
    const copier = this.copier as Database.Database;
    try {
      copier.pragma('synchronous = OFF');
      const [result] = copier.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[];
      if (result) this.copied(result);
    } catch (error) {
      // Pages may have been written before it failed: the database is synced all the same.
      copyError = error;
    } finally {
      copier.pragma('synchronous = NORMAL');
    }
    this.phase = 'syncing-database';
    this.syncDatabase(copyError);
  }

  private syncDatabase(copyError: unknown): void {
    let databaseFd: number;
    try {
      databaseFd = this.databaseFile.get();
    } catch (error) {
      this.retryDatabaseSync(error, copyError);
      return;
    }
    this.syncInPool(databaseFd, (error) => {
      if (this.closed) return this.afterClose();
      if (error) return this.retryDatabaseSync(error, copyError);
      if (copyError) return this.failed(copyError);
      if (this.copiedAll) {
        // The next commit rewinds the WAL: what the hold counts starts again.
        this.counts.complete += 1;
        this.walBytesSinceComplete = 0;
      }
      this.endCycle();
      this.emit('answered');
    });
  }

  /**
   * The database could not be synced: the pin stays, or a writer could rewind the WAL over frames
   * whose pages the database may not hold yet. Commits go on (the WAL grows) while it retries.
   */
  private retryDatabaseSync(error: unknown, copyError: unknown): void {
    this.counts.failures += 1;
    this.failedMono = this.options.clock.monotonic();
    this.logFailure(error);
    this.releaseHold();
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = null;
      this.syncDatabase(copyError);
    }, RETRY_AFTER_FAILURE_MS);
  }

  private copied(result: CheckpointResult): void {
    const before = this.lastResult;
    this.lastResult = result;
    // A PASSIVE checkpoint answers how far the WAL has been copied, not what this one copied.
    if (result.checkpointed > 0 && (result.log !== before.log || result.checkpointed !== before.checkpointed)) this.counts.checkpoints += 1;
    this.copiedAll = result.busy === 0 && result.checkpointed === result.log;
  }

  /** The pin lets go, and commits held for this cycle go on. */
  private endCycle(): void {
    if (this.phase !== 'idle') {
      try {
        this.pin?.end.run();
      } catch {
        // No transaction open (BEGIN failed): nothing to end.
      }
    }
    this.phase = 'idle';
    // A cycle begun before the hold saw commits after its snapshot: the next one, begun with
    // nothing after it, completes. One begun while held ends the hold whatever it copied (another
    // process may have written meanwhile): the next commit may ask again.
    if (this.holding && !this.cycleHeld && !this.closed) {
      this.begin();
      return;
    }
    this.releaseHold();
  }

  private releaseHold(): void {
    if (!this.holding) return;
    this.holding = false;
    this.emit('released');
  }

  /** A cycle failed before its database sync: nothing was copied, or what was is synced. */
  private failed(error: unknown): void {
    this.counts.failures += 1;
    this.failedMono = this.options.clock.monotonic();
    this.logFailure(error);
    // No second cycle at once: the hold ends, and the next begins a second after this one.
    this.cycleHeld = true;
    this.endCycle();
    this.emit('answered');
  }

  private syncInPool(fd: number, done: (error: Error | null) => void): void {
    this.syncInFlight = true;
    this.sync(fd, (error) => {
      this.syncInFlight = false;
      done(error);
    });
  }

  /** A pool sync returned after close: its descriptors may go now, if the outbox has closed. */
  private afterClose(): void {
    if (this.filesReleased) this.closeDescriptors();
  }

  private logFailure(error: unknown): void {
    const now = this.options.clock.monotonic();
    if (now - this.failureLoggedMono < FAILURE_LOG_INTERVAL_MS) return;
    this.failureLoggedMono = now;
    const { code, message } = error as { code?: unknown; message?: unknown };
    this.options.logger.warn({ code, message, phase: this.phase }, 'outbox WAL checkpoint failed; will retry');
  }

  private closeDescriptors(): void {
    this.walFile.close();
    this.databaseFile.close();
  }
}

/** A connection that only reads, to hold a snapshot between BEGIN and COMMIT. */
function openPin(path: string): NonNullable<WalCheckpointer['pin']> {
  const db = new Database(path, { fileMustExist: true });
  try {
    // Never wait: a busy pin skips a cycle, the next commit asks again.
    db.pragma('busy_timeout = 0');
    db.pragma('cache_size = -64');
    return {
      db,
      begin: db.prepare('BEGIN'),
      read: db.prepare('SELECT count(*) FROM sqlite_schema'),
      end: db.prepare('COMMIT'),
    };
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * The connection that copies frames. synchronous=NORMAL but while it copies (see `copy`): SQLite's
 * fsyncs off then, the cycle does them.
 */
function openCopier(path: string): Database.Database {
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 0');
    db.pragma('synchronous = NORMAL');
    // A checkpoint copies frames from file to file; it needs no page cache to speak of.
    db.pragma('cache_size = -64');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
