import { describe, expect, it } from 'vitest';
import { change, points, ratio, sharePoints } from './figures.js';

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
});
