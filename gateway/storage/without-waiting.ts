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

/** The statements that read and set a connection's busy_timeout, made once per connection. */
const timeoutStatements = new WeakMap<Database.Database, { get: Database.Statement<[], number>; off: Database.Statement }>();

function statementsOf(db: Database.Database): { get: Database.Statement<[], number>; off: Database.Statement } {
  let statements = timeoutStatements.get(db);
  if (!statements) {
    statements = { get: db.prepare<[], number>('PRAGMA busy_timeout').pluck(), off: db.prepare('PRAGMA busy_timeout = 0') };
    timeoutStatements.set(db, statements);
  }
  return statements;
}

/**
 * Runs `work` (statements on `db`) with busy_timeout 0, then sets it back as it was. Throws
 * GW_ERR_OUTBOX_LOCKED, the SQLite error as its cause, when another connection holds the lock;
 * any other error as it came. `what` names the write for the message.
 */
export function writeWithoutWaiting<T>(db: Database.Database, what: string, work: () => T): T {
  const statements = statementsOf(db);
  const before = statements.get.get() ?? 0;
  if (before !== 0) statements.off.run();
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
