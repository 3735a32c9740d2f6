import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LiveStream, type EventSourceLike, type LiveHandlers, type LiveState } from './live.js';

/** A stand-in EventSource: the test fires its events. */
class FakeSource implements EventSourceLike {
  readonly listeners = new Map<string, ((event: Event) => void)[]>();
  closed = false;
  addEventListener(type: string, listener: (event: Event) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
  }
  fire(type: string, data?: unknown): void {
    const event = (data === undefined ? { type } : { type, data: JSON.stringify(data) }) as unknown as Event;
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }
}

describe('live stream', () => {
  let sources: FakeSource[];
  let states: LiveState[];
  let alive: boolean | Error;
  let ended: number;
  let handlers: LiveHandlers;

  beforeEach(() => {
    vi.useFakeTimers();
    sources = [];
    states = [];
    alive = true;
    ended = 0;
    handlers = {
      onLanes: vi.fn(),
      onAlarm: vi.fn(),
      onState: (state) => states.push(state),
      onSessionEnded: () => (ended += 1),
      sessionAlive: () => (alive instanceof Error ? Promise.reject(alive) : Promise.resolve(alive)),
    };
  });
  afterEach(() => vi.useRealTimers());

  const start = (): LiveStream => {
    const stream = new LiveStream('/api/live', handlers, {
      open: () => {
        const source = new FakeSource();
        sources.push(source);
        return source;
      },
      random: () => 1,
    });
    stream.start();
    return stream;
  };

  it('hands on lanes and alarms and says when it is live', () => {
    start();
    sources[0]?.fire('open');
    sources[0]?.fire('lanes', [{ laneId: 'lane-1' }]);
    sources[0]?.fire('alarm', { laneId: 'lane-1', code: 'WF_PLATE_UNREAD' });
    expect(handlers.onLanes).toHaveBeenCalledWith([{ laneId: 'lane-1' }]);
    expect(handlers.onAlarm).toHaveBeenCalledWith({ laneId: 'lane-1', code: 'WF_PLATE_UNREAD' });
    expect(states).toEqual(['live']);
  });

  it('reconnects by itself with growing, capped delays while the session lives', async () => {
    start();
    sources[0]?.fire('open');
    sources[0]?.fire('error');
    expect(states.at(-1)).toBe('reconnecting');
    expect(sources[0]?.closed).toBe(true);
    // 500 ms, then 1 s, 2 s, 4 s, 8 s, 8 s (random() = 1: the whole delay).
    for (const [index, delay] of [500, 1000, 2000, 4000, 8000, 8000].entries()) {
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(sources).toHaveLength(index + 1);
      await vi.advanceTimersByTimeAsync(1);
      expect(sources).toHaveLength(index + 2);
      sources.at(-1)?.fire('error');
    }
    // Once through, the delays start again from the shortest.
    await vi.advanceTimersByTimeAsync(8000);
    sources.at(-1)?.fire('open');
    expect(states.at(-1)).toBe('live');
    sources.at(-1)?.fire('error');
    const count = sources.length;
    await vi.advanceTimersByTimeAsync(500);
    expect(sources).toHaveLength(count + 1);
  });

  it('does not reconnect when the session has gone, and says so', async () => {
    start();
    sources[0]?.fire('error');
    alive = false;
    await vi.advanceTimersByTimeAsync(500);
    expect(sources).toHaveLength(1);
    expect(ended).toBe(1);
    expect(states.at(-1)).toBe('closed');
  });

  it('keeps trying while the gateway cannot even be asked', async () => {
    start();
    sources[0]?.fire('error');
    alive = new Error('network down');
    await vi.advanceTimersByTimeAsync(500 + 1000);
    expect(sources).toHaveLength(1);
    alive = true;
    await vi.advanceTimersByTimeAsync(2000);
    expect(sources).toHaveLength(2);
  });

  it('ends on session-ended and stops for good', async () => {
    const stream = start();
    sources[0]?.fire('session-ended');
    expect(ended).toBe(1);
    expect(sources[0]?.closed).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sources).toHaveLength(1);
    stream.stop();
  });
});
