/**
 * Random bytes for event ids, drawn from a pool refilled 4 KiB at a time from Node's CSPRNG.
 * uuid's own generator makes a call into the crypto binding for 16 bytes per id
 * (crypto.getRandomValues, ≈ 4 µs here): a tenth of the CPU of building and publishing an event.
 * Ids need unique bytes, not secret ones; the pool never hands out the same bytes twice.
 */
import { randomFillSync } from 'node:crypto';

export const RANDOM_POOL_BYTES = 4096;

export type RandomBytes16 = () => Uint8Array;

/**
 * A source of 16 fresh random bytes per call. The bytes returned are a view into the pool, valid
 * until the next call: copy them (uuid's v7 does) before asking again.
 */
export function randomPool(fill: (buffer: Uint8Array) => void = randomFillSync): RandomBytes16 {
  const pool = new Uint8Array(RANDOM_POOL_BYTES);
  let next = RANDOM_POOL_BYTES;
  return () => {
    if (next + 16 > RANDOM_POOL_BYTES) {
      fill(pool);
      next = 0;
    }
    const bytes = pool.subarray(next, next + 16);
    next += 16;
    return bytes;
  };
}
