/**
 * `server.listen` as a promise that rejects when the address cannot be taken. Called bare,
 * `listen()` reports EADDRINUSE as an 'error' event, which nothing awaits: the process dies of
 * it with a stack trace instead of a coded error naming the port.
 */
import type { Server } from 'node:net';

/** Resolves with the port listened on (the one the OS picked for port 0). */
export function listenOn(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = (): void => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/** Whether a listen failed because another process holds the address (or may not take it). */
export function isAddressTaken(error: unknown): error is NodeJS.ErrnoException & { address?: string; port?: number } {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EADDRINUSE' || code === 'EACCES';
}
