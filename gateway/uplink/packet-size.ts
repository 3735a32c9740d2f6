/**
 * Size of a QoS 1 PUBLISH packet, to compare with the Maximum Packet Size a broker announces in
 * its CONNACK (MQTT 5.0 section 3.2.2.3.6: "the total number of bytes in an MQTT Control
 * Packet"). Computed from the lengths rather than by encoding the packet, so checking every
 * publish costs nothing.
 */

/** Bytes of a Variable Byte Integer (MQTT 5.0 section 1.5.5; 3.1.1 section 2.2.3). */
export function variableByteIntegerBytes(value: number): number {
  if (value < 128) return 1;
  if (value < 16_384) return 2;
  if (value < 2_097_152) return 3;
  return 4;
}

/** Bytes of a UTF-8 string property: identifier byte, two length bytes, the string. */
export function stringPropertyBytes(value: string): number {
  return 1 + 2 + Buffer.byteLength(value);
}

/** Total bytes of a packet whose Remaining Length is `remaining`: its fixed header and the rest. */
export function packetBytes(remaining: number): number {
  return 1 + variableByteIntegerBytes(remaining) + remaining;
}

/**
 * Total bytes of a QoS 1 PUBLISH (MQTT 5.0 section 3.3; 3.1.1 section 3.3): fixed header (one
 * byte and the Remaining Length), topic name (two length bytes and the topic), packet identifier
 * (two bytes), with MQTT 5 the properties (their length and the properties themselves; pass
 * `null` for 3.1.1, which has none), and the payload.
 */
export function publishPacketBytes(topic: string, payloadBytes: number, propertiesBytes: number | null): number {
  const properties = propertiesBytes === null ? 0 : variableByteIntegerBytes(propertiesBytes) + propertiesBytes;
  return packetBytes(2 + Buffer.byteLength(topic) + 2 + properties + payloadBytes);
}
