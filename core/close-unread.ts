/**
 * An answer sent before its request's body has all arrived closes the connection (`Connection:
 * close`). Otherwise Node keeps the connection for a next request and reads the rest of the body
 * only to throw it away: a caller refused at its headers (401 without credentials, 413 by its
 * declared length, 503 busy, a GET whose route reads no body) could go on streaming a body of any
 * length into the server for as long as it liked, a socket and reads spent on nothing. Closed, the
 * rest is never read. Fastify closes by itself only after a body its parser failed on.
 *
 * "Not all arrived": the request declares a body (a length above zero, or chunked) and Node's
 * parser has not seen its end (`IncomingMessage.complete`). A request without a body, or whose
 * body has been read, keeps its connection. Registered on the gateway's operators' and devices'
 * listeners and on the VMC's API.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyPluginCallback } from 'fastify';
import fastifyPlugin from 'fastify-plugin';

/** Whether `request` declared a body of which Node has not yet seen the end. */
export function bodyStillComing(request: IncomingMessage): boolean {
  if (request.complete) return false;
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

const plugin: FastifyPluginCallback = (app, _options, done) => {
  app.addHook('onSend', (request, reply, payload, next) => {
    if (bodyStillComing(request.raw)) reply.header('connection', 'close');
    next(null, payload);
  });
  done();
};

export const closeUnread = fastifyPlugin(plugin, { name: 'border-gateway-close-unread' });
