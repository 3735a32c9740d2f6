/**
 * How the device listener reads a push: its bytes in one buffer, within the route's limit.
 * Fastify's own reader (`parseAs: 'buffer'`) keeps the chunks and concatenates them at the end,
 * so for a moment a push is in memory twice: 96 MiB for an X-ray scan at the listener's 48 MiB.
 * With a Content-Length (what cameras and scanners send) the buffer is allocated once at that
 * size and filled as the bytes arrive; a chunked push, with no length to go by, is still
 * gathered and joined. Refused as Fastify refuses: a declared or received length over the limit
 * (413, before reading when declared), a body shorter or longer than declared (400).
 */
import type { IncomingMessage } from 'node:http';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';

/** Reads `payload` whole, at most `limit` bytes. */
export function readPushBody(request: FastifyRequest, payload: IncomingMessage, limit: number): Promise<Buffer> {
  const declaredHeader = request.headers['content-length'];
  const declared = declaredHeader === undefined ? null : Number(declaredHeader);
  if (declared !== null && !(Number.isSafeInteger(declared) && declared >= 0)) return Promise.reject(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
  if (declared !== null && declared > limit) return Promise.reject(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
  return new Promise((resolve, reject) => {
    const whole = declared === null ? null : Buffer.allocUnsafe(declared);
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (error: Error | null, body?: Buffer): void => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      if (error) reject(error);
      else resolve(body as Buffer);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const at = received;
      received += bytes.length;
      if (received > limit) return stop(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      if (!whole) return void chunks.push(bytes);
      if (received > whole.length) return stop(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      bytes.copy(whole, at);
    };
    const onEnd = (): void => {
      if (whole && received !== whole.length) return stop(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      stop(null, whole ?? Buffer.concat(chunks, received));
    };
    const onError = (error: Error): void => stop(error);
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.resume();
  });
}

/** Every content type of `app`'s routes reaches its handler as a Buffer read by `readPushBody`. */
export function acceptPushBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage): Promise<Buffer> => readPushBody(request, payload, request.routeOptions.bodyLimit));
}
