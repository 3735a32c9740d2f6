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
import { packetBytes, variableByteIntegerBytes } from './packet-size.js';

/** PUBLISH, QoS 1 (fixed header bits 0b0011_0010); the retain flag is bit 0. */
const PUBLISH_QOS1 = 0x32;
const PUBACK = 0x40;
/** MQTT 5 property identifier of Content Type (a UTF-8 string). */
const CONTENT_TYPE_PROPERTY = 0x03;
/** The largest Remaining Length four bytes can hold (MQTT 5.0 section 1.5.5). */
const MAX_REMAINING_LENGTH = 268_435_455;

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
  const packet = Buffer.allocUnsafe(packetBytes(remaining));
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
export function readPlainPubAck(frame: Buffer, protocolVersion: 4 | 5): { messageId: number; reasonCode: number } | null {
  if (frame[0] !== PUBACK) return null;
  const remaining = frame[1];
  if (remaining === 2) return { messageId: frame.readUInt16BE(2), reasonCode: 0 };
  if (protocolVersion === 4) return null; // 3.1.1's PUBACK has no reason code: mqtt-packet judges it
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
  /** A PUBLISH's QoS, topic and packet identifier, read from its first bytes (so it can be acknowledged). */
  qos?: number;
  topic?: string;
  messageId?: number;
}

const PUBLISH_PACKET_TYPE = 3;
/** A PUBLISH's fixed header, topic (length and at most 65,535 bytes) and packet identifier. */
const PUBLISH_PREFIX_BYTES = 5 + 2 + 0xffff + 2;

interface Skipping {
  left: number;
  total: number;
  headerBytes: number;
  /** The packet's first bytes, kept to name a PUBLISH: at most its prefix, at most the bound. */
  prefix: Buffer;
  prefixFilled: number;
}

/**
 * Cuts a byte stream into whole MQTT packets. Holds at most one packet's bytes (the bound plus
 * its fixed header), each byte copied at most once: a packet announcing more than the bound is
 * skipped as its bytes pass (only its first bytes kept, to name and acknowledge a PUBLISH), so a
 * broker (or anything posing as one) cannot make the gateway buffer 256 MB by announcing it.
 */
export class FrameReader {
  /** An incomplete fixed header (at most 5 bytes). */
  private readonly head = Buffer.alloc(5);
  private headLength = 0;
  /** An in-bound packet being filled, allocated at its size once its header is known. */
  private partial: { frame: Buffer; filled: number } | null = null;
  private skipping: Skipping | null = null;

  constructor(private readonly maxPacketBytes: number) {}

  /**
   * Feeds one chunk; calls `onFrame` with each whole packet (a view into the chunk or a buffer of
   * its own, valid during the call) and `onSkip` once per PUBLISH over the bound, when its last
   * byte has passed. Throws MalformedStreamError on a malformed Remaining Length or another
   * packet over the bound, after which the stream cannot be read on.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void, onSkip: (skipped: SkippedFrame) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.skipping) {
        offset = this.skip(chunk, offset, onSkip);
        continue;
      }
      if (this.partial) {
        const { frame } = this.partial;
        const take = Math.min(frame.length - this.partial.filled, chunk.length - offset);
        chunk.copy(frame, this.partial.filled, offset, offset + take);
        this.partial.filled += take;
        offset += take;
        if (this.partial.filled === frame.length) {
          this.partial = null;
          onFrame(frame);
        }
        continue;
      }
      if (this.headLength === 0) {
        const header = readFixedHeader(chunk, offset);
        if (header === null) {
          // Fewer than five bytes left and no whole header among them: kept for the next chunk.
          chunk.copy(this.head, 0, offset);
          this.headLength = chunk.length - offset;
          return;
        }
        const total = header.headerBytes + header.remaining;
        if (header.remaining <= this.maxPacketBytes && chunk.length - offset >= total) {
          onFrame(chunk.subarray(offset, offset + total)); // whole in this chunk: not copied
          offset += total;
          continue;
        }
        this.start(chunk.subarray(offset, offset + header.headerBytes), header.headerBytes, header.remaining);
        offset += header.headerBytes;
        continue;
      }
      // A header split between chunks: one byte at a time until it is whole.
      this.head[this.headLength] = chunk[offset] as number;
      this.headLength += 1;
      offset += 1;
      const header = readFixedHeader(this.head.subarray(0, this.headLength), 0);
      if (header === null) continue;
      this.headLength = 0;
      if (header.remaining === 0) {
        onFrame(Buffer.from(this.head.subarray(0, header.headerBytes))); // a PINGRESP: no body to wait for
        continue;
      }
      this.start(this.head.subarray(0, header.headerBytes), header.headerBytes, header.remaining);
    }
  }

  /** Bytes held of an incomplete packet, or of the start of one being skipped (for tests and metrics). */
  get heldBytes(): number {
    return this.headLength + (this.partial?.filled ?? 0) + (this.skipping?.prefixFilled ?? 0);
  }

  /** A packet whose header (`header`) has been read and whose body comes in later bytes. */
  private start(header: Buffer, headerBytes: number, remaining: number): void {
    const total = headerBytes + remaining;
    if (remaining <= this.maxPacketBytes) {
      const frame = Buffer.allocUnsafe(total);
      header.copy(frame, 0);
      this.partial = { frame, filled: headerBytes };
      return;
    }
    // Only an application message can be that large; any other packet announcing it is garbage.
    const type = (header[0] as number) >> 4;
    if (type !== PUBLISH_PACKET_TYPE) throw new MalformedStreamError(`a packet of type ${type} and ${total} bytes, over the bound`);
    const prefix = Buffer.allocUnsafe(Math.min(total, PUBLISH_PREFIX_BYTES, this.maxPacketBytes + 5));
    header.copy(prefix, 0, 0, Math.min(headerBytes, prefix.length));
    this.skipping = { left: remaining, total, headerBytes, prefix, prefixFilled: Math.min(headerBytes, prefix.length) };
  }

  private skip(chunk: Buffer, offset: number, onSkip: (skipped: SkippedFrame) => void): number {
    const skipping = this.skipping as Skipping;
    const take = Math.min(skipping.left, chunk.length - offset);
    const keep = Math.min(take, skipping.prefix.length - skipping.prefixFilled);
    if (keep > 0) {
      chunk.copy(skipping.prefix, skipping.prefixFilled, offset, offset + keep);
      skipping.prefixFilled += keep;
    }
    skipping.left -= take;
    if (skipping.left === 0) {
      this.skipping = null;
      onSkip(describeSkipped(skipping));
    }
    return offset + take;
  }
}

/** The type of a skipped packet and, for a PUBLISH, what its first bytes say. */
function describeSkipped({ prefix, prefixFilled, headerBytes, total }: Skipping): SkippedFrame {
  const type = (prefix[0] as number) >> 4;
  const skipped: SkippedFrame = { type, bytes: total };
  if (prefixFilled < headerBytes + 2) return skipped;
  const qos = ((prefix[0] as number) >> 1) & 3;
  const topicEnd = headerBytes + 2 + prefix.readUInt16BE(headerBytes);
  skipped.qos = qos;
  if (prefixFilled < topicEnd) return skipped;
  skipped.topic = prefix.toString('utf8', headerBytes + 2, topicEnd);
  if (qos > 0 && prefixFilled >= topicEnd + 2) skipped.messageId = prefix.readUInt16BE(topicEnd);
  return skipped;
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
