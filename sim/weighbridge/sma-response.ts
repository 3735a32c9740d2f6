/**
 * The simulated indicator's SMA frames, written from the Scale Manufacturers Association
 * standard SCP-0499, "Standard Scale Response" (the simulator's own: it shares nothing with the
 * driver's parser):
 *
 *   <LF> <s> <r> <n> <m> <f> <xxxxxx.xxx> <uuu> <CR>      20 bytes
 *
 * s status (' ' none, Z centre of zero, O over capacity, U under capacity, E zero error, I initial
 * zero error, T tare error; for E, I and T the weight field is dashes), r range ('1'…'8'),
 * n G gross / N net / T tare, m 'M' in motion else ' ', f reserved ' ', the weight right-justified
 * in 10 characters with its sign and decimal point, the unit left-justified in 3 ("kg ", "lb ",
 * "t  ", "g  ").
 */

export type SmaStatus = 'ok' | 'centre-of-zero' | 'over-capacity' | 'under-capacity' | 'zero-error' | 'initial-zero-error' | 'tare-error';

export interface SmaResponse {
  status: SmaStatus;
  mode: 'gross' | 'net' | 'tare';
  motion: boolean;
  /** Ignored (dashes are sent) for the error statuses. */
  weight: number;
  unit: 'kg' | 'lb' | 't' | 'g';
  /** Digits after the decimal point; default 0. */
  decimals?: number;
  /** Range 1–8; default 1. */
  range?: number;
}

const STATUS: Record<SmaStatus, string> = {
  ok: ' ',
  'centre-of-zero': 'Z',
  'over-capacity': 'O',
  'under-capacity': 'U',
  'zero-error': 'E',
  'initial-zero-error': 'I',
  'tare-error': 'T',
};
const MODE = { gross: 'G', net: 'N', tare: 'T' } as const;

export function smaResponse(response: SmaResponse): Buffer {
  const range = response.range ?? 1;
  if (!Number.isInteger(range) || range < 1 || range > 8) throw new RangeError(`SMA range is 1 to 8, not ${range}`);
  const error = response.status === 'zero-error' || response.status === 'initial-zero-error' || response.status === 'tare-error';
  const weight = error ? '-'.repeat(10) : response.weight.toFixed(response.decimals ?? 0).padStart(10, ' ');
  if (weight.length !== 10) throw new RangeError(`weight ${response.weight} does not fit the 10 characters of an SMA response`);
  const header = `${STATUS[response.status]}${range}${MODE[response.mode]}${response.motion ? 'M' : ' '} `;
  return Buffer.from(`\n${header}${weight}${response.unit.padEnd(3, ' ')}\r`, 'latin1');
}
