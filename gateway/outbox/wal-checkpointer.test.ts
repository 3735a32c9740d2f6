import { once } from 'node:events';
import { readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { V1_OUTBOX_SQL } from '../storage/migrations.js';
import { walGrowthEstimate, WalCheckpointer } from './wal-checkpointer.js';

const logger = pino({ level: 'silent' });
const opened: Array<{ db: Database.Database; checkpointer: WalCheckpointer }> = [];

type SyncCall = { fd: number; done: (error: Error | null) => void };

/**
 * A WAL database with `rows` rows of 1 KB committed one per transaction, and its checkpointer.
 * With `heldSyncs`, the checkpointer's fdatasyncs wait there until the test calls them back.
 */
function walDatabase(rows: number, heldSyncs?: SyncCall[]): { db: Database.Database; checkpointer: WalCheckpointer; path: string; clock: ManualClock; insert: (n: number) => void } {
  const path = join(tempDir('checkpointer-'), 'outbox.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)');
  const clock = new ManualClock();
  const checkpointer = new WalCheckpointer(db, path, {
    clock,
    logger,
    ...(heldSyncs ? { syncFile: (fd: number, done: (error: Error | null) => void) => void heldSyncs.push({ fd, done }) } : {}),
  });
  const statement = db.prepare('INSERT INTO t (body) VALUES (?)');
  const insert = (n: number): void => {
    for (let i = 0; i < n; i += 1) statement.run('x'.repeat(1024));
  };
  insert(rows);
  opened.push({ db, checkpointer });
  return { db, checkpointer, path, clock, insert };
}

/** Frames in the WAL, and how many of them are in the database, as a fresh connection sees. */
function walFrames(path: string): { log: number; checkpointed: number } {
  const probe = new Database(path);
  try {
    const [result] = probe.pragma('wal_checkpoint(NOOP)') as Array<{ log: number; checkpointed: number }>;
    return { log: result?.log ?? 0, checkpointed: result?.checkpointed ?? 0 };
  } finally {
    probe.close();
  }
}

/** Frames in the WAL not yet copied into the database. */
function framesLeft(path: string): number {
  const { log, checkpointed } = walFrames(path);
  return log - checkpointed;
}

/** Calls back the oldest held sync; its path, to say which file it synced. */
function releaseSync(held: SyncCall[], error: Error | null = null): string {
  const call = held.shift();
  if (!call) throw new Error('no sync is waiting');
  const file = readlinkSync(`/proc/self/fd/${call.fd}`);
  call.done(error);
  return file;
}

afterEach(() => {
  for (const { db, checkpointer } of opened.splice(0)) {
    checkpointer.close();
    db.close();
    checkpointer.releaseFiles();
  }
});

describe('WalCheckpointer', () => {
  it("turns SQLite's own checkpoints off and checkpoints once the WAL has grown about 1 MiB", async () => {
    const { db, checkpointer, path } = walDatabase(300);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(framesLeft(path)).toBeGreaterThan(250);
    // Each 1 KB transaction counts as 6 frames (its page and 5 more), 24,720 bytes: 42 of them
    // stay under 1 MiB, the 43rd begins a cycle.
    for (let i = 0; i < 42; i += 1) checkpointer.committed(1024);
    expect(checkpointer.pinned).toBe(false);
    expect(framesLeft(path)).toBeGreaterThan(250);
    const answered = once(checkpointer, 'answered');
    checkpointer.committed(1024);
    expect(checkpointer.pinned).toBe(true);
    await answered;
    expect(checkpointer.stats()).toMatchObject({ checkpoints: 1, complete: 1, held: 0, failures: 0, offLoop: true });
    expect(framesLeft(path)).toBe(0);
  });

  it('syncs the WAL before it copies, copies only what its snapshot holds, and lets no writer rewind the WAL until the database is synced', () => {
    const held: SyncCall[] = [];
    const { checkpointer, path, insert } = walDatabase(100, held);
    const atPin = walFrames(path).log;
    checkpointer.committed(1024 * 1024);
    expect(held).toHaveLength(1);
    // Committed after the snapshot: not copied by this cycle, synced or not.
    insert(20);
    const before = walFrames(path);
    expect(before.checkpointed).toBe(0);
    expect(releaseSync(held)).toBe(`${path}-wal`);
    // Copied up to the snapshot, no further; the database's sync is asked for next.
    expect(walFrames(path)).toEqual({ log: before.log, checkpointed: atPin });
    expect(held).toHaveLength(1);
    // While the database's sync runs, the WAL cannot be rewound: a commit appends after its end.
    insert(1);
    expect(walFrames(path).log).toBeGreaterThan(before.log);
    expect(releaseSync(held)).toBe(path);
    expect(checkpointer.pinned).toBe(false);
    expect(checkpointer.stats()).toMatchObject({ checkpoints: 1, complete: 0 });
  });

  it('a cycle with nothing committed after its snapshot lets the next commit rewind the WAL, once the database is synced', () => {
    const held: SyncCall[] = [];
    const { checkpointer, path, insert } = walDatabase(100, held);
    checkpointer.committed(1024 * 1024);
    releaseSync(held);
    const copied = walFrames(path);
    expect(copied.checkpointed).toBe(copied.log);
    // The database's sync is still running: the WAL is not rewound, and this cycle lets no
    // rewind follow it.
    insert(1);
    checkpointer.committed(1024);
    expect(walFrames(path).log).toBe(copied.log + 1);
    releaseSync(held);
    expect(checkpointer.stats()).toMatchObject({ checkpoints: 1, complete: 0 });
    // The next cycle copies that frame too; once its database sync has returned, the next commit
    // starts the WAL again from its beginning.
    checkpointer.committed(1024 * 1024);
    releaseSync(held);
    expect(walFrames(path)).toEqual({ log: copied.log + 1, checkpointed: copied.log + 1 });
    releaseSync(held);
    expect(checkpointer.stats()).toMatchObject({ checkpoints: 2, complete: 1 });
    insert(1);
    expect(walFrames(path).log).toBeLessThan(5);
  });

  it('holds commits once the WAL has grown 3 MiB without a complete cycle, until a cycle with nothing after its snapshot ends', () => {
    const held: SyncCall[] = [];
    const { checkpointer, path, insert } = walDatabase(50, held);
    const released = vi.fn();
    checkpointer.on('released', released);
    checkpointer.committed(1024 * 1024);
    expect(checkpointer.holdsCommits).toBe(false);
    // Commits go on while the cycle syncs, past its snapshot, until the WAL has grown 3 MiB.
    insert(10);
    checkpointer.committed(2 * 1024 * 1024);
    expect(checkpointer.holdsCommits).toBe(true);
    releaseSync(held);
    releaseSync(held);
    // The first cycle could not copy what came after its snapshot; a second begins at once.
    expect(framesLeft(path)).toBeGreaterThan(0);
    expect(checkpointer.holdsCommits).toBe(true);
    expect(released).not.toHaveBeenCalled();
    expect(held).toHaveLength(1);
    releaseSync(held);
    releaseSync(held);
    expect(framesLeft(path)).toBe(0);
    expect(checkpointer.holdsCommits).toBe(false);
    expect(released).toHaveBeenCalledTimes(1);
    expect(checkpointer.stats()).toMatchObject({ checkpoints: 2, complete: 1, held: 1 });
  });

  it('a failed sync copies nothing, lets the pin go, ends a hold and waits a second before the next cycle', () => {
    const held: SyncCall[] = [];
    const { checkpointer, path, clock } = walDatabase(50, held);
    checkpointer.committed(3 * 1024 * 1024);
    expect(checkpointer.holdsCommits).toBe(true);
    const left = framesLeft(path);
    releaseSync(held, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    expect(framesLeft(path)).toBe(left);
    expect(checkpointer.pinned).toBe(false);
    expect(checkpointer.holdsCommits).toBe(false);
    expect(checkpointer.stats()).toMatchObject({ failures: 1, checkpoints: 0 });
    checkpointer.committed(1024 * 1024);
    expect(held).toHaveLength(0);
    clock.advance(1000);
    checkpointer.committed(1024 * 1024);
    expect(held).toHaveLength(1);
  });

  it('a failed sync of the database keeps the pin, so the WAL is not rewound, and is retried', () => {
    const held: SyncCall[] = [];
    const { checkpointer, path, clock, insert } = walDatabase(50, held);
    checkpointer.committed(1024 * 1024);
    releaseSync(held);
    const copied = walFrames(path);
    expect(copied.checkpointed).toBe(copied.log);
    releaseSync(held, Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    expect(checkpointer.pinned).toBe(true);
    insert(1);
    expect(walFrames(path).log).toBe(copied.log + 1);
    clock.advance(1000);
    expect(releaseSync(held)).toBe(path);
    expect(checkpointer.pinned).toBe(false);
    expect(checkpointer.stats()).toMatchObject({ failures: 1, checkpoints: 1 });
  });

  it('closed during a cycle: syncs the database it copied into before the pin lets go, and says the cycle is over', () => {
    const held: SyncCall[] = [];
    const { db, checkpointer, path, insert } = walDatabase(50, held);
    const answered = vi.fn();
    checkpointer.on('answered', answered);
    checkpointer.committed(1024 * 1024);
    releaseSync(held);
    expect(checkpointer.pinned).toBe(true);
    checkpointer.close();
    expect(checkpointer.pinned).toBe(false);
    expect(answered).toHaveBeenCalledTimes(1);
    // The pin has let go: a commit may rewind the WAL now (the database was synced on close).
    insert(1);
    expect(walFrames(path).log).toBeLessThan(5);
    // The sync still in the pool returns after close: nothing more happens.
    releaseSync(held);
    expect(answered).toHaveBeenCalledTimes(1);
    expect(db.open).toBe(true);
  });

  it("leaves the outbox's connection to checkpoint as SQLite does when its connections cannot open", () => {
    const path = join(tempDir('checkpointer-'), 'outbox.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    // A database file that is not there: the checkpointer's connections refuse to create one.
    const checkpointer = new WalCheckpointer(db, join(tempDir('checkpointer-'), 'absent.db'), { clock: new ManualClock(), logger });
    opened.push({ db, checkpointer });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    expect(checkpointer.stats().offLoop).toBe(false);
    checkpointer.committed(4 * 1024 * 1024);
    expect(checkpointer.pinned).toBe(false);
    expect(checkpointer.holdsCommits).toBe(false);
  });

  it("never counts less WAL than SQLite writes for the outbox's own inserts and range deletes", () => {
    // The outbox's table and index, rows of a post's sizes, committed 1 to 512 per transaction as
    // group commits and acknowledgements come; the WAL's growth read from its file.
    for (const rowBytes of [200, 400, 1500]) {
      for (const perTransaction of [1, 17, 100, 512]) {
        const path = join(tempDir('wal-growth-'), 'outbox.db');
        const db = new Database(path);
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = NORMAL');
        db.pragma('wal_autocheckpoint = 0');
        db.exec(V1_OUTBOX_SQL);
        const insert = db.prepare('INSERT INTO events (seq, id, lane, type, priority, payload, bytes, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
        const remove = db.prepare('DELETE FROM events WHERE seq BETWEEN ? AND ?');
        const payload = 'x'.repeat(rowBytes - 90);
        const transactions = 20;
        const walBytes = (): number => statSync(`${path}-wal`).size;
        let counted = 0;
        for (let first = 1; first <= transactions * perTransaction; first += perTransaction) {
          db.transaction(() => {
            for (let seq = first; seq < first + perTransaction; seq += 1) insert.run(seq, `0190f0e2-aaaa-7bbb-8ccc-${String(seq).padStart(12, '0')}`, 'lane-1', 'vehicle.weighed', 1, payload, rowBytes, 0);
          })();
          counted += walGrowthEstimate(perTransaction * rowBytes);
        }
        expect(walBytes(), `inserts of ${perTransaction} × ${rowBytes} B`).toBeLessThanOrEqual(counted);
        db.pragma('wal_checkpoint(TRUNCATE)');
        counted = 0;
        for (let first = 1; first <= transactions * perTransaction; first += perTransaction) {
          db.transaction(() => remove.run(first, first + perTransaction - 1))();
          counted += walGrowthEstimate(perTransaction * rowBytes);
        }
        expect(walBytes(), `deletes of ${perTransaction} × ${rowBytes} B`).toBeLessThanOrEqual(counted);
        db.close();
      }
    }
  });
});
