/**
 * `Expect: 100-continue` answered only after authentication. Node answers 100 on its own as soon
 * as the headers are in, before any hook has run: a client that asks first (curl does for bodies
 * over 1 MiB) was told to send its body, up to a scanner's 48 MiB, before anyone knew who it was.
 * Here such a request goes through the hooks like any other, and 100 is sent only when its body is
 * about to be read (preParsing, after the onRequest hooks that authenticate and authorise); a
 * refused request gets its refusal instead, and its client need not send the body at all.
 */
import type { FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

const plugin: FastifyPluginCallback = (app, _options, done) => {
  // With a listener, Node leaves the 100 to the application and hands on the request.
  app.server.on('checkContinue', (request, response) => app.server.emit('request', request, response));
  app.addHook('preParsing', (request, reply, payload, next) => {
    if (request.headers.expect?.toLowerCase() === '100-continue' && !reply.raw.headersSent) reply.raw.writeContinue();
    next(null, payload);
  });
  done();
};

export const expectContinue = fastifyPlugin(plugin, { name: 'border-gateway-expect-continue' });
