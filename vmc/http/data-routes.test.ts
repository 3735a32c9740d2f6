/**
 * The data routes on their own, with the clock they are given: what "now" is for a period not
 * yet over. (Everything else of them, with authentication, is in vmc-app.test.ts.)
 */
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { EventMaker } from '../../test/helpers/vmc-events.js';
import { VmcStore } from '../store/vmc-store.js';
import { dataRoutes } from './data-routes.js';

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
});
