/**
 * How the device listener reads a push: its bytes in one buffer, within the route's limit.
 * Fastify's own reader (`parseAs: 'buffer'`) keeps the chunks and concatenates them at the end,
 * so for a moment a push is in memory twice: 96 MiB for an X-ray scan at the listener's 48 MiB.
 * With a Content-Length (what cameras and scanners send) the buffer is allocated once at that
 * size and filled as the bytes arrive. Allocating before the bytes arrive is bounded across the
 * listener's pushes (PushBodyBudget): a device that declares large bodies on many connections and
 * then stalls must not make the process hold all of them; past the budget, and for a chunked push
 * with no length to go by, the chunks are gathered as they come and joined. Refused as Fastify
 * refuses: a declared or received length over the limit (413, as soon as the headers are read
 * when declared), a body shorter or longer than declared or cut off (400).
 */
import type { IncomingMessage } from 'node:http';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';

/** Bytes the listener may allocate ahead of their arrival, for all its pushes at once. */
export class PushBodyBudget {
  private used = 0;

  constructor(private readonly bytes: number) {}

  /** True (and counted) when `bytes` more fit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.bytes) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

/** A stream error that says nothing of its status is the client's: 400, as Fastify's reader has it. */
function asClientError(error: Error & { statusCode?: number }): Error {
  if (error.statusCode === undefined || error.statusCode < 400) error.statusCode = 400;
  return error;
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));
const cutOff = (): Error => asClientError(new Error('the push was cut off before its body was read'));

/**
 * The push's declared length (null when chunked), refused as soon as the headers are read when it
 * is not a length, or over `limit`, or when the push is already gone.
 */
function declaredLength(request: FastifyRequest, payload: IncomingMessage, limit: number): number | null {
  const declaredHeader = request.headers['content-length'];
  const declared = declaredHeader === undefined ? null : Number(declaredHeader);
  if (declared !== null && !(Number.isSafeInteger(declared) && declared >= 0)) throw new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH();
  if (declared !== null && declared > limit) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
  if (payload.destroyed) throw cutOff();
  return declared;
}

/** Reads `payload` whole, at most `limit` bytes; `budget` bounds what is allocated before it arrives. */
export function readPushBody(request: FastifyRequest, payload: IncomingMessage, limit: number, budget: PushBodyBudget): Promise<Buffer> {
  let declared: number | null;
  try {
    declared = declaredLength(request, payload, limit);
  } catch (error) {
    return Promise.reject(asError(error));
  }
  return new Promise((resolve, reject) => {
    const reserved = declared !== null && budget.take(declared) ? declared : 0;
    const whole = reserved > 0 || declared === 0 ? Buffer.allocUnsafe(declared ?? 0) : null;
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = (error: Error | null, body?: Buffer): void => {
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      payload.off('close', onClose);
      budget.give(reserved);
      if (error) reject(error);
      else resolve(body as Buffer);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const at = received;
      received += bytes.length;
      if (received > limit) return stop(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      if (declared !== null && received > declared) return stop(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      if (whole) bytes.copy(whole, at);
      else chunks.push(bytes);
    };
    const onEnd = (): void => {
      if (declared !== null && received !== declared) return stop(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      stop(null, whole ?? Buffer.concat(chunks, received));
    };
    const onError = (error: Error): void => stop(asClientError(error));
    // Closed without an end or an error (destroyed quietly): the body will not come.
    const onClose = (): void => {
      if (!payload.readableEnded) stop(cutOff());
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('close', onClose);
    payload.resume();
  });
}

/**
 * Every content type of `app`'s routes reaches its handler as a Buffer read by `readPushBody`;
 * at most `preallocateBytes` allocated ahead of arrival across the pushes being read at once.
 */
export function acceptPushBodies(app: FastifyInstance, preallocateBytes: number): void {
  const budget = new PushBodyBudget(preallocateBytes);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage): Promise<Buffer> => readPushBody(request, payload, request.routeOptions.bodyLimit, budget));
}

/**
 * A push as it arrives, for a driver that writes it out as it reads (an X-ray scan to disk): its
 * chunks in order, at most `limit` bytes in all. It is read only as fast as the driver takes
 * chunks, so the socket's own buffers are all it holds. Refused as readPushBody refuses, but
 * while it is read: the iteration throws the error that becomes the answer (413, 400). A driver
 * that stops reading early (it refused the push) leaves the rest to be drained and dropped.
 */
export type PushChunks = AsyncIterable<Buffer>;

async function* pushChunks(payload: IncomingMessage, declared: number | null, limit: number): AsyncGenerator<Buffer, void, undefined> {
  let received = 0;
  try {
    for (;;) {
      const chunk = payload.read() as Buffer | string | null;
      if (chunk !== null) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        received += bytes.length;
        if (received > limit) throw new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE();
        if (declared !== null && received > declared) throw new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH();
        yield bytes;
        continue;
      }
      if (payload.readableEnded) break;
      if (payload.destroyed) throw cutOff();
      await moreOf(payload);
    }
    if (declared !== null && received !== declared) throw new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH();
  } finally {
    // Not read to its end (refused, or the driver stopped early): drained and dropped, as Node
    // does for a request its handler did not read.
    if (!payload.readableEnded && !payload.destroyed) payload.resume();
  }
}

/** Settles when `payload` has bytes to read or has ended; rejects when it failed or closed early. */
function moreOf(payload: IncomingMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error: Error | null): void => {
      payload.off('readable', onMore);
      payload.off('end', onMore);
      payload.off('error', onError);
      payload.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onMore = (): void => settle(null);
    const onError = (error: Error): void => settle(asClientError(error));
    const onClose = (): void => settle(payload.readableEnded ? null : cutOff());
    payload.on('readable', onMore);
    payload.on('end', onMore);
    payload.on('error', onError);
    payload.on('close', onClose);
  });
}

/**
 * Every push to the routes of `scope` (an encapsulated plugin's) reaches its handler as
 * PushChunks, within the route's `bodyLimit`: a declared length over it is refused at once.
 */
export function streamPushBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage): Promise<PushChunks> => {
    try {
      const limit = request.routeOptions.bodyLimit;
      return Promise.resolve(pushChunks(payload, declaredLength(request, payload, limit), limit));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  });
}
