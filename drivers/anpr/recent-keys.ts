/**
 * Which events were seen lately, to drop a notification a camera delivers twice (a PullMessages
 * retried after a lost reply, a push resent after a lost 200, the same notification on two
 * topics). Bounded by construction: a key is kept for `windowMs` of the injected clock and at most
 * `maxKeys` are kept, the oldest forgotten first, so memory stays constant however many events come.
 */
import type { Clock } from '../../core/clock.js';

export interface RecentKeysOptions {
  clock: Clock;
  /** How long a key is remembered, in ms of `clock.monotonic()`. */
  windowMs: number;
  /** Most keys remembered at once. */
  maxKeys: number;
}

export class RecentKeys {
  /** key → monotonic ms when it was recorded; Map order is insertion order, oldest first. */
  private readonly keys = new Map<string, number>();

  constructor(private readonly options: RecentKeysOptions) {}

  /** Whether `key` was recorded within the window. */
  has(key: string): boolean {
    this.forgetExpired();
    return this.keys.has(key);
  }

  /** Records `key` (again: its window starts now). */
  add(key: string): void {
    this.keys.delete(key);
    this.keys.set(key, this.options.clock.monotonic());
    this.forgetExpired();
    while (this.keys.size > this.options.maxKeys) {
      const oldest = this.keys.keys().next();
      if (oldest.done) break;
      this.keys.delete(oldest.value);
    }
  }

  /** Records `key` and says whether it was new: false for a duplicate within the window. */
  addIfNew(key: string): boolean {
    if (this.has(key)) return false;
    this.add(key);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }

  private forgetExpired(): void {
    const horizon = this.options.clock.monotonic() - this.options.windowMs;
    for (const [key, at] of this.keys) {
      if (at > horizon) break;
      this.keys.delete(key);
    }
  }
}
