import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { barrierInputs, decodeDiscreteInputs } from './discrete-inputs.js';

describe('Read Discrete Inputs replies', () => {
  it('decodes the specification example', () => {
    // Modbus Application Protocol V1.1b3, section 6.2: inputs 197-218 (22 inputs) answered with
    // byte count 03 and status AC DB 35; "input 197 is the LSB" of AC, inputs 219-221 padding.
    const { bits, fault } = decodeDiscreteInputs(Uint8Array.from([0xac, 0xdb, 0x35]), 22);
    expect(fault).toBeNull();
    const expected = [0xac, 0xdb, 0x35].flatMap((byte) => Array.from({ length: 8 }, (_, i) => ((byte >> i) & 1) === 1)).slice(0, 22);
    expect(bits).toEqual(expected);
    expect(bits.slice(0, 8)).toEqual([false, false, true, true, false, true, false, true]); // 1010 1100, LSB first
  });

  it('reports a short or long byte count as a fault with unknown inputs', () => {
    expect(decodeDiscreteInputs(new Uint8Array(0), 4)).toEqual({ bits: [null, null, null, null], fault: 'short reply: 0 bytes of input status for 4 inputs, expected 1' });
    expect(decodeDiscreteInputs(Uint8Array.from([0xff]), 12)).toEqual({
      bits: [true, true, true, true, true, true, true, true, null, null, null, null],
      fault: 'short reply: 1 bytes of input status for 12 inputs, expected 2',
    });
    expect(decodeDiscreteInputs(Uint8Array.from([0x00, 0x00]), 4)).toEqual({ bits: [null, null, null, null], fault: '2 bytes of input status for 4 inputs, expected 1' });
  });

  it('counts an unknown loop or photocell as active and an unknown limit as a fault', () => {
    const addresses = { openLimitInput: 0, closedLimitInput: 1, loopInput: 10, photocellInput: 11 };
    const { bits } = decodeDiscreteInputs(Uint8Array.from([0x01]), 12);
    expect(barrierInputs(bits, 0, addresses)).toEqual({ position: 'open', vehiclePresent: true, photocellBlocked: true });
    expect(barrierInputs([null, false, false, false], 0, { ...addresses, loopInput: 2, photocellInput: 3 })).toMatchObject({ position: 'fault', vehiclePresent: false });
  });

  it('never reports an input clear whose bit the reply does not carry', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 6 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.nat({ max: 45 }), { minLength: 4, maxLength: 4 }),
        (status, quantity, first, offsets) => {
          const reply = decodeDiscreteInputs(status, quantity);
          const expectedBytes = Math.ceil(quantity / 8);
          // A bit is "in the reply" only when the byte count is not too long and its byte is there.
          const carried = (index: number): boolean => status.length <= expectedBytes && index < quantity && index < status.length * 8;
          if (reply.bits.length !== quantity) return false;
          if ((reply.fault === null) !== (status.length === expectedBytes)) return false;
          if (reply.bits.some((bit, i) => bit !== null && !carried(i))) return false;
          const [open, closed, loop, photocell] = offsets.map((o) => first + o) as [number, number, number, number];
          const inputs = barrierInputs(reply.bits, first, { openLimitInput: open, closedLimitInput: closed, loopInput: loop, photocellInput: photocell });
          if (!carried(loop - first) && !inputs.vehiclePresent) return false;
          if (!carried(photocell - first) && !inputs.photocellBlocked) return false;
          if ((!carried(open - first) || !carried(closed - first)) && inputs.position !== 'fault') return false;
          return true;
        },
      ),
      { numRuns: 10_000 },
    );
  });
});
