/**
 * Golden frames of the indicator protocols, byte for byte, as named constants: the tests decode
 * and encode them. Source: written out by hand from the specifications (SMA SCP-0499 "Standard
 * Scale Response"; Mettler Toledo continuous output), never produced by the code under test.
 * None is a capture from a real indicator (none public was found; see the README's tests section).
 */

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
/**
 * Toledo with checksum, in motion (SWB bit 3). The checksum worked out by hand, not by the
 * encoder under test: the 17 bytes sum to 0x2DC, its 7 low bits 0x5C, 2's complement within
 * 7 bits 0x80 - 0x5C = 0x24.
 */
export const TOLEDO_MOTION_CHECKSUM = Buffer.from([0x02, 0x2a, 0x38, 0x20, ...Buffer.from('018200000000\r', 'latin1'), 0x24]);
