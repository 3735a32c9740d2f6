/**
 * The simulator's fault-injection endpoint: `POST /faults/<deviceId>` with a JSON fault, e.g.
 * `{"fault":"garbage"}`, `{"fault":"modbus-exception","code":2}`, `{"fault":"slow","ms":3000}`,
 * `{"fault":"disconnect"}`, `{"fault":"misread"}`, `{"fault":"unreadable"}`, `{"fault":"jam"}`,
 * `{"fault":"clock-skew","offsetMs":3600000}` (a camera's clock an hour ahead; 0 sets it right).
 */
import { createServer } from 'node:http';
import { listenOn } from '../core/listen.js';
import type { Fault, RunningSimulator } from './post-simulator.js';

const MAX_FAULT_BYTES = 4096;

export async function startControlServer(simulator: RunningSimulator, port: number, host = '127.0.0.1'): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    const match = /^\/faults\/([^/?]+)$/.exec(request.url ?? '');
    if (request.method !== 'POST' || !match) {
      response.writeHead(404).end('POST /faults/<deviceId> {"fault": ...}\n');
      return;
    }
    // A fault is a few bytes: a larger body is refused before it is read whole.
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= MAX_FAULT_BYTES) chunks.push(chunk);
      else if (!response.headersSent) response.writeHead(413, { connection: 'close' }).end(`a fault is at most ${MAX_FAULT_BYTES} bytes\n`, () => request.destroy());
    });
    request.on('end', () => {
      if (bytes > MAX_FAULT_BYTES) return;
      try {
        const fault = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Fault;
        simulator.inject(decodeURIComponent(match[1] as string), fault);
        response.writeHead(200).end('injected\n');
      } catch (error) {
        response.writeHead(400).end(`${(error as Error).message}\n`);
      }
    });
  });
  server.requestTimeout = 10_000;
  const listening = await listenOn(server, port, host);
  return {
    port: listening,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
