/**
 * The durable outbox: every event is committed here before anything else sees it, and leaves
 * only when the broker has acknowledged it. SQLite in WAL mode.
 *
 * Appends are group-committed: every append made in the same turn of the event loop (up to
 * `maxBatch`) shares one transaction, and each producer's promise resolves only once that
 * transaction is on disk. The fsync that makes it so does not run on the event loop: SQLite runs
 * with synchronous=NORMAL (no fsync at commit in WAL mode; the checkpoints' syncs run in the pool) and
 * the outbox fdatasyncs the WAL file itself through libuv's thread pool (wal-sync.ts). So the
 * uplink keeps publishing and reading acknowledgements while the disk flushes, and the commits
 * made meanwhile share the next fsync. Until its fsync returns an event is invisible to the
 * uplink (`readFrom` stops at `durableSeq`): nothing reaches the broker that a power cut could
 * still take back from the outbox, which would then hand its seq to another event.
 *
 * A full disk must never stop the outbox from forgetting what the broker acknowledged: deleting
 * rows and checkpointing the WAL need disk space too (SQLite answers "database or disk is full"
 * to a DELETE when the WAL cannot grow). So appends are refused while less than `reserveBytes`
 * would remain for those (see disk-room.ts for what counts), and a removal that fails anyway
 * (another process filled the disk) is kept and retried, never forgotten.
 */
import { EventEmitter, once } from 'node:events';
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { GatewayError, isGatewayError, type ErrorCode } from '../../core/errors.js';
import { makePrivateDir, restrictFiles, touchPrivateFile } from '../../core/private-files.js';
import { RETENTION_CLASSES, retentionClassOf, type RetentionClass } from '../../contract/catalogue.js';
import { laneOf, withSeq, type EventDraft } from '../../contract/envelope.js';
import { DiskRoomGauge, RecentDiskRoom, type DiskRoom } from './disk-room.js';
import type { LoopSyncBudgetOptions } from './loop-sync-budget.js';
import { RecentRows } from './recent-rows.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import { isLockedError, prepareBusyTimeout } from '../storage/without-waiting.js';
import { WalCheckpointer, type WalCheckpointerStats } from './wal-checkpointer.js';
import { WalSync } from './wal-sync.js';

/** One stored event, as the uplink reads it. */
export interface OutboxRow {
  seq: number;
  id: string;
  laneId: string;
  type: string;
  /** The complete CloudEvent JSON, `seq` included. */
  payload: string;
  bytes: number;
  createdMs: number;
}

export interface CommittedEvent {
  seq: number;
  id: string;
}

export interface OutboxStats {
  depth: number;
  bytes: number;
  maxBytes: number;
  /** Age of the oldest stored event in ms, 0 when empty. */
  oldestAgeMs: number;
  lastSeq: number;
  dropped: Record<RetentionClass, number>;
}

export interface DropReport {
  dropped: Record<RetentionClass, number>;
  /** Cumulative drops since the database was created. */
  total: Record<RetentionClass, number>;
}

export interface OutboxOptions {
  path: string;
  /** Bound on the sum of stored payload bytes. */
  maxBytes: number;
  /** Most appends per transaction. */
  maxBatch: number;
  /**
   * Disk space kept for deleting acknowledged events and checkpointing (default
   * DEFAULT_RESERVE_BYTES, 4 MiB): appends are refused with GW_ERR_OUTBOX_DISK_FULL rather than
   * leave less. Ignored for `:memory:`.
   */
  reserveBytes?: number;
  /** Refused commits are logged at most once per this interval, with counts (default 60 s). */
  refusalLogIntervalMs?: number;
  clock: Clock;
  logger: Logger;
  /** Test hook: replaces fs.fdatasync of the WAL (wal-sync.ts). */
  walSyncFile?: (fd: number, done: (error: Error | null) => void) => void;
  /** Test hook: replaces fs.fdatasyncSync of the WAL, the sync on the loop (wal-sync.ts). */
  walSyncFileNow?: (fd: number) => void;
  /** When the WAL's sync may run on the event loop (wal-sync.ts, loop-sync-budget.ts). */
  walLoopSyncBudget?: LoopSyncBudgetOptions;
  /**
   * WAL file size past which the outbox warns (`wal` event, `walState()`, logged): checkpoints
   * cannot reset the WAL while a reader holds an older snapshot. Default WAL_WARN_BYTES (16 MiB).
   */
  walWarnBytes?: number;
}

/** The WAL file's size against its warning bound (see OutboxOptions.walWarnBytes). */
export interface WalState {
  bytes: number;
  warnBytes: number;
  /** True from the check that found it past `warnBytes` until one finds it back under. */
  oversized: boolean;
}

/** The end of a spell of refused commits (disk full or write errors): the first commit after it. */
export interface RefusalReport {
  code: ErrorCode;
  /** Events refused during the spell. */
  events: number;
  /** Wall-clock ms of the first refusal. */
  sinceMs: number;
  /** Wall-clock ms of the commit that ended it. */
  untilMs: number;
}

/**
 * Written with an event, inside its transaction: state the event records (an audit entry, a lane's
 * open crossings) is stored if and only if the event is. Runs just before the event is serialised
 * and may return a copy of the event with fields filled in from what it wrote (e.g. the audit
 * hash); it never changes the event it is given, whose JSON the outbox may hold already (`append`).
 */
export type WithinCommit = (event: EventDraft, db: Database.Database) => EventDraft;

interface PendingAppend {
  event: EventDraft;
  within: WithinCommit | undefined;
  /** `JSON.stringify(event)`, when the producer had it already. */
  json: string | undefined;
  resolve: (committed: CommittedEvent) => void;
  reject: (error: unknown) => void;
}

/** A committed append whose producer hears of it once the WAL is synced up to its seq. */
interface AwaitingSync {
  committed: CommittedEvent;
  resolve: (committed: CommittedEvent) => void;
  reject: (error: unknown) => void;
}

export interface OutboxEvents {
  /** Events up to this seq are on disk (and readable by `readFrom`). */
  committed: [durableSeq: number];
  dropped: [report: DropReport];
  /** Commits succeed again after a spell of refusals. */
  recovered: [report: RefusalReport];
  /** Acknowledged rows were deleted (also when a retry after a full disk finally succeeds). */
  removed: [depth: number];
  /** The WAL went past its warning bound, or came back under it. */
  wal: [state: WalState];
}

/** An events row as read: the columns of ROW_COLUMNS, in order. */
type RowValues = [seq: number, id: string, lane: string, type: string, payload: string, bytes: number, createdMs: number];
const ROW_COLUMNS = 'seq, id, lane, type, payload, bytes, created_ms';

