/**
 * How the device listener reads a push: its bytes in one buffer, within the route's limit, its
 * budget and its deadline. Fastify's own reader (`parseAs: 'buffer'`) keeps the chunks and
 * concatenates them at the end, so for a moment a push is in memory twice: 96 MiB for an X-ray
 * scan at the listener's 48 MiB. With a Content-Length (what cameras and scanners send) the buffer
 * is allocated once at that size and filled as the bytes arrive; a chunked push with no length to
 * go by is gathered as it comes and joined.
 *
 * Every byte a push holds, from its reading until its answer, counts against its route's budget
 * (each push route is one device's): twice the route's limit, so a camera may send its next push
 * while the last is handled, and a device that declares large bodies on many connections and then
 * stalls holds no more than that (two of 4 MiB), never the process's memory (220 such pushes held
 * 997 MB before), and never another device's room. A body read whole is still held while it waits
 * for a slot (push-slots.ts) and is handled: it was given back as soon as it was read, and a
 * device pushing faster than its pushes were handled filled memory with bodies waiting (40 of
 * 1 MiB for a route of 1 MiB, a review found). Past the budget a push is refused (503, GW_ERR_PUSH_BUSY, at its
 * headers when its length is declared). Each push must arrive whole within its route's deadline
 * (the time its limit takes at 4 Mbit/s, at least 30 s: pushDeadlineMs) or is refused (408,
 * GW_ERR_PUSH_TIMEOUT): the listener's own request timeout is the largest route's (a scanner's
 * 101 s), which a camera's push must not get. Refused as Fastify refuses otherwise: a declared or
 * received length over the limit (413, as soon as the headers are read when declared), a body
 * shorter or longer than declared or cut off (400).
 */
import type { IncomingMessage } from 'node:http';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { onRequestEnded } from '../../core/request-ended.js';

/** A whole request within this long at least: the operators' listener's bound. */
export const MIN_PUSH_DEADLINE_MS = 30_000;
/** Slowest link a device's largest push must get through within its deadline: 4 Mbit/s. */
const SLOWEST_DEVICE_LINK_BYTES_PER_S = 500_000;

/**
 * How long a push of at most `bodyLimit` bytes may take to arrive: the time its limit takes at
 * SLOWEST_DEVICE_LINK_BYTES_PER_S, at least MIN_PUSH_DEADLINE_MS (a camera's 4 MiB: 30 s; a
 * scanner's 48 MiB: 101 s, where 30 s needed 13 Mbit/s, which a scanner on an old 10 Mbit/s
 * segment never has: its every push was cut).
 */
export function pushDeadlineMs(bodyLimit: number): number {
  return Math.max(MIN_PUSH_DEADLINE_MS, Math.ceil(bodyLimit / SLOWEST_DEVICE_LINK_BYTES_PER_S) * 1000);
}

/** Bytes one route's pushes may hold in memory while they are read, all at once. */
export class PushBodyBudget {
  private used = 0;

  constructor(readonly bytes: number) {}

  /** Bytes taken and not given back. */
  get held(): number {
    return this.used;
  }

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

/** What bounds one push as it is read. */
export interface PushBodyBounds {
  /** The route's largest body. */
  limit: number;
  /** The route's budget (shared by its pushes being read). */
  budget: PushBodyBudget;
  /** Whole within this long of being asked for, on `clock`. */
  deadlineMs: number;
  clock: Clock;
}

const busy = (budget: PushBodyBudget): GatewayError =>
  new GatewayError('GW_ERR_PUSH_BUSY', `this device's pushes being read already hold ${budget.bytes} bytes, twice its route's limit; send again once they are answered`);

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

/** A push's body read whole, still held against its route's budget until `release` (once its push is answered). */
export interface HeldPushBody {
  body: Buffer;
  release: () => void;
}

/** Reads `payload` whole within `bounds`: its limit, its route's budget, its deadline. */
export function readPushBody(request: FastifyRequest, payload: IncomingMessage, bounds: PushBodyBounds): Promise<HeldPushBody> {
  const { limit, budget, clock } = bounds;
  let declared: number | null;
  try {
    declared = declaredLength(request, payload, limit);
    if (declared !== null && !budget.take(declared)) throw busy(budget);
  } catch (error) {
    return Promise.reject(asError(error));
  }
  return new Promise((resolve, reject) => {
    // Held against the budget: the declared length at once, or each chunk as it comes.
    let held = declared ?? 0;
    const whole = declared !== null ? Buffer.allocUnsafe(declared) : null;
    const chunks: Buffer[] = [];
    let received = 0;
    const deadline = clock.setTimeout(
      () => stop(new GatewayError('GW_ERR_PUSH_TIMEOUT', `the push did not arrive whole within ${bounds.deadlineMs / 1000} s (${received} bytes came)`)),
      bounds.deadlineMs,
    );
    const stop = (error: Error | null, body?: Buffer): void => {
      clock.clearTimeout(deadline);
      payload.off('data', onData);
      payload.off('end', onEnd);
      payload.off('error', onError);
      payload.off('close', onClose);
      const bytes = held;
      held = 0;
      if (error) {
        budget.give(bytes);
        return reject(error);
      }
      let released = false;
      resolve({
        body: body as Buffer,
        release: () => {
          if (!released) budget.give(bytes);
          released = true;
        },
      });
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const at = received;
      received += bytes.length;
      if (received > limit) return stop(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
      if (declared !== null && received > declared) return stop(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      if (whole) return void bytes.copy(whole, at);
      if (!budget.take(bytes.length)) return stop(busy(budget));
      held += bytes.length;
      chunks.push(bytes);
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
 * Every content type of `app`'s routes reaches its handler as a Buffer read by `readPushBody`,
 * each route's pushes within a budget of twice its limit and its deadline (pushDeadlineMs).
 * Returns what each route's pushes hold now.
 */
export function acceptPushBodies(app: FastifyInstance, clock: Clock): { heldBytes(route: string): number } {
  const budgets = new Map<string, PushBodyBudget>();
  /** Each body read and not yet answered: given back when its response closes (answered, or its client gone). */
  const unanswered = new WeakMap<FastifyRequest, () => void>();
  const budgetOf = (route: string, limit: number): PushBodyBudget => {
    let budget = budgets.get(route);
    if (!budget) budgets.set(route, (budget = new PushBodyBudget(2 * limit)));
    return budget;
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request: FastifyRequest, payload: IncomingMessage): Promise<Buffer> => {
    const route = request.routeOptions.url;
    // No such push path (an authenticated device reaches the 404): its body is not read, nor
    // given a budget of its own, which every made-up path would otherwise get.
    if (route === undefined) return Promise.reject(Object.assign(new Error(`no push path ${request.url.split('?')[0] ?? ''}`), { statusCode: 404 }));
    const limit = request.routeOptions.bodyLimit;
    return readPushBody(request, payload, { limit, budget: budgetOf(route, limit), deadlineMs: pushDeadlineMs(limit), clock }).then(({ body, release }) => {
      unanswered.set(request, release);
      return body;
    });
  });
  // Right after the body is parsed, before the push waits for a slot: the body stays counted until
  // the push is over (core/request-ended.ts), at once when its client left while the body was parsed.
  app.addHook('preValidation', (request, reply, done) => {
    const release = unanswered.get(request);
    if (release) {
      unanswered.delete(request);
      onRequestEnded(request, reply, release);
    }
    done();
  });
  return { heldBytes: (route) => budgets.get(route)?.held ?? 0 };
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
