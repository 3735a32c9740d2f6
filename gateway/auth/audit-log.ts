/**
 * The hash-chained audit log: every operator and admin action (and every login) as one row whose
 * hash covers its content and the previous row's hash, so an edited, removed or reordered entry
 * breaks the chain where it happened. `audit_head` keeps the last seq and hash, written with each
 * entry, so removing entries from the end is found too. Rows that record a state change are
 * written inside the outbox transaction of their `operator.action` event (see `within`): the
 * action, its audit entry and its event are stored together or not at all.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { EventDraft } from '../../contract/envelope.js';
import type { WithinCommit } from '../outbox/sqlite-outbox.js';
import { migrateGatewayDatabase } from '../storage/migrations.js';
import { writeWithoutWaiting } from '../storage/without-waiting.js';
import type { Actor } from './roles.js';

export const GENESIS_HASH = '0'.repeat(64);

export interface AuditDraft {
  actor: Actor;
  /** What was done, e.g. "crossing.channel", "login", "user.disable". */
  action: string;
  laneId?: string | null;
  crossingId?: string | null;
  before?: string | null;
  after?: string | null;
  reason?: string | null;
}

export interface AuditEntry {
  seq: number;
  timeMs: number;
  actor: string;
  role: string;
  action: string;
  laneId: string | null;
  crossingId: string | null;
  before: string | null;
  after: string | null;
  reason: string | null;
  eventId: string | null;
  prevHash: string;
  hash: string;
}

interface AuditRow {
  seq: number;
  time_ms: number;
  actor: string;
  role: string;
  action: string;
  lane_id: string | null;
  crossing_id: string | null;
  before: string | null;
  after: string | null;
  reason: string | null;
  event_id: string | null;
  prev_hash: string;
  hash: string;
}

export interface AuditProblem {
  seq: number;
  problem: string;
}

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  lastSeq: number;
  problems: AuditProblem[];
}

/** The hash of an entry: its fields in a fixed order, as JSON, after the previous hash. */
export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const fields = [entry.seq, entry.timeMs, entry.actor, entry.role, entry.action, entry.laneId, entry.crossingId, entry.before, entry.after, entry.reason, entry.eventId];
  return createHash('sha256').update(entry.prevHash).update('\n').update(JSON.stringify(fields)).digest('hex');
}

const fromRow = (row: AuditRow): AuditEntry => ({
  seq: row.seq,
  timeMs: row.time_ms,
  actor: row.actor,
  role: row.role,
  action: row.action,
  laneId: row.lane_id,
  crossingId: row.crossing_id,
  before: row.before,
  after: row.after,
  reason: row.reason,
  eventId: row.event_id,
  prevHash: row.prev_hash,
  hash: row.hash,
});

export class AuditLog {
  private readonly statements;

  constructor(
    private readonly db: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    // The tables are the schema's (storage/migrations.ts): brought up to date on whatever handle.
    migrateGatewayDatabase(db);
    this.statements = {
      head: db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1'),
      insert: db.prepare(
        'INSERT INTO audit (seq, time_ms, actor, role, action, lane_id, crossing_id, before, after, reason, event_id, prev_hash, hash) VALUES (@seq, @timeMs, @actor, @role, @action, @laneId, @crossingId, @before, @after, @reason, @eventId, @prevHash, @hash)',
      ),
      setHead: db.prepare('INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash'),
    };
  }

  /** Appends an entry in the caller's transaction (or its own when there is none). */
  private insert(draft: AuditDraft, eventId: string | null): AuditEntry {
    const head = this.statements.head.get() ?? { seq: 0, hash: GENESIS_HASH };
    const unhashed = {
      seq: head.seq + 1,
      timeMs: this.now(),
      actor: draft.actor.id,
      role: draft.actor.role,
      action: draft.action,
      laneId: draft.laneId ?? null,
      crossingId: draft.crossingId ?? null,
      before: draft.before ?? null,
      after: draft.after ?? null,
      reason: draft.reason ?? null,
      eventId,
      prevHash: head.hash,
    };
    const entry = { ...unhashed, hash: entryHash(unhashed) };
    this.statements.insert.run(entry);
    this.statements.setHead.run(entry.seq, entry.hash);
    return entry;
  }

  /**
   * Records an action that causes no event (a login, a command-line account change). Never waits
   * for another connection's write lock (it would wait on the event loop): throws
   * GW_ERR_OUTBOX_LOCKED instead, with nothing written (storage/without-waiting.ts).
   */
  record(draft: AuditDraft, apply?: () => void): AuditEntry {
    // `apply` (an account change) in the same transaction: the change happens only with its entry.
    return writeWithoutWaiting(this.db, `audit entry ${draft.action}`, () =>
      this.db.transaction(() => {
        apply?.();
        return this.insert(draft, null);
      })(),
    );
  }

  /**
   * For `gateway.emit(…, within)`: writes the entry in the event's own transaction and puts its
   * seq and hash into the event's data (`audit`), so the VMC holds the chain's anchors too.
   */
  within(draft: AuditDraft): WithinCommit {
    return (event: EventDraft) => {
      const entry = this.insert(draft, event.id);
      return { ...event, data: { ...(event.data as Record<string, unknown>), audit: { seq: entry.seq, hash: entry.hash } } } as EventDraft;
    };
  }

  /** Entries newest first, filtered by a text in actor, action, crossing, lane or reason. */
  search(options: AuditSearch = {}): AuditEntry[] {
    const windows = this.searchWindows(options);
    for (let next = windows.next(); ; next = windows.next()) if (next.done) return next.value;
  }