function rowOf([seq, id, laneId, type, payload, bytes, createdMs]: RowValues): OutboxRow {
  return { seq, id, laneId, type, payload, bytes, createdMs };
}

/** Bytes an event may grow by in `within` (an audit reference) beyond the room made for it. */
const WITHIN_SLACK_BYTES = 1024;
export const DEFAULT_RESERVE_BYTES = 4 * 1024 * 1024;
/** Bytes counted per committed row for the pages of other tables its commit writes (RecentDiskRoom). */
const COMMIT_PAGE_ALLOWANCE_BYTES = 4096;
const DEFAULT_REFUSAL_LOG_INTERVAL_MS = 60_000;
/** A removal that failed (the disk filled behind the outbox's back) is tried again this often. */
const REMOVAL_RETRY_MS = 1000;
/** Most rows deleted in one transaction (the uplink acknowledges at most its window per turn). */
const REMOVAL_CHUNK = 512;
/** Payload bytes per event assumed by the room check until events have been committed. */
const FIRST_EVENT_BYTES_GUESS = 1024;

const CLASS_BY_PRIORITY: RetentionClass[] = ['telemetry', 'operational', 'critical'];
/**
 * The WAL stays under ≈ 4 MiB while checkpoints complete (wal-checkpointer.ts: commits are held at
 * 3 MiB of growth, the file cut back to 4 MiB when rewound). Four times that means something keeps
 * every checkpoint from completing, most likely a reader holding an old snapshot (a backup, an
 * sqlite3 shell in a read transaction): the WAL then grows with every commit, eating the disk
 * reserve (disk-room.ts assumes ≈ 4 MiB of it).
 */
export const WAL_WARN_BYTES = 16 * 1024 * 1024;
/** How long a statement of this connection waits for another's lock, but a commit's (see LOCK_RETRY_FIRST_MS). */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Another connection holding the database's write lock (an sqlite3 shell left in a transaction,
 * another program): a commit does not wait for it on the event loop (busy_timeout's 5 s froze
 * the gateway, then refused the batch), it is tried again after this, doubling to
 * LOCK_RETRY_MAX_MS, while its events wait in memory.
 */
const LOCK_RETRY_FIRST_MS = 100;
const LOCK_RETRY_MAX_MS = 2000;
/**
 * Appends that may wait in memory for a locked database, by the retention class of the one that
 * comes: past its bound an append is refused (GW_ERR_OUTBOX_LOCKED). Telemetry (device states,
 * evidence chunks the VMC can ask for again) is refused first, at 10,000; the lanes' milestones at
 * 12,000; a crossing's record, an operator's action (with its audit entry) and an alarm, what a
 * customs officer cannot do without, at 15,000. The bound is the heap: a waiting append holds
 * ≈ 1.5 KB besides its JSON (measured: 2.1 KB each for a 627-byte crossing.completed), so 15,000
 * are ≈ 30–45 MB beside the ≈ 30 MB the lanes use, within the unit's 96 MB old space (40,000
 * would pass it, and the out-of-memory crash would lose them all). A busy post completes ≈ 3,000
 * crossings a day: once the milestones are refused, the last 3,000 places hold a day of records.
 */
export const MAX_APPENDS_WAITING_FOR_LOCK_BY_CLASS: Readonly<Record<RetentionClass, number>> = { telemetry: 10_000, operational: 12_000, critical: 15_000 };
/** The first of those bounds: telemetry's. */
export const MAX_APPENDS_WAITING_FOR_LOCK = MAX_APPENDS_WAITING_FOR_LOCK_BY_CLASS.telemetry;

/** SQLite's answer for a file that is damaged (SQLITE_CORRUPT and its extended codes) or no database at all. */
function isDamage(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB');
}

function damaged(path: string, problems: string, cause?: unknown): GatewayError {
  return new GatewayError(
    'GW_ERR_OUTBOX_DAMAGED',
    `${path} is damaged (${problems}); nothing was written to it. Restore the newest backup (border-gateway restore, docs/deployment.md#backups)`,
    cause === undefined ? undefined : { cause },
  );
}

/** Throws GW_ERR_OUTBOX_DAMAGED unless PRAGMA quick_check finds every page sound (its first few findings otherwise). */
function refuseDamaged(db: Database.Database, path: string): void {
  const findings = (db.pragma('quick_check(3)') as { quick_check: string }[]).map((row) => row.quick_check);
  if (findings.length !== 1 || findings[0] !== 'ok') throw damaged(path, `quick_check: ${findings.join('; ')}`);
}

export class SqliteOutbox extends EventEmitter<OutboxEvents> {
  private readonly db: Database.Database;
  private readonly options: OutboxOptions;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private pendingRemovals: number[] = [];
  private removalScheduled = false;
  /** The scheduled commit and removal (append, remove), made once rather than an arrow per turn. */
  private readonly flushLater = (): void => this.flushUnlessHeld();
  private readonly removeLater = (): void => {
    // Held commits (see append): `released` flushes the removals too.
    if (this.checkpointer?.holdsCommits) this.removalScheduled = false;
    else this.flushRemovals();
  };
  private closed = false;
  private closing = false;
  /** Closing, a commit waited busy_timeout for the lock in vain: the commits after it do not wait again. */
  private closingLocked = false;
  private lastSeqValue: number;
  /** Highest seq known to be on disk: what the uplink may read. */
  private durableSeqValue: number;
  /** Committed appends waiting for the fsync that covers them, in seq order. */
  private awaitingSync: AwaitingSync[] = [];
  /** Syncs the WAL off the event loop; null for `:memory:`, where a commit is all there is. */
  private readonly walSync: WalSync | null;
  /** Checkpoints with its fsyncs in the pool; null for `:memory:`. */
  private readonly checkpointer: WalCheckpointer | null;
  private depthValue: number;
  private bytesValue: number;
  private droppedTotal: Record<RetentionClass, number>;
  private readonly statements;
  /**
   * Runs `work` in one transaction. Made once: better-sqlite3's db.transaction() builds four
   * wrapper functions each time it is called (≈ 10 µs, twice per device push when made per commit).
   */
  private readonly transact: (work: () => void) => void;
  private readonly diskRoom: DiskRoomGauge | null;
  /** The room before a commit: measured, or reused while far from the reserve (disk-room.ts). */
  private readonly recentRoom: RecentDiskRoom | null;
  /** The rows committed last, until the uplink reads them (recent-rows.ts). */
  private readonly recent = new RecentRows();
  /** Running average of committed payload bytes per event, for the room check before a commit. */
  private eventBytesAverage = FIRST_EVENT_BYTES_GUESS;
  private removalRetryTimer: TimerHandle | null = null;
  /** Since when (monotonic ms) commits wait for another connection's write lock, the next try, and how many so far. */
  private lockWait: { sinceMono: number; retry: TimerHandle | null; tries: number } | null = null;
  /** Statements that turn SQLite's wait for a lock off around a commit and on again (see LOCK_RETRY_FIRST_MS). */
  private readonly lockTimeout: { off: Database.Statement; on: Database.Statement };
  /** The current spell of refused commits, until a commit succeeds. */
  private refusals: { code: ErrorCode; events: number; sinceMs: number } | null = null;
  /** Refused commits not logged yet, and when the last refusal line was written. */
  private refusalLog: { events: number; commits: number; last: GatewayError | null; loggedMono: number; timer: TimerHandle | null } = {
    events: 0,
    commits: 0,
    last: null,
    loggedMono: Number.NEGATIVE_INFINITY,
    timer: null,
  };
  /** Whether the last look at the WAL found it past its warning bound. */
  private walOversized = false;
  /** Removals failing since the last success: how many wait, and when that was last logged. */
  private removalFailures: { seqs: number; loggedMono: number; failing: boolean } = { seqs: 0, loggedMono: Number.NEGATIVE_INFINITY, failing: false };

