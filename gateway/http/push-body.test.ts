/**
 * The device listener's body reader over a real socket: a push read whole with and without a
 * Content-Length, in as many TCP writes as the client makes, and refused over its route's limit
 * (before any body byte when the length is declared). A body that ends before its declared length
 * cannot be sent over HTTP/1.1 (the server waits for the rest until its timeout), so that case is
 * a stream handed to the reader directly.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorReplies } from './error-replies.js';
import { acceptPushBodies, PushBodyBudget, readPushBody } from './push-body.js';
import { devicePushTimeoutMs } from './servers.js';

const LIMIT = 64 * 1024;
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  app = Fastify();
  await app.register(errorReplies);
  acceptPushBodies(app, 2 * LIMIT);
  app.post('/push', { bodyLimit: LIMIT }, (request) => {
    const body = request.body as Buffer;
    return { bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
afterAll(() => app.close());

/** Sends `head` and then each of `parts` as its own write; resolves with the raw response. */
function rawRequest(head: string, parts: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let response = '';
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => (response += text));
    socket.on('end', () => resolve(response));
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(head);
      let i = 0;
      const next = (): void => {
        const part = parts[i++];
        if (part) socket.write(part, () => setImmediate(next));
      };
      next();
    });
  });
}

const declaring = (length: number): FastifyRequest => ({ headers: { 'content-length': String(length) } }) as unknown as FastifyRequest;
const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
const jsonOf = (response: string): unknown => JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4));
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

describe('push bodies', () => {
  it('reads a body with a Content-Length whole, up to the limit, across many writes', async () => {
    const body = randomBytes(LIMIT);
    const parts = Array.from({ length: 16 }, (_, i) => body.subarray(i * 4096, (i + 1) * 4096));
    const response = await rawRequest(`POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${LIMIT}\r\nConnection: close\r\n\r\n`, parts);
    expect(statusOf(response)).toBe(200);
    expect(jsonOf(response)).toEqual({ bytes: LIMIT, sha256: sha256(body) });
  });

  it('reads a chunked body (no length declared) whole', async () => {
    const body = randomBytes(50_000);
    const chunks = [body.subarray(0, 1), body.subarray(1, 30_000), body.subarray(30_000)].map((chunk) =>
      Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]),
    );
    const response = await rawRequest('POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n', [...chunks, Buffer.from('0\r\n\r\n')]);
    expect(statusOf(response)).toBe(200);
    expect(jsonOf(response)).toEqual({ bytes: body.length, sha256: sha256(body) });
  });

  it('refuses a declared length over the limit before any byte of the body is sent', async () => {
    const response = await rawRequest(`POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`, []);
    expect(statusOf(response)).toBe(413);
    expect(jsonOf(response)).toMatchObject({ code: 'GW_ERR_HTTP_TOO_LARGE' });
  });

  it('refuses a chunked body once it passes the limit', async () => {
    const chunk = randomBytes(40_000);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    const response = await rawRequest('POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n', [framed, framed]);
    expect(statusOf(response)).toBe(413);
  });

  it('refuses a body that ends before its declared length, goes past it, or is cut off (400)', async () => {
    const budget = new PushBodyBudget(LIMIT);
    const short = new PassThrough();
    const read = readPushBody(declaring(10), short as unknown as IncomingMessage, LIMIT, budget);
    short.end(Buffer.from('12345'));
    await expect(read).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    const long = new PassThrough();
    const readLong = readPushBody(declaring(3), long as unknown as IncomingMessage, LIMIT, budget);
    long.end(Buffer.from('12345'));
    await expect(readLong).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    await expect(readPushBody(declaring(-1), new PassThrough() as unknown as IncomingMessage, LIMIT, budget)).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    const reset = new PassThrough();
    const readReset = readPushBody(declaring(10), reset as unknown as IncomingMessage, LIMIT, budget);
    reset.write(Buffer.from('123'));
    reset.destroy(new Error('aborted'));
    await expect(readReset).rejects.toMatchObject({ message: 'aborted', statusCode: 400 });
    const quiet = new PassThrough();
    const readQuiet = readPushBody(declaring(10), quiet as unknown as IncomingMessage, LIMIT, budget);
    quiet.destroy();
    await expect(readQuiet).rejects.toMatchObject({ statusCode: 400 });
    // Everything taken from the budget was given back.
    expect(budget.take(LIMIT)).toBe(true);
  });

  it('allocates ahead only within its budget, and reads the rest as it comes', async () => {
    const budget = new PushBodyBudget(100);
    const first = new PassThrough();
    const second = new PassThrough();
    const readFirst = readPushBody(declaring(80), first as unknown as IncomingMessage, LIMIT, budget);
    const readSecond = readPushBody(declaring(80), second as unknown as IncomingMessage, LIMIT, budget); // past the budget
    expect(budget.take(21)).toBe(false); // 80 of 100 held for the first
    const bytes = randomBytes(80);
    second.end(bytes);
    first.end(bytes);
    expect(await readFirst).toEqual(bytes);
    expect(await readSecond).toEqual(bytes);
    expect(budget.take(100)).toBe(true);
  });
});

describe('the device listener request timeout', () => {
  const route = (mebibytes: number) => ({ path: '/p', deviceId: 'd', bodyLimit: mebibytes * 1024 * 1024, streamed: false });

  it("gives the largest push the time a 4 Mbit/s link needs, never less than the operators' 30 s", () => {
    // A scanner's 48 MiB: 101 s (within 30 s it needed 13 Mbit/s).
    expect(devicePushTimeoutMs([route(4), route(48)])).toBe(101_000);
    // Cameras only (4 MiB, 8.4 s at 4 Mbit/s), or no push route: 30 s.
    expect(devicePushTimeoutMs([route(4)])).toBe(30_000);
    expect(devicePushTimeoutMs([])).toBe(30_000);
  });
});
