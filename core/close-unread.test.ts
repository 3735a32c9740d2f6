/**
 * The close-unread hook on a small app of its own, over real sockets: an answer sent before the
 * request's body has all arrived closes the connection; one sent after it (or to a request with
 * no body) keeps it. The listeners that register it are tested in their own files
 * (test/operator-adversary-pictures.test.ts, gateway/http/device-app.test.ts,
 * test/vmc-evidence-unread.test.ts).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partialRequest } from '../test/helpers/hostile-http.js';
import { closeUnread } from './close-unread.js';

describe('closeUnread', () => {
  let app: FastifyInstance;
  let port: number;

  beforeAll(async () => {
    app = Fastify({ bodyLimit: 1024 * 1024 });
    await app.register(closeUnread);
    // Refused at its headers, as an authentication hook refuses.
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers['x-refuse'] !== undefined) await reply.code(401).send({ refused: true });
    });
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    app.post('/upload', (request) => ({ bytes: (request.body as Buffer).length }));
    app.get('/', () => ({ ok: true }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });

  afterAll(() => app.close());

  const upload = (headers: Record<string, string>, declaredBytes: number, sentBytes: number) =>
    partialRequest(port, { method: 'POST', path: '/upload', headers: { 'Content-Type': 'application/octet-stream', ...headers }, declaredBytes, sentBytes });

  it('closes the connection of a request refused before its body came, and reads no more of it', async () => {
    const refused = upload({ 'X-Refuse': 'yes' }, 512 * 1024, 1024);
    const head = await refused.head;
    expect(head.status).toBe(401);
    expect(head.headers.connection).toBe('close');
    await refused.closed;
  });

  it('closes one that is answered while its body is still coming: a GET whose route reads none', async () => {
    const request = partialRequest(port, { method: 'GET', path: '/', declaredBytes: 512 * 1024, sentBytes: 10 });
    expect((await request.head).headers.connection).toBe('close');
    await request.closed;
  });

  it('keeps the connection of a request whose body was read, and of one without a body', async () => {
    const whole = upload({}, 4096, 4096);
    expect(await whole.head).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
    const refusedWhole = upload({ 'X-Refuse': 'yes' }, 0, 0);
    expect(await refusedWhole.head).toMatchObject({ status: 401, headers: { connection: 'keep-alive' } });
    const bodiless = partialRequest(port, { method: 'GET', path: '/', declaredBytes: 0, sentBytes: 0 });
    expect(await bodiless.head).toMatchObject({ status: 200, headers: { connection: 'keep-alive' } });
    for (const request of [whole, refusedWhole, bodiless]) request.socket.destroy();
  });
});
