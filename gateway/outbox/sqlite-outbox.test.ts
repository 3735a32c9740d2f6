import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { pino, type Logger } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { isGatewayError } from '../../core/errors.js';
import { createEventFactory, type EventDraft } from '../../contract/envelope.js';
import { crossingData } from '../../test/helpers/vmc-events.js';
import { isOutboxRefusal, MAX_APPENDS_WAITING_FOR_LOCK, MAX_APPENDS_WAITING_FOR_LOCK_BY_CLASS, SqliteOutbox, type WalState, type DropReport, type OutboxOptions, type RefusalReport } from './sqlite-outbox.js';

const clock = new ManualClock();
const events = createEventFactory('p1', clock);
const quality = { synchronised: true, offsetMs: 1.5 };
const logger = pino({ level: 'silent' });

function open(path = join(tempDir(), 'outbox.db'), maxBytes = 64 * 1024 * 1024, options: Partial<OutboxOptions> = {}): SqliteOutbox {
  return SqliteOutbox.open({ path, maxBytes, maxBatch: 1000, clock, logger, ...options });
}

/** A logger that keeps its lines, parsed. */
function recordingLogger(): { logger: Logger; lines: Array<{ level: number; msg: string; [key: string]: unknown }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  return { logger: pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as { level: number; msg: string }) }), lines };
}

const weighed = (lane: string, n: number): EventDraft =>
  events.create('vehicle.weighed', lane, { crossingId: `c${n}`, clock: quality, sinceArrivalSec: n, weightKg: 1000 + n, deviceId: null }, `c${n}`);
const status = (n: number): EventDraft => events.create('device.status', 'post', { deviceId: `d${n}`, state: 'down', lastError: 'x'.repeat(50) });
const alarm = (n: number): EventDraft => events.create('alarm.raised', 'post', { alarm: `A${n}`, severity: 'critical', message: 'm', details: {} });
const completed = (n: number): EventDraft => events.create('crossing.completed', 'lane-1', crossingData('p1', `x${n}`, 10), `x${n}`);
const action = (n: number): EventDraft =>
  events.create('operator.action', 'lane-1', { operatorId: 'the-supervisor', role: 'supervisor', action: 'crossing.release', reason: 'scanner down', crossingId: `x${n}` }, `x${n}`);

