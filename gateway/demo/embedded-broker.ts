/**
 * The demo's embedded MQTT broker (aedes, MQTT 3.1.1), so `npm start` needs nothing installed.
 * Production posts talk to the VMC's broker instead (`--mqtt URL` or the config's `uplink`).
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';

export interface EmbeddedBroker {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts aedes on `host:port`; port 0 (or a taken preferred port) falls back to a free one. */
export async function startEmbeddedBroker(preferredPort: number, host = '127.0.0.1'): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => broker.handle(socket));
  const port = await listen(server, preferredPort, host).catch(() => listen(server, 0, host));
  return {
    port,
    url: `mqtt://${host}:${port}`,
    close: async () => {
      // aedes first: it disconnects its clients, without which server.close() would wait for them.
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
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
