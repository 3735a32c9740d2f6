import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { seededRandom } from '../../sim/truck-profiles.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { HeapClock } from './heap-clock.js';

/**
 * A busy schedule on `clock`: timers with random delays (many due at the same moment), some
 * cancelled before they fire, some setting further timers or cancelling others when they fire.
 * Returns what fired, in order, with the clock's time then.
 */
async function schedule(clock: Clock & { runFor(ms: number): Promise<void> }, seed: number): Promise<string[]> {
  const random = seededRandom(seed);
  const fired: string[] = [];
  const handles: TimerHandle[] = [];
  const set = (name: string, depth: number): void => {
    // Delays on a coarse grid, so that ties are common, a fraction off it, so that wall time kept
    // as a running sum of the steps would drift from one kept as start + monotonic.
    const delay = Math.floor(random() * 20) * 50 + 0.1;
    handles.push(
      clock.setTimeout(() => {
        fired.push(`${name}@${clock.monotonic()}/${clock.now()}`);
        if (depth < 3 && random() < 0.5) set(`${name}.${depth}`, depth + 1);
        if (random() < 0.2) clock.clearTimeout(handles[Math.floor(random() * handles.length)] as TimerHandle);
      }, delay),
    );
  };
  for (let i = 0; i < 300; i += 1) set(`t${i}`, 0);
  for (let i = 0; i < 40; i += 1) clock.clearTimeout(handles[Math.floor(random() * handles.length)] as TimerHandle);
  await clock.runFor(400);
  for (let i = 0; i < 50; i += 1) set(`late${i}`, 0);
  await clock.runFor(5000);
  return fired;
}

describe('HeapClock', () => {
  it('runs the same timers in the same order at the same times as the tests’ ManualClock', async () => {
    for (const seed of [1, 2, 3]) {
      const start = Date.UTC(2026, 10, 26);
      const reference = await schedule(new ManualClock(start), seed);
      const heap = await schedule(new HeapClock(start), seed);
      expect(reference.length).toBeGreaterThan(300);
      expect(heap).toEqual(reference);
    }
  });

  it('lets go of a cleared timer at once (a re-armed 12 h timer must not stay alive 12 h)', () => {
    const clock = new HeapClock(0);
    const handles = Array.from({ length: 1000 }, (_, i) => clock.setTimeout(() => undefined, 12 * 3_600_000 + i));
    for (const handle of handles.slice(0, 990)) clock.clearTimeout(handle);
    expect(clock.pendingTimers).toBe(10);
    clock.clearTimeout(handles[0] as TimerHandle);
    expect(clock.pendingTimers).toBe(10);
  });

  it('waits for work registered with settleWith before it runs the next timer', async () => {
    const clock = new HeapClock(0);
    const seen: string[] = [];
    let pending: Promise<void> | null = null;
    // Stands in for the outbox's fsync: started by a timer, finished some turns of the event loop
    // later (as the thread pool's callback is): more turns than the clock gives the loop on its
    // own before a timer, so only settleWith makes the next timer wait for it.
    clock.settleWith(async () => {
      if (!pending) return false;
      await pending;
      pending = null;
      return true;
    });
    clock.setTimeout(() => {
      pending = afterTurns(10).then(() => {
        seen.push('synced');
      });
    }, 10);
    clock.setTimeout(() => seen.push('next timer'), 20);
    await clock.runFor(100);
    expect(seen).toEqual(['synced', 'next timer']);
  });

  it('moves to the end of the span when no timer is due, and runs nothing past it', async () => {
    const clock = new HeapClock(1000);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.monotonic()), 250);
    clock.setTimeout(() => fired.push(clock.monotonic()), 1500);
    await clock.runFor(1000);
    expect(fired).toEqual([250]);
    expect(clock.monotonic()).toBe(1000);
    expect(clock.now()).toBe(2000);
    await clock.runFor(500);
    expect(fired).toEqual([250, 1500]);
  });
});

/** Resolves after `turns` turns of the event loop (a setImmediate each), no wall-clock wait. */
async function afterTurns(turns: number): Promise<void> {
  for (let turn = 0; turn < turns; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
