import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay', () => {
  const policy = { initialMs: 500, maxMs: 30_000 };

  it('doubles up to the cap, jittered within [cap/2, cap]', () => {
    expect(backoffDelay(0, policy, () => 0)).toBe(250);
    expect(backoffDelay(0, policy, () => 1)).toBe(500);
    expect(backoffDelay(3, policy, () => 1)).toBe(4000);
    expect(backoffDelay(100, policy, () => 1)).toBe(30_000);
    expect(backoffDelay(100, policy, () => 0)).toBe(15_000);
  });

  it('stays within bounds for any attempt and random draw', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r) => {
        const delay = backoffDelay(attempt, policy, () => r);
        return delay >= policy.initialMs / 2 && delay <= policy.maxMs;
      }),
    );
  });
});
