/**
 * One MQTT connection for the uplink: connect, QoS 1 publishes answered by PUBACK, one QoS 1
 * subscription, keepalive, and nothing else. No reconnecting, no queue, no session kept: the
 * uplink's state machine reconnects, and the outbox is its queue (mqtt-uplink.ts).
 *
 * The uplink used MQTT.js until the sixth session (2026-11-29); measured side by side, its publish
 * path cost the uplink more CPU per event than the outbox (docs/benchmarks.md, "The durable
 * path"). The packets other than PUBLISH and PUBACK are encoded and parsed by mqtt-packet, the
 * library MQTT.js itself uses; the per-event ones by mqtt-frames.ts.
 *
 * Transports: `mqtt://`/`tcp://` (TCP), `mqtts://`/`ssl://` (TLS), `ws://`/`wss://` (WebSocket,
 * subprotocol `mqtt`). Nothing from the broker is held beyond `maxIncomingBytes` per packet.
 */
import { EventEmitter } from 'node:events';
import { connect as netConnect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import mqttPacket, { type IConnackPacket, type IConnectPacket, type Packet } from 'mqtt-packet';
import { WebSocket, createWebSocketStream } from 'ws';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { encodePublish, FrameReader, MalformedStreamError, readPlainPubAck, type SkippedFrame } from './mqtt-frames.js';

export interface MqttLinkOptions {
  url: string;
  protocolVersion: 4 | 5;
  clientId: string;
  keepaliveSec: number;
  username?: string;
  password?: string;
  /** The last will, published QoS 1 by the broker when the connection is lost. */
  will?: { topic: string; payload: Buffer; retain: boolean };
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  connectTimeoutMs: number;
  /** The largest packet taken from the broker; announced to it as Maximum Packet Size (MQTT 5). */
  maxIncomingBytes: number;
  clock: Clock;
}

/** What the broker's CONNACK granted that the uplink needs. */
export interface LinkGrant {
  receiveMaximum?: number;
  maximumPacketSize?: number;
}

export interface MqttLinkEvents {
  connect: [grant: LinkGrant];
  /** An application message on the subscription; acknowledged (QoS 1) once the listeners ran. */
  message: [topic: string, payload: Buffer, retained: boolean];
  /** A packet over `maxIncomingBytes` was skipped unread (a PUBLISH; anything else closes). */
  oversize: [skipped: SkippedFrame];
  error: [error: LinkError];
  /** Once, whatever ended the connection (after 'error' when an error did). */
  close: [];
}

/** An error of the link; `code` is the broker's reason or return code when it gave one. */
export class LinkError extends Error {
  constructor(
    message: string,
    readonly code?: number | string,
  ) {
    super(message);
    this.name = 'LinkError';
  }
}

/** `error` set when the broker refused the publish (reason code >= 0x80) or the link closed first. */
export type PublishCallback = (error: LinkError | undefined, reasonCode: number) => void;

const DEFAULT_PORTS: Record<string, number> = { 'mqtt:': 1883, 'tcp:': 1883, 'mqtts:': 8883, 'ssl:': 8883, 'ws:': 80, 'wss:': 443 };
/** MQTT 5 CONNACK reason codes and their 3.1.1 return codes, for the error text. */
const CONNACK_REFUSALS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad user name or password',
  5: 'not authorized',
  0x80: 'unspecified error',
  0x81: 'malformed packet',
  0x82: 'protocol error',
  0x84: 'unsupported protocol version',
  0x85: 'client identifier not valid',
  0x86: 'bad user name or password',
  0x87: 'not authorized',
  0x88: 'server unavailable',
  0x89: 'server busy',
  0x8a: 'banned',
  0x95: 'packet too large',
  0x97: 'quota exceeded',
  0x9c: 'use another server',
  0x9d: 'server moved',
};
/** Packet types (the fixed header's high nibble). */
const PUBLISH_TYPE = 3;
const LAST_MESSAGE_ID = 0xffff;

