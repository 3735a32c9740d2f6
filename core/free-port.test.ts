import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { PortReservations } from './free-port.js';

const bindError = (port: number): Promise<string | null> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(null)));
  });

describe('PortReservations', () => {
  it('holds the ports it gave until released, then lets them be listened on', async () => {
    const reservations = new PortReservations();
    const ports = [await reservations.take(), await reservations.take()];
    expect(new Set(ports).size).toBe(2);
    for (const port of ports) expect(await bindError(port)).toBe('EADDRINUSE');
    await reservations.release();
    for (const port of ports) expect(await bindError(port)).toBeNull();
  });

  it('lets a held port go while something connected to it stays connected', async () => {
    const reservations = new PortReservations();
    const port = await reservations.take();
    const client = connect(port, '127.0.0.1');
    await once(client, 'connect');
    // A connection the holder kept would hold up its close until this client hung up.
    await reservations.release();
    expect(await bindError(port)).toBeNull();
    client.destroy();
  });
});
