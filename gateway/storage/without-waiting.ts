/**
 * Writes on the gateway's own connection that must not wait for another connection's write lock
 * (an `sqlite3` shell left in a transaction, another program): SQLite's busy handler sleeps on the
 * thread that asks, and for the gateway that is the event loop. With busy_timeout 5 s each such
 * statement froze the barrier's polling, the pushes and the uplink's acknowledgements for 5 s,
 * then failed anyway. Here the write is tried once, with busy_timeout 0, and a lock held by
 * another connection becomes GW_ERR_OUTBOX_LOCKED at once: an HTTP caller hears 503 with
 * Retry-After, a background writer keeps what it meant to write and tries again later.
 *
 * The outbox's commits do the same on their own (sqlite-outbox.ts, `lockTimeout`): the writes
 * made in an event's transaction (`within`: audit entries of actions, lane state, the crossing
 * log, the evidence index) wait with their event, in memory.
 */
import type Database from 'better-sqlite3';
import { GatewayError } from '../../core/errors.js';

/** SQLITE_BUSY and its extended codes: another connection holds the lock this one needs. */
export function isLockedError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Seconds an HTTP caller refused for a locked database is told to wait (Retry-After). */
export const LOCKED_RETRY_AFTER_SEC = 2;

/** The statement that sets a connection's busy_timeout to 0, made once per connection. */
const offStatements = new WeakMap<Database.Database, Database.Statement>();

/**
 * Prepares a `PRAGMA busy_timeout = N` to be run again and again. SQLite applies that pragma while
 * it prepares the statement (pragma.c: sqlite3_busy_timeout is called as the statement is coded),
 * and its first run only answers the value coded then: it sets nothing. The runs after it prepare
 * it again, and set it (measured with better-sqlite3 12.11 / SQLite 3.53). It is run once here,
 * the value it set at preparation put back, so every run of the returned statement sets the
 * timeout. Without this, the outbox's first commit under another connection's lock waited 5 s for
 * it on the event loop. (A statement that reads the timeout is stale the same way on its first run:
 * it is read with db.pragma, prepared each time.)
 */
export function prepareBusyTimeout(db: Database.Database, ms: number): Database.Statement {
  const before = busyTimeoutOf(db);
  const statement = db.prepare(`PRAGMA busy_timeout = ${ms}`);
  statement.run();
  db.pragma(`busy_timeout = ${before}`);
  return statement;
}

function busyTimeoutOf(db: Database.Database): number {
  return Number(db.pragma('busy_timeout', { simple: true }));
}

function offStatementOf(db: Database.Database): Database.Statement {
  let off = offStatements.get(db);
  if (!off) {
    off = prepareBusyTimeout(db, 0);
    offStatements.set(db, off);
  }
  return off;
}

/**
 * Runs `work` (statements on `db`) with busy_timeout 0, then sets it back as it was. Throws
 * GW_ERR_OUTBOX_LOCKED, the SQLite error as its cause, when another connection holds the lock;
 * any other error as it came. `what` names the write for the message.
 */
export function writeWithoutWaiting<T>(db: Database.Database, what: string, work: () => T): T {
  const off = offStatementOf(db);
  const before = busyTimeoutOf(db);
  if (before !== 0) off.run();
  try {
    return work();
  } catch (error) {
    if (isLockedError(error)) {
      throw new GatewayError('GW_ERR_OUTBOX_LOCKED', `${what} not written: the gateway database is locked by another connection (an sqlite3 shell in a transaction?)`, { cause: error });
    }
    throw error;
  } finally {
    if (before !== 0) db.pragma(`busy_timeout = ${before}`);
  }
}
