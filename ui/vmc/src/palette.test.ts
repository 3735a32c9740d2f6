import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { contrast, PAIRS, PALETTE } from './palette.js';

describe('VMC dashboard palette', () => {
  it('meets WCAG AA contrast for every text and graphics pair', () => {
    const failing = PAIRS.map(([fg, bg, min]) => ({ fg, bg, min, ratio: Math.round(contrast(PALETTE[fg], PALETTE[bg]) * 100) / 100 })).filter((p) => p.ratio < p.min);
    expect(failing).toEqual([]);
  });

  it('computes the reference ratios (black on white is 21:1)', () => {
    expect(contrast('#000000', '#ffffff')).toBeCloseTo(21, 5);
    expect(contrast('#777777', '#ffffff')).toBeCloseTo(4.48, 2);
  });

  it('is the only source of colour in the style sheet', () => {
    const css = readFileSync(new URL('./styles.css', import.meta.url), 'utf8');
    expect(css.match(/#[0-9a-f]{3,8}\b|rgb\(/gi) ?? []).toEqual([]);
    for (const name of css.matchAll(/var\(--c-([a-zA-Z]+)\)/g)) expect(Object.keys(PALETTE), name[0]).toContain(name[1]);
  });
});
