/**
 * The one request/response timeout helper: a device request that is not answered in time is
 * rejected with a message naming it, on the injected clock (tests advance it; nothing sleeps).
 */
import type { Clock } from './clock.js';

export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, clock: Clock, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(toError(error));
      },
    );
  });
}

/** Some libraries reject with plain objects ({ name, message }); keep their message. */
export function toError(error: unknown): Error {
  if (error instanceof Error) return error;
  const message = (error as { message?: unknown } | null)?.message;
  return new Error(typeof message === 'string' ? message : String(error), { cause: error });
}