describe('SqliteOutbox', () => {
  it('commits in WAL mode with synchronous=NORMAL, syncing the WAL itself', () => {
    const outbox = open();
    expect(outbox.database.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(outbox.database.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    outbox.close();
  });

  it('tells producers and the uplink of a commit only once the WAL sync covering it returns', async () => {
    const syncs: Array<(error: Error | null) => void> = [];
    const outbox = open(undefined, undefined, { walSyncFile: (_fd, done) => syncs.push(done) });
    const heard: number[] = [];
    outbox.on('committed', (seq) => heard.push(seq));
    let resolved = 0;
    const first = Array.from({ length: 3 }, (_, i) => outbox.append(weighed('lane-1', i)).then(() => (resolved += 1)));
    outbox.flush();
    expect(syncs).toHaveLength(1);
    expect(outbox.lastSeq).toBe(3);
    expect(outbox.durableSeq).toBe(0);
    expect(outbox.readFrom(1, 10)).toEqual([]);
    // Commits made while a sync runs wait for the next one, which starts when it returns.
    const second = outbox.append(weighed('lane-1', 9));
    outbox.flush();
    expect(syncs).toHaveLength(1);
    await Promise.resolve();
    expect(resolved).toBe(0);
    syncs[0]?.(null);
    await Promise.all(first);
    expect(resolved).toBe(3);
    expect(outbox.durableSeq).toBe(3);
    expect(outbox.readFrom(1, 10).map((row) => row.seq)).toEqual([1, 2, 3]);
    expect(syncs).toHaveLength(2);
    syncs[1]?.(null);
    expect((await second).seq).toBe(4);
    expect(outbox.readFrom(1, 10).map((row) => row.seq)).toEqual([1, 2, 3, 4]);
    expect(heard).toEqual([3, 4]);
    outbox.close();
  });

  it('keeps producers waiting while the WAL sync fails, and retries it', async () => {
    const syncs: Array<(error: Error | null) => void> = [];
    const { logger: recording, lines } = recordingLogger();
    const outbox = open(undefined, undefined, { logger: recording, walSyncFile: (_fd, done) => syncs.push(done) });
    let settled = false;
    const pending = outbox.append(weighed('lane-1', 1)).finally(() => (settled = true));
    outbox.flush();
    syncs[0]?.(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    await Promise.resolve();
    expect(settled).toBe(false);
    expect(outbox.readFrom(1, 10)).toEqual([]);
    expect(lines.some((line) => line.msg.includes('cannot sync its WAL') && line.code === 'EIO')).toBe(true);
    expect(syncs).toHaveLength(1);
    clock.advance(1000);
    expect(syncs).toHaveLength(2);
    syncs[1]?.(null);
    expect((await pending).seq).toBe(1);
    expect(outbox.readFrom(1, 10)).toHaveLength(1);
    outbox.close();
  });

  it('syncs what is still waiting when closed, so no producer is left hanging', async () => {
    const outbox = open(undefined, undefined, { walSyncFile: () => undefined });
    const pending = outbox.append(weighed('lane-1', 1));
    outbox.close();
    expect((await pending).seq).toBe(1);
  });

  it('acknowledges a producer only once the event is visible to another connection', async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path);
    const reader = new Database(path, { readonly: true });
    const count = (): number => (reader.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    const pending = outbox.append(weighed('lane-1', 1));
    expect(count()).toBe(0);
    const committed = await pending;
    expect(committed.seq).toBe(1);
    expect(count()).toBe(1);
    reader.close();
    outbox.close();
  });

  it('commits all appends of one turn in a single transaction', async () => {
    const outbox = open();
    let commits = 0;
    outbox.on('committed', () => (commits += 1));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => outbox.append(weighed(`lane-${i % 2}`, i))));
    expect(commits).toBe(1);
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    outbox.close();
  });

  it('stores the complete CloudEvent with its seq, in seq order', async () => {
    const outbox = open();
    const draft = weighed('lane-1', 7);
    await outbox.append(draft);
    const [row] = outbox.readFrom(0, 10);
    expect(row).toMatchObject({ seq: 1, id: draft.id, laneId: 'lane-1', type: 'vehicle.weighed' });
    expect(JSON.parse(row?.payload ?? '{}')).toEqual({ ...draft, seq: 1 });
    outbox.close();
  });

  it("stores the producer's JSON of an event with its seq, without serialising the event again", async () => {
    const outbox = open();
    const drafts = [weighed('lane-1', 1), weighed('lane-2', 2)];
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      await Promise.all(drafts.map((draft) => outbox.append(draft, (event) => event, JSON.stringify(draft))));
      const ofTheDrafts = stringify.mock.calls.filter(([value]) => drafts.some((draft) => (value as { id?: unknown } | null)?.id === draft.id));
      expect(ofTheDrafts).toHaveLength(drafts.length); // the two calls above, none in the commit
    } finally {
      stringify.mockRestore();
    }
    const rows = outbox.readFrom(0, 10);
    expect(rows.map((row) => row.payload)).toEqual(drafts.map((draft, i) => JSON.stringify({ ...draft, seq: i + 1 })));
    expect(rows.map((row) => row.bytes)).toEqual(rows.map((row) => Buffer.byteLength(row.payload)));
    outbox.close();
  });

  it('stores the copy a `within` returns, not the JSON the producer made before it', async () => {
    const outbox = open();
    const draft = weighed('lane-1', 1);
    await outbox.append(draft, (event) => ({ ...event, subject: 'filled-in' }), JSON.stringify(draft));
    const [row] = outbox.readFrom(0, 10);
    expect(JSON.parse(row?.payload ?? '{}')).toEqual({ ...draft, subject: 'filled-in', seq: 1 });
    expect(row?.bytes).toBe(Buffer.byteLength(row?.payload ?? ''));
    outbox.close();
  });

  it('never reuses a seq, also after every event left and the database was reopened', async () => {
    const path = join(tempDir(), 'outbox.db');
    let outbox = open(path);
    await Promise.all([1, 2, 3].map((n) => outbox.append(weighed('lane-1', n))));
    for (const seq of [1, 2, 3]) outbox.remove(seq);
    outbox.close();
    outbox = open(path);
    expect(outbox.depth).toBe(0);
    expect((await outbox.append(weighed('lane-1', 4))).seq).toBe(4);
    outbox.close();
  });

  it('refuses a database with a damaged page in any table (GW_ERR_OUTBOX_DAMAGED), writing nothing to it', async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path);
    await outbox.append(weighed('lane-1', 1));
    outbox.close();
    // A table the outbox itself never reads: the lanes' open crossings, read later at start.
    const db = new Database(path);
    const insert = db.prepare('INSERT INTO open_crossings (crossing_id, lane_id, snapshot) VALUES (?, ?, ?)');
    for (let n = 0; n < 50; n += 1) insert.run(`c${n}`, 'lane-1', 'x'.repeat(500));
    const { rootpage } = db.prepare<[], { rootpage: number }>("SELECT rootpage FROM sqlite_master WHERE name = 'open_crossings'").get() as { rootpage: number };
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    db.close();
    const bytes = readFileSync(path);
    bytes.fill(0xff, (rootpage - 1) * pageSize, rootpage * pageSize);
    writeFileSync(path, bytes);

    let refused: unknown = null;
    try {
      open(path).close();
    } catch (error) {
      refused = error;
    }
    expect(isGatewayError(refused, 'GW_ERR_OUTBOX_DAMAGED')).toBe(true);
    expect((refused as Error).message).toContain('quick_check: *** in database main ***');
    expect(readFileSync(path).equals(bytes)).toBe(true);
  });

  it('refuses a file that is not a database (GW_ERR_OUTBOX_DAMAGED)', () => {
    const path = join(tempDir(), 'outbox.db');
    writeFileSync(path, Buffer.alloc(8192, 0x41));
    let refused: unknown = null;
    try {
      open(path).close();
    } catch (error) {
      refused = error;
    }
    expect(isGatewayError(refused, 'GW_ERR_OUTBOX_DAMAGED')).toBe(true);
  });

  it('tracks depth, bytes and the oldest age', async () => {
    const outbox = open();
    await outbox.append(weighed('lane-1', 1));
    clock.advance(5_000);
    await outbox.append(weighed('lane-1', 2));
    const stats = outbox.stats();
    expect(stats.depth).toBe(2);
    expect(stats.oldestAgeMs).toBe(5_000);
    expect(stats.bytes).toBe(outbox.readFrom(0, 10).reduce((sum, row) => sum + row.bytes, 0));
    outbox.remove(1);
    outbox.flushRemovals();
    expect(outbox.stats()).toMatchObject({ depth: 1, oldestAgeMs: 0 });
    outbox.close();
  });

  it('when full, drops telemetry before operational events and those before crossings and alarms', async () => {
    const probe = JSON.stringify({ ...weighed('lane-1', 1), seq: 1 }).length;
    const outbox = open(join(tempDir(), 'outbox.db'), 64 * 1024);
    const reports: DropReport[] = [];
    outbox.on('dropped', (report) => reports.push(report));
    const perEvent = Math.ceil((64 * 1024) / probe);
    // The oldest of all: completed crossings and operators' actions, which must outlive every
    // operational event however much newer (were they operational, they would go first).
    await Promise.all(Array.from({ length: 4 }, (_, i) => [outbox.append(completed(i)), outbox.append(action(i))]).flat());
    // Fill about half with telemetry, half with operational events.
    await Promise.all(Array.from({ length: Math.floor(perEvent / 2) }, (_, i) => outbox.append(status(i))));
    await Promise.all(Array.from({ length: Math.floor(perEvent / 2) }, (_, i) => outbox.append(weighed('lane-1', i))));
    const before = outbox.readFrom(0, 10_000);
    const weighedBefore = before.filter((r) => r.type === 'vehicle.weighed').length;
    // Alarms worth ~3/4 of the bound arrive: all telemetry must go, then some operational events.
    const alarmSize = JSON.stringify({ ...alarm(0), seq: 1 }).length;
    const alarms = Math.floor((0.75 * 64 * 1024) / alarmSize);
    await Promise.all(Array.from({ length: alarms }, (_, i) => outbox.append(alarm(i))));
    const types = outbox.readFrom(0, 10_000).map((row) => row.type);
    expect(types.filter((t) => t === 'device.status')).toHaveLength(0);
    const weighedLeft = types.filter((t) => t === 'vehicle.weighed').length;
    expect(weighedLeft).toBeGreaterThan(0);
    expect(weighedLeft).toBeLessThan(weighedBefore);
    expect(types.filter((t) => t === 'alarm.raised')).toHaveLength(alarms);
    expect(types.filter((t) => t === 'crossing.completed')).toHaveLength(4);
    expect(types.filter((t) => t === 'operator.action')).toHaveLength(4);
    expect(outbox.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    const dropped = outbox.stats().dropped;
    expect(dropped.telemetry).toBeGreaterThan(0);
    expect(dropped.critical).toBe(0);
    expect(reports.reduce((sum, r) => sum + r.dropped.telemetry, 0)).toBe(dropped.telemetry);
    outbox.close();
  });

  it('drops an incoming telemetry event rather than a stored crossing, and says so', async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path, 64 * 1024);
    const appends: Promise<unknown>[] = [];
    for (let i = 0; outbox.stats().bytes < 60 * 1024 && i < 10_000; i += 1) {
      appends.push(outbox.append(alarm(i)));
      outbox.flush();
    }
    await Promise.all(appends);
    const stored = outbox.depth;
    const filler = status(1);
    (filler.data as { lastError: string }).lastError = 'y'.repeat(8 * 1024);
    const error = await outbox.append(filler).catch((e: unknown) => e);
    expect(isGatewayError(error, 'GW_ERR_OUTBOX_FULL')).toBe(true);
    expect(outbox.depth).toBe(stored);
    expect(outbox.stats().dropped).toEqual({ telemetry: 1, operational: 0, critical: 0 });
    outbox.close();
    // Drop counts survive a restart.
    const reopened = open(path, 64 * 1024);
    expect(reopened.stats().dropped.telemetry).toBe(1);
    reopened.close();
  });

  it('never serves an event that a later one of the same commit pushed out', async () => {
    const outbox = open(undefined, 1000);
    const wide = (n: number): EventDraft => {
      const draft = status(n);
      (draft.data as { lastError: string }).lastError = 'z'.repeat(200);
      return draft;
    };
    // Three ≈ 450-byte telemetry events in one commit, with room for two: the third pushes out the first.
    // Its producer heard "stored", as for an event the next commit drops: the drop is counted.
    const appends = [1, 2, 3].map((n) => outbox.append(wide(n)).then((committed) => committed.seq));
    outbox.flush();
    expect(await Promise.all(appends)).toEqual([1, 2, 3]);
    const inDatabase = outbox.database.prepare<[], { seq: number }>('SELECT seq FROM events ORDER BY seq').all().map((row) => row.seq);
    expect(inDatabase).toEqual([2, 3]);
    expect(outbox.readFrom(1, 10).map((row) => row.seq)).toEqual([2, 3]);
    expect(outbox.stats()).toMatchObject({ depth: 2, dropped: { telemetry: 1, operational: 0, critical: 0 } });
    outbox.close();
  });

  it('rejects appends with GW_ERR_OUTBOX_DISK_FULL when SQLite cannot grow, keeping what was committed', async () => {
    const { logger: recording, lines } = recordingLogger();
    const outbox = open(undefined, undefined, { logger: recording });
    const recovered: RefusalReport[] = [];
    outbox.on('recovered', (report) => recovered.push(report));
    await outbox.append(weighed('lane-1', 1));
    const pages = Number(outbox.database.pragma('page_count', { simple: true }));
    outbox.database.pragma(`max_page_count = ${pages}`);
    const big = Array.from({ length: 500 }, (_, i) => outbox.append(weighed('lane-1', i + 2)));
    const results = await Promise.allSettled(big);
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected).toHaveLength(500);
    expect(rejected.every((r) => isGatewayError(r.reason, 'GW_ERR_OUTBOX_DISK_FULL'))).toBe(true);
    expect(outbox.depth).toBe(1);
    expect(outbox.lastSeq).toBe(1);
    expect(outbox.integrityCheck()).toBe('ok');
    // More refused commits within the minute: counted, not logged one by one.
    for (let i = 0; i < 20; i += 1) await Promise.allSettled(Array.from({ length: 100 }, (_, j) => outbox.append(weighed('lane-1', 1000 + 100 * i + j))));
    const refusalLines = (): typeof lines => lines.filter((line) => line.msg.startsWith('outbox refused'));
    expect(refusalLines()).toHaveLength(1);
    expect(refusalLines()[0]).toMatchObject({ code: 'GW_ERR_OUTBOX_DISK_FULL', events: 500, cause: { code: 'SQLITE_FULL' } });
    expect(refusalLines()[0]).not.toHaveProperty('err'); // no stack trace for a full disk
    clock.advance(60_000);
    expect(refusalLines()).toHaveLength(2);
    expect(refusalLines()[1]).toMatchObject({ events: 2000, commits: 20, refusedTotal: 2500 });

    outbox.database.pragma('max_page_count = 1073741823');
    expect((await outbox.append(weighed('lane-1', 999))).seq).toBe(2);
    expect(recovered).toEqual([expect.objectContaining({ code: 'GW_ERR_OUTBOX_DISK_FULL', events: 2500 })]);
    expect(refusalLines()).toHaveLength(2);
    outbox.close();
  });

  it('refuses appends that would eat into the disk reserve, writing nothing', async () => {
    const { logger: recording, lines } = recordingLogger();
    // A reserve larger than any disk: every commit would eat into it.
    const outbox = open(undefined, undefined, { logger: recording, reserveBytes: 2 ** 52 });
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => outbox.append(weighed('lane-1', i))));
    expect(results.every((r) => r.status === 'rejected' && isGatewayError(r.reason, 'GW_ERR_OUTBOX_DISK_FULL'))).toBe(true);
    const reason = (results[0] as PromiseRejectedResult).reason as { cause?: unknown; details?: Record<string, unknown> };
    expect(reason.cause).toBeUndefined(); // refused before SQLite was asked
    expect(reason.details).toMatchObject({ reserveBytes: 2 ** 52, freeBytes: expect.any(Number) as unknown });
    expect(outbox.stats()).toMatchObject({ depth: 0, lastSeq: 0 });
    expect(Number(outbox.database.prepare('SELECT COUNT(*) FROM events').pluck().get())).toBe(0);
    expect(lines.filter((line) => line.msg.startsWith('outbox refused'))).toHaveLength(1);
    outbox.close();
  });

  it('keeps the counters true when a removal fails, and retries it until it succeeds', async () => {
    const { logger: recording, lines } = recordingLogger();
    const outbox = open(undefined, undefined, { logger: recording });
    await Promise.all([1, 2, 3, 4].map((n) => outbox.append(weighed('lane-1', n))));
    const bytes = outbox.bytes;
    outbox.database.pragma('query_only = ON'); // every write fails, as on a disk with no room
    for (const seq of [1, 2, 3]) outbox.remove(seq);
    outbox.flushRemovals();
    expect(outbox.stats()).toMatchObject({ depth: 4, bytes });
    clock.advance(5_000); // retried each second, still failing: logged once
    expect(outbox.depth).toBe(4);
    expect(lines.filter((line) => line.msg.startsWith('outbox cannot delete'))).toHaveLength(1);

    outbox.database.pragma('query_only = OFF');
    clock.advance(1_000);
    expect(outbox.depth).toBe(1);
    expect(Number(outbox.database.prepare('SELECT COUNT(*) FROM events').pluck().get())).toBe(1);
    expect(outbox.bytes).toBe(outbox.readFrom(0, 10).reduce((sum, row) => sum + row.bytes, 0));
    expect(lines.some((line) => line.msg === 'outbox removals succeed again')).toBe(true);
    outbox.close();
  });

  it("does not wait for another connection's lock on the loop even in the first commit of the outbox", async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path);
    const shell = new Database(path);
    shell.prepare('BEGIN IMMEDIATE').run();
    // What the first commit runs with: it waited busy_timeout (5 s, on the event loop) for the lock.
    const seen: number[] = [];
    const stored = outbox.append(weighed('lane-1', 1), (event, db) => {
      seen.push(Number(db.pragma('busy_timeout', { simple: true })));
      return event;
    });
    outbox.flush();
    expect(seen).toEqual([0]);
    expect(Number(outbox.database.pragma('busy_timeout', { simple: true }))).toBe(5000);
    shell.prepare('COMMIT').run();
    shell.close();
    clock.advance(100);
    expect(await stored).toMatchObject({ seq: 1 });
    outbox.close();
  });

  it("waits for another connection's write lock off the event loop, keeping every event, and stores them once it is free", async () => {
    const path = join(tempDir(), 'outbox.db');
    const { logger: recording, lines } = recordingLogger();
    const outbox = open(path, undefined, { logger: recording });
    await outbox.append(weighed('lane-1', 0));
    // An sqlite3 shell left inside a write transaction.
    const shell = new Database(path);
    shell.prepare('BEGIN IMMEDIATE').run();
    const outcomes: string[] = [];
    const appends = [1, 2, 3].map((n) => outbox.append(weighed('lane-1', n)).then((c) => outcomes.push(`stored ${c.seq}`), (e: unknown) => outcomes.push(`refused ${String(e)}`)));
    // With SQLite waiting for the lock (5 s on the loop), this flush returned only after refusing all three.
    outbox.flush();
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcomes).toEqual([]);
    expect(lines.filter((line) => line.code === 'GW_ERR_OUTBOX_LOCKED')).toHaveLength(1);
    // Tried again at 100, 300, 700 ms…: still locked, still waiting, logged once.
    clock.advance(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcomes).toEqual([]);
    expect(lines.filter((line) => line.code === 'GW_ERR_OUTBOX_LOCKED')).toHaveLength(1);
    // Waiting is bounded: past MAX_APPENDS_WAITING_FOR_LOCK an append is refused, not held.
    const more = Array.from({ length: MAX_APPENDS_WAITING_FOR_LOCK - 3 }, (_, i) => outbox.append(status(i)));
    const refused = await outbox.append(status(-1)).then(() => null, (error: unknown) => error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/^outbox database locked by another connection for 1 s, 10000 events waiting: device.status not stored$/);
    // A lock a restart cannot cure: not GW_ERR_OUTBOX_WRITE, for which the systemd watchdog restarts
    // the gateway after 60 s, losing the 10,000 events waiting in memory. Reported as the outbox
    // reports its refusals (producers do not log them), not dropped without a line.
    expect(isGatewayError(refused, 'GW_ERR_OUTBOX_LOCKED')).toBe(true);
    expect(isOutboxRefusal(refused)).toBe(true);
    expect(lines.filter((line) => line.msg === 'outbox refused 1 event(s) in 1 commit(s)' && line.code === 'GW_ERR_OUTBOX_LOCKED')).toHaveLength(1);
    shell.prepare('COMMIT').run();
    shell.close();
    clock.advance(2000);
    await Promise.all([...appends, ...more]);
    expect(outcomes).toEqual(['stored 2', 'stored 3', 'stored 4']);
    expect(lines.some((line) => line.msg === 'outbox database free again: the waiting commits are stored')).toBe(true);
    expect(outbox.readFrom(1, 5).map((row) => row.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(outbox.depth).toBe(MAX_APPENDS_WAITING_FOR_LOCK + 1);
    outbox.close();
  });

  it("tells a caller about to change something that its events would wait for another connection's lock, before it changes anything", async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path);
    await outbox.append(weighed('lane-1', 0));
    expect(() => outbox.refuseWhileLocked('POST /api/x')).not.toThrow();
    expect(outbox.lockWaiting()).toBeNull();
    const shell = new Database(path);
    shell.prepare('BEGIN IMMEDIATE').run();
    // No commit has met the lock yet: the probe finds it, without waiting for it and without writing.
    const probed = (() => {
      try {
        outbox.refuseWhileLocked('POST /api/x');
        return null;
      } catch (error) {
        return error;
      }
    })();
    expect(isGatewayError(probed, 'GW_ERR_OUTBOX_LOCKED')).toBe(true);
    expect((probed as Error).message).toMatch(/^POST \/api\/x refused: the gateway database is locked by another connection .*nothing was changed, try again$/);
    expect(outbox.database.inTransaction).toBe(false);
    expect(Number(outbox.database.pragma('busy_timeout', { simple: true }))).toBe(5000);
    // Commits now wait for it: how long and how many, and callers are refused saying so.
    const waiting = [1, 2].map((n) => outbox.append(weighed('lane-1', n)));
    outbox.flush();
    clock.advance(3000);
    expect(outbox.lockWaiting()).toEqual({ forMs: 3000, waiting: 2 });
    expect(() => outbox.refuseWhileLocked('POST /api/y')).toThrow(/^POST \/api\/y refused: the gateway database has been locked by another connection for 3 s .*, 2 events waiting; nothing was changed, try again$/);
    shell.prepare('COMMIT').run();
    shell.close();
    clock.advance(2000);
    await Promise.all(waiting);
    expect(outbox.lockWaiting()).toBeNull();
    expect(() => outbox.refuseWhileLocked('POST /api/x')).not.toThrow();
    expect(outbox.readFrom(1, 5).map((row) => row.seq)).toEqual([1, 2, 3]);
    outbox.close();
  });

  it('refuses telemetry first while waiting for a lock, then milestones, and keeps crossing records and operator actions up to a larger bound', async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path, undefined, { maxBatch: 500 });
    await outbox.append(weighed('lane-1', 0));
    const shell = new Database(path);
    shell.prepare('BEGIN IMMEDIATE').run();
    const { telemetry, operational, critical } = MAX_APPENDS_WAITING_FOR_LOCK_BY_CLASS;
    expect(telemetry).toBeLessThan(operational);
    expect(operational).toBeLessThan(critical);
    const kept: Array<Promise<unknown>> = [];
    const codeOf = (append: Promise<unknown>): Promise<string> => append.then(() => 'stored', (error: unknown) => (isGatewayError(error) ? error.code : String(error)));
    let n = 0;
    const fill = (to: number, make: (i: number) => EventDraft): void => {
      while (n < to) kept.push(outbox.append(make((n += 1))));
    };
    // The first append finds the lock; the ones after it wait in memory.
    fill(telemetry, status);
    outbox.flush();
    // At the first bound: telemetry refused, a crossing's milestone, record and an operator's action kept.
    expect(await codeOf(outbox.append(status(-1)))).toBe('GW_ERR_OUTBOX_LOCKED');
    kept.push(outbox.append(weighed('lane-1', -1)), outbox.append(completed(-1)), outbox.append(action(-1)));
    n += 3;
    fill(operational, (i) => weighed('lane-2', i));
    expect(await codeOf(outbox.append(weighed('lane-1', -2)))).toBe('GW_ERR_OUTBOX_LOCKED');
    kept.push(outbox.append(completed(-2)), outbox.append(action(-2)));
    n += 2;
    fill(critical, completed);
    expect(await codeOf(outbox.append(completed(-3)))).toBe('GW_ERR_OUTBOX_LOCKED');
    expect(await codeOf(outbox.append(action(-3)))).toBe('GW_ERR_OUTBOX_LOCKED');
    shell.prepare('COMMIT').run();
    shell.close();
    clock.advance(2000);
    await Promise.all(kept);
    expect(outbox.depth).toBe(1 + critical);
    outbox.close();
  });

  it('warns when a long reader keeps checkpoints from resetting the WAL, and clears the warning once it is reset', async () => {
    const path = join(tempDir(), 'outbox.db');
    const { logger: recording, lines } = recordingLogger();
    // Above the 4 MiB the WAL is cut back to when rewound: only a WAL that cannot be rewound passes it.
    const warnBytes = 6 * 1024 * 1024;
    const outbox = open(path, undefined, { logger: recording, walWarnBytes: warnBytes });
    const heard: WalState[] = [];
    outbox.on('wal', (state) => heard.push(state));
    const big = (n: number): EventDraft => events.create('alarm.raised', 'post', { alarm: `A${n}`, severity: 'info', message: 'm', details: { pad: 'x'.repeat(4000) } });
    let n = 0;
    const appendBatch = async (): Promise<void> => {
      await Promise.all(Array.from({ length: 100 }, () => outbox.append(big((n += 1)))));
    };
    // 8 MB of events with nothing holding a snapshot: checkpoints keep the WAL under the bound.
    for (let i = 0; i < 20; i += 1) await appendBatch();
    expect(outbox.walState()).toMatchObject({ oversized: false });
    // A backup, or an sqlite3 shell inside BEGIN that has read: its snapshot pins the WAL's start.
    const reader = new Database(path);
    reader.prepare('BEGIN').run();
    reader.prepare('SELECT COUNT(*) FROM events').get();
    for (let i = 0; i < 20 && !outbox.walState()?.oversized; i += 1) await appendBatch();
    expect(outbox.walState()).toMatchObject({ oversized: true, warnBytes });
    expect(heard.map((state) => state.oversized)).toEqual([true]);
    expect(lines.filter((line) => line.code === 'GW_ERR_OUTBOX_WAL_GROWING')).toHaveLength(1);
    // Said once per spell, however often it is looked at.
    await appendBatch();
    outbox.walState();
    expect(heard).toHaveLength(1);
    reader.prepare('COMMIT').run();
    reader.close();
    // The next complete checkpoint lets a commit rewind the WAL, which is then cut back to 4 MiB.
    for (let i = 0; i < 20 && outbox.walState()?.oversized; i += 1) await appendBatch();
    expect(outbox.walState()).toMatchObject({ oversized: false });
    expect(heard.map((state) => state.oversized)).toEqual([true, false]);
    expect(lines.some((line) => line.msg === 'outbox WAL back under its bound')).toBe(true);
    outbox.close();
  });

  it("deletes acknowledged events without waiting for another connection's write lock: kept and deleted once it is free", async () => {
    const path = join(tempDir(), 'outbox.db');
    const { logger: recording, lines } = recordingLogger();
    const outbox = open(path, undefined, { logger: recording });
    const stored = await Promise.all([1, 2, 3].map((n) => outbox.append(weighed('lane-1', n))));
    const shell = new Database(path);
    shell.prepare('BEGIN IMMEDIATE').run();
    for (const { seq } of stored) outbox.remove(seq);
    // The removal's turn: with busy_timeout it waited 5 s on the loop (the uplink's acknowledgements
    // and every timer behind it), then failed as a write error.
    await new Promise((resolve) => setImmediate(resolve));
    expect(outbox.depth).toBe(3);
    expect(lines.filter((line) => line.code === 'GW_ERR_OUTBOX_LOCKED' && /acknowledged events are deleted once it is free/.test(line.msg))).toHaveLength(1);
    expect(lines.some((line) => line.msg === 'outbox cannot delete acknowledged events; retrying')).toBe(false);
    // The connection's own wait is back for whatever else runs on it.
    expect(outbox.database.pragma('busy_timeout', { simple: true })).toBe(5000);
    clock.advance(1000);
    expect(outbox.depth).toBe(3);
    shell.prepare('COMMIT').run();
    shell.close();
    clock.advance(1000);
    expect(outbox.depth).toBe(0);
    expect(outbox.readFrom(1, 5)).toEqual([]);
    outbox.close();
  });

  it('closing under a write lock that does not go, waits for it once, not once per batch', async () => {
    const path = join(tempDir(), 'outbox.db');
    const outbox = open(path, undefined, { maxBatch: 2 });
    await outbox.append(weighed('lane-1', 0));
    const shell = new Database(path);
    shell.prepare('BEGIN IMMEDIATE').run();
    // Each batch that tries for the lock reaches its first event's `within` before its insert waits.
    let tries = 0;
    const within = (event: EventDraft): EventDraft => {
      tries += 1;
      return event;
    };
    const outcomes = Array.from({ length: 8 }, (_, n) => outbox.append(weighed('lane-1', n + 1), within).then(() => 'stored', (e: unknown) => (isGatewayError(e) ? e.code : String(e))));
    // busy_timeout (5 s in the gateway) shortened here: what counts is how many batches wait for it.
    outbox.database.pragma('busy_timeout = 0');
    outbox.close();
    expect(await Promise.all(outcomes)).toEqual(Array.from({ length: 8 }, () => 'GW_ERR_OUTBOX_WRITE'));
    // The first batch tried once without waiting (when it filled, before the close), then one wait
    // in the close, not four: 10,000 waiting events were ten waits of 5 s, past systemd's stop timeout.
    expect(tries).toBe(2);
    shell.prepare('ROLLBACK').run();
    shell.close();
  });

  it('rejects an append after close', async () => {
    const outbox = open();
    outbox.close();
    await expect(outbox.append(weighed('lane-1', 1))).rejects.toMatchObject({ code: 'GW_ERR_OUTBOX_CLOSED' });
  });
});
