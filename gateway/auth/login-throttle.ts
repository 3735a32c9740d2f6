/**
 * Login throttling by account name and by source address: after `freeFailures` failures the key
 * is locked for `baseLockMs`, doubling with each further failure up to `maxLockMs`; a success
 * clears the name's count. Both keys are checked, so one address cannot guess many names and many
 * addresses cannot guess one. Bounded in memory: the oldest keys are forgotten first.
 */
import type { Clock } from '../../core/clock.js';

interface Record {
  failures: number;
  lockedUntilMono: number;
}

export interface ThrottleOptions {
  clock: Clock;
  /** Default 5. */
  freeFailures?: number;
  /** Default 30 s. */
  baseLockMs?: number;
  /** Default 15 min. */
  maxLockMs?: number;
  /** Default 10,000 keys. */
  maxKeys?: number;
}

export class LoginThrottle {
  private readonly records = new Map<string, Record>();
  private readonly freeFailures: number;
  private readonly baseLockMs: number;
  private readonly maxLockMs: number;
  private readonly maxKeys: number;

  constructor(private readonly options: ThrottleOptions) {
    this.freeFailures = options.freeFailures ?? 5;
    this.baseLockMs = options.baseLockMs ?? 30_000;
    this.maxLockMs = options.maxLockMs ?? 15 * 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  /** Milliseconds until a login for this name from this address may be tried; 0 when it may now. */
  waitMs(name: string, address: string): number {
    const now = this.options.clock.monotonic();
    return Math.max(0, ...[`name:${name}`, `addr:${address}`].map((k) => (this.records.get(k)?.lockedUntilMono ?? 0) - now));
  }

  failed(name: string, address: string): void {
    for (const k of [`name:${name}`, `addr:${address}`]) {
      const record = this.records.get(k) ?? { failures: 0, lockedUntilMono: 0 };
      record.failures += 1;
      const over = record.failures - this.freeFailures;
      if (over >= 0) record.lockedUntilMono = this.options.clock.monotonic() + Math.min(this.maxLockMs, this.baseLockMs * 2 ** over);
      this.records.delete(k);
      this.records.set(k, record);
    }
    while (this.records.size > this.maxKeys) {
      const oldest = this.records.keys().next().value;
      if (oldest === undefined) break;
      this.records.delete(oldest);
    }
  }

  succeeded(name: string): void {
    this.records.delete(`name:${name}`);
  }
}
