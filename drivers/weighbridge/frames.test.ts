import fc from 'fast-check';
/** Byte-exact golden frames for the indicator protocols, and their decoding. */
import { describe, expect, it } from 'vitest';
import { encodeSmaFrame, parseSmaFrame } from './sma-frame.js';
import { encodeToledoFrame, parseToledoFrame } from './toledo-frame.js';
import { compilePattern, parsePatternLine } from './pattern-frame.js';
import {
  SMA_MOTION_18200_KG,
  SMA_NET_TONNES,
  SMA_STABLE_24560_KG,
  SMA_ZERO,
  SMA_ZERO_ERROR,
  TOLEDO_24560_KG,
  TOLEDO_MOTION_CHECKSUM,
} from './golden-frames.js';

describe('SMA SCP-0499 frames', () => {
  it('are 20 bytes and decode weight, motion, status and unit', () => {
    expect(SMA_STABLE_24560_KG).toHaveLength(20);
    expect(parseSmaFrame(SMA_STABLE_24560_KG)).toEqual({ ok: true, reading: { weightKg: 24560, value: 24560, unit: 'kg', mode: 'gross', motion: false, status: 'ok' } });
    expect(parseSmaFrame(SMA_MOTION_18200_KG)).toMatchObject({ ok: true, reading: { weightKg: 18200, motion: true } });
    expect(parseSmaFrame(SMA_ZERO)).toMatchObject({ ok: true, reading: { weightKg: 0, status: 'centre-of-zero' } });
    expect(parseSmaFrame(SMA_ZERO_ERROR)).toMatchObject({ ok: true, reading: { weightKg: null, status: 'zero-error' } });
    expect(parseSmaFrame(SMA_NET_TONNES)).toMatchObject({ ok: true, reading: { weightKg: 24560, value: 24.56, unit: 't', mode: 'net' } });
  });

  it('encode to the golden bytes', () => {
    expect(encodeSmaFrame({ value: 24560, unit: 'kg', mode: 'gross', motion: false, status: 'ok' })).toEqual(SMA_STABLE_24560_KG);
    expect(encodeSmaFrame({ value: 18200, unit: 'kg', mode: 'gross', motion: true, status: 'ok' })).toEqual(SMA_MOTION_18200_KG);
    expect(encodeSmaFrame({ value: 0, unit: 'kg', mode: 'gross', motion: false, status: 'centre-of-zero' })).toEqual(SMA_ZERO);
    expect(encodeSmaFrame({ value: null, unit: 'kg', mode: 'gross', motion: false, status: 'zero-error' })).toEqual(SMA_ZERO_ERROR);
  });

  it('reject malformed frames with a reason', () => {
    expect(parseSmaFrame(Buffer.from('\nX1G       24560kg \r', 'latin1'))).toEqual({ ok: false, error: 'unknown SMA status "X"' });
    expect(parseSmaFrame(Buffer.from('\n 1G       24A60kg \r', 'latin1'))).toMatchObject({ ok: false, error: expect.stringContaining('bad SMA weight') as unknown });
    expect(parseSmaFrame(Buffer.from('\n 1G       24560zz \r', 'latin1'))).toMatchObject({ ok: false });
    expect(parseSmaFrame(SMA_STABLE_24560_KG.subarray(0, 19))).toMatchObject({ ok: false });
  });
});

describe('Mettler Toledo continuous frames', () => {
  it('decode status words without and with checksum', () => {
    expect(parseToledoFrame(TOLEDO_24560_KG)).toEqual({ ok: true, reading: { weightKg: 24560, value: 24560, unit: 'kg', mode: 'gross', motion: false, status: 'ok' } });
    expect(parseToledoFrame(TOLEDO_MOTION_CHECKSUM)).toMatchObject({ ok: true, reading: { weightKg: 18200, motion: true } });
  });

  it('encode to the golden bytes', () => {
    expect(encodeToledoFrame({ value: 24560, motion: false }, false)).toEqual(TOLEDO_24560_KG);
    expect(encodeToledoFrame({ value: 18200, motion: true }, true)).toEqual(TOLEDO_MOTION_CHECKSUM);
  });

  it('apply the decimal position, sign, net, out-of-range and units', () => {
    const frame = Buffer.from(TOLEDO_24560_KG);
    frame[1] = 0x2d; // decimal code 5: XXX.XXX
    frame[2] = 0x33; // kg, negative, net
    expect(parseToledoFrame(frame)).toMatchObject({ ok: true, reading: { value: -24.56, mode: 'net', unit: 'kg' } });
    frame[2] = 0x24; // lb, out of range
    expect(parseToledoFrame(frame)).toMatchObject({ ok: true, reading: { weightKg: null, status: 'out-of-range', unit: 'lb' } });
    frame[1] = 0x28; // decimal code 0: XXXX00
    frame[2] = 0x30;
    expect(parseToledoFrame(frame)).toMatchObject({ ok: true, reading: { value: 2456000 } });
  });

  it('reject a wrong checksum', () => {
    const bad = Buffer.from(TOLEDO_MOTION_CHECKSUM);
    bad[17] = ((bad[17] as number) + 1) & 0x7f;
    expect(parseToledoFrame(bad)).toEqual({ ok: false, error: 'Toledo checksum mismatch' });
  });
});

describe('pattern protocol', () => {
  const regex = compilePattern('^(?<motion>M)?\\s*(?<weight>-?\\d+(?:\\.\\d+)?)\\s*(?<unit>kg|t)?$');
  it('decodes lines by named groups, with the default unit', () => {
    expect(parsePatternLine(Buffer.from('  24560 kg'), regex, 'kg')).toMatchObject({ ok: true, reading: { weightKg: 24560, motion: false } });
    expect(parsePatternLine(Buffer.from('M 24.5 t'), regex, 'kg')).toMatchObject({ ok: true, reading: { weightKg: 24500, motion: true } });
    expect(parsePatternLine(Buffer.from('1200'), regex, 't')).toMatchObject({ ok: true, reading: { weightKg: 1_200_000 } });
    expect(parsePatternLine(Buffer.from('ERR 7'), regex, 'kg')).toMatchObject({ ok: false });
  });
  it('needs a weight group', () => {
    expect(() => compilePattern('^(\\d+)$')).toThrow('named group');
  });
});

describe('frame parsers on arbitrary bytes', () => {
  it('never throw: they return ok or a reason', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 24 }), fc.boolean(), (bytes, framed) => {
        const frame = Buffer.from(bytes);
        if (framed && frame.length >= 17) {
          frame[0] = 0x02;
          frame[16] = 0x0d;
        }
        for (const result of [parseSmaFrame(frame), parseToledoFrame(frame), parsePatternLine(frame, /(?<weight>\d+)/, 'kg')]) {
          if (result.ok !== true && typeof result.error !== 'string') return false;
        }
        return true;
      }),
      { numRuns: 2000 },
    );
  });
});
