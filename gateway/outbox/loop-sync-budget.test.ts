import { fdatasyncSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createEventFactory } from '../../contract/envelope.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { LoopSyncBudget } from './loop-sync-budget.js';
import { SqliteOutbox } from './sqlite-outbox.js';

describe('LoopSyncBudget', () => {
  it('lets syncs run on the loop within its share of the time, saved up to a burst', () => {
    const clock = new ManualClock();
    const budget = new LoopSyncBudget(clock, { share: 0.1, burstMs: 20, maxAverageMs: 2 });
    // A burst of 20 ms: twenty 1 ms syncs, then none until time has passed.
    for (let i = 0; i < 20; i += 1) {
      expect(budget.allows()).toBe(true);
      budget.took(1, true);
    }
    expect(budget.allows()).toBe(false);
    clock.advance(10); // 10 ms at 10% earns 1 ms
    expect(budget.allows()).toBe(true);
    budget.took(1, true);
    expect(budget.allows()).toBe(false);
    clock.advance(10_000); // idle for long: no more than the burst saved
    for (let i = 0; i < 20; i += 1) {
      expect(budget.allows()).toBe(true);
      budget.took(1, true);
    }
    expect(budget.allows()).toBe(false);
  });

  it('sends every sync to the pool while recent ones averaged more than the bound, and when its share is 0', () => {
    const clock = new ManualClock();
    const budget = new LoopSyncBudget(clock, { share: 0.1, burstMs: 1000, maxAverageMs: 2 });
    budget.took(20, false); // a slow disk seen from the pool: average 4 ms
    expect(budget.allows()).toBe(false);
    for (let i = 0; i < 4; i += 1) budget.took(0.3, false); // fast again: the average decays below 2
    expect(budget.allows()).toBe(true);
    expect(new LoopSyncBudget(clock, { share: 0, burstMs: 20, maxAverageMs: 2 }).allows()).toBe(false);
  });

  it('in the outbox: sparse commits sync on the loop; once the disk is slow, in the pool, and producers hear only after the sync', async () => {
    const clock = new ManualClock();
    let syncMs = 0.2;
    const onLoop: number[] = [];
    const outbox = SqliteOutbox.open({
      path: join(tempDir(), 'outbox.db'),
      maxBytes: 1 << 20,
      maxBatch: 100,
      clock,
      logger: pino({ level: 'silent' }),
      walLoopSyncBudget: { share: 0.1, burstMs: 20, maxAverageMs: 2 },
      // The real sync, timed by the test's clock: each takes `syncMs`.
      walSyncFileNow: (fd) => {
        fdatasyncSync(fd);
        onLoop.push(outbox.lastSeq);
        clock.advance(syncMs);
      },
    });
    const events = createEventFactory('p1', clock);
    const append = (n: number) => outbox.append(events.create('device.status', 'post', { deviceId: `d${n}`, state: 'up', lastError: null }));
    for (let n = 0; n < 5; n += 1) {
      const committed = await append(n);
      expect(onLoop).toContain(committed.seq); // synced on the loop before the producer heard
      clock.advance(100);
    }
    expect(outbox.walSyncs).toEqual({ onLoop: 5, inPool: 0 });
    syncMs = 30; // the disk slows down: one sync takes 30 ms, the average passes 2 ms
    await append(5);
    clock.advance(100);
    await append(6);
    expect(outbox.walSyncs).toEqual({ onLoop: 6, inPool: 1 });
    outbox.close();
  });

  it('in the outbox: a sync on the loop that fails keeps its producers waiting, says so once, and is tried again until it succeeds', async () => {
    const clock = new ManualClock();
    const lines: Array<{ level: number; msg: string; code?: string }> = [];
    let failures = 2;
    const outbox = SqliteOutbox.open({
      path: join(tempDir(), 'outbox.db'),
      maxBytes: 1 << 20,
      maxBatch: 100,
      clock,
      logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) }),
      walLoopSyncBudget: { share: 0.1, burstMs: 20, maxAverageMs: 2 },
      walSyncFileNow: (fd) => {
        if (failures > 0) {
          failures -= 1;
          throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
        }
        fdatasyncSync(fd);
      },
    });
    const events = createEventFactory('p1', clock);
    let heard = 0;
    const appended = Array.from({ length: 3 }, (_, n) => outbox.append(events.create('device.status', 'post', { deviceId: `d${n}`, state: 'up', lastError: null })).then(() => (heard += 1)));
    outbox.flush();
    await Promise.resolve();
    expect(heard).toBe(0);
    expect(outbox.durableSeq).toBe(0);
    clock.advance(1000); // the first retry fails too
    await Promise.resolve();
    expect(heard).toBe(0);
    clock.advance(1000); // the second succeeds, on the loop
    await Promise.all(appended);
    expect(heard).toBe(3);
    expect(outbox.durableSeq).toBe(3);
    expect(outbox.walSyncs).toEqual({ onLoop: 1, inPool: 0 });
    expect(lines.filter((line) => line.msg.startsWith('outbox cannot sync its WAL'))).toMatchObject([{ level: 50, code: 'EIO' }]);
    outbox.close();
  });
});
