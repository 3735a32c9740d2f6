import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { DEMO_CLOCK_FILE, startDemoClock } from './demo-clock.js';

const HOUR = 3_600_000;

describe('the demo traffic clock', () => {
  it('resumes after a clean stop where it stood, not at the real time', () => {
    const dataDir = tempDir('demo-clock-');
    const base = new ManualClock();
    const first = startDemoClock({ dataDir, speed: 60, base });
    expect(first.resumedFrom).toBeNull();
    expect(first.clock.now()).toBe(base.now());
    base.advance(10 * 60_000); // 10 real minutes: 10 hours of traffic
    const stoppedAt = first.clock.now();
    expect(stoppedAt).toBe(base.now() + 10 * HOUR - 10 * 60_000);
    first.stop();

    base.advance(5_000);
    const second = startDemoClock({ dataDir, speed: 60, base });
    expect(second.resumedFrom).toBe(stoppedAt);
    expect(second.clock.now()).toBe(stoppedAt);
    base.advance(1_000);
    expect(second.clock.now()).toBe(stoppedAt + 60_000);
    second.stop();
  });

  it('after a kill resumes at or after every time it gave out', () => {
    const dataDir = tempDir('demo-clock-');
    const base = new ManualClock();
    const running = startDemoClock({ dataDir, speed: 120, base });
    let latest = 0;
    for (let step = 0; step < 2_500; step += 1) {
      base.advance(137); // saves fall between readings
      latest = running.clock.now();
    }
    // No stop(): the process died. The file holds what the last save wrote.
    const resumed = startDemoClock({ dataDir, speed: 120, base });
    expect(resumed.resumedFrom).not.toBeNull();
    expect(resumed.clock.now()).toBeGreaterThanOrEqual(latest);
    // …by at most the bound it saves (three seconds of real time at ×120).
    expect(resumed.clock.now() - latest).toBeLessThanOrEqual(3 * 1_000 * 120);
  });

  it('starts at the real time when the saved reading is behind it, damaged or absurd', () => {
    for (const text of ['{"trafficMs": 1000}', 'not json', '{"trafficMs": "soon"}', '{"trafficMs": 1e300}', 'x'.repeat(1000), 'null']) {
      const dataDir = tempDir('demo-clock-');
      writeFileSync(join(dataDir, DEMO_CLOCK_FILE), text);
      const base = new ManualClock();
      const clock = startDemoClock({ dataDir, speed: 60, base });
      expect(clock.resumedFrom, text).toBeNull();
      expect(clock.clock.now()).toBe(base.now());
      clock.stop();
      expect(JSON.parse(readFileSync(join(dataDir, DEMO_CLOCK_FILE), 'utf8'))).toEqual({ trafficMs: base.now() });
    }
  });

  it('goes on when it cannot save', () => {
    const errors: unknown[] = [];
    const base = new ManualClock();
    const clock = startDemoClock({ dataDir: join(tempDir('demo-clock-'), 'missing'), speed: 60, base, onSaveError: (error) => errors.push(error) });
    base.advance(3_000);
    clock.stop();
    expect(errors).toHaveLength(5); // at start, after 1, 2 and 3 s, and at stop
    expect(clock.clock.now()).toBe(base.now() + 3_000 * 59);
  });
});
