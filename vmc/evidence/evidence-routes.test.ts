/**
 * The evidence routes on their own (fastify inject): who may call them, what their schemas
 * refuse, and how bytes go out — images as images, anything else only as a download.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { digestOf, EventMaker } from '../../test/helpers/vmc-events.js';
import { buildVmcApp } from '../http/vmc-app.js';
import { VmcStore } from '../store/vmc-store.js';
import { VmcAuth } from '../vmc-auth.js';

describe('evidence API', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 28, 12));
  const post = new EventMaker('post-a', new ManualClock(Date.UTC(2026, 10, 28, 11)));
  const picture = Buffer.from('\xff\xd8\xff\xe0 not really a jpeg', 'latin1');
  const markup = Buffer.from('<html><script>alert(1)</script></html>');
  let store: VmcStore;
  let app: FastifyInstance;
  let token: string;

  beforeAll(async () => {
    store = await VmcStore.open(`sqlite:${join(tempDir('vmc-evidence-api-'), 'vmc.db')}`, clock.now());
    await store.store(
      [
        post.evidenceStored(picture, 'plate-snapshot', 'image/jpeg', 'c-1'),
        ...post.evidenceChunks(picture, 'plate-snapshot', 'image/jpeg'),
        ...post.evidenceChunks(markup, 'plate-snapshot', 'text/html; charset=utf-8'),
      ],
      'vmc-1',
      clock.now(),
    );
    const auth = new VmcAuth(store, clock);
    await auth.addAccount('ana', 'analyst', 'analyst-password-1');
    app = await buildVmcApp({ store, auth, status: () => ({}), uiDir: null });
    token = (await app.inject({ method: 'POST', url: '/api/login', payload: { name: 'ana', password: 'analyst-password-1' } })).json<{ token: string }>().token;
  });

  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const get = (url: string, session: string | null = token) => app.inject({ method: 'GET', url, headers: session ? { authorization: `Bearer ${session}` } : {} });

  it('needs a session for everything', async () => {
    for (const url of [`/api/evidence/${digestOf(picture)}`, '/api/crossings/c-1/evidence?post=post-a', '/api/evidence/requests']) expect((await get(url, null)).statusCode, url).toBe(401);
    expect((await app.inject({ method: 'POST', url: '/api/evidence/requests', payload: { post: 'post-a', digests: [digestOf(picture)] } })).statusCode).toBe(401);
  });

  it('serves images inline (or as a download when asked), anything else only as bytes to download', async () => {
    const inline = await get(`/api/evidence/${digestOf(picture)}`);
    expect(inline.rawPayload.equals(picture)).toBe(true);
    expect(inline.headers).toMatchObject({ 'content-type': 'image/jpeg', 'content-disposition': `inline; filename="${digestOf(picture).slice(7, 23)}.jpg"`, 'x-content-type-options': 'nosniff' });
    expect((await get(`/api/evidence/${digestOf(picture)}?download=true`)).headers['content-disposition']).toMatch(/^attachment; /);
    const html = await get(`/api/evidence/${digestOf(markup)}`);
    expect(html.rawPayload.equals(markup)).toBe(true);
    expect(html.headers).toMatchObject({ 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${digestOf(markup).slice(7, 23)}.bin"`, 'content-security-policy': "default-src 'none'; sandbox" });
  });

  it('refuses what its schemas do not allow', async () => {
    expect((await get('/api/evidence/sha256:ABC')).json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST' });
    expect((await get(`/api/evidence/${digestOf(picture)}?format=raw`)).statusCode).toBe(400);
    expect((await get('/api/crossings/c-1/evidence')).statusCode).toBe(400); // the post is needed: crossing ids repeat across posts
    expect((await get('/api/crossings/c-1/evidence?post=Post_A')).statusCode).toBe(400);
    const tooMany = Array.from({ length: 101 }, () => digestOf(picture));
    const post = (body: object) => app.inject({ method: 'POST', url: '/api/evidence/requests', headers: { authorization: `Bearer ${token}` }, payload: body });
    expect((await post({ post: 'post-a', digests: tooMany })).statusCode).toBe(400);
    expect((await post({ post: 'post-a', digests: [] })).statusCode).toBe(400);
    // Without a command key this instance shows evidence but asks for none.
    expect((await post({ post: 'post-a', digests: [digestOf(markup)] })).json()).toMatchObject({ code: 'GW_ERR_VMC_NO_COMMAND_KEY' });
  });

  it("lists a crossing's pieces", async () => {
    const view = (await get('/api/crossings/c-1/evidence?post=post-a')).json<{ pieces: { digest: string; complete: boolean; contentType: string }[] }>();
    expect(view.pieces).toEqual([expect.objectContaining({ digest: digestOf(picture), complete: true, contentType: 'image/jpeg' })]);
  });
});
