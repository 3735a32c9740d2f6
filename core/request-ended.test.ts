/**
 * When a request is over for the listener: a real server and a raw client socket, since a client
 * leaving is its connection closing (inject() has no socket to close).
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { onRequestEnded } from './request-ended.js';

describe('onRequestEnded', () => {
  const cleanups: (() => Promise<unknown> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('waits on a socket with one listener however many pipelined requests wait on it, and tells each once when it closes', async () => {
    const warnings: string[] = [];
    const warned = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', warned);
    cleanups.push(() => void process.off('warning', warned));
    const app = Fastify();
    const ended: number[] = [];
    let arrived = 0;
    let serverSocket: Socket | null = null;
    app.server.on('connection', (socket: Socket) => (serverSocket = socket));
    // Never answered: each waits until its client leaves.
    app.get<{ Params: { n: string } }>('/wait/:n', (request, reply) => {
      arrived += 1;
      onRequestEnded(request, reply, () => ended.push(Number(request.params.n)));
      return new Promise(() => undefined);
    });
    const address = new URL(await app.listen({ port: 0, host: '127.0.0.1' }));
    cleanups.push(() => app.close());
    const client = connect(Number(address.port), '127.0.0.1');
    cleanups.push(() => void client.destroy());
    await once(client, 'connect');
    const ask = (n: number): string => `GET /wait/${n} HTTP/1.1\r\nHost: x\r\n\r\n`;
    // One request waiting: the socket's close listeners then (Node's, and the one waiting here).
    client.write(ask(0));
    await vi.waitFor(() => expect(arrived).toBe(1));
    const withOne = (serverSocket as Socket | null)?.listenerCount('close');
    // Node hands every pipelined request to the handler at once; their responses wait in turn.
    const count = 20;
    client.write(Array.from({ length: count - 1 }, (_, n) => ask(n + 1)).join(''));
    await vi.waitFor(() => expect(arrived).toBe(count));
    expect((serverSocket as Socket | null)?.listenerCount('close')).toBe(withOne);
    client.destroy();
    await vi.waitFor(() => expect([...ended].sort((a, b) => a - b)).toEqual(Array.from({ length: count }, (_, n) => n)));
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });
});
