/**
 * The device listener's body reader over a real socket: a push read whole with and without a
 * Content-Length, in as many TCP writes as the client makes, and refused over its route's limit
 * (before any body byte when the length is declared), past its route's budget, or past its
 * deadline (the listener's clock is a test clock). A body that ends before its declared length
 * cannot be sent over HTTP/1.1 (the server waits for the rest until its timeout), so that case is
 * a stream handed to the reader directly.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { errorReplies } from './error-replies.js';
import { acceptPushBodies, PushBodyBudget, pushDeadlineMs, readPushBody, type PushBodyBounds } from './push-body.js';
import { devicePushTimeoutMs } from './servers.js';

const LIMIT = 64 * 1024;
const clock = new ManualClock();
let app: FastifyInstance;
let port: number;
let pushes: ReturnType<typeof acceptPushBodies>;
/** Answers the pushes to /slow waiting in its handler, oldest first. */
const answerSlow: (() => void)[] = [];

beforeAll(async () => {
  app = Fastify();
  await app.register(errorReplies);
  pushes = acceptPushBodies(app, clock);
  const answer = (body: Buffer) => ({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  // Two routes, as two devices' push paths: each with a budget of its own.
  app.post('/push', { bodyLimit: LIMIT }, (request) => answer(request.body as Buffer));
  app.post('/other', { bodyLimit: LIMIT }, (request) => answer(request.body as Buffer));
  // A device whose pushes are handled slowly: each waits, its body read, until the test answers it.
  app.post('/slow', { bodyLimit: LIMIT }, async (request) => {
    await new Promise<void>((resolve) => answerSlow.push(resolve));
    return answer(request.body as Buffer);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
afterAll(() => app.close());

/**
 * Sends `head` and then each of `parts` as its own write; `response` resolves with the raw
 * response once the server ends the connection.
 */
function openRequest(head: string, parts: Buffer[]): { socket: Socket; response: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  const response = new Promise<string>((resolve, reject) => {
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (more: string) => (text += more));
    socket.on('end', () => resolve(text));
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
  return { socket, response };
}

const rawRequest = (head: string, parts: Buffer[]): Promise<string> => openRequest(head, parts).response;
const pushHead = (path: string, length: number, extra = ''): string => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${length}\r\n${extra}\r\n`;
const headerOf = (response: string, name: string): string | undefined => new RegExp(`^${name}: (.*)\r$`, 'im').exec(response)?.[1];
const within = (budget: PushBodyBudget): PushBodyBounds => ({ limit: LIMIT, budget, deadlineMs: 30_000, clock });

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
    const read = readPushBody(declaring(10), short as unknown as IncomingMessage, within(budget));
    short.end(Buffer.from('12345'));
    await expect(read).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    const long = new PassThrough();
    const readLong = readPushBody(declaring(3), long as unknown as IncomingMessage, within(budget));
    long.end(Buffer.from('12345'));
    await expect(readLong).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    await expect(readPushBody(declaring(-1), new PassThrough() as unknown as IncomingMessage, within(budget))).rejects.toMatchObject({ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' });
    const reset = new PassThrough();
    const readReset = readPushBody(declaring(10), reset as unknown as IncomingMessage, within(budget));
    reset.write(Buffer.from('123'));
    reset.destroy(new Error('aborted'));
    await expect(readReset).rejects.toMatchObject({ message: 'aborted', statusCode: 400 });
    const quiet = new PassThrough();
    const readQuiet = readPushBody(declaring(10), quiet as unknown as IncomingMessage, within(budget));
    quiet.destroy();
    await expect(readQuiet).rejects.toMatchObject({ statusCode: 400 });
    // Everything taken from the budget was given back.
    expect(budget.take(LIMIT)).toBe(true);
  });

  it("refuses a push past its route's budget at its headers (503), keeps another route's room, and takes pushes again once it is free", async () => {
    // Two pushes of the whole limit, stalled after their first bytes: the route's budget (2 × LIMIT).
    const stalled = [openRequest(pushHead('/push', LIMIT), [randomBytes(100)]), openRequest(pushHead('/push', LIMIT), [randomBytes(100)])];
    await vi.waitFor(() => expect(pushes.heldBytes('/push')).toBe(2 * LIMIT));
    const refused = await rawRequest(pushHead('/push', 1), [Buffer.from('x')]);
    expect(statusOf(refused)).toBe(503);
    expect(headerOf(refused, 'retry-after')).toBe('1');
    expect(headerOf(refused, 'connection')).toBe('close');
    expect(jsonOf(refused)).toMatchObject({ code: 'GW_ERR_PUSH_BUSY' });
    // Another device's route is not touched by it.
    const body = randomBytes(LIMIT);
    const other = await rawRequest(pushHead('/other', LIMIT, 'Connection: close\r\n'), [body]);
    expect(statusOf(other)).toBe(200);
    expect(jsonOf(other)).toEqual({ bytes: LIMIT, sha256: sha256(body) });
    // The stalled pushes gone, their room comes back.
    for (const { socket } of stalled) socket.destroy();
    await vi.waitFor(() => expect(pushes.heldBytes('/push')).toBe(0));
    expect(statusOf(await rawRequest(pushHead('/push', 3, 'Connection: close\r\n'), [Buffer.from('abc')]))).toBe(200);
  });

  it('keeps a body read whole counted until its push is answered: pushes waiting to be handled cannot fill memory', async () => {
    // Two pushes of the whole limit read and waiting in a slow handler: the route's budget.
    const waiting = [openRequest(pushHead('/slow', LIMIT, 'Connection: close\r\n'), [randomBytes(LIMIT)]), openRequest(pushHead('/slow', LIMIT, 'Connection: close\r\n'), [randomBytes(LIMIT)])];
    await vi.waitFor(() => expect(answerSlow).toHaveLength(2));
    expect(pushes.heldBytes('/slow')).toBe(2 * LIMIT);
    const refused = await rawRequest(pushHead('/slow', 1), [Buffer.from('x')]);
    expect([statusOf(refused), jsonOf(refused)]).toMatchObject([503, { code: 'GW_ERR_PUSH_BUSY' }]);
    // One answered: its room comes back, and the next push is read.
    answerSlow.shift()?.();
    expect(statusOf(await waiting[0]!.response)).toBe(200);
    await vi.waitFor(() => expect(pushes.heldBytes('/slow')).toBe(LIMIT));
    const next = openRequest(pushHead('/slow', 3, 'Connection: close\r\n'), [Buffer.from('abc')]);
    await vi.waitFor(() => expect(answerSlow).toHaveLength(2));
    // A client that leaves before its answer gives its room back too.
    waiting[1]!.socket.destroy();
    await vi.waitFor(() => expect(pushes.heldBytes('/slow')).toBe(3));
    for (const answerOne of answerSlow.splice(0)) answerOne();
    expect(statusOf(await next.response)).toBe(200);
    await vi.waitFor(() => expect(pushes.heldBytes('/slow')).toBe(0));
  });

  it('gives back the room of pipelined pushes whose client left before their answers', async () => {
    // Two pushes in one write on one connection: the second's response waits behind the first's.
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write(`${pushHead('/slow', 400)}${'a'.repeat(400)}${pushHead('/slow', 400)}${'b'.repeat(400)}`);
    await vi.waitFor(() => expect(answerSlow).toHaveLength(2));
    expect(pushes.heldBytes('/slow')).toBe(800);
    socket.destroy();
    await vi.waitFor(() => expect(pushes.heldBytes('/slow')).toBe(0));
    for (const answerOne of answerSlow.splice(0)) answerOne();
  });

  it('reads no body for a path that is no push route, and gives it no budget', async () => {
    const answer = await rawRequest(pushHead('/push-not?1', LIMIT, 'Connection: close\r\n'), [randomBytes(100)]);
    expect(statusOf(answer)).toBe(404);
    expect(jsonOf(answer)).toMatchObject({ code: 'GW_ERR_HTTP_NOT_FOUND' });
    expect(pushes.heldBytes('/push-not?1')).toBe(0);
    expect(pushes.heldBytes('/push-not')).toBe(0);
  });

  it("counts a chunked push's bytes against its budget as they come", async () => {
    const budget = new PushBodyBudget(100);
    const first = new PassThrough();
    const readFirst = readPushBody(declaring(60), first as unknown as IncomingMessage, within(budget));
    const chunked = new PassThrough();
    const readChunked = readPushBody({ headers: {} } as unknown as FastifyRequest, chunked as unknown as IncomingMessage, within(budget));
    chunked.write(randomBytes(30)); // 90 of 100 held
    chunked.write(randomBytes(30));
    await expect(readChunked).rejects.toMatchObject({ code: 'GW_ERR_PUSH_BUSY' });
    expect(budget.held).toBe(60);
    const bytes = randomBytes(60);
    first.end(bytes);
    const { body, release } = await readFirst;
    expect(body).toEqual(bytes);
    // Read whole, still held until its push is answered.
    expect(budget.held).toBe(60);
    release();
    release();
    expect(budget.held).toBe(0);
  });

  it('refuses a push that has not arrived whole by its deadline (408), and closes its connection', async () => {
    const slow = openRequest(pushHead('/push', LIMIT), [randomBytes(1000)]);
    await vi.waitFor(() => expect(pushes.heldBytes('/push')).toBe(LIMIT));
    clock.advance(pushDeadlineMs(LIMIT));
    const response = await slow.response; // ends: the server closed the connection
    expect(statusOf(response)).toBe(408);
    // How many of the 1,000 bytes sent had been read by then is the socket's business.
    expect(jsonOf(response)).toMatchObject({ code: 'GW_ERR_PUSH_TIMEOUT', message: expect.stringMatching(/^the push did not arrive whole within 30 s \(\d+ bytes came\)$/) as unknown });
    expect(pushes.heldBytes('/push')).toBe(0);
  });
});

describe('the device listener request timeout', () => {
  const route = (mebibytes: number) => ({ path: '/p', deviceId: 'd', bodyLimit: mebibytes * 1024 * 1024, streamed: false });

  it("gives each push the time its limit takes at 4 Mbit/s, never less than the operators' 30 s", () => {
    expect(pushDeadlineMs(4 * 1024 * 1024)).toBe(30_000);
    expect(pushDeadlineMs(48 * 1024 * 1024)).toBe(101_000);
  });

  it("gives the listener its largest push's deadline", () => {
    // A scanner's 48 MiB: 101 s (within 30 s it needed 13 Mbit/s).
    expect(devicePushTimeoutMs([route(4), route(48)])).toBe(101_000);
    // Cameras only (4 MiB, 8.4 s at 4 Mbit/s), or no push route: 30 s.
    expect(devicePushTimeoutMs([route(4)])).toBe(30_000);
    expect(devicePushTimeoutMs([])).toBe(30_000);
  });
});
