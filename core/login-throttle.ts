/**
 * Login throttling by account name and by source address (IPv6 by its /64, which one host
 * holds), or by name alone where every caller may come through one address (the VMC behind a
 * load balancer). Every attempt counts as a failure from the moment it starts, before its password is
 * checked, so guesses sent all at once are refused like guesses sent one by one; a success takes
 * its count back. After `freeFailures` the key is locked for `baseLockMs`, doubling with each
 * further failure up to `maxLockMs`; counts older than `windowMs` are forgotten. Bounded in
 * memory: unlocked keys are forgotten first, so a flood of new names cannot wash a lock away.
 */
import { isIP } from 'node:net';
import type { Clock } from './clock.js';

interface Record {
  failures: number;
  lastFailureMono: number;
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
  /** A key without a failure this long starts again from zero. Default 15 min. */
  windowMs?: number;
  /** Default 10,000 keys. */
  maxKeys?: number;
  /**
   * Default true. False keys attempts by name alone: behind a load balancer or reverse proxy every
   * caller has the balancer's address, and one person's typos would lock everyone out.
   */
  byAddress?: boolean;
}

/** What an attempt may do: go ahead, or wait; `lockedNow` when this attempt started a lock. */
export interface Attempt {
  waitMs: number;
  lockedNow: boolean;
}

/** The throttling key of an address: IPv4 (also IPv4-mapped) as is, IPv6 by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return mapped;
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.toLowerCase().split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...headParts, ...Array<string>(8 - headParts.length - tailParts.length).fill('0'), ...tailParts] : headParts;
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export class LoginThrottle {
  private readonly records = new Map<string, Record>();
  private readonly freeFailures: number;
  private readonly baseLockMs: number;
  private readonly maxLockMs: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;

  constructor(private readonly options: ThrottleOptions) {
    this.freeFailures = options.freeFailures ?? 5;
    this.baseLockMs = options.baseLockMs ?? 30_000;
    this.maxLockMs = options.maxLockMs ?? 15 * 60_000;
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.maxKeys = options.maxKeys ?? 10_000;
  }

  private keys(name: string, address: string): string[] {
    return this.options.byAddress === false ? [`name:${name}`] : [`name:${name}`, `addr:${addressKey(address)}`];
  }

  private current(key: string, now: number): Record | undefined {
    const record = this.records.get(key);
    if (record && record.lockedUntilMono <= now && now - record.lastFailureMono > this.windowMs) {
      this.records.delete(key);
      return undefined;
    }
    return record;
  }

  /** Starts an attempt: refused while either key is locked, else counted as a failure until `succeeded`. */
  attempt(name: string, address: string): Attempt {
    const now = this.options.clock.monotonic();
    const keys = this.keys(name, address);
    const waitMs = Math.max(0, ...keys.map((k) => (this.current(k, now)?.lockedUntilMono ?? 0) - now));
    if (waitMs > 0) return { waitMs, lockedNow: false };
    let lockedNow = false;
    for (const k of keys) {
      const record = this.current(k, now) ?? { failures: 0, lastFailureMono: now, lockedUntilMono: 0 };
      record.failures += 1;
      record.lastFailureMono = now;
      const over = record.failures - this.freeFailures;
      if (over >= 0) {
        record.lockedUntilMono = now + Math.min(this.maxLockMs, this.baseLockMs * 2 ** over);
        lockedNow = true;
      }
      this.records.delete(k);
      this.records.set(k, record);
    }
    this.bound(now);
    return { waitMs: 0, lockedNow };
  }

  /**
   * The attempt's password was right: the name and the address start afresh (a booth PC shared by
   * a shift is not locked for everyone's typos; each name keeps its own lock against guessing).
   */
  succeeded(name: string, address: string): void {
    for (const k of this.keys(name, address)) this.records.delete(k);
  }

  /** The attempt could not be checked at all (too many at once): it does not count. */
  withdrawn(name: string, address: string): void {
    for (const k of this.keys(name, address)) this.forgive(k);
  }

  private forgive(key: string): void {
    const record = this.records.get(key);
    if (!record) return;
    record.failures -= 1;
    if (record.failures < this.freeFailures) record.lockedUntilMono = 0;
    if (record.failures <= 0) this.records.delete(key);
  }

  private bound(now: number): void {
    if (this.records.size <= this.maxKeys) return;
    for (const [k, record] of this.records) {
      if (this.records.size <= this.maxKeys) return;
      if (record.lockedUntilMono <= now) this.records.delete(k);
    }
    // Only locked keys left: the oldest of them goes.
    for (const k of this.records.keys()) {
      if (this.records.size <= this.maxKeys) return;
      this.records.delete(k);
    }
  }
}
