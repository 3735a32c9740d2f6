import { createServer } from 'node:net';
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
});