  private constructor(db: Database.Database, options: OutboxOptions) {
    super();
    this.db = db;
    this.options = options;
    this.diskRoom = options.path === ':memory:' ? null : new DiskRoomGauge(db, options.path);
    const gauge = this.diskRoom;
    this.recentRoom = gauge ? new RecentDiskRoom(() => gauge.measure(), () => options.clock.monotonic()) : null;
    this.walSync =
      options.path === ':memory:'
        ? null
        : new WalSync(`${options.path}-wal`, {
            clock: options.clock,
            logger: options.logger,
            onSynced: (seq) => this.markDurable(seq),
            ...(options.walSyncFile ? { syncFile: options.walSyncFile } : {}),
            ...(options.walSyncFileNow ? { syncFileNow: options.walSyncFileNow } : {}),
            ...(options.walLoopSyncBudget ? { loopBudget: options.walLoopSyncBudget } : {}),
          });
    this.checkpointer = options.path === ':memory:' ? null : new WalCheckpointer(db, options.path, { clock: options.clock, logger: options.logger });
    // The WAL grows only with commits, and each checkpoint cycle follows commits: looked at then.
    this.checkpointer?.on('answered', () => {
      if (!this.closed) this.walState();
    });
    // In a turn of its own: a cycle that fails as it begins releases from within a commit.
    this.checkpointer?.on('released', () =>
      setImmediate(() => {
        if (this.closed || this.checkpointer?.holdsCommits) return;
        this.flushRemovals();
        this.flushUnlessHeld();
      }),
    );
    this.transact = db.transaction((work: () => void) => work());
    this.lockTimeout = { off: prepareBusyTimeout(db, 0), on: prepareBusyTimeout(db, BUSY_TIMEOUT_MS) };
    this.statements = {
      probeBegin: db.prepare('BEGIN IMMEDIATE'),
      probeRollback: db.prepare('ROLLBACK'),
      insert: db.prepare(
        'INSERT INTO events (seq, id, lane, type, priority, payload, bytes, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
      // Rows as arrays (rowOf makes the OutboxRow): better-sqlite3 builds an object per row with
      // named properties at about twice the cost (4.6 against 2.4 µs per row in a backlog's reads).
      readFrom: db
        .prepare<[number, number, number], RowValues>(`SELECT ${ROW_COLUMNS} FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?`)
        .raw(true),
      readOne: db.prepare<[number], RowValues>(`SELECT ${ROW_COLUMNS} FROM events WHERE seq = ?`).raw(true),
      remove: db.prepare<[number], { bytes: number }>('DELETE FROM events WHERE seq = ? RETURNING bytes'),
      rangeTotals: db.prepare<[number, number], { depth: number; bytes: number | null }>(
        'SELECT COUNT(*) AS depth, SUM(bytes) AS bytes FROM events WHERE seq BETWEEN ? AND ?',
      ),
      removeRange: db.prepare<[number, number]>('DELETE FROM events WHERE seq BETWEEN ? AND ?'),
      oldest: db.prepare<[], { created_ms: number }>('SELECT created_ms FROM events ORDER BY seq LIMIT 1'),
      victims: db.prepare<[number, number], { seq: number; bytes: number }>(
        'SELECT seq, bytes FROM events WHERE priority = ? ORDER BY seq LIMIT ?',
      ),
      totals: db.prepare<[], { depth: number; bytes: number | null }>('SELECT COUNT(*) AS depth, SUM(bytes) AS bytes FROM events'),
    };
    this.lastSeqValue = this.meta('last_seq');
    // What a previous run committed was synced then, or is synced now: opening fsyncs nothing,
    // but a WAL that survived a crash of the process (not of the machine) is in the page cache
    // and reaches the disk with the first sync; until then a power cut could take both.
    this.durableSeqValue = this.lastSeqValue;
    const totals = this.statements.totals.get();
    this.depthValue = totals?.depth ?? 0;
    this.bytesValue = totals?.bytes ?? 0;
    this.droppedTotal = {
      telemetry: this.meta('dropped_telemetry'),
      operational: this.meta('dropped_operational'),
      critical: this.meta('dropped_critical'),
    };
  }

  /** Opens (creating if needed) the outbox database at `options.path`. */
  static open(options: OutboxOptions): SqliteOutbox {
    let db: Database.Database | undefined;
    try {
      const onDisk = options.path !== ':memory:';
      if (onDisk) {
        // Events name plates and people: only the gateway's user may read them. The database is
        // created 0600 before SQLite opens it, and SQLite gives its -wal and -shm the database's
        // mode; files left by an older version are set to 0600 below.
        makePrivateDir(dirname(options.path), false);
        touchPrivateFile(options.path);
      }
      db = new Database(options.path);
      // First, so that switching to WAL waits for another process (the command line adding an
      // account while the gateway starts) instead of failing at once with SQLITE_BUSY.
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      // better-sqlite3 is built with a 16,000 KiB page cache per connection, which fills as the
      // database grows (+4 MB of RSS in the footprint bench's hour). The hot pages are the newest
      // events, the open crossings and the indexes' upper levels: 1 MiB holds them, and the
      // rest is read from the OS's cache. The cap matters once the database outgrows it (a
      // backlog while the broker is away): 4 MiB measured no better on the durable path and no
      // different within an hour's noise on the 4-lane post (docs/benchmarks.md, "Footprint").
      // Set before the check below reads every page: after it, a 205 MB database had left the
      // process 14 MB larger, 6 MB with the cap already in place.
      db.pragma('cache_size = -1024');
      // Before anything is written to it: a damaged page anywhere (a power cut on flash that lied
      // about its syncs, a bad block) is found now, with a code, rather than later as a stack
      // trace from whichever store reads it first (the lanes' open crossings, the accounts) or as
      // commits failing one by one while the gateway runs on. Reads every page once (seconds for
      // a database of hundreds of MB), before the gateway serves anything.
      if (onDisk) refuseDamaged(db, options.path);
      db.pragma('journal_mode = WAL');
      if (onDisk) restrictFiles([options.path, `${options.path}-wal`, `${options.path}-shm`]);
      // NORMAL: SQLite does not fsync at commit (the outbox does it off the event loop, see the
      // file comment) but does around checkpoints, before the WAL is reused. In memory there is
      // nothing to sync, and FULL costs nothing.
      db.pragma(onDisk ? 'synchronous = NORMAL' : 'synchronous = FULL');
      migrateGatewayDatabase(db);
      return new SqliteOutbox(db, options);
    } catch (error) {
      try {
        db?.close();
      } catch {
        // The error that matters is the one that stopped the open.
      }
      // A database written by a newer gateway keeps its own code: the integrator must upgrade;
      // so does a damaged one: the integrator must restore it.
      if (isGatewayError(error) && (error.code === 'GW_ERR_OUTBOX_SCHEMA_NEWER' || error.code === 'GW_ERR_OUTBOX_DAMAGED')) throw error;
      if (isDamage(error)) throw damaged(options.path, String(error), error);
      throw new GatewayError('GW_ERR_OUTBOX_OPEN', `cannot open outbox ${options.path}: ${String(error)}`, { cause: error });
    }
  }

  /** Highest seq ever committed (also across restarts). */
  get lastSeq(): number {
    return this.lastSeqValue;
  }

  /** WAL syncs run on the event loop and in the thread pool; null for `:memory:`. */
  get walSyncs(): { onLoop: number; inPool: number } | null {
    return this.walSync?.syncs ?? null;
  }

  /** The checkpointer's counts; null for `:memory:`. */
  get checkpoints(): WalCheckpointerStats | null {
    return this.checkpointer?.stats() ?? null;
  }

  /** Highest seq on disk: `readFrom` reads no further. Trails `lastSeq` by one fsync at most. */
  get durableSeq(): number {
    return this.durableSeqValue;
  }

  get depth(): number {
    return this.depthValue;
  }

  /** Stored payload bytes (kept in memory, no query). */
  get bytes(): number {
    return this.bytesValue;
  }

  /** Drops by retention class since the database was created (kept in memory, no query). */
  get droppedTotals(): Record<RetentionClass, number> {
    return { ...this.droppedTotal };
  }

  /**
   * Commits `event` and resolves with its seq once the transaction is on disk. Rejects with
   * GW_ERR_OUTBOX_DISK_FULL or GW_ERR_OUTBOX_WRITE when the commit fails, and GW_ERR_OUTBOX_FULL
   * when the byte bound leaves no room for an event of its class: the event is then not stored,
   * and the producer must know. `json`, when given, is `JSON.stringify(event)` (the gateway
   * measured the event with it): the stored payload is made from it instead of serialising the
   * event again, unless `within` returns a changed copy.
   */
  append(event: EventDraft, within?: WithinCommit, json?: string): Promise<CommittedEvent> {
    if (this.closed) return Promise.reject(new GatewayError('GW_ERR_OUTBOX_CLOSED'));
    const lockWait = this.lockWait;
    return new Promise((resolve, reject) => {
      if (lockWait && this.pending.length >= MAX_APPENDS_WAITING_FOR_LOCK_BY_CLASS[retentionClassOf(event.type)]) {
        // Refused as a commit is (logged once a minute with counts, the spell reported when
        // commits resume), and as GW_ERR_OUTBOX_LOCKED, which a restart cannot cure: the watchdog
        // must not kill the gateway for it, losing every event that waits in memory.
        const seconds = Math.round((this.options.clock.monotonic() - lockWait.sinceMono) / 1000);
        this.refuse(
          [{ event, within, json, resolve, reject }],
          new GatewayError('GW_ERR_OUTBOX_LOCKED', `outbox database locked by another connection for ${seconds} s, ${this.pending.length} events waiting: ${event.type} not stored`),
        );
        return;
      }
      this.pending.push({ event, within, json, resolve, reject });
      // While the checkpointer holds commits (the WAL grew too far, see wal-checkpointer.ts) the
      // appends wait in `pending`, past maxBatch, for `released`, which flushes them.
      if (this.checkpointer?.holdsCommits) return;
      if (this.pending.length >= this.options.maxBatch) {
        this.flush();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(this.flushLater);
      }
    });
  }

  /** Commits every pending append now, in transactions of at most `maxBatch`. */
  flush(): void {
    this.flushScheduled = false;
    while (this.pending.length > 0 && !this.lockWait?.retry) this.commit(this.pending.splice(0, this.options.maxBatch));
  }

  /**
   * Commits pending appends, in transactions of at most `maxBatch`, until the checkpointer holds
   * commits (after one of them: see wal-checkpointer.ts); `released` calls it again.
   */
  private flushUnlessHeld(): void {
    this.flushScheduled = false;
    while (this.pending.length > 0 && !this.checkpointer?.holdsCommits && !this.lockWait?.retry) this.commit(this.pending.splice(0, this.options.maxBatch));
  }

  /** Commits `batch` in one transaction. */
  private commit(batch: PendingAppend[]): void {
    const room = this.checkRoom(batch.length);
    if (room) {
      this.refuse(batch, room);
      return;
    }
    const seqBefore = this.lastSeqValue;
    const depthBefore = this.depthValue;
    const bytesBefore = this.bytesValue;
    const droppedBefore = { ...this.droppedTotal };
    const committed = new Map<number, CommittedEvent>();
    const rows: OutboxRow[] = [];
    const refused = new Map<number, GatewayError>();
    const droppedNow: Record<RetentionClass, number> = { telemetry: 0, operational: 0, critical: 0 };
    /** Seqs the byte bound dropped during this commit, which may include this batch's own. */
    const droppedSeqs = new Set<number>();
    // Closing, the last commits may wait for the lock (busy_timeout): there is no later turn. Once
    // only: 10,000 events waiting are 10 batches, 50 s of waits in vain, past systemd's stop timeout.
    const waitForLock = this.closing;
    try {
      if (this.closingLocked) throw Object.assign(new Error('database is locked (a commit of this close waited for it in vain)'), { code: 'SQLITE_BUSY' });
      if (!waitForLock) this.lockTimeout.off.get();
      this.transact(() => {
        const createdMs = this.options.clock.now();
        for (const [index, { event: draft, within, json }] of batch.entries()) {
          const seq = this.lastSeqValue + 1;
          const retention = retentionClassOf(draft.type);
          // Room is made before `within` writes anything, so a refused event leaves no trace;
          // what `within` adds to the event is allowed for with a small slack.
          const draftPayload = json === undefined ? JSON.stringify({ ...draft, seq }) : withSeq(json, seq);
          const draftBytes = Buffer.byteLength(draftPayload);
          const estimate = draftBytes + (within ? WITHIN_SLACK_BYTES : 0);
          if (!this.makeRoom(estimate, RETENTION_CLASSES[retention], droppedNow, droppedSeqs)) {
            droppedNow[retention] += 1;
            this.droppedTotal[retention] += 1;
            refused.set(index, new GatewayError('GW_ERR_OUTBOX_FULL', `outbox full: ${draft.type} ${draft.id} dropped`));
            continue;
          }
          const event = within ? within(draft, this.db) : draft;
          const changed = event !== draft;
          const payload = changed ? JSON.stringify({ ...event, seq }) : draftPayload;
          const bytes = changed ? Buffer.byteLength(payload) : draftBytes;
          const laneId = laneOf(event);
          this.statements.insert.run(seq, event.id, laneId, event.type, RETENTION_CLASSES[retention], payload, bytes, createdMs);
          rows.push({ seq, id: event.id, laneId, type: event.type, payload, bytes, createdMs });
          this.lastSeqValue = seq;
          this.depthValue += 1;
          this.bytesValue += bytes;
          committed.set(index, { seq, id: event.id });
        }
        this.statements.setMeta.run('last_seq', this.lastSeqValue);
        for (const cls of CLASS_BY_PRIORITY) {
          if (droppedNow[cls] > 0) this.statements.setMeta.run(`dropped_${cls}`, this.droppedTotal[cls]);
        }
      });
    } catch (error) {
      // Nothing of the batch was stored: restore the counters, and either wait for the lock or
      // tell every producer.
      this.lastSeqValue = seqBefore;
      this.depthValue = depthBefore;
      this.bytesValue = bytesBefore;
      this.droppedTotal = droppedBefore;
      if (!waitForLock && isLockedError(error)) {
        this.pending.unshift(...batch);
        this.waitForLock();
        return;
      }
      if (waitForLock && isLockedError(error)) this.closingLocked = true;
      this.refuse(batch, wrapWriteError(error, batch.length));
      return;
    } finally {
      if (!waitForLock) this.lockTimeout.on.get();
    }
    if (this.lockWait) this.lockFreed();
    // An event of this batch that a later one of it pushed out was stored and then dropped by the
    // bound, as if by the next commit: its producer heard "stored" (its `within` writes stand), the
    // drop is counted, and the row is not held for the uplink, which must not read it.
    const kept = droppedSeqs.size > 0 ? rows.filter((row) => !droppedSeqs.has(row.seq)) : rows;
    if (committed.size > 0) {
      const average = (this.bytesValue - bytesBefore) / committed.size;
      if (average > 0) this.eventBytesAverage = (this.eventBytesAverage * 7 + average) / 8;
    }
    for (const row of kept) this.recent.add(row);
    this.endRefusals();
    batch.forEach((append, index) => {
      const stored = committed.get(index);
      if (stored) this.awaitingSync.push({ committed: stored, resolve: append.resolve, reject: append.reject });
      else append.reject(refused.get(index));
    });
    if (CLASS_BY_PRIORITY.some((cls) => droppedNow[cls] > 0)) {
      this.emit('dropped', { dropped: droppedNow, total: { ...this.droppedTotal } });
    }
    this.checkpointer?.committed(Math.max(0, this.bytesValue - bytesBefore));
    // What the commit wrote, counted high: each row twice (its page and that page in the WAL) and a
    // page more per row for the other tables a commit touches (meta, the lanes' state, the audit).
    this.recentRoom?.spent(rows.reduce((sum, row) => sum + 2 * row.bytes + COMMIT_PAGE_ALLOWANCE_BYTES, 0));
    if (this.walSync) this.walSync.request(this.lastSeqValue);
    else this.markDurable(this.lastSeqValue);
  }

  /** Commits wait for another connection's write lock: tried again later, off the event loop. */
  private waitForLock(): void {
    const wait = (this.lockWait ??= { sinceMono: this.options.clock.monotonic(), retry: null, tries: 0 });
    if (wait.tries === 0) {
      this.options.logger.warn(
        { code: 'GW_ERR_OUTBOX_LOCKED', waiting: this.pending.length },
        'outbox database locked by another connection (an sqlite3 shell in a transaction?): commits wait and are tried again',
      );
    }
    const delay = Math.min(LOCK_RETRY_MAX_MS, LOCK_RETRY_FIRST_MS * 2 ** wait.tries);
    wait.tries += 1;
    wait.retry = this.options.clock.setTimeout(() => {
      wait.retry = null;
      this.flushUnlessHeld();
    }, delay);
  }

  /**
   * Commits waiting for another connection's write lock (see waitForLock): for how long (ms) and
   * how many events; null while commits go through.
   */
  lockWaiting(): { forMs: number; waiting: number } | null {
    const wait = this.lockWait;
    return wait ? { forMs: Math.max(0, this.options.clock.monotonic() - wait.sinceMono), waiting: this.pending.length } : null;
  }

  /**
   * Throws GW_ERR_OUTBOX_LOCKED when an event committed now would wait for another connection's
   * write lock: commits already wait for it, or the lock is held (tried once, without waiting:
   * an empty write transaction begun and rolled back). For a caller about to change something
   * whose events it must see stored before it answers (an operator's action, a device's push): it
   * is refused before anything changes, so the retry its 503 invites applies it once. Cheap: no
   * page is written.
   */
  refuseWhileLocked(what: string): void {
    if (this.closed) return;
    const waiting = this.lockWaiting();
    if (waiting) {
      throw new GatewayError(
        'GW_ERR_OUTBOX_LOCKED',
        `${what} refused: the gateway database has been locked by another connection for ${Math.round(waiting.forMs / 1000)} s (an sqlite3 shell in a transaction?), ${waiting.waiting} events waiting; nothing was changed, try again`,
      );
    }
    // A transaction of this connection's own is open only within a synchronous commit or read: not
    // between turns, where requests come. Should one be, the lock is not probed.
    if (this.db.inTransaction) return;
    // With the connection's own prepared timeout statements, as a commit: this runs on every
    // state-changing request, a camera's push among them, and needs no pragma prepared per call.
    this.lockTimeout.off.get();
    try {
      this.statements.probeBegin.run();
      this.statements.probeRollback.run();
    } catch (error) {
      if (!isLockedError(error)) throw error;
      throw new GatewayError('GW_ERR_OUTBOX_LOCKED', `${what} refused: the gateway database is locked by another connection (an sqlite3 shell in a transaction?); nothing was changed, try again`, { cause: error });
    } finally {
      this.lockTimeout.on.get();
    }
  }

  /** A commit went through after waiting for the lock: the spell is over. */
  private lockFreed(): void {
    const wait = this.lockWait;
    if (!wait || wait.retry) return;
    this.lockWait = null;
    this.options.logger.warn({ waitedMs: this.options.clock.monotonic() - wait.sinceMono, tries: wait.tries }, 'outbox database free again: the waiting commits are stored');
  }

  /**
   * Resolves once everything committed so far is on disk, and the appends the checkpointer holds
   * back are committed and on disk too: true when it had to wait, false when it already was (or
   * the outbox is closed). For clocks that step time (Clock.settleWith): a test clock that stepped
   * on while appends waited for a checkpoint ran its timers before their producers heard.
   */
  async whenDurable(): Promise<boolean> {
    const checkpointer = this.checkpointer;
    if (!this.closed && this.pending.length > 0 && checkpointer?.holdsCommits) {
      await once(checkpointer, 'released');
      // The outbox commits what was held in a turn of its own (see the constructor): after it.
      await new Promise((resolve) => setImmediate(resolve));
      await this.whenDurable();
      return true;
    }
    return this.whenCommittedDurable();
  }

  private whenCommittedDurable(): Promise<boolean> {
    const target = this.lastSeqValue;
    if (this.closed || this.durableSeqValue >= target) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onCommitted = (seq: number): void => {
        if (seq < target) return;
        this.off('committed', onCommitted);
        resolve(true);
      };
      this.on('committed', onCommitted);
    });
  }

  /** The WAL is on disk up to `seq`: producers hear of their events, the uplink may read them. */
  private markDurable(seq: number): void {
    if (seq <= this.durableSeqValue) return;
    this.durableSeqValue = seq;
    let settled = 0;
    while (settled < this.awaitingSync.length && (this.awaitingSync[settled] as AwaitingSync).committed.seq <= seq) settled += 1;
    const resolved = this.awaitingSync.splice(0, settled);
    // Tests of crash safety read this line: everything up to durableSeq is on disk.
    this.options.logger.debug({ lastSeq: seq, events: resolved.length }, 'committed');
    for (const { committed, resolve } of resolved) resolve(committed);
    this.emit('committed', seq);
  }

  /**
   * Null when a batch of `events` fits on the disk with `reserveBytes` to spare, else the
   * GW_ERR_OUTBOX_DISK_FULL that refuses it. Nothing is written either way.
   */
  private checkRoom(events: number): GatewayError | null {
    if (!this.recentRoom) return null;
    const reserveBytes = this.options.reserveBytes ?? DEFAULT_RESERVE_BYTES;
    // Each event takes its bytes twice: its row in a database page and that page in the WAL.
    const batchBytes = Math.ceil(2 * events * this.eventBytesAverage);
    let room: DiskRoom;
    try {
      room = this.recentRoom.roomFor(batchBytes, reserveBytes);
    } catch {
      return null; // statfs unsupported here: the commit itself will tell
    }
    if (room.availableBytes - batchBytes >= reserveBytes) return null;
    return new GatewayError(
      'GW_ERR_OUTBOX_DISK_FULL',
      `outbox disk nearly full: ${events} event(s) not committed; ${Math.max(0, room.availableBytes)} bytes left, ${reserveBytes} kept for removals and checkpoints`,
      { details: { ...room, reserveBytes, batchBytes } },
    );
  }

  /**
   * Rejects every append of `batch` with `error`, and logs it once per interval with counts:
   * a producer that keeps trying while the disk is full costs one log line a minute.
   */
  private refuse(batch: PendingAppend[], error: GatewayError): void {
    const now = this.options.clock.now();
    if (!this.refusals) this.refusals = { code: error.code, events: 0, sinceMs: now };
    this.refusals.events += batch.length;
    this.refusals.code = error.code;
    const log = this.refusalLog;
    log.events += batch.length;
    log.commits += 1;
    log.last = error;
    const wait = log.loggedMono + (this.options.refusalLogIntervalMs ?? DEFAULT_REFUSAL_LOG_INTERVAL_MS) - this.options.clock.monotonic();
    if (wait <= 0) this.logRefusals();
    else log.timer ??= this.options.clock.setTimeout(() => this.logRefusals(), wait);
    for (const append of batch) append.reject(error);
  }

  /** Writes the pending refusal counts as one line (and nothing when there are none). */
  private logRefusals(): void {
    const log = this.refusalLog;
    if (log.timer) this.options.clock.clearTimeout(log.timer);
    log.timer = null;
    const error = log.last;
    if (!error) return;
    // A stack helps with an unexpected write error, once per spell; a full disk needs none.
    const first = this.refusals?.events === log.events;
    const cause = error.cause as { code?: unknown; message?: unknown } | undefined;
    this.options.logger.error(
      {
        code: error.code,
        events: log.events,
        commits: log.commits,
        ...(this.refusals ? { refusedSince: new Date(this.refusals.sinceMs).toISOString(), refusedTotal: this.refusals.events } : {}),
        ...(cause ? { cause: { code: cause.code, message: cause.message } } : {}),
        ...(error.details ?? {}),
        ...(first && error.code !== 'GW_ERR_OUTBOX_DISK_FULL' ? { err: error } : { reason: error.message }),
      },
      `outbox refused ${log.events} event(s) in ${log.commits} commit(s)`,
    );
    log.loggedMono = this.options.clock.monotonic();
    log.events = 0;
    log.commits = 0;
    log.last = null;
  }

  /** A commit succeeded: a spell of refusals, if any, is over. */
  private endRefusals(): void {
    const spell = this.refusals;
    if (!spell) return;
    this.logRefusals();
    this.refusals = null;
    const report: RefusalReport = { code: spell.code, events: spell.events, sinceMs: spell.sinceMs, untilMs: this.options.clock.now() };
    this.options.logger.warn(report, `outbox commits again after refusing ${spell.events} event(s)`);
    this.emit('recovered', report);
  }

  /**
   * Makes room for `bytes` more by dropping the oldest stored events, lowest retention class
   * first, and never a class above the incoming event's: telemetry goes before operational events,
   * and those before crossings and alarms. Returns false when the incoming event itself must be
   * dropped (everything left is worth more than it).
   */
  private makeRoom(bytes: number, incomingPriority: number, droppedNow: Record<RetentionClass, number>, droppedSeqs: Set<number>): boolean {
    const limit = this.options.maxBytes;
    for (let priority = 0; priority <= incomingPriority && this.bytesValue + bytes > limit; priority += 1) {
      const cls = CLASS_BY_PRIORITY[priority] as RetentionClass;
      while (this.bytesValue + bytes > limit) {
        const victims = this.statements.victims.all(priority, 256);
        if (victims.length === 0) break;
        // Held rows are in the database as they are there: a dropped one must not be read from memory.
        this.recent.clear();
        for (const victim of victims) {
          this.statements.remove.get(victim.seq);
          droppedSeqs.add(victim.seq);
          this.bytesValue -= victim.bytes;
          this.depthValue -= 1;
          droppedNow[cls] += 1;
          this.droppedTotal[cls] += 1;
          if (this.bytesValue + bytes <= limit) break;
        }
      }
    }
    return this.bytesValue + bytes <= limit;
  }

  /** Up to `limit` stored events with seq >= `fromSeq` that are on disk, oldest first. */
  readFrom(fromSeq: number, limit: number): OutboxRow[] {
    // The uplink asks again after each acknowledgement; past the durable end there is nothing yet.
    if (fromSeq > this.durableSeqValue || limit <= 0) return [];
    const held = this.recent.take(fromSeq, this.durableSeqValue, limit);
    if (held) return held;
    const rows = this.statements.readFrom.all(fromSeq, this.durableSeqValue, limit).map(rowOf);
    const last = rows[rows.length - 1];
    if (last) this.recent.forget(last.seq);
    return rows;
  }

  read(seq: number): OutboxRow | undefined {
    const values = this.statements.readOne.get(seq);
    return values ? rowOf(values) : undefined;
  }

  /**
   * Forgets an event the broker acknowledged. Removals are batched into one transaction per turn
   * of the event loop; a removal lost in a crash only means the event is sent again (at least once).
   */
  remove(seq: number): void {
    if (this.closed) return;
    this.pendingRemovals.push(seq);
    if (!this.removalScheduled) {
      this.removalScheduled = true;
      setImmediate(this.removeLater);
    }
  }

  flushRemovals(): void {
    this.removalScheduled = false;
    if (this.pendingRemovals.length === 0 || this.closed) return;
    // Another connection's write lock is not waited for on the loop (busy_timeout's 5 s froze the
    // uplink at every acknowledgement): the removals are kept and tried again, like any failure.
    this.lockTimeout.off.get();
    try {
      // After a failure, make room first: a checkpoint copies the WAL into the database and
      // truncates it, which a DELETE (that grows the WAL) would otherwise use up again.
      if (this.removalFailures.failing) this.checkpoint();
      const seqs = this.pendingRemovals;
      this.pendingRemovals = [];
      // In bounded transactions: deleting rows writes their pages to the WAL, and a backlog kept
      // through failures deleted at once could need more WAL than the disk has.
      for (let start = 0; start < seqs.length; start += REMOVAL_CHUNK) {
        try {
          this.removeCommitted(seqs.slice(start, start + REMOVAL_CHUNK));
        } catch (error) {
          // The rows stay, and so do the counters (only a committed removal lowers them). The seqs
          // are kept and tried again: forgetting them would leave acknowledged rows until a restart.
          this.pendingRemovals = seqs.slice(start).concat(this.pendingRemovals);
          this.removalFailed(error);
          return;
        }
      }
    } finally {
      this.lockTimeout.on.get();
    }
    if (this.removalFailures.failing) {
      this.options.logger.warn({ seqs: this.removalFailures.seqs }, 'outbox removals succeed again');
      this.removalFailures = { seqs: 0, loggedMono: Number.NEGATIVE_INFINITY, failing: false };
    }
  }

  /** Deletes `seqs` in one transaction, then lowers the counters by what was really there. */
  private removeCommitted(seqs: number[]): void {
    let depth = 0;
    let bytes = 0;
    this.transact(() => {
      // Acknowledgements come mostly in seq order: delete contiguous runs with one statement.
      // Counting what was really there keeps the totals right when the retention policy dropped
      // an event while it was in flight.
      for (const [first, last] of contiguousRuns(seqs)) {
        const run = this.statements.rangeTotals.get(first, last);
        if (!run || run.depth === 0) continue;
        this.statements.removeRange.run(first, last);
        this.recent.forget(last);
        depth += run.depth;
        bytes += run.bytes ?? 0;
      }
    });
    this.depthValue -= depth;
    this.bytesValue -= bytes;
    this.checkpointer?.committed(bytes);
    if (depth > 0) this.emit('removed', this.depthValue);
  }

  private removalFailed(error: unknown): void {
    const failures = this.removalFailures;
    failures.failing = true;
    failures.seqs = this.pendingRemovals.length;
    const now = this.options.clock.monotonic();
    if (now - failures.loggedMono >= (this.options.refusalLogIntervalMs ?? DEFAULT_REFUSAL_LOG_INTERVAL_MS)) {
      const { code, message } = error as { code?: unknown; message?: unknown };
      if (isLockedError(error)) this.options.logger.warn({ code: 'GW_ERR_OUTBOX_LOCKED', message, pending: this.pendingRemovals.length }, 'outbox database locked by another connection: acknowledged events are deleted once it is free');
      else this.options.logger.error({ code, message, pending: this.pendingRemovals.length }, 'outbox cannot delete acknowledged events; retrying');
      failures.loggedMono = now;
    }
    this.removalRetryTimer ??= this.options.clock.setTimeout(() => {
      this.removalRetryTimer = null;
      this.flushRemovals();
    }, REMOVAL_RETRY_MS);
  }

  /** Checkpoints the whole WAL and truncates it; false when it could not (no room, a reader). */
  private checkpoint(): boolean {
    // TRUNCATE waits for readers, the checkpointer's pin too: on this loop, which the pin's
    // release needs.
    if (this.checkpointer?.pinned) return false;
    try {
      const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      return result?.busy === 0;
    } catch {
      return false;
    }
  }

  stats(): OutboxStats {
    const oldest = this.depthValue > 0 ? this.statements.oldest.get() : undefined;
    return {
      depth: this.depthValue,
      bytes: this.bytesValue,
      maxBytes: this.options.maxBytes,
      oldestAgeMs: oldest ? Math.max(0, this.options.clock.now() - oldest.created_ms) : 0,
      lastSeq: this.lastSeqValue,
      dropped: { ...this.droppedTotal },
    };
  }

  /**
   * Bytes the outbox may still commit before it refuses events for want of disk (a commit is
   * refused when it would need more: about twice its events' bytes), or null where that is not
   * measured (`:memory:`, no statfs).
   */
  diskHeadroom(): number | null {
    try {
      const room = this.diskRoom?.measure();
      return room ? room.availableBytes - (this.options.reserveBytes ?? DEFAULT_RESERVE_BYTES) : null;
    } catch {
      return null;
    }
  }

  /**
   * Checkpoints the whole WAL and truncates it once no checkpoint cycle holds a snapshot (a
   * TRUNCATE checkpoint waits for every reader, on the loop the cycle needs to end): what
   * `PRAGMA wal_checkpoint(TRUNCATE)` answers. For tests and maintenance.
   */
  async checkpointWhole(): Promise<{ busy: number; log: number; checkpointed: number }> {
    const checkpointer = this.checkpointer;
    // A cycle that ends may begin the next at once (commits held): wait for one that is not.
    while (checkpointer?.pinned) await once(checkpointer, 'answered');
    const [result] = this.db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    return result ?? { busy: 1, log: -1, checkpointed: -1 };
  }

  /**
   * The WAL file's size against its warning bound (one stat; null for `:memory:`). Past the bound
   * the outbox logs a warning and emits `wal` once, and again (info) once it is back under.
   */
  walState(): WalState | null {
    if (this.options.path === ':memory:') return null;
    const warnBytes = this.options.walWarnBytes ?? WAL_WARN_BYTES;
    let bytes: number;
    try {
      bytes = statSync(`${this.options.path}-wal`).size;
    } catch {
      bytes = 0; // no WAL file: closed cleanly by the last connection, nothing to warn of
    }
    const oversized = bytes > warnBytes;
    const state: WalState = { bytes, warnBytes, oversized };
    if (oversized !== this.walOversized) {
      this.walOversized = oversized;
      if (oversized) {
        this.options.logger.warn(
          { code: 'GW_ERR_OUTBOX_WAL_GROWING', ...state },
          'outbox WAL past its bound: checkpoints cannot reset it while a reader holds an old snapshot (a backup, an sqlite3 shell in a read transaction?)',
        );
      } else {
        this.options.logger.info(state, 'outbox WAL back under its bound');
      }
      this.emit('wal', state);
    }
    return state;
  }

  /** `PRAGMA integrity_check`; "ok" when the database is sound. */
  integrityCheck(): string {
    return String(this.db.pragma('integrity_check', { simple: true }));
  }

  /** Test and operations hook: direct access to the SQLite handle (e.g. to cap its size). */
  get database(): Database.Database {
    return this.db;
  }

  /** Commits what is pending, then closes the database. */
  close(): void {
    if (this.closed) return;
    // The last commits wait for a lock as long as busy_timeout lets them, then are refused.
    this.closing = true;
    if (this.lockWait?.retry) this.options.clock.clearTimeout(this.lockWait.retry);
    if (this.lockWait) this.lockWait.retry = null;
    this.flush();
    // The last commits' producers are still waiting: sync here rather than leave them hanging.
    if (this.walSync && this.awaitingSync.length > 0) {
      if (this.walSync.syncNow()) this.markDurable(this.lastSeqValue);
      else for (const { reject } of this.awaitingSync.splice(0)) reject(new GatewayError('GW_ERR_OUTBOX_WRITE', 'outbox closed before its last commits could be synced to disk'));
    }
    this.walSync?.close();
    this.flushRemovals();
    this.logRefusals();
    if (this.removalRetryTimer) this.options.clock.clearTimeout(this.removalRetryTimer);
    this.removalRetryTimer = null;
    this.closed = true;
    this.recent.clear();
    // Nothing commits any more: the cycle under way ends (its pin lets go once the database is
    // synced), then this connection closes last and checkpoints the rest with SQLite's fsyncs.
    this.checkpointer?.close();
    this.db.close();
    this.checkpointer?.releaseFiles();
  }

  private meta(key: string): number {
    return this.statements.getMeta.get(key)?.value ?? 0;
  }
}

