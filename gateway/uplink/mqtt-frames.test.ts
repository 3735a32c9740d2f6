import fc from 'fast-check';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { encodePublish, FrameReader, MalformedStreamError, readPlainPubAck, type PublishFields, type SkippedFrame } from './mqtt-frames.js';
import { publishPacketBytes, stringPropertyBytes } from './packet-size.js';

/** What mqtt-packet (MQTT.js's encoder, written elsewhere) makes of the same publish. */
function referencePublish(fields: PublishFields): Buffer {
  const packet: IPublishPacket = { cmd: 'publish', qos: 1, dup: false, retain: fields.retain, topic: fields.topic, payload: fields.payload, messageId: fields.messageId };
  if (fields.protocolVersion === 5) packet.properties = fields.contentType === undefined ? {} : { contentType: fields.contentType };
  return mqttPacket.generate(packet, { protocolVersion: fields.protocolVersion });
}

function parseAll(bytes: Buffer, protocolVersion: 4 | 5): Packet[] {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.on('error', (error: Error) => {
    throw error;
  });
  parser.parse(bytes);
  return packets;
}

const publishFields = fc.record({
  topic: fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }),
  payload: fc.oneof(fc.string({ maxLength: 400, unit: 'grapheme' }), fc.uint8Array({ maxLength: 400 }).map((bytes) => Buffer.from(bytes))),
  messageId: fc.integer({ min: 1, max: 0xffff }),
  retain: fc.boolean(),
  protocolVersion: fc.constantFrom(4 as const, 5 as const),
  contentType: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
});

describe('encodePublish', () => {
  it('makes the same bytes as mqtt-packet, for MQTT 3.1.1 and 5, strings and buffers, any UTF-8', () => {
    fc.assert(
      fc.property(publishFields, (fields) => {
        const v311 = fields.protocolVersion === 4 ? { ...fields, contentType: undefined } : fields;
        const { contentType, ...rest } = v311;
        const input: PublishFields = contentType === undefined ? rest : { ...rest, contentType };
        expect(encodePublish(input).equals(referencePublish(input))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is read back by mqtt-packet across the Remaining Length boundaries (1 to 3 bytes)', () => {
    for (const payloadBytes of [0, 100, 127, 128, 16_383, 16_384, 70_000]) {
      const fields: PublishFields = { topic: 'border/v1/p/lane-1/vehicle.weighed', payload: 'x'.repeat(payloadBytes), messageId: 513, retain: false, protocolVersion: 5, contentType: 'application/cloudevents+json' };
      const bytes = encodePublish(fields);
      const [packet] = parseAll(bytes, 5) as IPublishPacket[];
      expect(packet).toMatchObject({ cmd: 'publish', qos: 1, retain: false, topic: fields.topic, messageId: 513, properties: { contentType: fields.contentType } });
      expect(Buffer.from(packet?.payload ?? '').length).toBe(payloadBytes);
      // The size the uplink checks against a broker's Maximum Packet Size is the size sent.
      expect(publishPacketBytes(fields.topic, payloadBytes, stringPropertyBytes('application/cloudevents+json'))).toBe(bytes.length);
    }
  });
});

describe('readPlainPubAck', () => {
  it('reads what mqtt-packet encodes: 3.1.1, MQTT 5 success and reason codes', () => {
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'puback', messageId: 7 }, { protocolVersion: 4 }), 4)).toEqual({ messageId: 7, reasonCode: 0 });
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'puback', messageId: 65_535, reasonCode: 0 }, { protocolVersion: 5 }), 5)).toEqual({ messageId: 65_535, reasonCode: 0 });
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'puback', messageId: 300, reasonCode: 0x10 }, { protocolVersion: 5 }), 5)).toEqual({ messageId: 300, reasonCode: 0x10 });
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'puback', messageId: 9, reasonCode: 0x87 }, { protocolVersion: 5 }), 5)).toEqual({ messageId: 9, reasonCode: 0x87 });
    // Reason code and an empty properties section (Remaining Length 4).
    expect(readPlainPubAck(Buffer.from([0x40, 4, 0, 9, 0x97, 0]), 5)).toEqual({ messageId: 9, reasonCode: 0x97 });
  });

  it('leaves a PUBACK with a reason string, and every other packet, to mqtt-packet', () => {
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'puback', messageId: 9, reasonCode: 0x87, properties: { reasonString: 'not yours' } }, { protocolVersion: 5 }), 5)).toBeNull();
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'pingresp' }), 5)).toBeNull();
    // 3.1.1 has no reason code: a longer PUBACK is not read as one here.
    expect(readPlainPubAck(Buffer.from([0x40, 3, 0, 9, 0x10]), 4)).toBeNull();
    expect(readPlainPubAck(mqttPacket.generate({ cmd: 'suback', messageId: 1, granted: [1] }), 5)).toBeNull();
  });
});

