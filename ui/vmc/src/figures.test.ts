import { describe, expect, it } from 'vitest';
import { change, compact, points, ratio, sharePoints } from './figures.js';

describe('the dashboard’s changes against the year before', () => {
  it('gives a share’s change in points only when both sides had vehicles', () => {
    expect(points(sharePoints({ vehicles: 120, share: 0.3 }, { vehicles: 100, share: 0.264 })!)).toBe('+3.6 pp');
    // No vehicles now ("0.0% −100.0 pp"), or none a year before ("+23.6 pp vs 2023" against a year without data): no change.
    expect(sharePoints({ vehicles: 0, share: 0 }, { vehicles: 100, share: 1 })).toBeNull();
    expect(sharePoints({ vehicles: 50, share: 0.236 }, { vehicles: 0, share: 0 })).toBeNull();
  });

  it('gives a relative change only against a figure a year before', () => {
    expect(change(ratio(105, 100))).toBe('+5.0%');
    expect(ratio(5, 0)).toBeNull();
    expect(ratio(null, 3)).toBeNull();
    expect(change(null)).toBe('–');
  });

  it('gives what rounds to no change without a sign, either way', () => {
    expect(change(ratio(99_999, 100_000))).toBe('0.0%');
    expect(change(0.0004)).toBe('0.0%');
    expect(change(-0.0006)).toBe('-0.1%');
    expect(points(-0.04)).toBe('0.0 pp');
    expect(points(0.06)).toBe('+0.1 pp');
  });
});

describe('the charts’ compact counts', () => {
  it('keeps three digits, so that neighbouring bars read apart', () => {
    // The direction bars of the tester's year: both read "13k" at two digits.
    expect([compact(12_581), compact(13_178)]).toEqual(['12.6k', '13.2k']);
    expect([compact(0), compact(950), compact(1000), compact(1234), compact(2500), compact(125_400)]).toEqual(['0', '950', '1k', '1.23k', '2.5k', '125k']);
    expect([compact(999_600), compact(2_345_678)]).toEqual(['1M', '2.35M']);
  });
});
