/**
 * One contract suite for the VMC store, run against SQLite and PostgreSQL (like MQTT.js's
 * abstract store tests): what one dialect does, the other must do the same.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { trsReport } from '../../contract/trs-report.js';
import { crossingRecord, type CrossingRecord } from '../../contract/trs-report.js';
import { vmcStoreKinds } from '../../test/helpers/postgres.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { LATEST_VERSION, migrate } from './migrations.js';
import { openPostgres, openSqlite, type SqlDb, type SqlValue } from './sql-db.js';
import { gapPageStatements, MAX_OPEN_GAPS_PER_POST, VmcStore, type CrossingFilter, type GapPage } from './vmc-store.js';

const NOW = Date.UTC(2026, 10, 26, 12);

const KINDS = vmcStoreKinds('vmc-store');

describe.each(KINDS)('VMC store on $name', (kind) => {
  let spec: string;
  let cleanup: () => Promise<void>;
  let store: VmcStore;

  beforeEach(async () => {
    const made = await kind.make();
    spec = made.spec;
    cleanup = () => made.drop();
    store = await VmcStore.open(spec, NOW);
  });

  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  /** Every page of trsRecordPages, in order. */
  const trsRecords = async (filter: CrossingFilter, pageSize?: number): Promise<CrossingRecord[]> => {
    const records: CrossingRecord[] = [];
    for await (const page of store.trsRecordPages(filter, pageSize)) records.push(...page);
    return records;
  };

  it('migrates once: reopening (or a second instance) finds the latest version and changes nothing', async () => {
    // In turn: two SQLite connections of one process cannot both wait on BEGIN IMMEDIATE (the wait blocks the thread).
    await (await VmcStore.open(spec, NOW + 1)).close();
    await (await VmcStore.open(spec, NOW + 2)).close();
    const db: SqlDb = kind.name === 'postgres' ? openPostgres(spec) : openSqlite(spec.replace(/^sqlite:/, ''));
    try {
      // migrate() answers the version it found: the latest, so it ran nothing.
      expect(await migrate(db, NOW + 3)).toBe(LATEST_VERSION);
      const rows = await db.all<{ version: number; applied_ms: number }>('SELECT version, applied_ms FROM schema_version ORDER BY version');
      // One row per migration, each applied by the first open (NOW), none by a later one.
      expect(rows.map((r) => [Number(r.version), Number(r.applied_ms)])).toEqual(Array.from({ length: LATEST_VERSION }, (_, i) => [i + 1, NOW]));
    } finally {
      await db.close();
    }
  });

  it('refuses an event for its data (not its health) with GW_ERR_VMC_EVENT_UNSTORABLE, and stores nothing of it', async () => {
    const a = new EventMaker('post-a');
    const alarm = a.alarm('GW_ERR_OUTBOX_FULL');
    let details: unknown = 0;
    for (let i = 0; i < 100_000; i += 1) details = [details];
    await expect(store.store([{ ...alarm, data: { ...alarm.data, details: { x: details } } }], 'vmc-1', NOW)).rejects.toMatchObject({ code: 'GW_ERR_VMC_EVENT_UNSTORABLE' });
    const crossing = a.crossing('c1', 20);
    const nul = { ...alarm, id: crossing.id, seq: crossing.seq, data: { ...alarm.data, message: 'outbox\u0000full' } };
    if (kind.name === 'postgres') await expect(store.store([nul], 'vmc-1', NOW)).rejects.toMatchObject({ code: 'GW_ERR_VMC_EVENT_UNSTORABLE' });
    else expect(await store.store([nul], 'vmc-1', NOW)).toEqual({ stored: 1, duplicates: 0 }); // SQLite text holds U+0000
    expect((await store.eventCounts()).total).toBe(kind.name === 'postgres' ? 0 : 1);
    expect(await store.ping()).toBe(true);
  });

  it('stores every event once, by id, and counts the duplicates', async () => {
    const post = new EventMaker('post-a');
    const events = [post.crossing('c1', 25), post.released('c2'), post.crossing('c2', 35)];
    expect(await store.store(events, 'vmc-1', NOW)).toEqual({ stored: 3, duplicates: 0 });
    expect(await store.store([events[1]!, events[2]!], 'vmc-2', NOW)).toEqual({ stored: 0, duplicates: 2 });
    expect(await store.eventCounts()).toEqual({ total: 3, byConsumer: { 'vmc-1': 3 } });
    const crossings = await store.crossings({ limit: 10, offset: 0 });
    expect(crossings.map((c) => c.crossingId).sort()).toEqual(['c1', 'c2']);
    expect(crossings.find((c) => c.crossingId === 'c1')).toMatchObject({ postId: 'post-a', laneId: 'lane-1', direction: 'import', channel: 'green', xray: false, crossingMin: 25, registrationMin: 12.5 });
  });

  it('sums a crossing whose figures are past a year as a year in the volumes, so no sum overflows', async () => {
    const post = new EventMaker('post-a');
    const huge = Array.from({ length: 70 }, (_, i) => post.crossing(`c${i}`, 20, { durations: { registrationSec: null, crossingSec: 1.7e308 } }));
    expect(await store.store(huge, 'vmc-1', NOW)).toEqual({ stored: 70, duplicates: 0 });
    const volumes = await store.volumes({}, 'year', NOW);
    expect(volumes.reduce((n, volume) => n + volume.vehicles, 0)).toBe(70);
    expect(volumes.map((volume) => volume.avgCrossingMin)).toEqual([366 * 24 * 60]);
  });

  it('gives the TRS records `trs report` reads from the same events, filtered by post, time, direction, channel and vehicle type', async () => {
    const a = new EventMaker('post-a');
    const b = new EventMaker('post-b');
    const events = [
      a.crossing('a1', 12.345),
      a.crossing('a2', 47, { direction: 'export', channel: 'red', xray: true, vehicleType: 'van' }),
      a.crossing('a3', 3, { outcome: 'abandoned' }),
      b.crossing('b1', 61, { durations: { registrationSec: null, crossingSec: 3660 } }),
    ];
    await store.store(events, 'vmc-1', NOW);
    const fromEvents = events.map((e) => crossingRecord(JSON.parse(JSON.stringify(e)) as Record<string, unknown>)).filter((r): r is CrossingRecord => r !== null);
    const byId = (records: CrossingRecord[]) => [...records].sort((x, y) => x.id.localeCompare(y.id));
    expect(byId(await trsRecords({}))).toEqual(byId(fromEvents));
    expect(await store.trsReport({}, 10)).toEqual(trsReport(fromEvents, 10));
    expect((await trsRecords({ posts: ['post-a'] })).map((r) => r.id).sort()).toEqual([events[0]!.id, events[1]!.id].sort());
    expect((await trsRecords({ direction: 'export' })).map((r) => r.id)).toEqual([events[1]!.id]);
    expect((await trsRecords({ channel: 'green', posts: ['post-b'] })).map((r) => r.id)).toEqual([events[3]!.id]);
    expect((await trsRecords({ vehicleType: 'van' })).map((r) => r.id)).toEqual([events[1]!.id]);
    expect((await trsRecords({ vehicleType: 'truck', posts: ['post-a'] })).map((r) => r.id)).toEqual([events[0]!.id]);
    expect(await trsRecords({ vehicleType: 'bus' })).toEqual([]);
    expect((await store.crossings({ vehicleType: 'van', limit: 10, offset: 0 })).map((c) => [c.crossingId, c.vehicleType])).toEqual([['a2', 'van']]);
    const secondTime = Date.parse(events[1]!.time);
    expect((await trsRecords({ fromMs: secondTime, toMs: secondTime + 1 })).map((r) => r.id)).toEqual([events[1]!.id]);
  });

  it('reads the TRS records a page at a time in (completion, event id) order, ties across a page boundary included', async () => {
    // Crossings of one maker share its clock's time: 9 ties at T, then 7 at T + 1 min, of two posts.
    const clock = new ManualClock(NOW - 3_600_000);
    const a = new EventMaker('post-a', clock);
    const b = new EventMaker('post-b', clock);
    const events = [...Array.from({ length: 9 }, (_, i) => (i % 3 ? a : b).crossing(`t${i}`, 5 + i))];
    clock.advance(60_000);
    events.push(...Array.from({ length: 7 }, (_, i) => a.crossing(`u${i}`, 40 - i, { channel: i % 2 ? 'red' : 'green' })));
    await store.store(events, 'vmc-1', NOW);
    const pages: CrossingRecord[][] = [];
    for await (const page of store.trsRecordPages({}, 4)) pages.push(page);
    expect(pages.map((page) => page.length)).toEqual([4, 4, 4, 4]);
    const time = new Map(events.map((e) => [e.id, Date.parse(e.time)]));
    // The database's own order of the ids among ties (its collation): what the keyset compares with.
    const ordered = (await store.crossings({ limit: 100, offset: 0 })).map((c) => c.eventId);
    const keys = pages.flat().map((r) => r.id);
    expect(new Set(keys).size).toBe(events.length);
    expect(keys.map((id) => time.get(id))).toEqual([...keys.map((id) => time.get(id))].sort((x, y) => x! - y!));
    for (const t of new Set(time.values())) {
      const ids = (ids: string[]) => ids.filter((id) => time.get(id) === t);
      expect(ids(keys)).toEqual(ids(ordered));
    }
    for (const size of [1, 3, 9, 16, 17]) expect(await trsRecords({}, size)).toEqual(pages.flat());
    expect((await trsRecords({ posts: ['post-b'] }, 2)).map((r) => r.id).sort()).toEqual(events.slice(0, 9).filter((_, i) => i % 3 === 0).map((e) => e.id).sort());
    expect(await store.trsReport({ channel: 'red' }, 10, 2)).toEqual(trsReport(pages.flat().filter((r) => r.channel === 'red'), 10));
    await expect(trsRecords({}, 0)).rejects.toThrow('page size must be a whole number > 0');
    // An asker gone: no page read after its signal aborts, and its report rejects with the reason.
    const asker = new AbortController();
    const read: CrossingRecord[][] = [];
    const reading = (async () => {
      for await (const page of store.trsRecordPages({}, 4, asker.signal)) {
        read.push(page);
        asker.abort(new Error('gone'));
      }
    })();
    await expect(reading).rejects.toThrow('gone');
    expect(read).toEqual(pages.slice(0, 1));
    await expect(store.trsReport({}, 10, 4, asker.signal)).rejects.toThrow('gone');
  });

  it(`opens at most ${MAX_OPEN_GAPS_PER_POST} gaps for a post, the holes past them in one, and closes them all as the seqs arrive`, async () => {
    const a = new EventMaker('post-a');
    const events = Array.from({ length: 600 }, () => a.deviceStatus('cam-1', 'up'));
    // Every other seq withheld: 299 holes (2, 4 … 600 stored; the first seq stored starts the run).
    const [odd, even] = [events.filter((e) => e.seq % 2 === 1), events.filter((e) => e.seq % 2 === 0)];
    await store.store(even, 'vmc-1', NOW);
    const scan = await store.scanGaps(NOW + 6000, 5000);
    expect(scan.opened).toHaveLength(MAX_OPEN_GAPS_PER_POST);
    const open = await store.gaps({ open: true });
    expect(open).toHaveLength(MAX_OPEN_GAPS_PER_POST);
    expect(open.reduce((sum, gap) => sum + gap.missing, 0)).toBe(299);
    expect(open.at(-1)).toMatchObject({ firstSeq: 2 * MAX_OPEN_GAPS_PER_POST + 1, lastSeq: 599, missing: 299 - (MAX_OPEN_GAPS_PER_POST - 1) });
    // The first of them by post and seq, when a limit is given (GET /api/gaps).
    expect(await store.gaps({ open: true, limit: 3 })).toEqual(open.slice(0, 3));
    // More holes with no room left widen the newest gap.
    const later = Array.from({ length: 4 }, () => a.deviceStatus('cam-1', 'up'));
    await store.store([later[1]!, later[3]!], 'vmc-1', NOW + 7000);
    await store.scanGaps(NOW + 13_000, 5000);
    expect(await store.gaps({ open: true })).toHaveLength(MAX_OPEN_GAPS_PER_POST);
    expect((await store.gaps({ open: true })).at(-1)).toMatchObject({ lastSeq: 603, missing: 299 - (MAX_OPEN_GAPS_PER_POST - 1) + 2 });
    // Every withheld seq arrives: nothing stays open.
    await store.store([...odd.slice(1), later[0]!, later[2]!], 'vmc-1', NOW + 14_000);
    await store.scanGaps(NOW + 20_000, 5000);
    expect(await store.gaps({ open: true })).toEqual([]);
  });

  it('lets an event stamped far in the future count as seen now: its post and device are not pinned to it', async () => {
    const a = new EventMaker('post-a');
    const future = { ...a.deviceStatus('cam-1', 'down'), time: '9999-12-31T00:00:00.000Z' };
    const later = a.deviceStatus('cam-1', 'up');
    const laterMs = Date.parse(later.time);
    await store.store([future], 'vmc-1', laterMs - 1000);
    expect((await store.posts())[0]?.lastSeen).toBe(new Date(laterMs - 1000).toISOString());
    await store.store([later], 'vmc-1', laterMs);
    expect((await store.posts())[0]).toMatchObject({ lastSeen: later.time, devices: [{ deviceId: 'cam-1', state: 'up' }] });
  });

  it('detects seq gaps per gateway after the grace time, and closes them as late events arrive', async () => {
    const a = new EventMaker('post-a');
    const b = new EventMaker('post-b');
    const aEvents = Array.from({ length: 10 }, (_, i) => a.crossing(`a${i}`, 10 + i));
    const bEvents = Array.from({ length: 4 }, (_, i) => b.crossing(`b${i}`, 10 + i));
    const missing = new Set([3, 4, 5, 8]); // seqs of post-a withheld
    await store.store(aEvents.filter((e) => !missing.has(e.seq)), 'vmc-1', NOW);
    await store.store(bEvents, 'vmc-1', NOW);
    // Within the grace time nothing is reported: another instance may still be storing them.
    expect(await store.scanGaps(NOW + 1000, 5000)).toEqual({ opened: [], closed: [], restarts: [] });
    const first = await store.scanGaps(NOW + 6000, 5000);
    expect(first.opened.map((g) => [g.postId, g.firstSeq, g.lastSeq, g.missing])).toEqual([
      ['post-a', 3, 5, 3],
      ['post-a', 8, 8, 1],
    ]);
    expect(first.closed).toEqual([]);
    expect((await store.posts()).map((p) => [p.postId, p.openGaps])).toEqual([
      ['post-a', 2],
      ['post-b', 0],
    ]);
    // A rescan finds nothing new.
    expect(await store.scanGaps(NOW + 7000, 5000)).toEqual({ opened: [], closed: [], restarts: [] });
    // seq 4 and 8 arrive late: one gap shrinks, the other closes.
    await store.store([aEvents[3]!, aEvents[7]!], 'vmc-2', NOW + 8000);
    const second = await store.scanGaps(NOW + 9000, 5000);
    expect(second.opened).toEqual([]);
    expect(second.closed.map((g) => [g.firstSeq, g.lastSeq, g.missing, g.closedAt])).toEqual([[8, 8, 0, new Date(NOW + 9000).toISOString()]]);
    expect((await store.gaps({ open: true })).map((g) => [g.firstSeq, g.lastSeq, g.missing])).toEqual([[3, 5, 2]]); // 4 arrived: the middle
    await store.store([aEvents[2]!], 'vmc-1', NOW + 9500); // seq 3: the gap shrinks to 5
    await store.scanGaps(NOW + 9600, 5000);
    expect((await store.gaps({ open: true })).map((g) => [g.firstSeq, g.lastSeq, g.missing])).toEqual([[5, 5, 1]]);
    await store.store([aEvents[4]!], 'vmc-1', NOW + 10_000);
    expect((await store.scanGaps(NOW + 11_000, 5000)).closed.map((g) => g.firstSeq)).toEqual([5]);
    expect(await store.gaps({ open: true })).toEqual([]);
    expect((await store.gaps({ posts: ['post-a'] })).length).toBe(2);
  });

  it('reads a page of gaps in order from an index, never by sorting the gaps: the plan of each page either database makes', async () => {
    const db: SqlDb = kind.name === 'postgres' ? openPostgres(spec) : openSqlite(spec.replace(/^sqlite:/, ''));
    const after = { postId: 'post-a', firstSeq: 10, id: 3 };
    // Each page, and the index that gives its order: the open gaps' own for pages of open gaps only.
    const pages: [GapPage, string][] = [
      [{ limit: 51 }, 'gaps_by_post_seq'],
      [{ limit: 51, after }, 'gaps_by_post_seq'],
      [{ open: false, limit: 51, after }, 'gaps_by_post_seq'],
      [{ posts: ['post-a'], limit: 51, after }, 'gaps_by_post_seq'],
      [{ posts: ['post-a', 'post-b'], limit: 51, after }, 'gaps_by_post_seq'],
      [{ posts: ['post-b', 'post-a', 'post-0'], limit: 51, after }, 'gaps_by_post_seq'],
      [{ open: true, limit: 51 }, 'gaps_open'],
      [{ open: true, limit: 51, after }, 'gaps_open'],
      [{ posts: ['post-a'], open: true, limit: 51, after }, 'gaps_open'],
    ];
    /** The plan's steps as text: SQLite's EXPLAIN QUERY PLAN lines, PostgreSQL's node types, indexes and index conditions. */
    const planOf = async ({ sql, params: before }: { sql: string; params: SqlValue[] }, limit: number | undefined): Promise<string[]> => {
      const params = limit === undefined ? before : [...before, limit];
      if (db.dialect === 'sqlite') return (await db.all<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, params)).map((row) => row.detail);
      // On a test's few rows PostgreSQL would scan and sort whatever the indexes: with both priced
      // out, a plan sorts only when no index can give the order (this asks whether one can, not
      // what PostgreSQL picks on a store's statistics: that is bench/vmc-gaps-bench.ts's).
      return db.transaction(async (tx) => {
        await tx.run('SET LOCAL enable_sort = off');
        await tx.run('SET LOCAL enable_seqscan = off');
        const [row] = await tx.all<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params);
        const types: string[] = [];
        const walk = (node: { 'Node Type': string; 'Index Name'?: string; 'Index Cond'?: string; Plans?: unknown[] }): void => {
          types.push(`${node['Node Type']}${node['Index Name'] ? ` ${node['Index Name']}` : ''}${node['Index Cond'] ? ` ${node['Index Cond']}` : ''}`);
          for (const child of node.Plans ?? []) walk(child as typeof node);
        };
        walk((row?.['QUERY PLAN'] as { Plan: Parameters<typeof walk>[0] }[])[0]!.Plan);
        return types;
      });
    };
    try {
      for (const [page, index] of pages) {
        for (const statement of gapPageStatements(page, db.dialect)) {
          const plan = (await planOf(statement, page.limit)).join(' | ');
          expect(plan, JSON.stringify(page)).not.toMatch(/TEMP B-TREE|Sort/);
          expect(plan, JSON.stringify(page)).toContain(index);
        }
      }
      // With posts named, the cursor's post is read from the cursor: the index's range starts at
      // its (first seq, id), not at the post's first gap.
      const [fromCursor] = gapPageStatements({ posts: ['post-a', 'post-b'], limit: 51, after }, db.dialect);
      expect((await planOf(fromCursor!, 51)).join(' | ')).toMatch(db.dialect === 'sqlite' ? /\(post_id=\? AND first_seq>\?\)/ : /\(ROW\(first_seq, id\) > ROW\(/);
    } finally {
      await db.close();
    }
  });

  it("reads no gap of a post named before the cursor's: SQLite is not asked for them, PostgreSQL skips them by its own order", () => {
    const after = { postId: 'post-b', firstSeq: 10, id: 3 };
    const statements = gapPageStatements({ posts: ['post-c', 'post-a', 'post-b', 'post-0'], limit: 51, after }, kind.name === 'postgres' ? 'postgres' : 'sqlite');
    expect(statements.map((statement) => statement.params)).toEqual([
      ['post-b', 10, 3],
      kind.name === 'postgres' ? ['post-c', 'post-a', 'post-0', 'post-b'] : ['post-c', 'post-b'],
    ]);
  });

  it("detects a gateway's seq restart, records it, and scans the new run from its first seq", async () => {
    const start = Date.UTC(2026, 10, 26, 6);
    const old = new EventMaker('post-a', new ManualClock(start));
    const oldRun = Array.from({ length: 10 }, (_, i) => old.crossing(`o${i}`, 10));
    await store.store(oldRun.filter((e) => e.seq !== 6), 'vmc-1', NOW);
    expect((await store.scanGaps(NOW + 6000, 5000)).opened.map((g) => [g.firstSeq, g.lastSeq])).toEqual([[6, 6]]);
    // A late event of the same run, even one a clock stepped back made newer than the top, is no restart.
    const stepped = { ...old.crossing('o10', 10), seq: 9, id: '0190c0de-0000-7000-8000-000000000009' };
    stepped.time = new Date(Date.parse(oldRun[9]!.time) + 500).toISOString();
    await store.store([stepped], 'vmc-1', NOW + 6500);
    expect((await store.scanGaps(NOW + 12_000, 5000)).restarts).toEqual([]);
    // The gateway's outbox is replaced an hour later: seq starts again at 1 (seq 3 not yet here).
    const fresh = new EventMaker('post-a', new ManualClock(start + 3_600_000));
    const newRun = Array.from({ length: 4 }, (_, i) => fresh.crossing(`n${i}`, 10));
    await store.store(newRun.filter((e) => e.seq !== 3), 'vmc-1', NOW + 13_000);
    const found = await store.scanGaps(NOW + 20_000, 5000);
    expect(found.restarts.map((g) => [g.kind, g.postId, g.firstSeq, g.lastSeq, g.missing, g.closedAt])).toEqual([['restart', 'post-a', 1, 10, 0, new Date(NOW + 20_000).toISOString()]]);
    // The new run is scanned from its start: seq 3 is its gap (the old run's seq 3 does not fill it).
    expect(found.opened.map((g) => [g.kind, g.firstSeq, g.lastSeq, g.missing])).toEqual([['missing', 3, 3, 1]]);
    // The old run's open gap is closed as it stood (still 1 missing): those events will not come.
    expect((await store.gaps({ posts: ['post-a'] })).map((g) => [g.kind, g.firstSeq, g.lastSeq, g.missing, g.closedAt !== null])).toEqual([
      ['restart', 1, 10, 0, true],
      ['missing', 3, 3, 1, false],
      ['missing', 6, 6, 1, true],
    ]);
    expect((await store.posts())[0]).toMatchObject({ lastSeq: 4, openGaps: 1, lastSeqRestart: { at: new Date(NOW + 20_000).toISOString(), firstSeq: 1, previousSeq: 10 } });
    // The old run's late seq 6 changes nothing of the new run; the new run's seq 3 closes its gap.
    await store.store([oldRun[5]!, newRun[2]!], 'vmc-1', NOW + 21_000);
    const later = await store.scanGaps(NOW + 27_000, 5000);
    expect(later.restarts).toEqual([]);
    expect(later.closed.map((g) => [g.firstSeq, g.missing])).toEqual([[3, 0]]);
    expect(await store.gaps({ open: true })).toEqual([]);
    // And the new run goes on being watched: seq 6 of it missing opens a gap.
    await store.store([fresh.crossing('n4', 10), { ...fresh.crossing('n5', 10), seq: 7 }], 'vmc-1', NOW + 28_000);
    expect((await store.scanGaps(NOW + 34_000, 5000)).opened.map((g) => [g.firstSeq, g.lastSeq])).toEqual([[6, 6]]);
  });

  it('counts crossings per year, month and day, with the change against the year before', async () => {
    const at = (iso: string) => new EventMaker('post-a', new ManualClock(Date.parse(iso)));
    const events = [
      at('2025-03-10T10:00:00Z').crossing('x1', 30),
      at('2025-03-20T23:59:00Z').crossing('x2', 50, { channel: 'red', xray: true }),
      at('2026-03-05T00:00:10Z').crossing('x3', 40, { direction: 'export' }),
      at('2026-03-06T12:00:00Z').crossing('x4', 60),
      at('2026-03-07T12:00:00Z').crossing('x5', 80, { durations: { registrationSec: null, crossingSec: 4800 } }),
      at('2026-04-01T00:00:00Z').crossing('x6', 10),
    ];
    await store.store(events, 'vmc-1', NOW);
    expect(await store.volumes({}, 'year', NOW)).toEqual([
      { period: '2025', vehicles: 2, byDirection: { import: 2 }, byChannel: { green: 1, red: 1 }, xrayShare: 0.5, avgRegistrationMin: 20, avgCrossingMin: 40, changeVsPreviousYear: null },
      { period: '2026', vehicles: 4, byDirection: { export: 1, import: 3 }, byChannel: { green: 4 }, xrayShare: 0, avgRegistrationMin: 18.33, avgCrossingMin: 47.5, changeVsPreviousYear: 1 },
    ]);
    expect((await store.volumes({ posts: ['post-a'] }, 'month', NOW)).map((v) => [v.period, v.vehicles, v.changeVsPreviousYear])).toEqual([
      ['2025-03', 2, null],
      ['2026-03', 3, 0.5],
      ['2026-04', 1, null],
    ]);
    expect((await store.volumes({ direction: 'import', fromMs: Date.parse('2026-01-01') }, 'day', NOW)).map((v) => v.period)).toEqual(['2026-03-06', '2026-03-07', '2026-04-01']);
    // Buses only: the year-over-year change is the buses' own.
    await store.store([at('2025-05-01T08:00:00Z').crossing('y1', 20, { vehicleType: 'bus' }), at('2026-05-01T08:00:00Z').crossing('y2', 20, { vehicleType: 'bus' }), at('2026-05-02T08:00:00Z').crossing('y3', 20, { vehicleType: 'bus' })], 'vmc-1', NOW);
    expect((await store.volumes({ vehicleType: 'bus' }, 'year', NOW)).map((v) => [v.period, v.vehicles, v.changeVsPreviousYear])).toEqual([
      ['2025', 1, null],
      ['2026', 2, 1],
    ]);
    expect((await store.volumes({}, 'year', NOW)).map((v) => v.vehicles)).toEqual([3, 6]);
  });

  it('compares a year, month or day not yet over to date: its part up to now against the same dates and time a year before', async () => {
    const now = Date.UTC(2026, 10, 29, 12);
    const crossings = (iso: string, n: number, options: { xray?: boolean } = {}) => {
      const maker = new EventMaker('post-a', new ManualClock(Date.parse(iso)));
      return Array.from({ length: n }, (_, i) => maker.crossing(`${iso}-${i}`, 30, { xray: options.xray === true && i === 0 }));
    };
    await store.store(
      [
        ...crossings('2025-11-10T08:00:00Z', 2, { xray: true }),
        ...crossings('2025-11-29T08:00:00Z', 1), // the same day a year before, before 12:00: compared
        ...crossings('2025-11-29T18:00:00Z', 2), // after 12:00 a year before: not yet, this year
        ...crossings('2025-11-30T10:00:00Z', 1),
        ...crossings('2025-12-15T10:00:00Z', 3),
        ...crossings('2026-11-05T10:00:00Z', 3),
        ...crossings('2026-11-29T09:00:00Z', 1),
        ...crossings('2026-11-29T20:00:00Z', 1), // stored, but after now (a clock ahead, the loader's spread day)
        ...crossings('2026-11-30T01:00:00Z', 1),
      ],
      'vmc-1',
      now,
    );
    const changes = async (unit: 'year' | 'month' | 'day') => (await store.volumes({}, unit, now)).map((v) => [v.period, v.vehicles, v.changeVsPreviousYear]);
    // 2026 to 12:00 on 29 November (4) against 2025 to 12:00 on 29 November (3): not 6 against the whole of 2025's 9.
    expect(await changes('year')).toEqual([
      ['2025', 9, null],
      ['2026', 6, 0.333333],
    ]);
    expect(await changes('month')).toEqual([
      ['2025-11', 6, null],
      ['2025-12', 3, null],
      ['2026-11', 6, 0.333333],
    ]);
    // Today so far (1) against the same day a year before up to the same time (1); tomorrow has not happened.
    expect((await changes('day')).slice(-3)).toEqual([
      ['2026-11-05', 3, null],
      ['2026-11-29', 2, 0],
      ['2026-11-30', 1, null],
    ]);
    // The same question asked as of a later time moves the cut with it.
    expect((await store.volumes({}, 'year', Date.UTC(2026, 10, 29, 19))).map((v) => v.changeVsPreviousYear)).toEqual([null, -0.2]);
  });

  it('rounds its fractions in decimal: no binary noise in the JSON', async () => {
    const crossings = (iso: string, n: number) => {
      const maker = new EventMaker('post-a', new ManualClock(Date.parse(iso)));
      return Array.from({ length: n }, (_, i) => maker.crossing(`${iso}-${i}`, 30, { xray: i === 0 }));
    };
    await store.store([...crossings('2024-03-10T10:00:00Z', 7), ...crossings('2025-03-10T10:00:00Z', 9)], 'vmc-1', NOW);
    // 1 of 9 X-rayed and 9 against 7 (before: 0.11111099999999999 and 0.28571399999999997).
    const [, year] = await store.volumes({}, 'year', NOW);
    expect(JSON.stringify([year!.xrayShare, year!.changeVsPreviousYear])).toBe('[0.111111,0.285714]');
  });

  it('gives the change against the year before whatever window is asked for', async () => {
    const now = Date.UTC(2026, 10, 29, 12);
    const crossings = (iso: string, n: number) => {
      const maker = new EventMaker('post-a', new ManualClock(Date.parse(iso)));
      return Array.from({ length: n }, (_, i) => maker.crossing(`${iso}-${i}`, 30));
    };
    await store.store(
      [
        ...crossings('2024-01-10T10:00:00Z', 2),
        ...crossings('2024-02-10T10:00:00Z', 1),
        ...crossings('2024-02-20T10:00:00Z', 2),
        ...crossings('2024-02-29T10:00:00Z', 1),
        ...crossings('2024-03-05T10:00:00Z', 4),
        ...crossings('2025-01-10T10:00:00Z', 3),
        ...crossings('2025-02-10T10:00:00Z', 1),
        ...crossings('2025-02-20T10:00:00Z', 1),
        ...crossings('2025-02-28T10:00:00Z', 1),
        ...crossings('2025-03-05T10:00:00Z', 2),
      ],
      'vmc-1',
      now,
    );
    const months = async (filter: { fromMs?: number; toMs?: number }) =>
      (await store.volumes({ posts: ['post-a'], ...filter }, 'month', now)).filter((v) => v.period.startsWith('2025')).map((v) => [v.period, v.vehicles, v.changeVsPreviousYear]);
    const whole = [
      ['2025-01', 3, 0.5],
      ['2025-02', 3, -0.25],
      ['2025-03', 2, -0.5],
    ];
    expect(await months({})).toEqual(whole);
    expect(await months({ fromMs: Date.UTC(2025, 0, 1), toMs: Date.UTC(2025, 3, 1) })).toEqual(whole);
    // A window from 15 February: its part of February (2) against 15–29 February 2024 (3).
    expect(await months({ fromMs: Date.UTC(2025, 1, 15), toMs: Date.UTC(2025, 3, 1) })).toEqual([
      ['2025-02', 2, -0.333333],
      ['2025-03', 2, -0.5],
    ]);
    // 28 February 2025's year before runs to 1 March 2024: the leap day goes with it.
    const days = await store.volumes({ fromMs: Date.UTC(2025, 1, 28), toMs: Date.UTC(2025, 2, 1) }, 'day', now);
    expect(days.map((v) => [v.period, v.changeVsPreviousYear])).toEqual([['2025-02-28', 0]]);
  });

  it('keeps the newest device status, lanes, alarms and the gateway status of each post', async () => {
    const a = new EventMaker('post-a');
    const down = a.deviceStatus('cam-1', 'down');
    const up = a.deviceStatus('cam-1', 'up');
    const other = a.deviceStatus('scale-2', 'degraded', 'lane-2');
    const alarm = a.alarm('GW_ERR_OUTBOX_FULL');
    await store.store([up, other, alarm], 'vmc-1', NOW);
    await store.store([down], 'vmc-1', NOW); // a replay of an older report changes nothing
    await store.recordStatus({ postId: 'post-a', state: 'online', reason: null, gatewayVersion: '0.1.0', timeMs: NOW });
    await store.recordStatus({ postId: 'post-a', state: 'offline', reason: 'old', gatewayVersion: '0.1.0', timeMs: NOW - 1 });
    const [post] = await store.posts();
    expect(post).toMatchObject({
      postId: 'post-a',
      lastSeq: 4,
      status: { state: 'online', reason: null, gatewayVersion: '0.1.0' },
      lanes: [{ laneId: 'lane-1' }, { laneId: 'lane-2' }],
      devices: [
        { deviceId: 'cam-1', laneId: 'lane-1', state: 'up', lastError: null },
        { deviceId: 'scale-2', laneId: 'lane-2', state: 'degraded', lastError: 'timeout' },
      ],
    });
    expect(await store.alarms({ limit: 10 })).toEqual([{ eventId: alarm.id, postId: 'post-a', laneId: 'post', alarm: 'GW_ERR_OUTBOX_FULL', severity: 'warning', message: 'GW_ERR_OUTBOX_FULL', details: { n: 1 }, time: alarm.time }]);
  });

  it("records a post's applied answer over a refusal stored before it, never a refusal over an applied one", async () => {
    await store.commands.recordSent({ commandId: 'cmd-1', kind: 'watchlist.update', version: 1, postIds: ['post-a', 'post-b'], summary: '1 plate(s)', issuedBy: 'user:root', issuedAt: new Date(NOW).toISOString() });
    const progress = async () => (await store.commands.progress())[0];
    // A refusal carrying the genuine command's id (a forgery on post-a's topic) arrives first…
    const forged = new EventMaker('post-a').watchlistAnswer('cmd-1', 1, 'GW_ERR_COMMAND_SIGNATURE');
    await store.store([forged], 'vmc-1', NOW);
    expect(await progress()).toMatchObject({ applied: [], refused: [{ postId: 'post-a', code: 'GW_ERR_COMMAND_SIGNATURE' }], waiting: ['post-b'] });
    // …then post-a's own answer: it applied the command, and the store says so.
    const a = new EventMaker('post-a');
    await store.store([a.watchlistAnswer('cmd-1', 1)], 'vmc-1', NOW);
    expect(await progress()).toMatchObject({ applied: ['post-a'], refused: [], waiting: ['post-b'] });
    // A redelivered refusal is a duplicate, and a new one after the applied changes nothing.
    expect(await store.store([forged], 'vmc-1', NOW)).toEqual({ stored: 0, duplicates: 1 });
    await store.store([new EventMaker('post-a').watchlistAnswer('cmd-1', 1, 'GW_ERR_COMMAND_REPLAY')], 'vmc-1', NOW);
    // post-b applied first: a refusal after it does not undo that either.
    const b = new EventMaker('post-b');
    await store.store([b.watchlistAnswer('cmd-1', 1)], 'vmc-1', NOW);
    await store.store([new EventMaker('post-b').watchlistAnswer('cmd-1', 1, 'GW_ERR_COMMAND_SIGNATURE')], 'vmc-1', NOW);
    expect(await progress()).toMatchObject({ applied: ['post-a', 'post-b'], refused: [], waiting: [] });
  });

  it("lets a command answer stamped far in the future count as seen now: the post's versions are not pinned to it", async () => {
    const a = new EventMaker('post-a', new ManualClock(NOW));
    const first = a.watchlistAnswer('cmd-1', 1);
    await store.store([first], 'vmc-1', Date.parse(first.time));
    // An answer stamped 9999-12-31 (a post's clock far ahead, or a forgery) claiming version 999.
    const ahead = new EventMaker('post-a', new ManualClock(Date.UTC(9999, 11, 30))).watchlistAnswer('cmd-2', 999);
    await store.store([ahead], 'vmc-1', Date.parse(first.time));
    expect((await store.commands.postVersions())[0]).toMatchObject({ watchlistVersion: 999, updatedAt: first.time });
    // The post's next answer replaces it.
    const next = a.watchlistAnswer('cmd-3', 2);
    await store.store([next], 'vmc-1', Date.parse(next.time));
    expect((await store.commands.postVersions())[0]).toMatchObject({ watchlistVersion: 2, updatedAt: next.time });
  });

  it('keeps accounts and sessions; a disabled or expired session is no session', async () => {
    expect(await store.addAccount({ name: 'ana', role: 'analyst', passwordHash: 'h1' }, NOW)).toBe(true);
    expect(await store.addAccount({ name: 'ana', role: 'admin', passwordHash: 'h2' }, NOW)).toBe(false);
    expect(await store.account('ana')).toEqual({ name: 'ana', role: 'analyst', passwordHash: 'h1', disabled: false });
    await store.addSession('t1', 'ana', NOW, NOW + 1000);
    expect(await store.session('t1', NOW + 999)).toEqual({ name: 'ana', role: 'analyst' });
    expect(await store.session('t1', NOW + 1000)).toBeNull();
    await store.deleteSession('t1');
    expect(await store.session('t1', NOW)).toBeNull();
  });
});

describe('VMC store migrations', () => {
  it('refuses a store a newer VMC migrated, and changes nothing in it', async () => {
    const path = join(tempDir('vmc-store-'), 'vmc.db');
    await (await VmcStore.open(`sqlite:${path}`, NOW)).close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)').run(LATEST_VERSION + 1, NOW);
    db.close();
    await expect(VmcStore.open(`sqlite:${path}`, NOW)).rejects.toMatchObject({ code: 'GW_ERR_VMC_STORE_NEWER' });
  });

  it('names the store it could not open, without a password', async () => {
    await expect(VmcStore.open('postgres://vmc:secret@127.0.0.1:1/nowhere', NOW)).rejects.toMatchObject({ code: 'GW_ERR_VMC_STORE', message: expect.not.stringContaining('secret') as unknown });
  });
});
