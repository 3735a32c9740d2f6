/**
 * The durable outbox: every event is committed here before anything else sees it, and leaves
 * only when the broker has acknowledged it. SQLite in WAL mode with synchronous=FULL: a commit
 * that returned is on disk (WAL's usual NORMAL can lose the last commits on power loss).
 *
 * Appends are group-committed: every append made in the same turn of the event loop (up to
 * `maxBatch`) shares one transaction and so one fsync, and each producer's promise resolves
 * only after that commit.
 */
import { EventEmitter } from 'node:events';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { makePrivateDir, restrictFiles, touchPrivateFile } from '../../core/private-files.js';
import { RETENTION_CLASSES, retentionClassOf, type RetentionClass } from '../events/catalogue.js';
import { laneOf, type EventDraft } from '../events/envelope.js';
import { OUTBOX_DDL } from './outbox-ddl.js';

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
  clock: Clock;
  logger: Logger;
}

/**
 * Written with an event, inside its transaction: state the event records (an audit entry, a lane's
 * open crossings) is stored if and only if the event is. Runs just before the event is serialised
 * and may return the event with fields filled in from what it wrote (e.g. the audit hash).
 */
export type WithinCommit = (event: EventDraft, db: Database.Database) => EventDraft;

interface PendingAppend {
  event: EventDraft;
  within: WithinCommit | undefined;
  resolve: (committed: CommittedEvent) => void;
  reject: (error: unknown) => void;
}

export interface OutboxEvents {
  committed: [lastSeq: number];
  dropped: [report: DropReport];
}

/** Bytes an event may grow by in `within` (an audit reference) beyond the room made for it. */
const WITHIN_SLACK_BYTES = 1024;

const CLASS_BY_PRIORITY: RetentionClass[] = ['telemetry', 'operational', 'critical'];

export class SqliteOutbox extends EventEmitter<OutboxEvents> {
  private readonly db: Database.Database;
  private readonly options: OutboxOptions;
  private pending: PendingAppend[] = [];
  private flushScheduled = false;
  private pendingRemovals: number[] = [];
  private removalScheduled = false;
  private closed = false;
  private lastSeqValue: number;
  private depthValue: number;
  private bytesValue: number;
  private droppedTotal: Record<RetentionClass, number>;
  private readonly statements;

