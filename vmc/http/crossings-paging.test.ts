/**
 * GET /api/crossings page by page, on each store (PostgreSQL the one a country runs): the cursor
 * of each page's `Link: <…>; rel="next"` reaches every crossing exactly once, newest first, with
 * many crossings completed in the same millisecond; `offset` is bounded, a malformed cursor refused.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { analystApp, followNextLinks, STORE_KINDS } from '../../test/helpers/paging.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { VmcStore } from '../store/vmc-store.js';
const MAX_CROSSINGS_OFFSET = 10_000;

const NOW = Date.UTC(2026, 10, 27, 12);
const START = Date.UTC(2026, 10, 26, 6);
const POSTS = ['post-a', 'post-b', 'post-c', 'post-d', 'post-e'];
const PER_POST = 23;

describe.each(STORE_KINDS)('GET /api/crossings paging on $name', (kind) => {
  let drop: () => Promise<void>;
  let store: VmcStore;
  let app: FastifyInstance;
  let get: (url: string) => Promise<LightMyRequestResponse>;
  // Each post's gateway completes one crossing a second from the same instant: every millisecond has one crossing of each post.
  const events = POSTS.flatMap((post) => {
    const maker = new EventMaker(post, new ManualClock(START));
    return Array.from({ length: PER_POST }, (_, i) => maker.crossing(`${post}-${i}`, 10 + i, { direction: i % 3 === 0 ? 'export' : 'import' }));
  });
  // Newest first, ties by event id: what every page must add up to.
  const newestFirst = (selected: typeof events) =>
    [...selected].sort((x, y) => Date.parse(y.time) - Date.parse(x.time) || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0)).map((e) => e.id);

  beforeAll(async () => {
    const made = await kind.make();
    drop = made.drop;
    store = await VmcStore.open(made.spec, NOW);
    await store.store(events, 'vmc-1', NOW);
    ({ app, get } = await analystApp(store, NOW));
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    await drop?.();
  });

  /** Follows each page's next link from `url`; the event ids in the order read, and the pages. */
  async function walk(url: string): Promise<{ ids: string[]; pages: number; links: string[] }> {
    const { replies, links } = await followNextLinks(get, url, events.length);
    return { ids: replies.flatMap((reply) => reply.json<{ eventId: string }[]>().map((row) => row.eventId)), pages: replies.length, links };
  }

  it('reaches every crossing exactly once, newest first, however the pages cut through a millisecond of ties', async () => {
    const expected = newestFirst(events);
    expect(new Set(events.map((e) => e.time)).size).toBe(PER_POST); // five crossings in each millisecond
    for (const limit of [1, 3, 5, 7, PER_POST * POSTS.length, PER_POST * POSTS.length + 1]) {
      const { ids, pages } = await walk(`/api/crossings?limit=${limit}`);
      expect(ids, `limit ${limit}`).toEqual(expected);
      expect(pages, `limit ${limit}`).toBe(Math.max(1, Math.ceil(expected.length / limit)));
    }
  });

  it('keeps the filters and the limit in the next link, and pages on from an offset by the cursor', async () => {
    const exports = events.filter((e) => e.data.direction === 'export' && e.data.postId !== 'post-e');
    const { ids, links } = await walk('/api/crossings?direction=export&post=post-a,post-b,post-c,post-d&limit=4');
    expect(ids).toEqual(newestFirst(exports));
    expect(links.length).toBeGreaterThan(1);
    for (const link of links) {
      const url = new URL(/^<([^>]+)>/.exec(link)?.[1] ?? '', 'http://vmc');
      expect(url.pathname).toBe('/api/crossings');
      expect(Object.fromEntries(url.searchParams)).toEqual({ post: 'post-a,post-b,post-c,post-d', direction: 'export', limit: '4', after: expect.stringMatching(/^\d+_[0-9a-f-]{36}$/) as unknown });
    }
    // An offset within the bound still answers; its next link carries a cursor, not the offset.
    const fromOffset = await walk('/api/crossings?limit=6&offset=9');
    expect(fromOffset.ids).toEqual(newestFirst(events).slice(9));
    expect(fromOffset.links.join()).not.toContain('offset');
  });

  it(`takes an offset up to ${MAX_CROSSINGS_OFFSET} and refuses a deeper one with 400 and its code`, async () => {
    expect(MAX_CROSSINGS_OFFSET).toBe(10_000);
    const deepest = await get(`/api/crossings?offset=${MAX_CROSSINGS_OFFSET}`);
    expect(deepest.statusCode).toBe(200);
    expect(deepest.json()).toEqual([]);
    for (const offset of [MAX_CROSSINGS_OFFSET + 1, 10_000_000]) {
      const reply = await get(`/api/crossings?offset=${offset}`);
      expect(reply.statusCode, String(offset)).toBe(400);
      expect(reply.json(), String(offset)).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: expect.stringContaining('offset') as unknown });
    }
  });

  it('refuses a malformed cursor, or a cursor with an offset, with 400 and its code', async () => {
    const id = events[0]?.id as string;
    const ms = Date.parse(events[0]?.time as string);
    expect((await get(`/api/crossings?after=${ms}_${id}`)).statusCode).toBe(200);
    for (const after of ['', 'abc', String(ms), `${ms}_`, `_${id}`, `${ms}_${id.slice(0, -1)}`, `${ms}_${id}x`, `${ms}.${id}`, `${'9'.repeat(16)}_${id}`, `${ms}_${id}`.repeat(2), `${ms}_${id.replaceAll('-', '')}`, `${ms}_${id}%27--`, `1e3_${id}`]) {
      const reply = await get(`/api/crossings?after=${encodeURIComponent(after)}`);
      expect(reply.statusCode, after).toBe(400);
      expect(reply.json(), after).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: expect.stringContaining('after') as unknown });
    }
    const both = await get(`/api/crossings?after=${ms}_${id}&offset=0`);
    expect(both.statusCode).toBe(400);
    expect(both.json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: expect.stringContaining('not both') as unknown });
  });
});
