/**
 * Push slots over real sockets: at most `maxConcurrent` pushes in their handlers, the others
 * waiting in arrival order; a slot comes back when its response is closed, answered or cut off,
 * and a push whose client left while it waited never takes one. Routes outside the scope are not
 * counted (a scanner's streamed push).
 */
import { request as httpRequest, type ClientRequest } from 'node:http';
import { connect } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pushSlots, Slots } from './push-slots.js';

describe('Slots', () => {
  it('grants at once while free, then oldest waiter first; a cancelled waiter is skipped', () => {
    const slots = new Slots(2);
    const granted: string[] = [];
    const grant = (name: string) => () => granted.push(name);
    const c = grant('c');
    slots.take(grant('a'));
    slots.take(grant('b'));
    slots.take(c);
    slots.take(grant('d'));
    expect(granted).toEqual(['a', 'b']);
    expect([slots.inUse, slots.queued]).toEqual([2, 2]);
    slots.cancel(c);
    slots.give();
    expect(granted).toEqual(['a', 'b', 'd']);
    slots.give();
    slots.give();
    expect([slots.inUse, slots.queued]).toEqual([0, 0]);
  });
});

/** A handler each push waits in until the test lets it go, by path. */
class Gates {
  readonly started: string[] = [];
  private readonly open = new Map<string, () => void>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  async enter(name: string): Promise<void> {
    this.started.push(name);
    for (const waiter of this.waiters.filter((w) => this.started.length >= w.count)) waiter.resolve();
    await new Promise<void>((resolve) => this.open.set(name, resolve));
  }

  release(name: string): void {
    this.open.get(name)?.();
  }

  releaseAll(): void {
    for (const open of this.open.values()) open();
  }

