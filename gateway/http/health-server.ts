/**
 * Local HTTP for operations: `/healthz` (JSON; 503 when the outbox cannot commit) and Prometheus
 * `/metrics`. Later issues add the lane console here.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { GatewayMetrics } from '../metrics.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'failing';
  [key: string]: unknown;
}

export interface HealthServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

/** A device push endpoint (camera or scanner POSTing to a configured path). */
export type PushHandler = (contentType: string | undefined, body: Buffer) => Promise<{ status: number; body: string }>;

export async function startHealthServer(options: {
  host: string;
  port: number;
  metrics: GatewayMetrics;
  health: () => HealthReport;
  /** Looked up per request, so devices can register after the server listens. */
  pushHandlers?: Map<string, PushHandler>;
}): Promise<HealthServer> {
  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
  // Pushes are multipart or XML: hand every body to the handler as bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.post('/*', async (request, reply) => {
    const handler = options.pushHandlers?.get(request.url.split('?')[0] ?? '');
    if (!handler) return reply.code(404).send('no device pushes to this path');
    const answer = await handler(request.headers['content-type'], Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
    return reply.code(answer.status).type('text/plain').send(answer.body);
  });
  app.get('/healthz', async (_request, reply) => {
    const report = options.health();
    return reply.code(report.status === 'failing' ? 503 : 200).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    const body = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(body);
  });
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    throw new GatewayError('GW_ERR_HTTP_LISTEN', `cannot listen on ${options.host}:${options.port}: ${String(error)}`, { cause: error });
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return { address: { host: options.host, port }, close: () => app.close() };
}
