/**
 * The data routes on their own, with the clock they are given: what "now" is for a period not
 * yet over; the bounds of their answers. (Everything else of them, with authentication, is in
 * vmc-app.test.ts.)
 */
import { get } from 'node:http';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DIRECTIONS } from '../../config/schema.js';
import { CHANNELS } from '../../contract/catalogue.js';
import { crossingRecord, trsReport, type CrossingRecord } from '../../contract/trs-report.js';
import { MAX_ID_LENGTH } from '../../core/identifiers.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { vmcStoreKinds } from '../../test/helpers/postgres.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { VmcStore, type CrossingFilter } from '../store/vmc-store.js';
import { crossingFilter, dataRoutes, DEFAULT_GAPS_LIMIT, MAX_GAPS_LIMIT, MAX_TRS_REPORTS_AT_ONCE, MAX_TRS_REPORTS_WAITING, ReportTurns } from './data-routes.js';

/** A post id at the bound every post id is held to (core/identifiers.ts). */
const LONGEST_POST = 'p'.repeat(MAX_ID_LENGTH);

describe('the VMC data routes', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 6, 30));
  let store: VmcStore;
  let app: FastifyInstance;
  const trsTurns = new ReportTurns(MAX_TRS_REPORTS_AT_ONCE, MAX_TRS_REPORTS_WAITING);

  beforeAll(async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-data-routes-'), 'vmc.db')}`, clock.now());
    const at = (iso: string) => new EventMaker('post-a', new ManualClock(Date.parse(iso)));
    await store.store([at('2025-11-26T05:00:00Z').crossing('p1', 20), at('2025-11-26T07:00:00Z').crossing('p2', 20), at('2026-11-26T06:00:00Z').crossing('c1', 20)], 'vmc-1', clock.now());
    app = Fastify();
    await app.register(dataRoutes, { store, status: () => ({}), clock, trsTurns });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const changes = async (url: string) => (await app.inject({ method: 'GET', url })).json<{ period: string; changeVsPreviousYear: number | null }[]>().map((v) => [v.period, v.changeVsPreviousYear]);

  it('compares the periods not yet over up to the clock’s now, or up to asOf', async () => {
    // 06:30: today's one crossing against last year's one before 06:30.
    expect(await changes('/api/volumes?unit=day')).toEqual([['2025-11-26', null], ['2026-11-26', 0]]);
    expect(await changes('/api/volumes?unit=year')).toEqual([['2025', null], ['2026', 0]]);
    clock.advance(2 * 3_600_000);
    // 08:30: last year's 07:00 crossing is in too.
    expect(await changes('/api/volumes?unit=day')).toEqual([['2025-11-26', null], ['2026-11-26', -0.5]]);
    expect(await changes('/api/volumes?unit=month&asOf=2026-11-26T06:30:00Z')).toEqual([['2025-11', null], ['2026-11', 0]]);
  });

  it('makes a few TRS reports at once, queues a bounded few more, and answers one past them 503 until a turn is free', async () => {
    // The reports being made wait on the test: each is done when the test says so.
    const done: (() => void)[] = [];
    const report = store.trsReport.bind(store);
    const spy = vi.spyOn(store, 'trsReport').mockImplementation(async (...args) => {
      await new Promise<void>((resolve) => done.push(resolve));
      return report(...args);
    });
    try {
      const asked = Array.from({ length: MAX_TRS_REPORTS_AT_ONCE + MAX_TRS_REPORTS_WAITING }, () => app.inject({ method: 'GET', url: '/api/trs' }));
      await vi.waitFor(() => expect([done.length, trsTurns.queued]).toEqual([MAX_TRS_REPORTS_AT_ONCE, MAX_TRS_REPORTS_WAITING]));
      const refused = await app.inject({ method: 'GET', url: '/api/trs' });
      expect([refused.statusCode, refused.headers['retry-after'], refused.json<{ code: string }>().code]).toEqual([503, '1', 'GW_ERR_VMC_TRS_BUSY']);
      // Never more than the turns at once: each one done lets one waiting in.
      for (let answered = 0; answered < asked.length; answered += 1) {
        await vi.waitFor(() => expect(done.length).toBe(Math.min(MAX_TRS_REPORTS_AT_ONCE, asked.length - answered)));
        done.shift()?.();
      }
      expect(new Set((await Promise.all(asked)).map((reply) => reply.statusCode))).toEqual(new Set([200]));
      // Every turn free again: the next report starts at once.
      const last = app.inject({ method: 'GET', url: '/api/trs' });
      await vi.waitFor(() => expect(done).toHaveLength(1));
      done.shift()?.();
      expect((await last).statusCode).toBe(200);
    } finally {
      spy.mockRestore();
    }
  });

  it('gives a client that leaves no more of a turn: its place in the queue, or the rest of its report', async () => {
    const done: (() => void)[] = [];
    const signals: (AbortSignal | undefined)[] = [];
    const outcomes: string[] = [];
    const report = store.trsReport.bind(store);
    const spy = vi.spyOn(store, 'trsReport').mockImplementation(async (...args) => {
      signals.push(args[3]);
      await new Promise<void>((resolve) => done.push(resolve));
      try {
        const made = await report(...args);
        outcomes.push('made');
        return made;
      } catch (error) {
        outcomes.push('stopped');
        throw error;
      }
    });
    // Real sockets: a client leaving is its connection closing, which inject() cannot do.
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const ask = () => {
      const request = get(`${address}/api/trs`, { agent: false });
      const status = new Promise<number | 'gone'>((resolve) => {
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        });
        request.on('error', () => resolve('gone'));
      });
      return { request, status };
    };
    try {
      const clients = Array.from({ length: MAX_TRS_REPORTS_AT_ONCE + MAX_TRS_REPORTS_WAITING }, ask);
      await vi.waitFor(() => expect([done.length, trsTurns.queued]).toEqual([MAX_TRS_REPORTS_AT_ONCE, MAX_TRS_REPORTS_WAITING]));
      // Those waiting leave: their places are free at once, and none of their reports is begun.
      for (const client of clients.slice(MAX_TRS_REPORTS_AT_ONCE)) client.request.destroy();
      await vi.waitFor(() => expect(trsTurns.queued).toBe(0));
      // One being made leaves: its report stops before its next page; the other's is made.
      clients[0]!.request.destroy();
      await vi.waitFor(() => expect(signals[0]?.aborted).toBe(true));
      expect(signals[1]?.aborted).toBe(false);
      done.shift()?.();
      done.shift()?.();
      expect(await clients[1]!.status).toBe(200);
      expect(outcomes).toEqual(['stopped', 'made']);
      expect(spy).toHaveBeenCalledTimes(MAX_TRS_REPORTS_AT_ONCE);
      // Every turn free again: the next report starts at once.
      const next = app.inject({ method: 'GET', url: '/api/trs' });
      await vi.waitFor(() => expect(done).toHaveLength(1));
      done.shift()?.();
      expect((await next).statusCode).toBe(200);
    } finally {
      for (const release of done) release();
      spy.mockRestore();
    }
  });

  it('filters on a post id as long as any post may have, and refuses one longer, as no post can have it', async () => {
    await store.store([new EventMaker(LONGEST_POST, new ManualClock(Date.parse('2026-11-26T06:00:00Z'))).crossing('long-1', 30)], 'vmc-1', clock.now());
    const trs = await app.inject({ method: 'GET', url: `/api/trs?post=${LONGEST_POST}` });
    expect(trs.statusCode).toBe(200);
    expect(trs.json<{ vehicles: number }>().vehicles).toBe(1);
    const crossings = await app.inject({ method: 'GET', url: `/api/crossings?post=post-a,${LONGEST_POST}` });
    expect(crossings.statusCode).toBe(200);
    expect(crossings.body).toContain(LONGEST_POST);
    for (const post of [`${LONGEST_POST}p`, `post-a,${LONGEST_POST}p`, '-post']) expect((await app.inject({ method: 'GET', url: `/api/trs?post=${post}` })).statusCode, post).toBe(400);
    // The most posts a filter takes, each as long as one may be.
    const hundred = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(2, '0')}${'x'.repeat(MAX_ID_LENGTH - 2)}`).join(',');
    expect((await app.inject({ method: 'GET', url: `/api/trs?post=${hundred}` })).statusCode).toBe(200);
  });

  it('lists the first 1,000 gaps unless asked for up to 10,000, and refuses a limit outside 1–10,000', async () => {
    // Six posts that each sent every other seq of 400: 199 open gaps each, 1,194 in all.
    const makers = Array.from({ length: 6 }, (_, k) => new EventMaker(`gap-${k}`, new ManualClock(Date.parse('2026-11-26T06:00:00Z'))));
    const withheld = makers.flatMap((maker) => Array.from({ length: 400 }, () => maker.deviceStatus('cam-1', 'up')).filter((event) => event.seq % 2 === 0));
    await store.store(withheld, 'vmc-1', clock.now());
    await store.scanGaps(clock.now() + 60_000, 1000);
    const gaps = async (query: string) => {
      const reply = await app.inject({ method: 'GET', url: `/api/gaps${query}` });
      expect(reply.statusCode, query).toBe(200);
      return reply.json<{ postId: string; firstSeq: number }[]>();
    };
    const all = await gaps(`?limit=${MAX_GAPS_LIMIT}`);
    expect(all).toHaveLength(6 * 199);
    expect(DEFAULT_GAPS_LIMIT).toBe(1000);
    // By post, then seq: the first of them.
    expect(await gaps('')).toEqual(all.slice(0, 1000));
    expect(await gaps('?limit=2&state=open')).toEqual(all.slice(0, 2));
    expect((await gaps('?post=gap-5&limit=1000')).map((gap) => gap.postId)).toEqual(Array.from({ length: 199 }, () => 'gap-5'));
    for (const limit of ['0', '10001', '-1', '1.5', 'all']) {
      const refused = await app.inject({ method: 'GET', url: `/api/gaps?limit=${limit}` });
      expect(refused.statusCode, limit).toBe(400);
    }
  });
});

const STORES = vmcStoreKinds('vmc-trs-pages');

describe.each(STORES)('/api/trs a page at a time, on $name', ({ make }) => {
  const PAGE = 7;
  const start = Date.UTC(2026, 10, 26, 6);
  let store: VmcStore;
  let drop: () => Promise<void>;
  let app: FastifyInstance;
  let events: ReturnType<EventMaker['crossing']>[];
  const pages: number[] = [];

  beforeAll(async () => {
    const made = await make();
    drop = made.drop;
    store = await VmcStore.open(made.spec, start);
    // Three posts, 150 crossings, several completing in the same millisecond (ties across pages),
    // some never registered, an abandoned one, every direction and channel.
    const clock = new ManualClock(start);
    const makers = ['post-a', 'post-b', 'post-c'].map((post) => new EventMaker(post, clock));
    events = Array.from({ length: 150 }, (_, i) => {
      if (i % 4 === 0) clock.advance(i % 8 === 0 ? 3_600_000 : 1000);
      const minutes = i % 10 === 0 ? 30 : 5 + ((i * 37) % 180) + (i % 3) * 0.25;
      return makers[i % 3]!.crossing(`c${i}`, minutes, {
        direction: DIRECTIONS[i % DIRECTIONS.length]!,
        channel: CHANNELS[(i * 7) % CHANNELS.length]!,
        xray: i % 5 === 0,
        vehicleType: i % 6 === 0 ? 'van' : 'truck',
        durations: { registrationSec: i % 9 === 0 ? null : minutes * 20, crossingSec: minutes * 60 },
        ...(i === 42 ? { outcome: 'abandoned' as const } : {}),
      });
    });
    await store.store(events, 'vmc-1', start);
    const read = store.trsRecordPages.bind(store);
    vi.spyOn(store, 'trsRecordPages').mockImplementation(async function* (filter: CrossingFilter, pageSize?: number) {
      for await (const page of read(filter, pageSize)) {
        pages.push(page.length);
        yield page;
      }
    });
    app = Fastify();
    await app.register(dataRoutes, { store, status: () => ({}), trsPageSize: PAGE });
  });

  afterAll(async () => {
    await app.close();
    await store.close();
    await drop();
  });

  it('answers the JSON that trsReport gives over every selected record at once, reading pages of the size it was given', async () => {
    const records = events.map((e) => crossingRecord(JSON.parse(JSON.stringify(e)) as Record<string, unknown>)).filter((r): r is CrossingRecord => r !== null);
    expect(records).toHaveLength(149);
    const queries = ['', '?interval=1', '?interval=60', '?post=post-b', '?post=post-a,post-c&channel=red', '?direction=export', '?vehicleType=van&interval=7', '?from=2026-11-26T09:00:00Z&to=2026-11-27T12:00:00Z', '?post=nowhere'];
    for (const query of queries) {
      const parameters = Object.fromEntries(new URLSearchParams(query));
      // As the route answered before it read pages: trsReport over all of the store's records in one array.
      const all: CrossingRecord[] = [];
      for await (const page of store.trsRecordPages(crossingFilter(parameters), 1_000_000)) all.push(...page);
      const expected = trsReport(all, Number(parameters.interval ?? 10));
      pages.length = 0;
      const reply = await app.inject({ method: 'GET', url: `/api/trs${query}` });
      expect(reply.statusCode, query).toBe(200);
      expect(reply.body, query).toBe(JSON.stringify(expected));
      // Full pages of PAGE, then the rest (a full last page is followed by an empty read).
      expect(pages, query).toEqual([...Array.from({ length: Math.floor(all.length / PAGE) }, () => PAGE), ...(all.length % PAGE ? [all.length % PAGE] : [])]);
    }
    // Over every crossing, against the events themselves rather than the store.
    const everything = await app.inject({ method: 'GET', url: '/api/trs?interval=5' });
    expect(everything.body).toBe(JSON.stringify(trsReport(records, 5)));
    expect(everything.json<{ vehicles: number }>().vehicles).toBe(149);
  });
});
