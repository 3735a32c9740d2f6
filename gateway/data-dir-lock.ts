/**
 * One gateway per data directory: an exclusive lock taken before the outbox is opened or a
 * broker contacted. The lock is SQLite's own (an open EXCLUSIVE transaction on `<outbox>.lock`),
 * which the kernel drops with the process: a gateway killed with SIGKILL or a power cut leaves no
 * stale lock to clean up, and no PID that a later process might have reused. Beside it,
 * `<outbox>.lock.holder` says who holds it, for the message the second instance prints.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import { GatewayError } from '../core/errors.js';
import { writePrivateFile } from '../core/private-files.js';

export interface LockHolder {
  pid: number;
  host: string;
  since: string;
  command: string;
}

export class DataDirLock {
  private constructor(
    private readonly db: Database.Database,
    readonly path: string,
  ) {}

  /** Takes the lock beside `outboxPath`, or throws GW_ERR_DATA_DIR_LOCKED naming the holder. */
  static acquire(outboxPath: string, now: () => number = Date.now): DataDirLock {
    const path = `${outboxPath}.lock`;
    let db: Database.Database;
    try {
      db = new Database(path);
      db.pragma('busy_timeout = 0');
      db.pragma('locking_mode = EXCLUSIVE');
    } catch (error) {
      throw new GatewayError('GW_ERR_OUTBOX_OPEN', `cannot open the lock ${path}: ${String(error)}`, { cause: error });
    }
    try {
      db.exec('BEGIN EXCLUSIVE');
    } catch (error) {
      db.close();
      throw new GatewayError('GW_ERR_DATA_DIR_LOCKED', `another gateway is running on this data directory (${describeHolder(path)}); lock ${path}`, { cause: error });
    }
    const holder: LockHolder = { pid: process.pid, host: hostname(), since: new Date(now()).toISOString(), command: process.argv.slice(1).join(' ').slice(0, 300) };
    try {
      writePrivateFile(`${path}.holder`, `${JSON.stringify(holder)}\n`);
    } catch (error) {
      // An existing lock file opens (read-only) and locks on a read-only mount (ext4 remounts so
      // after an I/O error); the holder's file is the first write: the data directory is unusable.
      db.close();
      throw new GatewayError('GW_ERR_OUTBOX_OPEN', `cannot write ${path}.holder beside the lock: ${String(error)}`, { cause: error });
    }
    return new DataDirLock(db, path);
  }

  release(): void {
    if (this.db.open) this.db.close();
  }
}

function describeHolder(path: string): string {
  try {
    const holder = JSON.parse(readFileSync(`${path}.holder`, 'utf8')) as Partial<LockHolder>;
    return `held by pid ${holder.pid ?? '?'} on ${holder.host ?? '?'} since ${holder.since ?? '?'}: ${holder.command ?? '?'}`;
  } catch {
    return 'its holder did not say who it is';
  }
}
