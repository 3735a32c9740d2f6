import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameSplitter } from './frame-splitter.js';
import { framingFor } from './weighbridge-driver.js';
import { SMA_MOTION_18200_KG, SMA_STABLE_24560_KG, TOLEDO_24560_KG, TOLEDO_MOTION_CHECKSUM } from './golden-frames.js';

const sma = framingFor({ driver: 'sma' });
const toledo = framingFor({ driver: 'toledo', checksum: false });
const toledoChecksum = framingFor({ driver: 'toledo', checksum: true });

describe('FrameSplitter', () => {
  it('resynchronises after garbage and a partial frame', () => {
    const splitter = new FrameSplitter(sma);
    const stream = Buffer.concat([Buffer.from('xx\x01garbage'), SMA_STABLE_24560_KG.subarray(0, 9), SMA_MOTION_18200_KG, SMA_STABLE_24560_KG]);
    const { frames, discarded } = splitter.push(stream);
    expect(frames).toEqual([SMA_MOTION_18200_KG, SMA_STABLE_24560_KG]);
    expect(discarded).toBe(10 + 9);
  });

  it('reassembles frames split across chunks at every byte', () => {
    const stream = Buffer.concat([TOLEDO_24560_KG, TOLEDO_24560_KG]);
    for (let cut = 1; cut < stream.length; cut += 1) {
      const splitter = new FrameSplitter(toledo);
      const frames = [...splitter.push(stream.subarray(0, cut)).frames, ...splitter.push(stream.subarray(cut)).frames];
      expect(frames, `cut at ${cut}`).toEqual([TOLEDO_24560_KG, TOLEDO_24560_KG]);
    }
  });

  it('never throws, and holds at most one frame, on arbitrary bytes', () => {
    for (const framing of [sma, toledo, toledoChecksum, framingFor({ driver: 'pattern' })]) {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 30 }), (chunks) => {
          const splitter = new FrameSplitter(framing);
          for (const chunk of chunks) {
            splitter.push(Buffer.from(chunk));
            const bound = framing.kind === 'fixed' ? framing.length : framing.maxLength + 1;
            if (splitter.pendingBytes > bound) return false;
          }
          return true;
        }),
        { numRuns: 300 },
      );
    }
  });

  it('finds every valid frame hidden in arbitrary garbage without start bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.boolean()), { maxLength: 20 }), (parts) => {
        const splitter = new FrameSplitter(toledoChecksum);
        const expected: Buffer[] = [];
        const chunks: Buffer[] = [];
        for (const [noise, withFrame] of parts) {
          chunks.push(Buffer.from(noise.filter((b) => b !== 0x02)));
          if (withFrame) {
            chunks.push(TOLEDO_MOTION_CHECKSUM);
            expected.push(TOLEDO_MOTION_CHECKSUM);
          }
        }
        const frames = splitter.push(Buffer.concat(chunks)).frames;
        expect(frames).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