  private constructor(db: Database.Database, options: OutboxOptions) {
    super();
    this.db = db;
    this.options = options;
    this.statements = {
      insert: db.prepare(
        'INSERT INTO events (seq, id, lane, type, priority, payload, bytes, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      getMeta: db.prepare<[string], { value: number }>('SELECT value FROM meta WHERE key = ?'),
      // Columns aliased to the OutboxRow names, so rows need no copying on the hot path.
      readFrom: db.prepare<[number, number], OutboxRow>(
        'SELECT seq, id, lane AS laneId, type, payload, bytes, created_ms AS createdMs FROM events WHERE seq >= ? ORDER BY seq LIMIT ?',
      ),
      readOne: db.prepare<[number], OutboxRow>(
        'SELECT seq, id, lane AS laneId, type, payload, bytes, created_ms AS createdMs FROM events WHERE seq = ?',
      ),
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
    try {
      const onDisk = options.path !== ':memory:';
      if (onDisk) {
        // Events name plates and people: only the gateway's user may read them. The database is
        // created 0600 before SQLite opens it, and SQLite gives its -wal and -shm the database's
        // mode; files left by an older version are set to 0600 below.
        makePrivateDir(dirname(options.path), false);
        touchPrivateFile(options.path);
      }
      const db = new Database(options.path);
      // First, so that switching to WAL waits for another process (the command line adding an
      // account while the gateway starts) instead of failing at once with SQLITE_BUSY.
      db.pragma('busy_timeout = 5000');
      db.pragma('journal_mode = WAL');
      if (onDisk) restrictFiles([options.path, `${options.path}-wal`, `${options.path}-shm`]);
      // Committed means durable: FULL fsyncs the WAL on every commit (see file comment).
      db.pragma('synchronous = FULL');
      db.exec(OUTBOX_DDL);
      return new SqliteOutbox(db, options);
    } catch (error) {
      throw new GatewayError('GW_ERR_OUTBOX_OPEN', `cannot open outbox ${options.path}: ${String(error)}`, { cause: error });
    }
  }

  /** Highest seq ever committed (also across restarts). */
  get lastSeq(): number {
    return this.lastSeqValue;
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
   * Commits `event` and resolves with its seq once the transaction is durable. Rejects with
   * GW_ERR_OUTBOX_DISK_FULL or GW_ERR_OUTBOX_WRITE when the commit fails, and GW_ERR_OUTBOX_FULL
   * when the byte bound leaves no room for an event of its class: the event is then not stored,
   * and the producer must know.
   */
  append(event: EventDraft, within?: WithinCommit): Promise<CommittedEvent> {
    if (this.closed) return Promise.reject(new GatewayError('GW_ERR_OUTBOX_CLOSED'));
    return new Promise((resolve, reject) => {
      this.pending.push({ event, within, resolve, reject });
      if (this.pending.length >= this.options.maxBatch) {
        this.flush();
      } else if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commits every pending append now, in one transaction. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    const seqBefore = this.lastSeqValue;
    const depthBefore = this.depthValue;
    const bytesBefore = this.bytesValue;
    const droppedBefore = { ...this.droppedTotal };
    const committed = new Map<number, CommittedEvent>();
    const refused = new Map<number, GatewayError>();
    const droppedNow: Record<RetentionClass, number> = { telemetry: 0, operational: 0, critical: 0 };
    try {
      this.db.transaction(() => {
        const createdMs = this.options.clock.now();
        for (const [index, { event: draft, within }] of batch.entries()) {
          const seq = this.lastSeqValue + 1;
          const retention = retentionClassOf(draft.type);
          // Room is made before `within` writes anything, so a refused event leaves no trace;
          // what `within` adds to the event is allowed for with a small slack.
          const draftPayload = JSON.stringify({ ...draft, seq });
          const estimate = Buffer.byteLength(draftPayload) + (within ? WITHIN_SLACK_BYTES : 0);
          if (!this.makeRoom(estimate, RETENTION_CLASSES[retention], droppedNow)) {
            droppedNow[retention] += 1;
            this.droppedTotal[retention] += 1;
            refused.set(index, new GatewayError('GW_ERR_OUTBOX_FULL', `outbox full: ${draft.type} ${draft.id} dropped`));
            continue;
          }
          const event = within ? within(draft, this.db) : draft;
          const payload = within ? JSON.stringify({ ...event, seq }) : draftPayload;
          const bytes = Buffer.byteLength(payload);
          this.statements.insert.run(seq, event.id, laneOf(event), event.type, RETENTION_CLASSES[retention], payload, bytes, createdMs);
          this.lastSeqValue = seq;
          this.depthValue += 1;
          this.bytesValue += bytes;
          committed.set(index, { seq, id: event.id });
        }
        this.statements.setMeta.run('last_seq', this.lastSeqValue);
        for (const cls of CLASS_BY_PRIORITY) {
          if (droppedNow[cls] > 0) this.statements.setMeta.run(`dropped_${cls}`, this.droppedTotal[cls]);
        }
      })();
    } catch (error) {
      // Nothing of the batch was stored: restore the counters and tell every producer.
      this.lastSeqValue = seqBefore;
      this.depthValue = depthBefore;
      this.bytesValue = bytesBefore;
      this.droppedTotal = droppedBefore;
      const wrapped = wrapWriteError(error, batch.length);
      this.options.logger.error({ err: wrapped, events: batch.length }, 'outbox commit failed');
      for (const append of batch) append.reject(wrapped);
      return;
    }
    // Tests of crash safety read this line: everything up to lastSeq is durable.
    this.options.logger.debug({ lastSeq: this.lastSeqValue, events: committed.size }, 'committed');
    batch.forEach((append, index) => {
      const stored = committed.get(index);
      if (stored) append.resolve(stored);
      else append.reject(refused.get(index));
    });
    if (CLASS_BY_PRIORITY.some((cls) => droppedNow[cls] > 0)) {
      this.emit('dropped', { dropped: droppedNow, total: { ...this.droppedTotal } });
    }
    this.emit('committed', this.lastSeqValue);
  }

  /**
   * Makes room for `bytes` more by dropping the oldest stored events, lowest retention class
   * first, and never a class above the incoming event's: telemetry goes before operational events,
   * and those before crossings and alarms. Returns false when the incoming event itself must be
   * dropped (everything left is worth more than it).
   */
  private makeRoom(bytes: number, incomingPriority: number, droppedNow: Record<RetentionClass, number>): boolean {
    const limit = this.options.maxBytes;
    for (let priority = 0; priority <= incomingPriority && this.bytesValue + bytes > limit; priority += 1) {
      const cls = CLASS_BY_PRIORITY[priority] as RetentionClass;
      while (this.bytesValue + bytes > limit) {
        const victims = this.statements.victims.all(priority, 256);
        if (victims.length === 0) break;
        for (const victim of victims) {
          this.statements.remove.get(victim.seq);
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

  /** Up to `limit` stored events with seq >= `fromSeq`, oldest first. */
  readFrom(fromSeq: number, limit: number): OutboxRow[] {
    return this.statements.readFrom.all(fromSeq, limit);
  }

  read(seq: number): OutboxRow | undefined {
    return this.statements.readOne.get(seq);
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
      setImmediate(() => this.flushRemovals());
    }
  }

  flushRemovals(): void {
    this.removalScheduled = false;
    const seqs = this.pendingRemovals;
    if (seqs.length === 0 || this.closed) return;
    this.pendingRemovals = [];
    try {
      this.db.transaction(() => {
        // Acknowledgements come mostly in seq order: delete contiguous runs with one statement.
        // Counting what was really there keeps the totals right when the retention policy dropped
        // an event while it was in flight.
        for (const [first, last] of contiguousRuns(seqs)) {
          const run = this.statements.rangeTotals.get(first, last);
          if (!run || run.depth === 0) continue;
          this.statements.removeRange.run(first, last);
          this.depthValue -= run.depth;
          this.bytesValue -= run.bytes ?? 0;
        }
      })();
    } catch (error) {
      // The rows stay and will be sent again: a duplicate, never a loss.
      this.options.logger.warn({ err: error, events: seqs.length }, 'outbox removal failed; events will be resent');
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
    this.flush();
    this.flushRemovals();
    this.closed = true;
    this.db.close();
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
