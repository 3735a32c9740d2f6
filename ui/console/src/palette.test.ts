import { describe, expect, it } from 'vitest';
import { contrast, PAIRS, PALETTE } from './palette.js';

describe('console palette', () => {
  it('meets WCAG AA contrast for every text and graphics pair', () => {
    const failing = PAIRS.map(([fg, bg, min]) => ({ fg, bg, min, ratio: Math.round(contrast(PALETTE[fg], PALETTE[bg]) * 100) / 100 })).filter((p) => p.ratio < p.min);
    expect(failing).toEqual([]);
  });

  it('computes the reference ratios (black on white is 21:1)', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });
});
