import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { createEventFactory, type EventDraft } from '../../contract/envelope.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { RecentRows } from './recent-rows.js';
import { SqliteOutbox, type OutboxRow } from './sqlite-outbox.js';

const row = (seq: number, bytes = 100): OutboxRow => ({ seq, id: `e${seq}`, laneId: 'lane-1', type: 'vehicle.weighed', payload: `{"seq":${seq}}`, bytes, createdMs: 0 });
const seqs = (rows: OutboxRow[] | null): number[] | null => rows && rows.map((r) => r.seq);

describe('RecentRows', () => {
  it('answers a read that starts inside the rows held, up to the durable seq, and lets those rows go', () => {
    const recent = new RecentRows({ maxRows: 100, maxBytes: 1_000_000 });
    for (let seq = 5; seq <= 10; seq += 1) recent.add(row(seq));
    expect(seqs(recent.take(4, 10, 50))).toBeNull(); // before the first held: the database
    expect(seqs(recent.take(11, 10, 50))).toBeNull(); // after the last held
    expect(seqs(recent.take(6, 8, 50))).toEqual([6, 7, 8]);
    expect(recent.size).toBe(2);
    expect(seqs(recent.take(6, 10, 50))).toBeNull(); // 6 was let go
    expect(seqs(recent.take(9, 10, 1))).toEqual([9]);
    expect(seqs(recent.take(10, 9, 5))).toEqual([]); // held, not durable yet
    expect(seqs(recent.take(10, 10, 5))).toEqual([10]);
    expect(recent.size).toBe(0);
  });

  it('keeps the oldest within its bounds, holds nothing after a gap, and starts afresh once read', () => {
    const recent = new RecentRows({ maxRows: 3, maxBytes: 250 });
    recent.add(row(1));
    recent.add(row(2));
    recent.add(row(3)); // 300 bytes would not fit: stays in the database
    recent.add(row(4)); // after a gap: stays in the database too
    expect(recent.size).toBe(2);
    expect(seqs(recent.take(3, 10, 10))).toBeNull();
    expect(seqs(recent.take(1, 10, 10))).toEqual([1, 2]);
    expect(recent.size).toBe(0);
    // Read: the next commit starts a new run, wherever it is.
    for (let seq = 5; seq <= 9; seq += 1) recent.add(row(seq, 10));
    expect(recent.size).toBe(3); // maxRows
    recent.forget(5);
    recent.add(row(10, 10)); // room again, but 8 and 9 are not held: still a gap
    expect(seqs(recent.take(6, 10, 10))).toEqual([6, 7]);
    recent.add(row(11, 10));
    expect(seqs(recent.take(11, 11, 10))).toEqual([11]);
  });

  it('holds no row larger than its byte bound', () => {
    const recent = new RecentRows({ maxRows: 3, maxBytes: 250 });
    recent.add(row(1, 251));
    expect(recent.size).toBe(0);
    recent.add(row(2, 250));
    expect(seqs(recent.take(2, 2, 1))).toEqual([2]);
  });
});

describe('SqliteOutbox read through the rows committed last', () => {
  const clock = new ManualClock();
  const events = createEventFactory('p1', clock);
  const telemetry = (n: number): EventDraft => events.create('device.status', 'post', { deviceId: `d${n}`, state: 'down', lastError: 'x'.repeat(200) });
  const crossing = (n: number): EventDraft =>
    events.create('vehicle.weighed', `lane-${n % 3}`, { crossingId: `c${n}`, clock: { synchronised: true, offsetMs: 0 }, sinceArrivalSec: n, weightKg: 1000 + n, deviceId: null }, `c${n}`);

  it('reads exactly what the database holds through appends, reads, replays, acknowledgements and drops by the byte bound', async () => {
    // Small enough that the byte bound drops telemetry along the way.
    const outbox = SqliteOutbox.open({ path: join(tempDir(), 'outbox.db'), maxBytes: 40 * 1024, maxBatch: 1000, clock, logger: pino({ level: 'silent' }) });
    const fromDatabase = outbox.database.prepare<[number, number, number], OutboxRow>(
      'SELECT seq, id, lane AS laneId, type, payload, bytes, created_ms AS createdMs FROM events WHERE seq >= ? AND seq <= ? ORDER BY seq LIMIT ?',
    );
    // A seeded walk: the same steps every run.
    let state = 7;
    const random = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    let cursor = 0;
    let n = 0;
    // Counts the reads answered from memory, so the walk is known to have taken that path too.
    const take = vi.spyOn(RecentRows.prototype, 'take');
    for (let step = 0; step < 400; step += 1) {
      const appends = Array.from({ length: 1 + random(20) }, () => outbox.append(random(3) === 0 ? telemetry((n += 1)) : crossing((n += 1))).catch(() => null));
      if (random(2) === 0) await Promise.all(appends); // else read before they are on disk
      else outbox.flush();
      const action = random(10);
      if (action === 0) cursor = 0; // a reconnect reads from the start again
      const limit = 1 + random(40);
      const expected = fromDatabase.all(cursor, outbox.durableSeq, limit);
      const got = outbox.readFrom(cursor, limit);
      expect(got).toEqual(expected);
      if (got.length > 0) {
        cursor = (got[got.length - 1] as OutboxRow).seq + 1;
        // Acknowledge most of what was read, as the broker would; the rest stays for a replay.
        for (const r of got) if (random(4) !== 0) outbox.remove(r.seq);
        if (random(2) === 0) outbox.flushRemovals();
      }
    }
    await Promise.all([outbox.append(crossing((n += 1)))]);
    outbox.flushRemovals();
    expect(outbox.readFrom(0, 100_000)).toEqual(fromDatabase.all(0, outbox.durableSeq, 100_000));
    expect(outbox.droppedTotals.telemetry).toBeGreaterThan(0);
    const answered = take.mock.results.filter((result) => Array.isArray(result.value) && (result.value as OutboxRow[]).length > 0).length;
    const missed = take.mock.results.filter((result) => result.value === null).length;
    take.mockRestore();
    expect(answered).toBeGreaterThan(20);
    expect(missed).toBeGreaterThan(20);
    outbox.close();
  });
});
