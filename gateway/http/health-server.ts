/**
 * Local HTTP for operations: `/healthz` (JSON; 503 when the outbox cannot commit) and Prometheus
 * `/metrics`, device push endpoints, and the lane API under `/api/` (docs/operations.md).
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

/** The lane API (registration, operator actions, models): bound after the server listens. */
export type ApiHandler = (method: 'GET' | 'POST', path: string, body: Buffer) => Promise<{ status: number; body: unknown }>;

/** A device push endpoint (camera or scanner POSTing to a configured path). */
export type PushHandler = (contentType: string | undefined, body: Buffer) => Promise<{ status: number; body: string }>;

export async function startHealthServer(options: {
  host: string;
  port: number;
  metrics: GatewayMetrics;
  health: () => HealthReport;
  /** Looked up per request, so devices can register after the server listens. */
  pushHandlers?: Map<string, PushHandler>;
  /** Looked up per request; 503 until the workflow is running. */
  api?: () => ApiHandler | null;
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
  const api = async (method: 'GET' | 'POST', url: string, body: unknown): Promise<{ status: number; body: unknown }> => {
    const handler = options.api?.();
    if (!handler) return { status: 503, body: { code: 'GW_ERR_WORKFLOW_STEP', message: 'the lane workflow is not running' } };
    return handler(method, url.split('?')[0] ?? '', Buffer.isBuffer(body) ? body : Buffer.alloc(0));
  };
  app.get('/api/*', async (request, reply) => {
    const answer = await api('GET', request.url, undefined);
    return reply.code(answer.status).send(answer.body);
  });
  app.post('/api/*', async (request, reply) => {
    const answer = await api('POST', request.url, request.body);
    return reply.code(answer.status).send(answer.body);
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
