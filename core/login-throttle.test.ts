/** The login throttle on a clock the test drives: keys, locks that double, a bounded memory. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { addressKey, LoginThrottle } from './login-throttle.js';

const fail = (throttle: LoginThrottle, name: string, address: string, times: number): void => {
  for (let i = 0; i < times; i += 1) throttle.attempt(name, address);
};

describe('login throttle', () => {
  it('keys IPv6 addresses by their /64 (one host holds one), IPv4 and mapped IPv4 as they are', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::7')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::ffff:10.0.4.17')).toBe('10.0.4.17');
    expect(addressKey('10.0.4.17')).toBe('10.0.4.17');
  });

  it('locks after five failures for 30 s, doubling to at most 15 min, and forgets after a quiet window', () => {
    const clock = new ManualClock();
    const throttle = new LoginThrottle({ clock });
    fail(throttle, 'ana', '10.0.0.1', 4);
    expect(throttle.attempt('ana', '10.0.0.1')).toEqual({ waitMs: 0, lockedNow: true });
    expect(throttle.attempt('ana', '10.0.0.9').waitMs).toBe(30_000); // the name is locked from anywhere
    expect(throttle.attempt('bo', '10.0.0.1').waitMs).toBe(30_000); // and the address for any name
    for (const expected of [60_000, 120_000, 240_000, 480_000, 900_000, 900_000]) {
      clock.advance(15 * 60_000);
      throttle.attempt('ana', '10.0.0.2');
      expect(throttle.attempt('ana', '10.0.0.3').waitMs).toBe(expected);
    }
    clock.advance(15 * 60_000 + 15 * 60_000 + 1);
    expect(throttle.attempt('ana', '10.0.0.4')).toEqual({ waitMs: 0, lockedNow: false });
  });

  it('keys by name alone when told to: one address, many people (the VMC behind a load balancer)', () => {
    const clock = new ManualClock();
    const throttle = new LoginThrottle({ clock, byAddress: false });
    fail(throttle, 'ana', '10.0.0.1', 5);
    expect(throttle.attempt('ana', '10.0.0.9').waitMs).toBe(30_000);
    expect(throttle.attempt('bo', '10.0.0.1').waitMs).toBe(0);
  });

  it('does not let a flood of new names wash a lock away', () => {
    const clock = new ManualClock();
    const throttle = new LoginThrottle({ clock, maxKeys: 100 });
    fail(throttle, 'ana', '10.0.0.1', 5);
    for (let i = 0; i < 10_000; i += 1) throttle.attempt(`guess-${i}`, `10.1.${i >> 8}.${i & 255}`);
    expect(throttle.attempt('ana', '10.9.9.9').waitMs).toBeGreaterThan(0);
  });

  it('clears the name and the address on a success, so a shared booth is not locked by typos', () => {
    const clock = new ManualClock();
    const throttle = new LoginThrottle({ clock });
    fail(throttle, 'ana', '10.0.0.1', 4);
    throttle.attempt('bo', '10.0.0.1');
    throttle.succeeded('bo', '10.0.0.1');
    expect(throttle.attempt('cem', '10.0.0.1').waitMs).toBe(0);
  });
});
