import { describe, expect, it } from 'vitest';
import { compareModelVersions, isModelVersion } from './model-version.js';

describe('model version order', () => {
  it('orders dotted numbers segment by segment as integers, a longer prefix-equal version being newer', () => {
    const ascending = ['0.9', '1', '1.0', '2026.2.1', '2026.11.26', '2026.11.26.1', '2026.11.26.2', '2026.11.26.10', '2026.11.27', '2026.12.1', '10000000000000000000001'];
    for (let i = 0; i < ascending.length; i += 1) {
      for (let j = 0; j < ascending.length; j += 1) {
        expect(Math.sign(compareModelVersions(ascending[i] as string, ascending[j] as string)), `${ascending[i]} vs ${ascending[j]}`).toBe(Math.sign(i - j));
      }
    }
  });

  it('ignores leading zeros, so a date written either way is the same version', () => {
    expect(compareModelVersions('2026.12.01', '2026.12.1')).toBe(0);
    expect(compareModelVersions('2026.02.28', '2026.11.1')).toBeLessThan(0);
  });

  it('accepts only dotted decimal numbers of bounded length, and refuses to order anything else', () => {
    for (const good of ['1', '2026.11.26', '2026.11.26.1', '007']) expect(isModelVersion(good), good).toBe(true);
    for (const bad of ['', '2026-11-26', 'v1', '1.', '.1', '1..2', 'midday-1', '1.2-rc1', ' 1', '1'.repeat(65)]) expect(isModelVersion(bad), bad).toBe(false);
    expect(() => compareModelVersions('2026.11.26', 'midday-1')).toThrow(/"midday-1" is not a model version/);
  });
});
