import { describe, expect, it } from 'vitest';
import { quantile, rocAuc } from './evaluation.js';

describe('model evaluation', () => {
  it('computes the AUC by hand-checked cases', () => {
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
    // One of four positive/negative pairs is inverted: 3/4.
    expect(rocAuc([0.1, 0.6, 0.5, 0.9], [0, 0, 1, 1])).toBe(0.75);
    // Ties count half.
    expect(rocAuc([0.5, 0.5], [0, 1])).toBe(0.5);
    expect(() => rocAuc([0.1], [1])).toThrow(/both positive and negative/);
  });

  it('takes nearest-rank quantiles', () => {
    expect(quantile([5, 1, 4, 2, 3], 0.6)).toBe(3);
    expect(quantile([5, 1, 4, 2, 3], 1)).toBe(5);
  });
});
