/**
 * Golden frames of the indicator protocols, byte for byte, as named constants: the tests decode
 * and encode them, and the simulator's output is checked against them.
 */
import { toledoChecksum } from './toledo-frame.js';

/** `<LF> <s=' '> <r='1'> <n='G'> <m=' '> <f=' '> <weight:10> <unit:3> <CR>`: 24,560 kg gross, stable. */
export const SMA_STABLE_24560_KG = Buffer.from('\n 1G       24560kg \r', 'latin1');
/** Same, in motion. */
export const SMA_MOTION_18200_KG = Buffer.from('\n 1GM      18200kg \r', 'latin1');
/** Centre of zero. */
export const SMA_ZERO = Buffer.from('\nZ1G           0kg \r', 'latin1');
/** Zero error: weight field is dashes. */
export const SMA_ZERO_ERROR = Buffer.from('\nE1G  ----------kg \r', 'latin1');
/** Net, tonnes with decimals. */
export const SMA_NET_TONNES = Buffer.from('\n 1N      24.560t  \r', 'latin1');
/** Toledo, no checksum: SWA=0x2A (×1), SWB=0x30 (kg, gross, stable), SWC=0x20, 024560 / tare 000000. */
export const TOLEDO_24560_KG = Buffer.from([0x02, 0x2a, 0x30, 0x20, ...Buffer.from('024560000000\r', 'latin1')]);
/** Toledo with checksum, in motion (SWB bit 3). */
export const TOLEDO_MOTION_CHECKSUM = Buffer.from([0x02, 0x2a, 0x38, 0x20, ...Buffer.from('018200000000\r', 'latin1'), 0x00]);
TOLEDO_MOTION_CHECKSUM[17] = toledoChecksum(TOLEDO_MOTION_CHECKSUM.subarray(0, 17));
