/**
 * PUBLISH sizes, worked out by hand from MQTT 5.0 section 3.3 and 3.1.1 section 3.3 (fixed header
 * with its Remaining Length, topic, packet identifier, properties, payload), never by encoding.
 */
import { describe, expect, it } from 'vitest';
import { publishPacketBytes, stringPropertyBytes, variableByteIntegerBytes } from './packet-size.js';

/** 'application/cloudevents+json' is 28 bytes: identifier 0x03, two length bytes, the string. */
const CONTENT_TYPE_PROPERTY = 1 + 2 + 28;

describe('publishPacketBytes', () => {
  it('counts a 3.1.1 QoS 1 publish: 1 + RL(1) + topic(2+3) + id(2) + payload(10) = 19', () => {
    expect(publishPacketBytes('t/x', 10, null)).toBe(19);
  });

  it('counts MQTT 5 properties: property length (1) + content type (31) on top, 51 bytes', () => {
    expect(stringPropertyBytes('application/cloudevents+json')).toBe(CONTENT_TYPE_PROPERTY);
    expect(publishPacketBytes('t/x', 10, CONTENT_TYPE_PROPERTY)).toBe(51);
  });

  it('grows the Remaining Length to two bytes past 127 (section 1.5.5)', () => {
    expect(publishPacketBytes('a', 122, null)).toBe(129); // remaining 127: one byte
    expect(publishPacketBytes('a', 123, null)).toBe(131); // remaining 128: two bytes
  });

  it('sizes Variable Byte Integers at their boundaries', () => {
    expect([0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455].map(variableByteIntegerBytes)).toEqual([1, 1, 2, 2, 3, 3, 4, 4]);
  });

  it('counts a topic in UTF-8 bytes, not characters', () => {
    expect(publishPacketBytes('ü', 0, null)).toBe(1 + 1 + 2 + 2 + 2);
  });
});
