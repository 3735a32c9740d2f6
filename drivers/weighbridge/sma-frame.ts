/**
 * SMA SCP-0499 standard scale response: `<LF><s><r><n><m><f><weight:10><unit:3><CR>`, 20 bytes.
 * s: 'Z' centre of zero, 'O' over, 'U' under, 'E'/'I' zero error, 'T' tare error, ' ' none (for
 * E/I/T the weight field is dashes); r: range; n: 'G'/'g' gross, 'N'/'n' net, 'T' tare; m: 'M'
 * in motion, ' ' stable; f: reserved. Requests: `<LF>W<CR>` (weight now), `<LF>R<CR>` (repeat).
 */
import { parseUnit, toKg, type WeightMode, type WeightReading, type WeightStatus } from './weight-reading.js';

export const SMA_FRAME_LENGTH = 20;
export const SMA_REQUEST_WEIGHT = Buffer.from('\nW\r', 'latin1');
export const SMA_REQUEST_REPEAT = Buffer.from('\nR\r', 'latin1');
export const LF = 0x0a;
export const CR = 0x0d;

const STATUS: Record<string, WeightStatus> = {
  ' ': 'ok',
  Z: 'centre-of-zero',
  O: 'over-capacity',
  U: 'under-capacity',
  E: 'zero-error',
  I: 'zero-error',
  T: 'tare-error',
};
const MODE: Record<string, WeightMode> = { G: 'gross', g: 'gross', N: 'net', n: 'net', T: 'tare' };

export type FrameResult = { ok: true; reading: WeightReading } | { ok: false; error: string };

/** Decodes one complete 20-byte SMA frame (LF … CR). */
export function parseSmaFrame(frame: Buffer): FrameResult {
  if (frame.length !== SMA_FRAME_LENGTH || frame[0] !== LF || frame[SMA_FRAME_LENGTH - 1] !== CR) {
    return { ok: false, error: `not an SMA frame (${frame.length} bytes)` };
  }
  const text = frame.toString('latin1');
  const status = STATUS[text[1] as string];
  const mode = MODE[text[3] as string];
  const motionFlag = text[4];
  if (!status) return { ok: false, error: `unknown SMA status ${JSON.stringify(text[1])}` };
  if (!/[1-9]/.test(text[2] as string)) return { ok: false, error: `bad SMA range ${JSON.stringify(text[2])}` };
  if (!mode) return { ok: false, error: `unknown SMA gross/net flag ${JSON.stringify(text[3])}` };
  if (motionFlag !== 'M' && motionFlag !== ' ') return { ok: false, error: `bad SMA motion flag ${JSON.stringify(motionFlag)}` };
  const unit = parseUnit(text.slice(16, 19));
  if (!unit) return { ok: false, error: `unknown SMA unit ${JSON.stringify(text.slice(16, 19))}` };
  const field = text.slice(6, 16);
  const isError = status === 'zero-error' || status === 'tare-error';
  if (isError) {
    if (!/^[ -]+$/.test(field)) return { ok: false, error: 'SMA error frame without dashes' };
    return { ok: true, reading: { weightKg: null, value: null, unit, mode, motion: motionFlag === 'M', status } };
  }
  if (!/^ *[-+]? *\d+(\.\d+)?$/.test(field)) return { ok: false, error: `bad SMA weight field ${JSON.stringify(field)}` };
  const value = Number(field.replace(/ /g, ''));
  return { ok: true, reading: { weightKg: toKg(value, unit), value, unit, mode, motion: motionFlag === 'M', status } };
}

/** Encodes a reading as an SMA frame (the simulator's indicator; tests' golden frames). */
export function encodeSmaFrame(reading: Pick<WeightReading, 'value' | 'unit' | 'mode' | 'motion' | 'status'>, decimals = 0): Buffer {
  const status = Object.entries(STATUS).find(([, s]) => s === reading.status)?.[0] ?? ' ';
  const mode = reading.mode === 'net' ? 'N' : reading.mode === 'tare' ? 'T' : 'G';
  const field = reading.value === null ? '-'.repeat(10) : reading.value.toFixed(decimals).padStart(10, ' ');
  if (field.length !== 10) throw new RangeError(`weight ${reading.value} does not fit 10 characters`);
  return Buffer.from(`\n${status}1${mode}${reading.motion ? 'M' : ' '} ${field}${reading.unit.padEnd(3, ' ')}\r`, 'latin1');
}
