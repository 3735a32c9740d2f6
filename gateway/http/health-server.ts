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

export async function startHealthServer(options: {
  host: string;
  port: number;
  metrics: GatewayMetrics;
  health: () => HealthReport;
}): Promise<HealthServer> {
  const app: FastifyInstance = Fastify({ logger: false });
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