  /**
   * The same search, yielding to the event loop between windows of AUDIT_SEARCH_WINDOW entries:
   * for the running gateway's API. A text matching nothing read the whole log in one statement
   * (416 ms at 1,000,000 entries, an audit found), while the lanes' barriers waited for their turn.
   */
  async searchYielding(options: AuditSearch = {}): Promise<AuditEntry[]> {
    const windows = this.searchWindows(options);
    for (let next = windows.next(); ; next = windows.next()) {
      if (next.done) return next.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** The search a window of seqs at a time, newest first; yields between windows, returns the entries. */
  private *searchWindows(options: AuditSearch): Generator<void, AuditEntry[]> {
    const limit = Math.min(Math.max(options.limit ?? 100, 1), 500);
    const like = `%${(options.text ?? '').replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const bounds = this.db.prepare<[], { low: number | null; high: number | null }>('SELECT MIN(seq) AS low, MAX(seq) AS high FROM audit').get();
    if (bounds?.low == null || bounds.high == null) return [];
    const statement = this.db.prepare<[number, number, string, string, string, string, string, string, number], AuditRow>(
      `SELECT * FROM audit WHERE seq < ? AND seq >= ? AND (actor LIKE ? ESCAPE '\\' OR action LIKE ? ESCAPE '\\' OR IFNULL(crossing_id, '') LIKE ? ESCAPE '\\'
         OR IFNULL(lane_id, '') LIKE ? ESCAPE '\\' OR IFNULL(reason, '') LIKE ? ESCAPE '\\' OR role LIKE ? ESCAPE '\\') ORDER BY seq DESC LIMIT ?`,
    );
    const found: AuditEntry[] = [];
    for (let upper = Math.min(options.beforeSeq ?? Number.MAX_SAFE_INTEGER, bounds.high + 1); upper > bounds.low && found.length < limit; upper -= AUDIT_SEARCH_WINDOW) {
      found.push(...statement.all(upper, upper - AUDIT_SEARCH_WINDOW, like, like, like, like, like, like, limit - found.length).map(fromRow));
      if (found.length < limit) yield;
    }
    return found;
  }

  /** Walks the whole chain: every hash, every link, no gap in seq, and the head at the end. */
  verify(): AuditVerdict {
    return verifyAudit(this.db);
  }

  /** The walk in progress for the API, if one is: callers meanwhile share its verdict. */
  private verifying: Promise<AuditVerdict> | null = null;

  /**
   * The same walk, yielding to the event loop between pages: for the running gateway's API. One
   * at a time: asked again while a walk goes on, it answers that walk's verdict, so requests that
   * come together cannot start a walk of the whole log each.
   */
  verifyYielding(): Promise<AuditVerdict> {
    this.verifying ??= verifyAuditYielding(this.db).finally(() => {
      this.verifying = null;
    });
    return this.verifying;
  }
}

const AUDIT_PAGE = 1000;

/** Entries a search reads in one statement before the API's search yields to the event loop (≈ 2 ms each). */
export const AUDIT_SEARCH_WINDOW = 5000;

export interface AuditSearch {
  text?: string;
  beforeSeq?: number;
  limit?: number;
}

/** The walk so far: the last entry seen, the count, what is wrong. */
interface Walk {
  previous: { seq: number; hash: string };
  entries: number;
  problems: AuditProblem[];
}

/** Checks the next page of the chain; false when there was none (the walk is over). */
function walkPage(db: Database.Database, walk: Walk): boolean {
  const rows = db.prepare<[number, number], AuditRow>('SELECT * FROM audit WHERE seq > ? ORDER BY seq LIMIT ?').all(walk.previous.seq, AUDIT_PAGE);
  for (const row of rows) {
    const entry = fromRow(row);
    walk.entries += 1;
    if (entry.seq !== walk.previous.seq + 1) walk.problems.push({ seq: entry.seq, problem: `entries ${walk.previous.seq + 1}–${entry.seq - 1} are missing` });
    if (entry.prevHash !== walk.previous.hash) walk.problems.push({ seq: entry.seq, problem: 'does not follow the entry before it (removed or reordered entries)' });
    const { hash, ...unhashed } = entry;
    if (entryHash(unhashed) !== hash) walk.problems.push({ seq: entry.seq, problem: 'content does not match its hash (edited)' });
    walk.previous = { seq: entry.seq, hash: entry.hash };
  }
  // A bounded list: a wholly rewritten log is reported, not listed entry by entry.
  if (walk.problems.length > 100) walk.problems.length = 100;
  return rows.length > 0;
}

function verdictOf(db: Database.Database, walk: Walk): AuditVerdict {
  const { previous, problems } = walk;
  const head = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1').get() ?? { seq: 0, hash: GENESIS_HASH };
  if (head.seq !== previous.seq || head.hash !== previous.hash) {
    problems.push({ seq: head.seq, problem: `the log ends at entry ${previous.seq} but its head names entry ${head.seq} (entries removed from the end, or the head edited)` });
  }
  return { ok: problems.length === 0, entries: walk.entries, lastSeq: previous.seq, problems };
}

const newWalk = (): Walk => ({ previous: { seq: 0, hash: GENESIS_HASH }, entries: 0, problems: [] });

/** The whole chain at once (the command line, tests). */
export function verifyAudit(db: Database.Database): AuditVerdict {
  migrateGatewayDatabase(db);
  const walk = newWalk();
  while (walkPage(db, walk));
  return verdictOf(db, walk);
}

/** The whole chain, yielding to the event loop between pages of 1,000 entries (the gateway's API). */
export async function verifyAuditYielding(db: Database.Database): Promise<AuditVerdict> {
  const walk = newWalk();
  while (walkPage(db, walk)) await new Promise<void>((resolve) => setImmediate(resolve));
  return verdictOf(db, walk);
}
