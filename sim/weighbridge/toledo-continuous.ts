/**
 * The simulated indicator's Mettler Toledo continuous output, written from the format as Mettler
 * Toledo's terminal manuals give it (e.g. the WILDCAT technical manual, appendix 2 "Continuous
 * Mode Output", tables 6-8 to 6-11; the simulator's own code, sharing nothing with the driver):
 *
 *   STX SWA SWB SWC <displayed weight: 6 digits> <tare: 6 digits> CR [checksum]
 *
 * SWA: bits 0–2 decimal point (010 = XXXXXX, no decimals), bits 3–4 increment (01 = ×1), bit 5
 * always 1. SWB: bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion, bit 4 kg (else lb),
 * bit 5 always 1. SWC: bit 5 always 1 (bits 0–2 000: the unit SWB names). The optional checksum
 * is the 2's complement of the 7 low-order bits of the sum of every character before it, STX and
 * CR included.
 */

const STX = 0x02;
const CR = 0x0d;

export interface ToledoOutput {
  /** Whole kilograms (decimal code 010). */
  weightKg: number;
  tareKg?: number;
  motion: boolean;
  net?: boolean;
  outOfRange?: boolean;
}

export function toledoChecksum(bytes: Uint8Array): number {
  let sum = 0;
  for (const byte of bytes) sum += byte;
  return -sum & 0x7f;
}

export function toledoContinuous(output: ToledoOutput, withChecksum: boolean): Buffer {
  const swa = 0b0010_1010; // bit 5 set, increment ×1 (bits 3–4 = 01), decimal point 010
  const swb = 0b0011_0000 | (output.net ? 0x01 : 0) | (output.weightKg < 0 ? 0x02 : 0) | (output.outOfRange ? 0x04 : 0) | (output.motion ? 0x08 : 0);
  const swc = 0b0010_0000;
  const weight = String(Math.abs(Math.round(output.weightKg))).padStart(6, '0');
  const tare = String(Math.abs(Math.round(output.tareKg ?? 0))).padStart(6, '0');
  if (weight.length !== 6 || tare.length !== 6) throw new RangeError(`weight ${output.weightKg} or tare ${output.tareKg ?? 0} does not fit 6 digits`);
  const frame = Buffer.concat([Buffer.from([STX, swa, swb, swc]), Buffer.from(weight + tare, 'latin1'), Buffer.from([CR])]);
  return withChecksum ? Buffer.concat([frame, Buffer.from([toledoChecksum(frame)])]) : frame;
}
