import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { AxleAccumulator, StabilityDetector } from './stability.js';
import type { WeightReading } from './weight-reading.js';

const reading = (weightKg: number | null, motion = false, status: WeightReading['status'] = 'ok'): WeightReading => ({
  weightKg,
  value: weightKg,
  unit: 'kg',
  mode: 'gross',
  motion,
  status,
});

describe('StabilityDetector', () => {
  const setup = () => {
    const clock = new ManualClock();
    return { clock, detector: new StabilityDetector({ stableMs: 2000, toleranceKg: 20, zeroBandKg: 100, clock }) };
  };

  it('reports a weight once it stayed within tolerance for stableMs, once', () => {
    const { clock, detector } = setup();
    expect(detector.update(reading(24_550))).toBeNull();
    clock.advance(1000);
    expect(detector.update(reading(24_565))).toBeNull();
    clock.advance(999);
    expect(detector.update(reading(24_560))).toBeNull();
    clock.advance(1);
    expect(detector.update(reading(24_555))).toEqual({ weightKg: 24_558 });
    clock.advance(5000);
    expect(detector.update(reading(24_560))).toBeNull();
  });

  it('restarts the wait on motion, an error, or a change beyond tolerance', () => {
    const { clock, detector } = setup();
    detector.update(reading(24_000));
    clock.advance(1500);
    detector.update(reading(24_000, true));
    clock.advance(1500);
    expect(detector.update(reading(24_000))).toBeNull();
    clock.advance(1500);
    detector.update(reading(null, false, 'zero-error'));
    expect(detector.update(reading(24_000))).toBeNull();
    clock.advance(1500);
    expect(detector.update(reading(24_050))).toBeNull(); // moved 50 kg > 20 kg tolerance
    clock.advance(2000);
    expect(detector.update(reading(24_050))).toEqual({ weightKg: 24_050 });
  });

  it('never reports an empty platform', () => {
    const { clock, detector } = setup();
    detector.update(reading(0, false, 'centre-of-zero'));
    clock.advance(10_000);
    expect(detector.update(reading(0, false, 'centre-of-zero'))).toBeNull();
  });
});

describe('AxleAccumulator', () => {
  it('sums the stable axles of one vehicle once the platform stays empty', () => {
    const clock = new ManualClock();
    const axles = new AxleAccumulator({ stableMs: 1000, toleranceKg: 20, zeroBandKg: 100, vehicleGapMs: 3000, clock });
    const results = [];
    for (const axle of [7000, 11_500, 11_400]) {
      results.push(axles.update(reading(axle / 2, true)));
      results.push(axles.update(reading(axle)));
      clock.advance(1000);
      results.push(axles.update(reading(axle)));
      results.push(axles.update(reading(0)));
      clock.advance(1000); // gap between axles, shorter than vehicleGapMs
      results.push(axles.update(reading(0)));
    }
    expect(results.every((r) => r === null)).toBe(true);
    clock.advance(2000);
    expect(axles.update(reading(0))).toEqual({ weightKg: 29_900, axles: [7000, 11_500, 11_400] });
    clock.advance(10_000);
    expect(axles.update(reading(0))).toBeNull();
  });
});