describe('FrameReader', () => {
  const packets = [
    mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }),
    mqttPacket.generate({ cmd: 'puback', messageId: 1 }),
    encodePublish({ topic: 'border/v1/p/commands/watchlist', payload: 'y'.repeat(20_000), messageId: 2, retain: true, protocolVersion: 4 }),
    mqttPacket.generate({ cmd: 'pingresp' }),
    mqttPacket.generate({ cmd: 'suback', messageId: 3, granted: [1] }),
  ];
  const stream = Buffer.concat(packets);

  it('returns the same packets however the stream is cut', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 30 }), (cuts) => {
        const reader = new FrameReader(64 * 1024);
        const frames: Buffer[] = [];
        let start = 0;
        for (const end of [...cuts.sort((a, b) => a - b), stream.length]) {
          reader.push(stream.subarray(start, end), (frame) => frames.push(Buffer.from(frame)), () => expect.unreachable('nothing is over the bound'));
          start = end;
        }
        expect(frames.map((frame) => frame.toString('hex'))).toEqual(packets.map((packet) => packet.toString('hex')));
        expect(reader.heldBytes).toBe(0);
      }),
    );
  });

  it('skips a packet over the bound as its bytes pass, holding none of them, and reads the next', () => {
    const bound = 1024;
    const reader = new FrameReader(bound);
    const big = encodePublish({ topic: 'commands', payload: Buffer.alloc(5 * 1024 * 1024, 7), messageId: 4, retain: false, protocolVersion: 5 });
    const after = mqttPacket.generate({ cmd: 'puback', messageId: 5 });
    const frames: Buffer[] = [];
    const skipped: SkippedFrame[] = [];
    let mostHeld = 0;
    const bytes = Buffer.concat([big, after]);
    for (let at = 0; at < bytes.length; at += 1000) {
      reader.push(bytes.subarray(at, at + 1000), (frame) => frames.push(Buffer.from(frame)), (skip) => skipped.push(skip));
      mostHeld = Math.max(mostHeld, reader.heldBytes);
    }
    expect(skipped).toEqual([{ type: 3, bytes: big.length, qos: 1, topic: 'commands', messageId: 4 }]);
    expect(frames.map((frame) => frame.toString('hex'))).toEqual([after.toString('hex')]);
    expect(mostHeld).toBeLessThanOrEqual(bound + 5);
  });

  it('hands on a packet without a body at once, also when its header came in two pieces', () => {
    const reader = new FrameReader(1024);
    const frames: string[] = [];
    reader.push(Buffer.from([0xd0]), (frame) => frames.push(frame.toString('hex')), () => undefined);
    expect(frames).toEqual([]);
    reader.push(Buffer.from([0x00]), (frame) => frames.push(frame.toString('hex')), () => undefined);
    expect(frames).toEqual(['d000']);
    expect(reader.heldBytes).toBe(0);
  });

  it('names a skipped PUBLISH (QoS, topic, packet identifier) from its first bytes, whatever the cuts', () => {
    const big = encodePublish({ topic: 'border/v1/p/commands/model', payload: Buffer.alloc(300_000, 2), messageId: 777, retain: false, protocolVersion: 4 });
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 10 }), (cuts) => {
        const reader = new FrameReader(4096);
        const skipped: SkippedFrame[] = [];
        let start = 0;
        for (const end of [...cuts.sort((a, b) => a - b), big.length]) {
          reader.push(big.subarray(start, end), () => expect.unreachable('over the bound'), (skip) => skipped.push(skip));
          start = end;
        }
        expect(skipped).toEqual([{ type: 3, bytes: big.length, qos: 1, topic: 'border/v1/p/commands/model', messageId: 777 }]);
      }),
    );
  });

  it('refuses a Remaining Length of more than four bytes', () => {
    const reader = new FrameReader(1024);
    expect(() => reader.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => undefined, () => undefined)).toThrow(MalformedStreamError);
  });

  it('never throws anything but MalformedStreamError and never holds more than the bound, whatever the bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 20 }), (chunks) => {
        const reader = new FrameReader(256);
        try {
          for (const chunk of chunks) {
            reader.push(Buffer.from(chunk), (frame) => expect(frame.length).toBeLessThanOrEqual(256 + 5), () => undefined);
            expect(reader.heldBytes).toBeLessThanOrEqual(256 + 5);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedStreamError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
