/**
 * Writes that must not wait for another connection's write lock: they run with busy_timeout 0 from
 * the first one on, on a real second connection holding BEGIN IMMEDIATE.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../core/errors.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { prepareBusyTimeout, writeWithoutWaiting } from './without-waiting.js';

const busyTimeout = (db: Database.Database): number => Number(db.pragma('busy_timeout', { simple: true }));

describe('writes without waiting for a lock', () => {
  it('runs even the first write of a connection with busy_timeout 0, and puts it back after', () => {
    const path = join(tempDir(), 'gateway.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (x)');
    db.pragma('busy_timeout = 5000');
    // SQLite applies a busy_timeout pragma as it prepares it (prepareBusyTimeout): the statements
    // this makes must neither leave the connection at 0 nor set nothing on their first run.
    expect(writeWithoutWaiting(db, 'first write', () => busyTimeout(db))).toBe(0);
    expect(busyTimeout(db)).toBe(5000);
    const shell = new Database(path);
    shell.exec('BEGIN IMMEDIATE');
    const refused = (() => {
      try {
        writeWithoutWaiting(db, 'a row', () => db.prepare('INSERT INTO t VALUES (1)').run());
        return null;
      } catch (error) {
        return error;
      }
    })();
    expect(isGatewayError(refused, 'GW_ERR_OUTBOX_LOCKED')).toBe(true);
    expect(busyTimeout(db)).toBe(5000);
    shell.exec('ROLLBACK');
    shell.close();
    db.close();
  });

  it('prepares a busy_timeout statement that sets it on every run, the first included, and changes nothing as it prepares', () => {
    const db = new Database(':memory:');
    db.pragma('busy_timeout = 5000');
    const off = prepareBusyTimeout(db, 0);
    const on = prepareBusyTimeout(db, 250);
    expect(busyTimeout(db)).toBe(5000);
    off.run();
    expect(busyTimeout(db)).toBe(0);
    on.run();
    expect(busyTimeout(db)).toBe(250);
    off.run();
    expect(busyTimeout(db)).toBe(0);
    db.close();
  });
});
