/**
 * What a Read Discrete Inputs (function 0x02) reply says, and what the barrier makes of it.
 *
 * Modbus Application Protocol V1.1b3, section 6.2: the response PDU is the function code, a byte
 * count N = quantity / 8 rounded up, and N bytes of input status, the first input addressed in the
 * least significant bit of the first byte. A reply whose byte count is not N is malformed: its
 * bits are not trusted, and an input it does not carry is *unknown*, never "off". The barrier
 * counts an unknown loop or photocell as occupied, so it never closes on doubt.
 *
 * modbus-serial hands back `{ data: boolean[], buffer }` where `data` is padded to whole bytes
 * (8 per status byte, whatever was asked) and `buffer` is the status bytes as the reply's byte
 * count delimits them (after checking the frame length against the quantity asked, not the byte
 * count). So the check is on `buffer.length`, never on `data.length`.
 */

export type ArmPosition = 'open' | 'closed' | 'moving' | 'fault';

export interface BarrierInputs {
  position: ArmPosition;
  vehiclePresent: boolean;
  photocellBlocked: boolean;
}

export interface DiscreteInputsReply {
  /** One entry per input asked for: its state, or null when the reply does not carry it. */
  bits: (boolean | null)[];
  /** Why the reply is malformed, or null. */
  fault: string | null;
}

/** Decodes the input status bytes of a reply to a request for `quantity` inputs. */
export function decodeDiscreteInputs(status: Uint8Array, quantity: number): DiscreteInputsReply {
  const expected = Math.ceil(quantity / 8);
  const bits: (boolean | null)[] = new Array<boolean | null>(quantity).fill(null);
  if (status.length > expected) {
    // Longer than the frame allows: nothing in it is trusted.
    return { bits, fault: `${status.length} bytes of input status for ${quantity} inputs, expected ${expected}` };
  }
  for (let i = 0; i < quantity && i < status.length * 8; i += 1) bits[i] = (((status[i >> 3] as number) >> (i & 7)) & 1) === 1;
  const fault = status.length < expected ? `short reply: ${status.length} bytes of input status for ${quantity} inputs, expected ${expected}` : null;
  return { bits, fault };
}

export interface InputAddresses {
  openLimitInput: number;
  closedLimitInput: number;
  loopInput: number;
  photocellInput: number;
}

/** Both limits at once is a wiring or switch fault; neither means the arm is travelling. */
export function armPosition(openLimit: boolean, closedLimit: boolean): ArmPosition {
  if (openLimit && closedLimit) return 'fault';
  if (openLimit) return 'open';
  if (closedLimit) return 'closed';
  return 'moving';
}

/**
 * The barrier's inputs from the bits of a reply to a request starting at `first`: an unknown
 * loop or photocell counts as active, an unknown limit switch as a position fault.
 */
export function barrierInputs(bits: readonly (boolean | null)[], first: number, addresses: InputAddresses): BarrierInputs {
  const bit = (address: number): boolean | null => bits[address - first] ?? null;
  const openLimit = bit(addresses.openLimitInput);
  const closedLimit = bit(addresses.closedLimitInput);
  return {
    position: openLimit === null || closedLimit === null ? 'fault' : armPosition(openLimit, closedLimit),
    vehiclePresent: bit(addresses.loopInput) !== false,
    photocellBlocked: bit(addresses.photocellInput) !== false,
  };
}
