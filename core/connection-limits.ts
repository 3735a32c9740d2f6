/**
 * Bounds on the sockets a listener holds. Neither listener is closed to the post's network, and a
 * socket costs a file descriptor and some memory before any request on it is authenticated: a
 * host opening connections by the thousand (a scan, a broken device, an attack) would otherwise run
 * the gateway out of descriptors (the outbox, the serial ports and the uplink need them too) or
 * into the unit's memory limit, where systemd kills it with the lanes. Beyond a bound a new socket
 * is closed at once: that host (or, over the total, new callers) waits, the lanes run on.
 *
 * The per-address bound keeps one host from taking the total; it is well above what a browser (six
 * connections and the live stream) or a camera uses, and above the simulator's and the benchmarks'
 * devices, which all connect from 127.0.0.1.
 */
import type { Server, Socket } from 'node:net';
import type { BaseLogger } from 'pino';
import { systemClock, type Clock } from './clock.js';

export interface ConnectionLimits {
  /** Sockets open at once on the listener. */
  total: number;
  /** Sockets open at once from one remote address. */
  perAddress: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { total: 1024, perAddress: 256 };

/** Refusals are logged at most once per this interval, with counts. */
const REFUSAL_LOG_INTERVAL_MS = 60_000;

export interface ConnectionGuard {
  /** Sockets refused since the listener started. */
  readonly refused: number;
}

export function limitConnections(server: Server, limits: ConnectionLimits, logger: Pick<BaseLogger, 'warn'>, clock: Clock = systemClock): ConnectionGuard {
  const byAddress = new Map<string, number>();
  let open = 0;
  let refused = 0;
  let unlogged = 0;
  let loggedAt = Number.NEGATIVE_INFINITY;
  const refuse = (socket: Socket, address: string, reason: string): void => {
    socket.destroy();
    refused += 1;
    unlogged += 1;
    if (clock.monotonic() - loggedAt < REFUSAL_LOG_INTERVAL_MS) return;
    logger.warn({ address, reason, refused: unlogged, open, limits }, 'connections refused: too many open');
    loggedAt = clock.monotonic();
    unlogged = 0;
  };
  // 'connection' is the raw TCP socket, before TLS and before any byte of a request is read.
  server.on('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = byAddress.get(address) ?? 0;
    if (open >= limits.total) return refuse(socket, address, 'listener');
    if (fromAddress >= limits.perAddress) return refuse(socket, address, 'address');
    open += 1;
    byAddress.set(address, fromAddress + 1);
    socket.once('close', () => {
      open -= 1;
      const left = (byAddress.get(address) ?? 1) - 1;
      if (left === 0) byAddress.delete(address);
      else byAddress.set(address, left);
    });
  });
  return {
    get refused() {
      return refused;
    },
  };
}
