import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SortedDoubles } from './sorted-doubles.js';

describe('SortedDoubles', () => {
  it('reads back every value appended, ascending, whatever the run length and however often it is read', () => {
    const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x + 0), fc.constantFrom(0, 1, 1, 2, 1e16), fc.integer({ min: -5, max: 5 }));
    fc.assert(
      fc.property(fc.array(fc.array(value, { maxLength: 40 }), { maxLength: 12 }), fc.integer({ min: 1, max: 9 }), (batches, runLength) => {
        const doubles = new SortedDoubles(runLength);
        const all: number[] = [];
        for (const batch of batches) {
          for (const x of batch) doubles.push(x);
          all.push(...batch);
          expect(doubles.length).toBe(all.length);
          // Read between batches too: appending after a read goes on from there.
          expect([...doubles.ascending()]).toEqual([...all].sort((a, b) => a - b));
        }
      }),
      { seed: 20_261_202, numRuns: 500 },
    );
  });

  it('grows past its first capacity, with the default run length', () => {
    const doubles = new SortedDoubles();
    const all = Array.from({ length: 20_000 }, (_, i) => (i * 7919) % 20_011);
    for (const x of all) doubles.push(x);
    expect([...doubles.ascending()]).toEqual(all.sort((a, b) => a - b));
    expect(() => new SortedDoubles(0)).toThrow('run length must be a whole number > 0');
  });
});
