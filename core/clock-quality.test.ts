import { describe, expect, it } from 'vitest';
import { ManualClock } from '../test/helpers/manual-clock.js';
import { createClockQualityProbe, parseChronyTracking } from './clock-quality.js';

// A `chronyc -c tracking` line: last offset -0.000012345 s, leap status Normal.
const TRACKING = 'A9FEA97B,169.254.169.123,4,1795675000.123456789,0.000001234,-0.000012345,0.000020000,-12.345,0.001,0.020,0.000300000,0.000200000,64.4,Normal';

describe('clock quality', () => {
  it('reads chrony tracking: synchronised and the last offset in ms', () => {
    expect(parseChronyTracking(TRACKING)).toEqual({ synchronised: true, offsetMs: -0.012 });
    expect(parseChronyTracking(TRACKING.replace('Normal', 'Not synchronised'))).toMatchObject({ synchronised: false });
    expect(parseChronyTracking('garbage')).toBeNull();
  });

  it('falls back to the timesyncd flag, and probes at most once per refresh interval', () => {
    const clock = new ManualClock();
    let probes = 0;
    let synced = false;
    const probe = createClockQualityProbe(clock, 60_000, {
      chronyTracking: () => {
        probes += 1;
        return null;
      },
      timesyncSynchronised: () => synced,
    });
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    synced = true;
    clock.advance(59_000);
    expect(probe()).toEqual({ synchronised: false, offsetMs: null });
    clock.advance(1_000);
    expect(probe()).toEqual({ synchronised: true, offsetMs: null });
    expect(probes).toBe(2);
  });
});
