import { describe, expect, it } from 'vitest';
import { ConnectionStateMachine } from './connection-state.js';
import { eventTopic, statusTopic, topicRoot } from './topics.js';

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
