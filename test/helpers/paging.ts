/**
 * What the paging tests of the VMC's API share: each store they run on (PostgreSQL, the one a
 * country runs, and SQLite), an analyst's app over a store, and a walk along the `Link: <…>;
 * rel="next"` headers of GET /api/crossings and /api/gaps.
 */
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { buildVmcApp } from '../../vmc/http/vmc-app.js';
import type { VmcStore } from '../../vmc/store/vmc-store.js';
import { VmcAuth } from '../../vmc/vmc-auth.js';
import { ManualClock } from './manual-clock.js';
import { createTestDatabase } from './postgres.js';
import { tempDir } from './test-config.js';

/** The stores to run a paging test on, each a fresh one: its spec, and how to drop it after. */
export const STORE_KINDS = [
  { name: 'postgres', make: async () => { const db = await createTestDatabase(); return { spec: db.url, drop: () => db.drop() }; } },
  { name: 'sqlite', make: () => Promise.resolve({ spec: `sqlite:${join(tempDir('vmc-paging-'), 'vmc.db')}`, drop: () => Promise.resolve() }) },
];

/** The VMC's app over `store` and a GET as an analyst of it. */
export async function analystApp(store: VmcStore, nowMs: number): Promise<{ app: FastifyInstance; get: (url: string) => Promise<LightMyRequestResponse> }> {
  const auth = new VmcAuth(store, new ManualClock(nowMs));
  await auth.addAccount('ana', 'analyst', 'analyst-password-1');
  const app = await buildVmcApp({ store, auth, status: () => ({}), uiDir: tempDir('vmc-ui-') });
  const token = (await app.inject({ method: 'POST', url: '/api/login', payload: { name: 'ana', password: 'analyst-password-1' } })).json<{ token: string }>().token;
  return { app, get: (url) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } }) };
}

/** Each page from `url` on along its next link, at most `maxPages`: the replies, and the links they carried. */
export async function followNextLinks(get: (url: string) => Promise<LightMyRequestResponse>, url: string, maxPages: number): Promise<{ replies: LightMyRequestResponse[]; links: string[] }> {
  const replies: LightMyRequestResponse[] = [];
  const links: string[] = [];
  let next: string | null = url;
  while (next !== null) {
    const reply = await get(next);
    expect(reply.statusCode, next).toBe(200);
    replies.push(reply);
    const link = reply.headers.link as string | undefined;
    next = link === undefined ? null : (/^<([^>]+)>; rel="next"$/.exec(link)?.[1] ?? null);
    if (link !== undefined) {
      expect(next, link).not.toBeNull();
      links.push(link);
    }
    expect(replies.length).toBeLessThanOrEqual(maxPages);
  }
  return { replies, links };
}