export class MqttLink extends EventEmitter<MqttLinkEvents> {
  private readonly options: MqttLinkOptions;
  private readonly stream: Duplex;
  private readonly frames: FrameReader;
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private readonly pending = new Map<number, PublishCallback>();
  private readonly subscribing = new Map<number, (error: LinkError | undefined, granted: number[]) => void>();
  private nextMessageId = 1;
  private connected = false;
  private closed = false;
  private failure: LinkError | null = null;
  private corked = false;
  private connectTimer: TimerHandle | null = null;
  private keepaliveTimer: TimerHandle | null = null;
  private pingOutstanding = false;
  private keepaliveMs: number;

  constructor(options: MqttLinkOptions) {
    super();
    this.options = options;
    this.keepaliveMs = options.keepaliveSec * 1000;
    this.frames = new FrameReader(options.maxIncomingBytes);
    this.parser = mqttPacket.parser({ protocolVersion: options.protocolVersion });
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet));
    this.parser.on('error', (error: Error) => this.fail(new LinkError(`malformed packet from the broker: ${error.message}`)));
    const url = new URL(options.url);
    this.stream = openTransport(url, options, () => this.sendConnect(url));
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('error', (error: Error) => this.fail(new LinkError(error.message, (error as { code?: string }).code)));
    this.stream.on('close', () => this.onClose());
    // 'end' without 'close' would leave a half-open socket: end our side too.
    this.stream.on('end', () => this.stream.end());
    this.connectTimer = options.clock.setTimeout(() => this.fail(new LinkError(`no CONNACK within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
  }

  get isConnected(): boolean {
    return this.connected && !this.closed;
  }

  /**
   * Sends a QoS 1 PUBLISH; `done` runs once with the broker's PUBACK, or with an error when the
   * link closes first. Publishes of one turn of the event loop leave in one write.
   */
  publish(topic: string, payload: string | Buffer, options: { retain?: boolean; contentType?: string }, done: PublishCallback): void {
    if (!this.isConnected) {
      queueMicrotask(() => done(new LinkError('not connected'), 0));
      return;
    }
    const messageId = this.allocateMessageId();
    const fields = { topic, payload, messageId, retain: options.retain === true, protocolVersion: this.options.protocolVersion };
    this.pending.set(messageId, done);
    this.write(encodePublish(options.contentType === undefined ? fields : { ...fields, contentType: options.contentType }));
  }

  /** Subscribes to one filter at QoS 1; `done` gets the granted QoS or reason codes. */
  subscribe(filter: string, done: (error: LinkError | undefined, granted: number[]) => void): void {
    if (!this.isConnected) {
      queueMicrotask(() => done(new LinkError('not connected'), []));
      return;
    }
    const messageId = this.allocateMessageId();
    this.subscribing.set(messageId, done);
    this.send({ cmd: 'subscribe', messageId, subscriptions: [{ topic: filter, qos: 1 }] });
  }

  /**
   * Ends the connection: with `force` (or before the CONNACK) at once; otherwise with a
   * DISCONNECT after what was written, which the broker takes as "no last will". Resolves once
   * closed.
   */
  end(force = false): Promise<void> {
    if (this.closed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (force || !this.connected) {
      this.stream.destroy();
    } else {
      this.send({ cmd: 'disconnect' });
      this.stream.end();
      // A broker that never closes its side does not keep us: the socket goes after a second.
      const timer = this.options.clock.setTimeout(() => this.stream.destroy(), 1000);
      void closed.then(() => this.options.clock.clearTimeout(timer));
    }
    return closed;
  }

  private sendConnect(url: URL): void {
    const { options } = this;
    const connect: IConnectPacket = {
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: options.protocolVersion,
      clientId: options.clientId,
      clean: true,
      keepalive: options.keepaliveSec,
    };
    const username = options.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
    const password = options.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
    if (username !== undefined) connect.username = username;
    if (password !== undefined) connect.password = Buffer.from(password);
    if (options.will) connect.will = { topic: options.will.topic, payload: options.will.payload, qos: 1, retain: options.will.retain };
    // The fixed header (at most 5 bytes) is not part of the bound the reader applies.
    if (options.protocolVersion === 5) connect.properties = { maximumPacketSize: options.maxIncomingBytes + 5 };
    this.send(connect);
  }

  private onData(chunk: Buffer): void {
    try {
      this.frames.push(
        chunk,
        (frame) => this.onFrame(frame),
        (skipped) => {
          if (skipped.type !== PUBLISH_TYPE) throw new MalformedStreamError(`a packet of type ${skipped.type} and ${skipped.bytes} bytes, over the bound`);
          this.emit('oversize', skipped);
        },
      );
    } catch (error) {
      // Only the stream's own faults end the link here; a listener's exception is not the broker's.
      if (!(error instanceof MalformedStreamError)) throw error;
      this.fail(new LinkError(`malformed stream from the broker: ${error.message}`));
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.closed) return;
    const ack = this.connected ? readPlainPubAck(frame) : null;
    if (ack) {
      this.settlePublish(ack.messageId, ack.reasonCode, undefined);
      return;
    }
    this.parser.parse(frame);
  }

  private onPacket(packet: Packet): void {
    if (this.closed) return;
    if (!this.connected) {
      if (packet.cmd !== 'connack') return this.fail(new LinkError(`the broker sent ${packet.cmd} before CONNACK`));
      return this.onConnack(packet);
    }
    switch (packet.cmd) {
      case 'puback':
        if (packet.messageId !== undefined) this.settlePublish(packet.messageId, packet.reasonCode ?? 0, packet.properties?.reasonString);
        return;
      case 'suback': {
        const done = packet.messageId === undefined ? undefined : this.subscribing.get(packet.messageId);
        if (!done || packet.messageId === undefined) return;
        this.subscribing.delete(packet.messageId);
        done(undefined, packet.granted.map((grant) => (typeof grant === 'number' ? grant : (grant as { qos: number }).qos)));
        return;
      }
      case 'publish':
        if (packet.qos === 2) return this.fail(new LinkError('the broker sent a QoS 2 message on a QoS 1 subscription'));
        this.emit('message', packet.topic, typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload, packet.retain);
        if (packet.qos === 1 && packet.messageId !== undefined) this.send({ cmd: 'puback', messageId: packet.messageId });
        return;
      case 'pingresp':
        this.pingOutstanding = false;
        return;
      case 'disconnect': {
        const reason = packet.reasonCode ?? 0;
        return this.fail(new LinkError(`the broker disconnected (reason 0x${reason.toString(16)}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`, reason));
      }
      default:
        return this.fail(new LinkError(`unexpected ${packet.cmd} from the broker`));
    }
  }

  private onConnack(connack: IConnackPacket): void {
    if (this.connectTimer) this.options.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const code = this.options.protocolVersion === 5 ? (connack.reasonCode ?? 0) : (connack.returnCode ?? 0);
    if (code !== 0) {
      return this.fail(new LinkError(`connection refused: ${CONNACK_REFUSALS[code] ?? 'reason'} (0x${code.toString(16)})`, code));
    }
    const properties = connack.properties ?? {};
    // A broker may set the keepalive it wants (MQTT 5.0 section 3.2.2.3.14).
    if (properties.serverKeepAlive !== undefined) this.keepaliveMs = properties.serverKeepAlive * 1000;
    this.connected = true;
    this.armKeepalive();
    const grant: LinkGrant = {};
    if (properties.receiveMaximum !== undefined) grant.receiveMaximum = properties.receiveMaximum;
    if (properties.maximumPacketSize !== undefined) grant.maximumPacketSize = properties.maximumPacketSize;
    this.emit('connect', grant);
  }

  private settlePublish(messageId: number, reasonCode: number, reasonString: string | undefined): void {
    const done = this.pending.get(messageId);
    if (!done) return; // an acknowledgement of nothing we sent: nothing to settle
    this.pending.delete(messageId);
    if (reasonCode >= 0x80) done(new LinkError(`publish refused: ${reasonString ?? `reason 0x${reasonCode.toString(16)}`}`, reasonCode), reasonCode);
    else done(undefined, reasonCode);
  }

  /** A PINGREQ each keepalive period; no PINGRESP by the next one closes the link. */
  private armKeepalive(): void {
    if (this.keepaliveMs <= 0) return;
    this.keepaliveTimer = this.options.clock.setTimeout(() => {
      this.keepaliveTimer = null;
      if (this.closed) return;
      if (this.pingOutstanding) return this.fail(new LinkError(`no PINGRESP within ${this.keepaliveMs} ms`));
      this.pingOutstanding = true;
      this.send({ cmd: 'pingreq' });
      this.armKeepalive();
    }, this.keepaliveMs);
  }

  private allocateMessageId(): number {
    if (this.pending.size + this.subscribing.size >= LAST_MESSAGE_ID) throw new LinkError('all 65,535 message ids are in flight');
    // The window keeps far fewer than 65,535 in flight; skipping the ones in use is cheap.
    for (;;) {
      const id = this.nextMessageId;
      this.nextMessageId = id === LAST_MESSAGE_ID ? 1 : id + 1;
      if (!this.pending.has(id) && !this.subscribing.has(id)) return id;
    }
  }

  private send(packet: Packet): void {
    this.write(mqttPacket.generate(packet, { protocolVersion: this.options.protocolVersion }));
  }

  /** Writes of one turn leave together: the socket is corked until the next tick. */
  private write(bytes: Buffer): void {
    if (this.closed || this.stream.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    this.stream.write(bytes);
  }

  private fail(error: LinkError): void {
    if (this.closed) return;
    this.failure ??= error;
    this.emit('error', error);
    this.stream.destroy();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    for (const timer of [this.connectTimer, this.keepaliveTimer]) if (timer) this.options.clock.clearTimeout(timer);
    this.connectTimer = null;
    this.keepaliveTimer = null;
    const closedError = this.failure ?? new LinkError('connection closed');
    const publishes = [...this.pending.values()];
    const subscriptions = [...this.subscribing.values()];
    this.pending.clear();
    this.subscribing.clear();
    // 'close' first: its listener learns what was in flight before the callbacks settle it.
    this.emit('close');
    for (const done of publishes) done(closedError, 0);
    for (const done of subscriptions) done(closedError, []);
  }
}

/** Opens the transport the URL names; `onOpen` runs once it can carry MQTT. */
function openTransport(url: URL, options: MqttLinkOptions, onOpen: () => void): Duplex {
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  if (port === undefined) throw new LinkError(`unsupported broker URL scheme ${url.protocol}`);
  // WHATWG URL keeps an IPv6 literal in brackets; sockets want it bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const tlsOptions: ConnectionOptions = { rejectUnauthorized: options.tls?.rejectUnauthorized ?? true };
  if (options.tls?.ca) tlsOptions.ca = options.tls.ca;
  if (options.tls?.cert) tlsOptions.cert = options.tls.cert;
  if (options.tls?.key) tlsOptions.key = options.tls.key;
  // SNI is for names only (RFC 6066 section 3).
  if (isIP(host) === 0) tlsOptions.servername = host;
  switch (url.protocol) {
    case 'mqtt:':
    case 'tcp:': {
      const socket = netConnect({ host, port }, onOpen);
      socket.setNoDelay(true);
      return socket;
    }
    case 'mqtts:':
    case 'ssl:': {
      const socket = tlsConnect({ ...tlsOptions, host, port }, onOpen);
      socket.setNoDelay(true);
      return socket;
    }
    case 'ws:':
    case 'wss:': {
      const address = `${url.protocol}//${url.host}${url.pathname}${url.search}`;
      // ws bounds each message it takes (maxPayload) and turns Nagle off itself.
      const socket = new WebSocket(address, ['mqtt'], { ...(url.protocol === 'wss:' ? tlsOptions : {}), maxPayload: options.maxIncomingBytes + 5, handshakeTimeout: options.connectTimeoutMs });
      socket.once('open', onOpen);
      return createWebSocketStream(socket);
    }
    default:
      throw new LinkError(`unsupported broker URL scheme ${url.protocol}`);
  }
}
