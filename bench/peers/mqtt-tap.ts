/**
 * A TCP relay between a peer and the broker that reads the MQTT packets passing through (it
 * changes none), to tell, for a message that never arrived, whose loss it was: the peer's (the
 * broker never acknowledged it: never sent, or sent and not answered) or the broker's (it sent
 * PUBACK, so the peer was right to forget the message, and then it crashed before delivering
 * it: Mosquitto acknowledges before it persists). Only the framing and the few fields needed are
 * decoded (MQTT 3.1.1 and 5.0: the fixed header, CONNECT's protocol level, PUBLISH's topic,
 * packet id and payload, PUBACK's packet id and reason code).
 *
 * When the broker goes away the relay drops the peer's connection too, and a connection made
 * while the broker is down is closed at once, as the broker's refusal would be.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Classified } from './peer-process.js';

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;

export class MqttTap {
  /** Plates whose QoS 1 PUBLISH the broker acknowledged (PUBACK with a success code). */
  readonly acknowledged = new Set<string>();
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  private constructor(
    private readonly brokerPort: number,
    private readonly classify: (topic: string, payload: Buffer) => Classified,
  ) {
    this.server = createServer((peerSocket) => this.relay(peerSocket));
  }

  /** Listens on a free port of 127.0.0.1 and relays each connection to `brokerPort`. */
  static async start(brokerPort: number, classify: (topic: string, payload: Buffer) => Classified): Promise<MqttTap> {
    const tap = new MqttTap(brokerPort, classify);
    await new Promise<void>((resolve, reject) => {
      tap.server.once('error', reject);
      tap.server.listen(0, '127.0.0.1', () => resolve());
    });
    return tap;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(peerSocket: Socket): void {
    const brokerSocket = connect(this.brokerPort, '127.0.0.1');
    for (const socket of [peerSocket, brokerSocket]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        peerSocket.destroy();
        brokerSocket.destroy();
      });
    }
    let protocolLevel = 4;
    /** Packet id → plate of the peer's QoS 1 publishes not yet acknowledged on this connection. */
    const pending = new Map<number, string>();
    const fromPeer = new PacketReader((type, flags, body) => {
      if (type === CONNECT) protocolLevel = connectProtocolLevel(body);
      if (type !== PUBLISH || ((flags >> 1) & 3) !== 1) return;
      const publish = readPublish(body, protocolLevel);
      const classified = this.classify(publish.topic, publish.payload);
      if (classified && 'plate' in classified) pending.set(publish.packetId, classified.plate);
    });
    const fromBroker = new PacketReader((type, _flags, body) => {
      if (type !== PUBACK || body.length < 2) return;
      const packetId = body.readUInt16BE(0);
      // MQTT 5: a reason code of 0x80 or more refuses the message; none (length 2) is success.
      const reasonCode = protocolLevel === 5 && body.length > 2 ? (body[2] as number) : 0;
      const plate = pending.get(packetId);
      pending.delete(packetId);
      if (plate !== undefined && reasonCode < 0x80) this.acknowledged.add(plate);
    });
    peerSocket.on('data', (chunk: Buffer) => {
      brokerSocket.write(chunk);
      fromPeer.push(chunk);
    });
    brokerSocket.on('data', (chunk: Buffer) => {
      peerSocket.write(chunk);
      fromBroker.push(chunk);
    });
  }
}

/** Splits a byte stream into MQTT control packets: (type, flags, everything after the fixed header). */
class PacketReader {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly onPacket: (type: number, flags: number, body: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const header = fixedHeader(this.buffered);
      if (!header || this.buffered.length < header.headerBytes + header.remaining) return;
      const first = this.buffered[0] as number;
      const body = this.buffered.subarray(header.headerBytes, header.headerBytes + header.remaining);
      this.buffered = this.buffered.subarray(header.headerBytes + header.remaining);
      this.onPacket(first >> 4, first & 0x0f, body);
    }
  }
}

/** The fixed header's length and the remaining length it announces, or null until complete. */
function fixedHeader(buffer: Buffer): { headerBytes: number; remaining: number } | null {
  const length = variableInt(buffer, 1);
  return length && { headerBytes: 1 + length.bytes, remaining: length.value };
}

/** MQTT's variable byte integer at `offset` (1-4 bytes), or null when the buffer ends first. */
function variableInt(buffer: Buffer, offset: number): { value: number; bytes: number } | null {
  let value = 0;
  for (let i = 0; i < 4; i += 1) {
    if (offset + i >= buffer.length) return null;
    const byte = buffer[offset + i] as number;
    value += (byte & 0x7f) * 128 ** i;
    if ((byte & 0x80) === 0) return { value, bytes: i + 1 };
  }
  throw new Error('malformed MQTT remaining length');
}

/** CONNECT's protocol level (4 = 3.1.1, 5 = 5.0), after the length-prefixed protocol name. */
function connectProtocolLevel(body: Buffer): number {
  return body[2 + body.readUInt16BE(0)] ?? 4;
}

function readPublish(body: Buffer, protocolLevel: number): { topic: string; packetId: number; payload: Buffer } {
  const topicBytes = body.readUInt16BE(0);
  const topic = body.toString('utf8', 2, 2 + topicBytes);
  let offset = 2 + topicBytes;
  const packetId = body.readUInt16BE(offset);
  offset += 2;
  if (protocolLevel === 5) {
    const properties = variableInt(body, offset);
    if (!properties) throw new Error('PUBLISH cut short in its properties');
    offset += properties.bytes + properties.value;
  }
  return { topic, packetId, payload: body.subarray(offset) };
}
