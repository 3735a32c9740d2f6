/**
 * Every answer under /api/ is private to whoever asked and never kept: `Cache-Control: no-store`
 * (a route that is cached on purpose, a picture, says so itself and keeps its own), and
 * `X-Content-Type-Options: nosniff`. Without it a browser kept the audit log and the lanes'
 * plates in its disk cache after sign-out, on a booth PC the next shift uses. The gateway's
 * operators' listener and the VMC's API both register it.
 */
import type { FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

const plugin: FastifyPluginCallback = (app, _options, done) => {
  app.addHook('onSend', (request, reply, payload, next) => {
    if (request.url.startsWith('/api/')) {
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      reply.header('x-content-type-options', 'nosniff');
    }
    next(null, payload);
  });
  done();
};

export const apiHeaders = fastifyPlugin(plugin, { name: 'border-gateway-api-headers' });
