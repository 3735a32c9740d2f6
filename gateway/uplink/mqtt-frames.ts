/**
 * The uplink's MQTT wire work that runs once per event, written for it: a QoS 1 PUBLISH encoded
 * into one buffer, a PUBACK read in place, and the stream cut into whole packets with a bound on
 * each. Everything else (CONNECT, SUBSCRIBE, a PUBACK with properties, an incoming PUBLISH) goes
 * through mqtt-packet, which MQTT.js itself uses (mqtt-link.ts).
 *
 * Why not MQTT.js's publish: measured side by side (docs/benchmarks.md, "The durable path"), its
 * per-message bookkeeping (an in-memory store the uplink never relies on, a packet object, a
 * debug call per step, several socket writes per packet) cost more than the outbox does.
 *
 * References: MQTT 3.1.1 (OASIS, 2014) sections 2.2, 3.3, 3.4; MQTT 5.0 (OASIS, 2019) sections
 * 1.5.5, 2.2.2, 3.3, 3.4.
 */
import { variableByteIntegerBytes } from './packet-size.js';

/** PUBLISH, QoS 1 (fixed header bits 0b0011_0010); the retain flag is bit 0. */
const PUBLISH_QOS1 = 0x32;
const PUBACK = 0x40;
/** MQTT 5 property identifier of Content Type (a UTF-8 string). */
const CONTENT_TYPE_PROPERTY = 0x03;
/** The largest Remaining Length four bytes can hold (MQTT 5.0 section 1.5.5). */
export const MAX_REMAINING_LENGTH = 268_435_455;

export interface PublishFields {
  topic: string;
  payload: string | Buffer;
  messageId: number;
  retain: boolean;
  /** 5 carries a properties section (with `contentType` when given); 4 has none. */
  protocolVersion: 4 | 5;
  contentType?: string;
}

/** One QoS 1 PUBLISH as the bytes that go on the wire. */
export function encodePublish(fields: PublishFields): Buffer {
  const { topic, payload, messageId, protocolVersion, contentType } = fields;
  const topicBytes = Buffer.byteLength(topic);
  const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const contentTypeBytes = contentType === undefined ? 0 : Buffer.byteLength(contentType);
  const propertyBytes = protocolVersion === 5 && contentType !== undefined ? 1 + 2 + contentTypeBytes : 0;
  const propertiesSection = protocolVersion === 5 ? variableByteIntegerBytes(propertyBytes) + propertyBytes : 0;
  const remaining = 2 + topicBytes + 2 + propertiesSection + payloadBytes;
  if (topicBytes > 0xffff || contentTypeBytes > 0xffff) throw new RangeError('topic or content type longer than 65,535 bytes');
  if (remaining > MAX_REMAINING_LENGTH) throw new RangeError(`PUBLISH of ${remaining} bytes exceeds MQTT's largest packet`);
  const packet = Buffer.allocUnsafe(1 + variableByteIntegerBytes(remaining) + remaining);
  packet[0] = fields.retain ? PUBLISH_QOS1 | 1 : PUBLISH_QOS1;
  let offset = writeVariableByteInteger(packet, 1, remaining);
  offset = packet.writeUInt16BE(topicBytes, offset);
  offset += packet.write(topic, offset, 'utf8');
  offset = packet.writeUInt16BE(messageId, offset);
  if (protocolVersion === 5) {
    offset = writeVariableByteInteger(packet, offset, propertyBytes);
    if (contentType !== undefined) {
      packet[offset] = CONTENT_TYPE_PROPERTY;
      offset = packet.writeUInt16BE(contentTypeBytes, offset + 1);
      offset += packet.write(contentType, offset, 'utf8');
    }
  }
  if (typeof payload === 'string') packet.write(payload, offset, 'utf8');
  else payload.copy(packet, offset);
  return packet;
}

