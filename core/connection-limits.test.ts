/**
 * The listeners' bound on open sockets (the gateway's two, servers.ts; the VMC's API), on a real
 * listener: sockets past the per-address or the
 * total bound are closed at once, the ones within keep being served, and room comes back as
 * sockets close.
 */
import { connect, type AddressInfo, type Socket } from 'node:net';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { limitConnections } from './connection-limits.js';

/** A socket from `localAddress` to the listener, once connected. */
function open(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The status line of one request on `socket`, or 'closed' when the server closes it instead. */
function ask(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text.split('\r\n')[0] as string);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => resolve('closed'));
    socket.once('error', () => undefined);
    socket.write('GET /ping HTTP/1.1\r\nHost: gateway\r\n\r\n');
  });
}

describe('connection limits', () => {
  let close: (() => Promise<unknown>) | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    await close?.();
  });

  it('closes sockets past the per-address and the total bound at once, serves those within, and takes new ones as others close', async () => {
    const warnings: unknown[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line)) });
    const app = Fastify({ loggerInstance: logger, keepAliveTimeout: 60_000 });
    close = () => app.close();
    app.get('/ping', () => 'pong');
    const guard = limitConnections(app.server, { total: 6, perAddress: 4 }, logger);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const port = (app.server.address() as AddressInfo).port;
    const from = async (address: string): Promise<Socket> => {
      const socket = await open(port, address);
      sockets.push(socket);
      return socket;
    };

    const first = [await from('127.0.0.1'), await from('127.0.0.1'), await from('127.0.0.1'), await from('127.0.0.1')];
    expect(await ask(await from('127.0.0.1'))).toBe('closed'); // a fifth from one host
    const second = [await from('127.0.0.2'), await from('127.0.0.2')];
    expect(await ask(await from('127.0.0.3'))).toBe('closed'); // a seventh in all
    // Those within are served, again and again on their keep-alive sockets.
    for (const socket of [...first, ...second]) expect(await ask(socket)).toBe('HTTP/1.1 200 OK');
    for (const socket of first) expect(await ask(socket)).toBe('HTTP/1.1 200 OK');
    expect(guard.refused).toBe(2);
    // One refusal line for the spell (the next within a minute are counted, not logged).
    expect(warnings).toEqual([expect.objectContaining({ msg: 'connections refused: too many open', address: '127.0.0.1', reason: 'address' })]);

    // A host that closes a socket may open another.
    const closed = new Promise((resolve) => (first[0] as Socket).once('close', resolve));
    (first[0] as Socket).end();
    await closed;
    await expect.poll(async () => ask(await from('127.0.0.1'))).toBe('HTTP/1.1 200 OK');
  });
});
