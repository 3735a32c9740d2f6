/**
 * Mettler Toledo continuous output: `STX SWA SWB SWC <weight:6> <tare:6> CR [checksum]`, 17 bytes
 * or 18 with the checksum (2's complement of the 7-bit sum of every preceding byte, STX and CR
 * included). SWA bits 0-2: decimal position (000 = ×100 … 010 = ×1, 011 = 1 decimal … 111 = 5);
 * SWB bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion, bit 4 kg (else lb);
 * SWC bit 0 grams.
 */
import { toKg, type WeightReading, type WeightUnit } from './weight-reading.js';
import type { FrameResult } from './sma-frame.js';

export const STX = 0x02;
export const TOLEDO_FRAME_LENGTH = 17;

/** Multiplier for each SWA decimal code: 0 → ×100, 1 → ×10, 2 → ×1, 3 → ÷10 … 7 → ÷100000. */
const SCALE = [100, 10, 1, 0.1, 0.01, 0.001, 0.0001, 0.00001];

export function toledoChecksum(bytes: Buffer): number {
  let sum = 0;
  for (const byte of bytes) sum += byte;
  return (-sum) & 0x7f;
}

/** Decodes a 17-byte frame, or an 18-byte one whose last byte must be the checksum. */
export function parseToledoFrame(frame: Buffer): FrameResult {
  if ((frame.length !== TOLEDO_FRAME_LENGTH && frame.length !== TOLEDO_FRAME_LENGTH + 1) || frame[0] !== STX || frame[16] !== 0x0d) {
    return { ok: false, error: `not a Toledo frame (${frame.length} bytes)` };
  }
  if (frame.length === TOLEDO_FRAME_LENGTH + 1 && toledoChecksum(frame.subarray(0, 17)) !== ((frame[17] as number) & 0x7f)) {
    return { ok: false, error: 'Toledo checksum mismatch' };
  }
  const swa = frame[1] as number;
  const swb = frame[2] as number;
  const swc = frame[3] as number;
  const digits = frame.subarray(4, 10).toString('latin1');
  const tare = frame.subarray(10, 16).toString('latin1');
  if (!/^[ 0-9]{6}$/.test(digits) || !/^[ 0-9]{6}$/.test(tare)) return { ok: false, error: 'Toledo weight field is not digits' };
  const scale = SCALE[swa & 0x07] as number;
  const negative = (swb & 0x02) !== 0;
  const unit: WeightUnit = (swc & 0x01) !== 0 ? 'g' : (swb & 0x10) !== 0 ? 'kg' : 'lb';
  const value = Math.round(Number(digits.trim() || '0') * scale * (negative ? -1 : 1) * 1e5) / 1e5;
  const outOfRange = (swb & 0x04) !== 0;
  const reading: WeightReading = {
    weightKg: outOfRange ? null : toKg(value, unit),
    value: outOfRange ? null : value,
    unit,
    mode: (swb & 0x01) !== 0 ? 'net' : 'gross',
    motion: (swb & 0x08) !== 0,
    status: outOfRange ? 'out-of-range' : 'ok',
  };
  return { ok: true, reading };
}

/** Encodes a frame (whole units, decimal code 2); `checksum` appends the 18th byte. */
export function encodeToledoFrame(reading: { value: number; motion: boolean; net?: boolean; outOfRange?: boolean; tare?: number }, checksum: boolean): Buffer {
  const swa = 0x20 | 0x08 | 0x02; // bit 5 always 1, increment ×1, decimal code 2 (XXXXXX)
  const swb = 0x20 | 0x10 | (reading.net ? 0x01 : 0) | (reading.value < 0 ? 0x02 : 0) | (reading.outOfRange ? 0x04 : 0) | (reading.motion ? 0x08 : 0);
  const swc = 0x20;
  const weight = String(Math.abs(Math.round(reading.value))).padStart(6, '0');
  const tare = String(Math.round(reading.tare ?? 0)).padStart(6, '0');
  if (weight.length !== 6) throw new RangeError(`weight ${reading.value} does not fit 6 digits`);
  const body = Buffer.concat([Buffer.from([STX, swa, swb, swc]), Buffer.from(`${weight}${tare}\r`, 'latin1')]);
  return checksum ? Buffer.concat([body, Buffer.from([toledoChecksum(body)])]) : body;
}