function writeVariableByteInteger(into: Buffer, at: number, value: number): number {
  let offset = at;
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    into[offset] = byte;
    offset += 1;
  } while (rest > 0);
  return offset;
}

/**
 * A PUBACK without properties, read in place: its packet identifier and reason code (0 when the
 * broker left it out, as 3.1.1 always does and MQTT 5 may for success). Null for anything else,
 * including a PUBACK that carries properties (a reason string): mqtt-packet reads those.
 */
export function readPlainPubAck(frame: Buffer): { messageId: number; reasonCode: number } | null {
  if (frame[0] !== PUBACK) return null;
  const remaining = frame[1];
  if (remaining === 2) return { messageId: frame.readUInt16BE(2), reasonCode: 0 };
  if (remaining === 3) return { messageId: frame.readUInt16BE(2), reasonCode: frame[4] as number };
  // Remaining Length 4 with a zero properties length is still plain (MQTT 5.0 section 3.4.2.2).
  if (remaining === 4 && frame[5] === 0) return { messageId: frame.readUInt16BE(2), reasonCode: frame[4] as number };
  return null;
}

/** The stream cannot be read on: a Remaining Length longer than four bytes, or a packet it refuses. */
export class MalformedStreamError extends Error {
  override name = 'MalformedStreamError';
}

/** What the reader does with a packet larger than its bound: its bytes are skipped, never held. */
export interface SkippedFrame {
  /** The packet type (the fixed header's high nibble: 3 is PUBLISH). */
  type: number;
  bytes: number;
}

/**
 * Cuts a byte stream into whole MQTT packets. Holds at most one packet's bytes (the bound plus
 * its fixed header): a packet announcing more is skipped as its bytes pass, so a broker (or
 * anything posing as one) cannot make the gateway buffer 256 MB by announcing it.
 */
export class FrameReader {
  private held: Buffer | null = null;
  private skipping = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /**
   * Feeds one chunk; calls `onFrame` with each whole packet (a view into the chunk or into the
   * bytes held, valid during the call) and `onSkip` once per packet over the bound. Throws on a
   * malformed Remaining Length, after which the stream cannot be read on.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void, onSkip: (skipped: SkippedFrame) => void): void {
    let data = chunk;
    if (this.skipping > 0) {
      const skipped = Math.min(this.skipping, data.length);
      this.skipping -= skipped;
      data = data.subarray(skipped);
    }
    if (this.held) {
      data = Buffer.concat([this.held, data]);
      this.held = null;
    }
    let offset = 0;
    while (offset < data.length) {
      const header = readFixedHeader(data, offset);
      if (header === null) break; // the Remaining Length is not all here yet
      const total = header.headerBytes + header.remaining;
      if (header.remaining > this.maxPacketBytes) {
        onSkip({ type: (data[offset] as number) >> 4, bytes: total });
        const here = Math.min(total, data.length - offset);
        this.skipping = total - here;
        offset += here;
        continue;
      }
      if (data.length - offset < total) break;
      onFrame(data.subarray(offset, offset + total));
      offset += total;
    }
    // Copied, so a large chunk is not kept alive by the few bytes of a packet it ends with.
    if (offset < data.length) this.held = Buffer.from(data.subarray(offset));
  }

  /** Bytes held of an incomplete packet (for tests and metrics). */
  get heldBytes(): number {
    return this.held?.length ?? 0;
  }
}

/** The fixed header at `offset`: its length and the Remaining Length it announces; null if incomplete. */
function readFixedHeader(data: Buffer, offset: number): { headerBytes: number; remaining: number } | null {
  let remaining = 0;
  let multiplier = 1;
  for (let index = 1; index <= 4; index += 1) {
    if (offset + index >= data.length) return null;
    const byte = data[offset + index] as number;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { headerBytes: 1 + index, remaining };
    multiplier *= 128;
  }
  throw new MalformedStreamError('malformed Remaining Length (more than four bytes)');
}
