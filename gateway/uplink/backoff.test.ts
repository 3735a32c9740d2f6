import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { ConnectionStateMachine } from './connection-state.js';
import { eventTopic, statusTopic, topicRoot } from './topics.js';

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

describe('ConnectionStateMachine', () => {
  it('follows the allowed transitions and reports them', () => {
    const seen: string[] = [];
    const machine = new ConnectionStateMachine((from, to) => seen.push(`${from}->${to}`));
    machine.to('connecting');
    machine.to('connected');
    machine.to('backoff');
    machine.to('connecting');
    machine.to('stopped');
    expect(seen).toEqual(['idle->connecting', 'connecting->connected', 'connected->backoff', 'backoff->connecting', 'connecting->stopped']);
  });

  it('refuses an illegal transition', () => {
    const machine = new ConnectionStateMachine();
    expect(() => machine.to('connected')).toThrow('illegal connection transition idle -> connected');
    machine.to('stopped');
    expect(() => machine.to('connecting')).toThrow(/stopped -> connecting/);
  });
});

describe('topics', () => {
  it('builds the contract topics', () => {
    const root = topicRoot('border/v1/{postId}/', 'post-7');
    expect(root).toBe('border/v1/post-7');
    expect(eventTopic(root, 'lane-1', 'vehicle.arrived')).toBe('border/v1/post-7/lane-1/vehicle.arrived');
    expect(statusTopic(root)).toBe('border/v1/post-7/status');
  });
});
