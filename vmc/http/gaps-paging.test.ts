/**
 * GET /api/gaps page by page, on each store (PostgreSQL the one a country runs): seven posts at
 * MAX_OPEN_GAPS_PER_POST open gaps each are more than the default limit, and the cursor of each
 * page's `Link: <…>; rel="next"` reaches every gap exactly once, by post, first seq and id (a
 * closed gap of an old run and an open one of the new run share a first seq); `X-Total-Count` says
 * how many the filters select; a malformed cursor is refused.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { analystApp, followNextLinks, STORE_KINDS } from '../../test/helpers/paging.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { MAX_OPEN_GAPS_PER_POST, VmcStore, type GapRow } from '../store/vmc-store.js';
import { DEFAULT_GAPS_LIMIT } from './data-routes.js';

const NOW = Date.UTC(2026, 10, 27, 12);
const START = Date.UTC(2026, 10, 26, 6);
/** Posts at the bound: more gaps than one default page holds. */
const FULL_POSTS = ['post-a', 'post-b', 'post-c', 'post-d', 'post-e', 'post-f', 'post-g'];
/** A post whose gateway restarted its seq: its old run's gap at seq 3 (closed) and its new run's (open) tie. */
const RESTARTED = 'post-z';

describe.each(STORE_KINDS)('GET /api/gaps paging on $name', (kind) => {
  let drop: () => Promise<void>;
  let store: VmcStore;
  let app: FastifyInstance;
  let get: (url: string) => Promise<LightMyRequestResponse>;
  let all: GapRow[];

  beforeAll(async () => {
    const made = await kind.make();
    drop = made.drop;
    store = await VmcStore.open(made.spec, NOW);
    // Every other seq withheld: each post fills its open gaps to the bound.
    for (const post of FULL_POSTS) {
      const maker = new EventMaker(post, new ManualClock(START));
      const events = Array.from({ length: 2 * MAX_OPEN_GAPS_PER_POST + 2 }, () => maker.deviceStatus('cam-1', 'up'));
      await store.store(events.filter((e) => e.seq % 2 === 0), 'vmc-1', NOW);
    }
    const old = new EventMaker(RESTARTED, new ManualClock(START));
    await store.store(Array.from({ length: 10 }, (_, i) => old.crossing(`o${i}`, 10)).filter((e) => e.seq !== 3), 'vmc-1', NOW);
    await store.scanGaps(NOW + 6000, 5000);
    const fresh = new EventMaker(RESTARTED, new ManualClock(START + 3_600_000));
    await store.store(Array.from({ length: 5 }, (_, i) => fresh.crossing(`n${i}`, 10)).filter((e) => e.seq !== 3), 'vmc-1', NOW + 7000);
    await store.scanGaps(NOW + 13_000, 5000);
    all = await store.gaps();
    ({ app, get } = await analystApp(store, NOW));
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    await drop?.();
  });

  /** Follows each page's next link from `url`: the gaps in the order read, the pages, the links and each page's total. */
  async function walk(url: string): Promise<{ gaps: GapRow[]; pages: number; links: string[]; totals: string[] }> {
    const { replies, links } = await followNextLinks(get, url, all.length + 1);
    return { gaps: replies.flatMap((reply) => reply.json<GapRow[]>()), pages: replies.length, links, totals: replies.map((reply) => String(reply.headers['x-total-count'])) };
  }

  const key = (g: GapRow): string => `${g.postId}/${g.id}`;
  /** By post, then first seq, then id: the order every page must add up to. */
  const ordered = (gaps: GapRow[]): string[] =>
    [...gaps].sort((x, y) => (x.postId < y.postId ? -1 : x.postId > y.postId ? 1 : x.firstSeq - y.firstSeq || x.id - y.id)).map(key);

  it('has more open gaps than one default page, and a first seq two gaps of one post share', () => {
    const open = all.filter((g) => g.closedAt === null);
    expect(open.length).toBe(FULL_POSTS.length * MAX_OPEN_GAPS_PER_POST + 1);
    expect(open.length).toBeGreaterThan(DEFAULT_GAPS_LIMIT);
    expect(all.filter((g) => g.postId === RESTARTED && g.firstSeq === 3).map((g) => g.closedAt === null)).toEqual([false, true]);
  });

  it('answers the first page with the total and a next link where the default limit cuts, not silently', async () => {
    const reply = await get('/api/gaps?state=open');
    const open = all.filter((g) => g.closedAt === null);
    expect(reply.json<GapRow[]>().map(key)).toEqual(ordered(open).slice(0, DEFAULT_GAPS_LIMIT));
    expect(reply.headers['x-total-count']).toBe(String(open.length));
    // Five posts fill the page; post-f, post-g and post-z are on the pages the link leads to.
    expect(new Set(reply.json<GapRow[]>().map((g) => g.postId))).toEqual(new Set(FULL_POSTS.slice(0, 5)));
    expect(reply.headers.link).toMatch(/^<\/api\/gaps\?state=open&after=post-e_\d+_\d+>; rel="next"$/);
  });

  it('reaches every gap exactly once, in order, however the pages cut through posts and ties', async () => {
    const expected = ordered(all);
    expect(new Set(expected).size).toBe(all.length);
    for (const limit of [1, 7, 199, 200, DEFAULT_GAPS_LIMIT, all.length, all.length + 1]) {
      // One row per page is many requests: walk the restarted post alone at limit 1.
      const url = limit === 1 ? `/api/gaps?post=${RESTARTED}&limit=1` : `/api/gaps?limit=${limit}`;
      const want = limit === 1 ? ordered(all.filter((g) => g.postId === RESTARTED)) : expected;
      const { gaps, pages, totals } = await walk(url);
      expect(gaps.map(key), `limit ${limit}`).toEqual(want);
      expect(pages, `limit ${limit}`).toBe(Math.max(1, Math.ceil(want.length / limit)));
      expect(new Set(totals), `limit ${limit}`).toEqual(new Set([String(want.length)]));
    }
    // Posts named (out of order): a page is read from the cursor in its post, then the posts after it.
    const named = ['post-g', 'post-b', RESTARTED];
    for (const limit of [1, 7, 199]) {
      const { gaps } = await walk(`/api/gaps?post=${named.join(',')}&limit=${limit}`);
      expect(gaps.map(key), `posts named, limit ${limit}`).toEqual(ordered(all.filter((g) => named.includes(g.postId))));
    }
  });

  it('keeps the filters and the limit in the next link', async () => {
    const posts = ['post-b', 'post-g', RESTARTED];
    const { gaps, links, totals } = await walk(`/api/gaps?post=${posts.join(',')}&state=open&limit=150`);
    const want = all.filter((g) => posts.includes(g.postId) && g.closedAt === null);
    expect(gaps.map(key)).toEqual(ordered(want));
    expect(totals.at(-1)).toBe(String(want.length));
    expect(links.length).toBeGreaterThan(1);
    for (const link of links) {
      const url = new URL(/^<([^>]+)>/.exec(link)?.[1] ?? '', 'http://vmc');
      expect(url.pathname).toBe('/api/gaps');
      expect(Object.fromEntries(url.searchParams)).toEqual({ post: posts.join(','), state: 'open', limit: '150', after: expect.stringMatching(/^post-[a-z]_\d+_\d+$/) as unknown });
    }
  });

  it('refuses a malformed cursor with 400 and its code', async () => {
    const first = all[0] as GapRow;
    const cursor = `${first.postId}_${first.firstSeq}_${first.id}`;
    expect((await get(`/api/gaps?after=${cursor}`)).statusCode).toBe(200);
    // A cursor past the last post: an empty page, no link.
    const past = await get('/api/gaps?after=zzz_0_0');
    expect([past.statusCode, past.json(), past.headers.link]).toEqual([200, [], undefined]);
    for (const after of ['', 'abc', cursor.replace(/_\d+$/, ''), `_${first.firstSeq}_${first.id}`, `Post-A_1_1`, `post_a_1_1`, `post-a_-1_1`, `post-a_1.5_1`, `post-a_1e3_1`, `post-a_1_${'9'.repeat(17)}`, `post-a_${'9'.repeat(16)}_1`, `${cursor}%27--`, `${'a'.repeat(64)}_1_1`]) {
      const reply = await get(`/api/gaps?after=${encodeURIComponent(after)}`);
      expect(reply.statusCode, after).toBe(400);
      expect(reply.json(), after).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: expect.stringContaining('after') as unknown });
    }
  });
});
