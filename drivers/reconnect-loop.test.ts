/** The reconnect loop's backoff on an injected clock: no real time passes in this test. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { ReconnectLoop, type Connection } from './reconnect-loop.js';

function controllable(): { connection: Connection; drop: (error: Error) => void } {
  let drop: (error: Error) => void = () => undefined;
  const closed = new Promise<Error | null>((resolve) => (drop = resolve));
  return { connection: { closed, close: () => drop(new Error('closed')) }, drop };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ReconnectLoop', () => {
  it('retries with capped, jittered exponential backoff and resets after a success', async () => {
    const clock = new ManualClock();
    const attemptsAt: number[] = [];
    let fail = true;
    let current: ReturnType<typeof controllable> | null = null;
    const events: string[] = [];
    const loop = new ReconnectLoop({
      clock,
      backoff: { initialMs: 100, maxMs: 800 },
      random: () => 1, // the top of the jitter range: delays are exactly the cap
      connect: () => {
        attemptsAt.push(clock.monotonic());
        if (fail) return Promise.reject(new Error('ECONNREFUSED'));
        current = controllable();
        return Promise.resolve(current.connection);
      },
      onUp: () => events.push('up'),
      onDown: (error) => events.push(`down:${error?.message}`),
    });
    /** The next attempt comes exactly `ms` after the previous failure, not a millisecond earlier. */
    const expectAttemptAfter = async (ms: number): Promise<void> => {
      const before = attemptsAt.length;
      clock.advance(ms - 1);
      await flush();
      expect(attemptsAt.length, `no attempt before ${ms} ms`).toBe(before);
      clock.advance(1);
      await flush();
      expect(attemptsAt.length, `an attempt at ${ms} ms`).toBe(before + 1);
    };
    loop.start();
    await flush();
    expect(attemptsAt).toEqual([0]);
    // Doubling from 100, capped at 800.
    for (const delay of [100, 200, 400, 800, 800]) await expectAttemptAfter(delay);
    expect(events.filter((e) => e === 'down:ECONNREFUSED')).toHaveLength(6);
    fail = false;
    await expectAttemptAfter(800);
    expect(events.at(-1)).toBe('up');
    // Up as long as the wait before it: a recovery, back to the initial delay.
    clock.advance(800);
    current!.drop(new Error('device unplugged'));
    await flush();
    expect(events.at(-1)).toBe('down:device unplugged');
    await expectAttemptAfter(100);
    // Up for less than the wait before it (a device that accepts and drops at once): no recovery,
    // the delay goes on growing.
    expect(events.at(-1)).toBe('up');
    clock.advance(99);
    current!.drop(new Error('dropped at once'));
    await flush();
    await expectAttemptAfter(200);
    current!.drop(new Error('dropped at once'));
    await flush();
    await expectAttemptAfter(400);
    const before = attemptsAt.length;
    loop.stop();
    clock.advance(10_000);
    await flush();
    expect(attemptsAt.length).toBe(before);
  });
});
