import { describe, expect, it } from 'vitest';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { AlarmThrottle, type ThrottledAlarm } from './alarm-throttle.js';

describe('AlarmThrottle', () => {
  it('raises the first at once, then one summary per interval with the count withheld', () => {
    const clock = new ManualClock();
    const raised: ThrottledAlarm[] = [];
    const throttle = new AlarmThrottle(clock, 60_000, (alarm) => raised.push(alarm));
    throttle.record({ n: 1 });
    expect(raised).toEqual([{ details: { n: 1 }, withheld: 0 }]);
    for (let n = 2; n <= 100; n += 1) throttle.record({ n });
    expect(raised).toHaveLength(1);
    clock.advance(60_000);
    expect(raised).toEqual([
      { details: { n: 1 }, withheld: 0 },
      { details: { n: 100 }, withheld: 99 },
    ]);
    clock.advance(60_000);
    expect(raised).toHaveLength(2); // nothing new: no summary
    throttle.record({ n: 101 });
    expect(raised[2]).toEqual({ details: { n: 101 }, withheld: 0 });
  });

  it('raises nothing more once stopped', () => {
    const clock = new ManualClock();
    const raised: ThrottledAlarm[] = [];
    const throttle = new AlarmThrottle(clock, 1000, (alarm) => raised.push(alarm));
    throttle.record({});
    throttle.record({});
    throttle.stop();
    clock.advance(5000);
    expect(raised).toHaveLength(1);
  });
});