/** Sorted, de-duplicated runs of consecutive numbers: [3,1,2,7,8] → [[1,3],[7,8]]. */
export function contiguousRuns(values: number[]): [number, number][] {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  const runs: [number, number][] = [];
  for (const value of sorted) {
    const last = runs[runs.length - 1];
    if (last && value === last[1] + 1) last[1] = value;
    else runs.push([value, value]);
  }
  return runs;
}

function wrapWriteError(error: unknown, events: number): GatewayError {
  const code = (error as { code?: unknown }).code;
  if (code === 'SQLITE_FULL') {
    return new GatewayError('GW_ERR_OUTBOX_DISK_FULL', `outbox disk full: ${events} event(s) not committed`, { cause: error });
  }
  return new GatewayError('GW_ERR_OUTBOX_WRITE', `outbox commit failed: ${events} event(s) not committed: ${String(error)}`, {
    cause: error,
  });
}

/**
 * True for the errors with which the outbox refuses an append. It reports those itself (failed
 * commits logged once per interval with counts, drops alarmed), or they are expected (closed at
 * shutdown): a producer should not log each with a stack trace.
 */
export function isOutboxRefusal(error: unknown): error is GatewayError {
  return isGatewayError(error) && OUTBOX_REFUSAL_CODES.has(error.code);
}

const OUTBOX_REFUSAL_CODES = new Set<ErrorCode>(['GW_ERR_OUTBOX_DISK_FULL', 'GW_ERR_OUTBOX_WRITE', 'GW_ERR_OUTBOX_FULL', 'GW_ERR_OUTBOX_CLOSED', 'GW_ERR_OUTBOX_LOCKED']);
