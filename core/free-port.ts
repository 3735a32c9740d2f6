/** TCP ports free on 127.0.0.1 (the OS picks them); the demo and the benchmarks use them. */
import { createServer, type Server } from 'node:net';

/**
 * Ports the OS picked, held by a listener of ours until `release`: a port written into a
 * configuration and listened on seconds later is free only while nobody else takes it, and an
 * outgoing connection anywhere on the machine may take a port from the same range as its source
 * port (the demo's test once found a simulated weighbridge's port so held). Linux gives no
 * connection a source port a listener is bound to, so holding it closes that window but for the
 * moment between `release` and the real listener.
 */
export class PortReservations {
  private readonly held: Server[] = [];

  /** A free port, held until `release`. */
  take(): Promise<number> {
    return new Promise((resolve, reject) => {
      // A connection to a held port is cut at once: one left open would hold up `release`.
      const server = createServer((socket) => socket.destroy());
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        // Held, not waited on: a start that fails before `release` must still let the process end.
        server.unref();
        this.held.push(server);
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
  }

  /** Lets every held port go: call just before whatever listens on them starts. */
  async release(): Promise<void> {
    const servers = this.held.splice(0);
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }
}

/** A port free right now, not held: for what listens on it at once (else see PortReservations). */
export async function freePort(): Promise<number> {
  const reservation = new PortReservations();
  const port = await reservation.take();
  await reservation.release();
  return port;
}
