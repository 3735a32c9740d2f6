import { once } from 'node:events';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { V1_OUTBOX_SQL } from '../storage/migrations.js';
import { walGrowthEstimate, WalCheckpointer } from './wal-checkpointer.js';

const logger = pino({ level: 'silent' });
const opened: Array<{ db: Database.Database; checkpointer: WalCheckpointer }> = [];

/** A WAL database with `rows` rows of 1 KB committed one per transaction, and its checkpointer. */
function walDatabase(rows: number): { db: Database.Database; checkpointer: WalCheckpointer; path: string } {
  const path = join(tempDir('checkpointer-'), 'outbox.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)');
  const checkpointer = new WalCheckpointer(db, path, new ManualClock(), logger);
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  for (let i = 0; i < rows; i += 1) insert.run('x'.repeat(1024));
  opened.push({ db, checkpointer });
  return { db, checkpointer, path };
}

/** Frames in the WAL not yet copied into the database, as a fresh connection's checkpoint sees. */
function framesLeft(path: string): number {
  const probe = new Database(path);
  try {
    const [result] = probe.pragma('wal_checkpoint(NOOP)') as Array<{ log: number; checkpointed: number }>;
    return (result?.log ?? 0) - (result?.checkpointed ?? 0);
  } finally {
    probe.close();
  }
}

afterEach(() => {
  for (const { db, checkpointer } of opened.splice(0)) {
    checkpointer.close();
    db.close();
  }
});

describe('WalCheckpointer', () => {
  it("turns SQLite's own checkpoints off and checkpoints from its worker once the WAL has grown about 1 MiB", async () => {
    const { db, checkpointer, path } = walDatabase(300);
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    expect(framesLeft(path)).toBeGreaterThan(250);
    // Each 1 KB transaction counts as 6 frames (its page and 5 more), 24,720 bytes: 42 of them
    // stay under 1 MiB, the 43rd asks the worker.
    for (let i = 0; i < 42; i += 1) checkpointer.committed(1024);
    expect(framesLeft(path)).toBeGreaterThan(250);
    const answered = once(checkpointer, 'answered');
    checkpointer.committed(1024);
    await answered;
    expect(checkpointer.stats()).toMatchObject({ checkpoints: 1, complete: 1, onLoop: 0, offLoop: true });
    expect(framesLeft(path)).toBe(0);
  });

  it('checkpoints on the loop, between commits, once the WAL has grown 3 MiB without the worker catching up', () => {
    const { checkpointer, path } = walDatabase(50);
    // 3 MiB of WAL (below the ~4 MB the disk reserve allows for) with no complete checkpoint: the
    // loop checkpoints itself, synchronously, before it asks the worker again.
    checkpointer.committed(3 * 1024 * 1024);
    expect(checkpointer.stats()).toMatchObject({ onLoop: 1, complete: 1 });
    expect(framesLeft(path)).toBe(0);
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
