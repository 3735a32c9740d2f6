/**
 * The data routes on their own, with the clock they are given: what "now" is for a period not
 * yet over; the bounds of their answers. (Everything else of them, with authentication, is in
 * vmc-app.test.ts.)
 */
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_ID_LENGTH } from '../../core/identifiers.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { VmcStore } from '../store/vmc-store.js';
import { dataRoutes, DEFAULT_GAPS_LIMIT, MAX_GAPS_LIMIT } from './data-routes.js';

/** A post id at the bound every post id is held to (core/identifiers.ts). */
const LONGEST_POST = 'p'.repeat(MAX_ID_LENGTH);

describe('the VMC data routes', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 6, 30));
  let store: VmcStore;
  let app: FastifyInstance;

  beforeAll(async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-data-routes-'), 'vmc.db')}`, clock.now());
    const at = (iso: string) => new EventMaker('post-a', new ManualClock(Date.parse(iso)));
    await store.store([at('2025-11-26T05:00:00Z').crossing('p1', 20), at('2025-11-26T07:00:00Z').crossing('p2', 20), at('2026-11-26T06:00:00Z').crossing('c1', 20)], 'vmc-1', clock.now());
    app = Fastify();
    await app.register(dataRoutes, { store, status: () => ({}), clock });
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