  /** Resolves once `count` pushes have entered their handlers. */
  untilStarted(count: number): Promise<void> {
    if (this.started.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }
}

let app: FastifyInstance;
let port: number;
let gates: Gates;
/** Pushes past the body, before the slots: what has arrived at the scope's preHandler. */
let arrived: string[];
let arrivals: { count: number; resolve: () => void }[];
/** Responses the server saw closed (Node's 'close'), by path, and who waits for one. */
let closed: Map<string, (() => void)[]>;
let closedSeen: Set<string>;

beforeEach(async () => {
  gates = new Gates();
  arrived = [];
  arrivals = [];
  closed = new Map();
  closedSeen = new Set();
  app = Fastify();
  app.addHook('preHandler', (request, reply, done) => {
    arrived.push(request.url);
    reply.raw.once('close', () => {
      closedSeen.add(request.url);
      for (const resolve of closed.get(request.url) ?? []) resolve();
    });
    for (const waiter of arrivals.filter((w) => arrived.length >= w.count)) waiter.resolve();
    // This one reaches the slots only once its client has gone.
    if (request.url === '/push/gone') void untilClosed(request.url).then(() => done());
    else done();
  });
  await app.register(async (scope) => {
    await scope.register(pushSlots, { maxConcurrent: 2 });
    scope.post('/push/:name', async (request) => {
      const { name } = request.params as { name: string };
      await gates.enter(name);
      return 'ok';
    });
  });
  app.post('/stream/:name', async (request) => {
    await gates.enter((request.params as { name: string }).name);
    return 'ok';
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  port = typeof address === 'object' && address ? address.port : 0;
});
afterEach(async () => {
  gates.releaseAll(); // a failed test leaves none in its handler for close() to wait on
  await app.close();
});

/** Resolves once the server has seen the response to `path` closed (the slots' own listener ran before). */
function untilClosed(path: string): Promise<void> {
  if (closedSeen.has(path)) return Promise.resolve();
  return new Promise((resolve) => closed.set(path, [...(closed.get(path) ?? []), resolve]));
}

function untilArrived(count: number): Promise<void> {
  if (arrived.length >= count) return Promise.resolve();
  return new Promise((resolve) => arrivals.push({ count, resolve }));
}

/** Sends a push and resolves with its status (0 when the request was cut off by the client). */
function push(path: string): { done: Promise<number>; request: ClientRequest } {
  const request = httpRequest({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-type': 'text/plain', connection: 'close' } });
  const done = new Promise<number>((resolve) => {
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    request.on('error', () => resolve(0));
    request.on('close', () => resolve(0)); // cut off by the client: no response came
  });
  request.end('plate');
  return { done, request };
}

/** Every callback already queued by the loop has run: what was going to start has started. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('push slots', () => {
  it('gives back the slots of pipelined pushes whose client left before their answers', async () => {
    // Two pushes in one write on one connection: the second's response waits behind the first's.
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    await new Promise((resolve) => socket.once('connect', resolve));
    const head = (name: string): string => `POST /push/${name} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nplate`;
    socket.write(head('p1') + head('p2'));
    await gates.untilStarted(2);
    socket.destroy();
    // Both slots back: two more pushes are handled at once.
    const more = [push('/push/n1'), push('/push/n2')];
    await gates.untilStarted(4);
    expect(gates.started.slice(2).sort()).toEqual(['n1', 'n2']);
    gates.releaseAll();
    expect(await Promise.all(more.map((m) => m.done))).toEqual([200, 200]);
  });

  it('handles at most two pushes at once, the others in arrival order as slots come back', async () => {
    const a = push('/push/a');
    await untilArrived(1);
    const b = push('/push/b');
    await untilArrived(2);
    const c = push('/push/c');
    await untilArrived(3);
    const d = push('/push/d');
    await untilArrived(4);
    await gates.untilStarted(2);
    await turn();
    expect(gates.started).toEqual(['a', 'b']);

    gates.release('b');
    expect(await b.done).toBe(200);
    await gates.untilStarted(3);
    expect(gates.started).toEqual(['a', 'b', 'c']);
    gates.release('a');
    await gates.untilStarted(4);
    expect(gates.started).toEqual(['a', 'b', 'c', 'd']);
    gates.release('c');
    gates.release('d');
    expect(await Promise.all([a.done, c.done, d.done])).toEqual([200, 200, 200]);
  });

  it('a push whose client left while it waited takes no slot; one cut off in its handler gives its slot back', async () => {
    const a = push('/push/a');
    const b = push('/push/b');
    await gates.untilStarted(2);
    const c = push('/push/c');
    await untilArrived(3);
    c.request.destroy(); // gone while waiting
    await untilClosed('/push/c');
    const d = push('/push/d');
    await untilArrived(4);
    await turn();
    expect(gates.started).toEqual(['a', 'b']);

    // a's client goes while a is in its handler: its slot passes to d, not to the departed c.
    a.request.destroy();
    await untilClosed('/push/a');
    await gates.untilStarted(3);
    expect(gates.started).toEqual(['a', 'b', 'd']);
    expect(await a.done).toBe(0);
    gates.release('a');
    gates.release('b');
    gates.release('d');
    expect(await Promise.all([b.done, d.done])).toEqual([200, 200]);

    // Every slot came back: two new pushes start at once.
    const e = push('/push/e');
    const f = push('/push/f');
    await gates.untilStarted(5);
    expect(gates.started.slice(-2).sort()).toEqual(['e', 'f']);
    gates.release('e');
    gates.release('f');
    expect(await Promise.all([e.done, f.done])).toEqual([200, 200]);
  });

  it('a push whose client left before it reached the slots takes none', async () => {
    const gone = push('/push/gone');
    await untilArrived(1);
    gone.request.destroy();
    await untilClosed('/push/gone');
    await turn();
    const a = push('/push/a');
    const b = push('/push/b');
    await gates.untilStarted(2);
    expect(gates.started.sort()).toEqual(['a', 'b']);
    gates.releaseAll();
    expect(await Promise.all([a.done, b.done])).toEqual([200, 200]);
  });

  it('does not count routes outside its scope', async () => {
    const a = push('/push/a');
    const b = push('/push/b');
    await gates.untilStarted(2);
    const stream = push('/stream/s');
    await gates.untilStarted(3);
    expect(gates.started).toEqual(['a', 'b', 's']);
    for (const name of ['a', 'b', 's']) gates.release(name);
    expect(await Promise.all([a.done, b.done, stream.done])).toEqual([200, 200, 200]);
  });
});
