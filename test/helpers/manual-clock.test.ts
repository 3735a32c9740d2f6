import { describe, expect, it } from 'vitest';
import { ManualClock } from './manual-clock.js';

describe('ManualClock', () => {
  it('reads the same wall time at the same moment however many steps time took to get there', async () => {
    const start = Date.UTC(2026, 10, 26);
    const stepped = new ManualClock(start);
    const leapt = new ManualClock(start);
    // Timers 0.1 ms apart, as a simulation's exponential delays are fractional: a running sum of
    // the steps would round differently from one leap, and runs whose timers differ (a restart's,
    // a retry's) would stamp the same moment differently.
    let fired = 0;
    const tick = (): void => {
      fired += 1;
      if (fired < 10_000) stepped.setTimeout(tick, 0.1);
    };
    stepped.setTimeout(tick, 0.1);
    stepped.advance(1000.05);
    await leapt.runFor(1000.05);
    expect(fired).toBe(10_000);
    expect(stepped.now()).toBe(leapt.now());
    expect(stepped.monotonic()).toBe(leapt.monotonic());
    stepped.stepWall(-500);
    expect(stepped.now()).toBe(leapt.now() - 500);
  });

  it('asks registered work before each timer until it is taken off', async () => {
    const clock = new ManualClock();
    let asked = 0;
    const unsettle = clock.settleWith(() => {
      asked += 1;
      return Promise.resolve(false);
    });
    clock.setTimeout(() => undefined, 10);
    await clock.runFor(20);
    // Before the timer, after it, and at the target.
    expect(asked).toBe(3);
    unsettle();
    clock.setTimeout(() => undefined, 10);
    await clock.runFor(20);
    expect(asked).toBe(3);
    expect(clock.settling).toBe(0);
  });
});
