/**
 * The simulated indicator's frames, byte for byte, against frames written out by hand from the
 * specifications (never produced by the encoders under test): SMA SCP-0499 "Standard Scale
 * Response" and the Mettler Toledo continuous output (WILDCAT technical manual, appendix 2).
 */
import { describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.js';
import { SimulatedIndicator } from './simulated-indicator.js';
import { smaResponse } from './sma-response.js';
import { toledoContinuous } from './toledo-continuous.js';

/** LF, status Z (centre of zero), range 1, G gross, ' ' stable, ' ' reserved, "         0", "kg ", CR. */
const SMA_EMPTY_PLATFORM = Buffer.from('\nZ1G           0kg \r', 'latin1');
/** 24,360 kg gross, in motion. */
const SMA_MOVING_24360 = Buffer.from('\n 1GM      24360kg \r', 'latin1');
/** A tare error: the weight field is ten dashes. */
const SMA_TARE_ERROR = Buffer.from('\nT1N  ----------kg \r', 'latin1');
/** 1,234.5 lb net, stable, one decimal. */
const SMA_NET_LB = Buffer.from('\n 1N      1234.5lb \r', 'latin1');

/**
 * STX, SWA 0x2A (bit 5 set, increment ×1 = bits 3–4 01, decimal code 010), SWB 0x30 (bit 5 set,
 * bit 4 kg; gross, positive, in range, stable), SWC 0x20, "012340", tare "000000", CR.
 */
const TOLEDO_12340 = Buffer.from([0x02, 0x2a, 0x30, 0x20, 0x30, 0x31, 0x32, 0x33, 0x34, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x0d]);
/**
 * The same with the checksum: the bytes sum to 0x2D3; its 7 low bits 0x53; 2's complement within
 * 7 bits 0x80 - 0x53 = 0x2D.
 */
const TOLEDO_12340_CHECKSUM = Buffer.concat([TOLEDO_12340, Buffer.from([0x2d])]);
/** 18,500 kg in motion: SWB 0x38 (bit 3 motion); checksum 0x21 (sum 0x2DF → 0x5F → 0x21). */
const TOLEDO_18500_MOTION_CHECKSUM = Buffer.from([0x02, 0x2a, 0x38, 0x20, 0x30, 0x31, 0x38, 0x35, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x0d, 0x21]);

describe('SMA SCP-0499 standard scale response', () => {
  it('writes the 20-byte frames of the standard', () => {
    expect(smaResponse({ status: 'centre-of-zero', mode: 'gross', motion: false, weight: 0, unit: 'kg' })).toEqual(SMA_EMPTY_PLATFORM);
    expect(smaResponse({ status: 'ok', mode: 'gross', motion: true, weight: 24_360, unit: 'kg' })).toEqual(SMA_MOVING_24360);
    expect(smaResponse({ status: 'tare-error', mode: 'net', motion: false, weight: 0, unit: 'kg' })).toEqual(SMA_TARE_ERROR);
    expect(smaResponse({ status: 'ok', mode: 'net', motion: false, weight: 1234.5, decimals: 1, unit: 'lb' })).toEqual(SMA_NET_LB);
    for (const frame of [SMA_EMPTY_PLATFORM, SMA_MOVING_24360, SMA_TARE_ERROR, SMA_NET_LB]) expect(frame).toHaveLength(20);
  });

  it('refuses what the frame cannot carry', () => {
    expect(() => smaResponse({ status: 'ok', mode: 'gross', motion: false, weight: 12_345_678_901, unit: 'kg' })).toThrow(RangeError);
    expect(() => smaResponse({ status: 'ok', mode: 'gross', motion: false, weight: 1, unit: 'kg', range: 9 })).toThrow(RangeError);
  });

  it('is what the simulated indicator sends', () => {
    const indicator = new SimulatedIndicator({ protocol: 'sma', clock: systemClock });
    expect(indicator.frame()).toEqual(SMA_EMPTY_PLATFORM);
    indicator.setLoad(24_360, true);
    expect(indicator.frame()).toEqual(SMA_MOVING_24360);
  });
});

describe('Mettler Toledo continuous output', () => {
  it('writes the 17-byte frame, and the 18th checksum byte', () => {
    expect(toledoContinuous({ weightKg: 12_340, motion: false }, false)).toEqual(TOLEDO_12340);
    expect(toledoContinuous({ weightKg: 12_340, motion: false }, true)).toEqual(TOLEDO_12340_CHECKSUM);
    expect(toledoContinuous({ weightKg: 18_500, motion: true }, true)).toEqual(TOLEDO_18500_MOTION_CHECKSUM);
  });

  it('refuses a weight of more than six digits', () => {
    expect(() => toledoContinuous({ weightKg: 1_000_000, motion: false }, false)).toThrow(RangeError);
  });

  it('is what the simulated indicator sends', () => {
    const indicator = new SimulatedIndicator({ protocol: 'toledo', checksum: true, clock: systemClock });
    indicator.setLoad(18_500, true);
    expect(indicator.frame()).toEqual(TOLEDO_18500_MOTION_CHECKSUM);
  });
});
