import { describe, expect, it } from 'vitest';
import { ID_PATTERN, MAX_ID_LENGTH } from './identifiers.js';

describe('the one rule of post, lane and device ids', () => {
  it(`takes 1 to ${MAX_ID_LENGTH} of a-z 0-9 -, starting with a letter or digit, and nothing longer`, () => {
    expect(MAX_ID_LENGTH).toBe(63);
    for (const id of ['a', '0', 'lane-1', 'a'.repeat(MAX_ID_LENGTH), `x-${'9'.repeat(MAX_ID_LENGTH - 2)}`]) expect(ID_PATTERN.test(id), id).toBe(true);
    for (const id of ['', 'a'.repeat(MAX_ID_LENGTH + 1), '-lane', 'Lane-1', 'lane_1', 'lane 1', 'lane/1', 'lane+', 'lane#', 'lane-1\n']) expect(ID_PATTERN.test(id), JSON.stringify(id)).toBe(false);
  });
});
