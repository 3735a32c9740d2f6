/**
 * The demo's embedded MQTT broker (aedes, MQTT 3.1.1), so `npm start` needs nothing installed.
 * Production posts talk to the VMC's broker instead (`--mqtt URL` or the config's `uplink`).
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { listenOn } from '../../core/listen.js';

export interface EmbeddedBroker {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts aedes on `host:port`; port 0 (or a taken preferred port) falls back to a free one. */
export async function startEmbeddedBroker(preferredPort: number, host = '127.0.0.1'): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const server = createServer((socket) => broker.handle(socket));
  const port = await listenOn(server, preferredPort, host).catch(() => listenOn(server, 0, host));
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
