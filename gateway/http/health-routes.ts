/**
 * `/healthz` (JSON; 503 when the outbox cannot commit) and Prometheus `/metrics`: open to any
 * caller on the operators' listener (monitoring agents have no account); neither names a plate,
 * a person or a crossing.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { GatewayMetrics } from '../metrics.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'failing';
  [key: string]: unknown;
}

export interface HealthRoutesOptions {
  metrics: GatewayMetrics;
  health: () => HealthReport;
}

export const healthRoutes: FastifyPluginAsync<HealthRoutesOptions> = (app, options) => {
  app.get('/healthz', { config: { access: 'public' } }, async (_request, reply) => {
    const report = options.health();
    return reply.code(report.status === 'failing' ? 503 : 200).send(report);
  });
  app.get('/metrics', { config: { access: 'public' } }, async (_request, reply) => {
    const body = await options.metrics.registry.metrics();
    return reply.type(options.metrics.registry.contentType).send(body);
  });
  return Promise.resolve();
};
