import { describe, expect, it } from 'vitest';
import { RANDOM_POOL_BYTES, randomPool } from './random-pool.js';

describe('randomPool', () => {
  it('hands out each refill 16 bytes at a time, never the same bytes twice, and refills when used up', () => {
    let fills = 0;
    // A counting fill: each 4-byte word holds its refill and its place, so bytes handed out
    // twice (the same place, or a refill skipped) would show as a repeated key.
    const next = randomPool((buffer) => {
      fills += 1;
      const words = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      for (let word = 0; word < buffer.byteLength / 4; word += 1) words.setUint32(word * 4, fills * 0x10000 + word);
    });
    const perFill = RANDOM_POOL_BYTES / 16;
    const seen = new Set<string>();
    for (let call = 0; call < perFill * 2 + 1; call += 1) {
      const bytes = next();
      expect(bytes).toHaveLength(16);
      const key = Buffer.from(bytes).toString('hex');
      expect(seen.has(key)).toBe(false);
      seen.add(key);
      expect(fills).toBe(Math.floor(call / perFill) + 1);
    }
    expect(fills).toBe(3);
  });

  it('gives ids distinct random bytes from the kernel', () => {
    const next = randomPool();
    const drawn = new Set<string>();
    for (let i = 0; i < 1000; i += 1) drawn.add(Buffer.from(next()).toString('hex'));
    expect(drawn.size).toBe(1000);
  });
});
