/**
 * `Expect: 100-continue` answered only after authentication. Node answers 100 on its own as soon
 * as the headers are in, before any hook has run: a client that asks first (curl does for bodies
 * over 1 MiB) was told to send its body, up to a scanner's 48 MiB, before anyone knew who it was.
 * Here the requests Node would have answered (its own test of the header and the HTTP version:
 * it emits 'checkContinue' for exactly those) go through the hooks like any other, and 100 is sent
 * only when the body is about to be read (preParsing, after the onRequest hooks that authenticate
 * and authorise) and a declared length is within the route's limit; a refused request gets its
 * refusal instead, and its client need not send the body at all.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

const plugin: FastifyPluginCallback = (app, _options, done) => {
  /** Requests that asked for a 100 and have not had it yet. */
  const waiting = new WeakSet<IncomingMessage>();
  // With a listener, Node leaves the 100 to the application and hands on the request.
  app.server.on('checkContinue', (request: IncomingMessage, response) => {
    waiting.add(request);
    app.server.emit('request', request, response);
  });
  app.addHook('preParsing', (request, reply, payload, next) => {
    if (waiting.delete(request.raw)) {
      const declared = Number(request.headers['content-length'] ?? 0);
      // Over the limit, the body parser refuses it (413) without reading: no reason to send it.
      if (!(declared > request.routeOptions.bodyLimit) && !reply.raw.headersSent) reply.raw.writeContinue();
    }
    next(null, payload);
  });
  done();
};

export const expectContinue = fastifyPlugin(plugin, { name: 'border-gateway-expect-continue' });
