/**
 * What the hand-written test cameras share (drivers/anpr/*.test.ts): a node:http server on a free
 * port, every request recorded with the SOAP operation it names, a way to wait for the next one,
 * and a close that does not wait for held long polls. Each camera decides its own answers.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export abstract class CameraServer<Recorded extends { operation: string }> {
  readonly requests: Recorded[] = [];
  /** Every TCP connection accepted, whatever was sent on it. */
  connections = 0;
  port = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly waiters: { match: (r: Recorded) => boolean; resolve: (r: Recorded) => void }[] = [];

  constructor(readonly host = '127.0.0.1') {
    this.server = createServer((request, response) => void this.receive(request, response));
    this.server.on('connection', (socket: Socket) => {
      this.connections += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  get base(): string {
    return `http://${this.host}:${this.port}`;
  }

  async listen(): Promise<this> {
    this.server.listen(0, this.host);
    await once(this.server, 'listening');
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }

  /** The next request (from now on) that `match` accepts. */
  nextRequest(match: (request: Recorded) => boolean = () => true): Promise<Recorded> {
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }

  /** What to record of a request (its operation: `GET /path`, or the SOAP Body's first element). */
  protected abstract record(request: IncomingMessage, text: string, operation: string): Recorded;

  /** The answer, once the request is recorded. */
  protected abstract answer(response: ServerResponse, recorded: Recorded, text: string, request: IncomingMessage): void;

  private async receive(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const operation = request.method === 'GET' ? `GET ${request.url}` : (/<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)/.exec(text)?.[1] ?? '?');
    const recorded = this.record(request, text, operation);
    this.requests.push(recorded);
    for (const waiter of this.waiters.splice(0)) {
      if (waiter.match(recorded)) waiter.resolve(recorded);
      else this.waiters.push(waiter);
    }
    this.answer(response, recorded, text, request);
  }
}
