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
import { createRequire } from 'node:module';
import { connect as netConnect, isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import mqttPacket, { type IConnackPacket, type IConnectPacket, type Packet } from 'mqtt-packet';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { encodePublish, FrameReader, MalformedStreamError, readPlainPubAck, type SkippedFrame } from './mqtt-frames.js';
import { packetBytes } from './packet-size.js';

// mqtt-packet's writer otherwise builds, at its first packet, a table of 65,536 two-byte Buffers
// for packet ids (6.1 MB of the gateway's heap in a snapshot of `run`), to save a 2-byte allocation
// per packet; the link writes a connection's few non-PUBLISH packets with it. MQTT.js turns the
// same table off with `writeCache: false`. The setting is the module's, for the whole process.
mqttPacket.writeToStream.cacheNumbers = false;

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
  /** Reading paused: the broker has not read this many bytes of ours (it resumes once they drain). */
  throttled: [backlogBytes: number];
  /** A packet over `maxIncomingBytes` was skipped unread (a PUBLISH; anything else closes). */
  oversize: [skipped: SkippedFrame];
  error: [error: LinkError];
  /**
   * Once, whatever ended the connection (after 'error' when an error did). `byBroker`: the broker
   * (or the network) ended it, not this side (a timeout, a malformed stream, end()): only then may
   * what was in flight be what the broker refused.
   */
  close: [byBroker: boolean];
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
const LAST_MESSAGE_ID = 0xffff;
/**
 * DISCONNECT reason codes that name a cause other than a packet the client sent (MQTT 5.0 section
 * 3.14.2.1): 0x89 server busy, 0x8B server shutting down, 0x8D keep alive timeout, 0x8E session
 * taken over, 0x98 administrative action, 0x9C use another server, 0x9D server moved, 0x9F
 * connection rate exceeded, 0xA0 maximum connect time. A broker restarting three times (or a
 * second gateway with the same client id) otherwise parked the oldest event as a poison message.
 */
const NOT_A_PUBLISH_FAULT = new Set([0x89, 0x8b, 0x8d, 0x8e, 0x98, 0x9c, 0x9d, 0x9f, 0xa0]);
/** Unwritten bytes past which nothing more is read from the broker until they drain (throttleReads()). */
const MAX_WRITE_BACKLOG = 64 * 1024;

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
  /** Set by fail() and end(): nothing more is read, written or reported as connected. */
  private ending = false;
  private failure: LinkError | null = null;
  private failedByBroker = true;
  private corked = false;
  /** The end of a turn's writes (write()), made once rather than an arrow per turn. */
  private readonly uncork = (): void => {
    this.corked = false;
    this.stream.uncork();
    this.throttleReads();
  };
  /** Reading is paused until the writes the broker has not read drain (throttleReads()). */
  private readsPaused = false;
  private readonly resumeReads = (): void => {
    this.readsPaused = false;
    if (!this.closed && !this.ending) this.stream.resume();
  };
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
    // Encoded before the socket opens: a CONNECT mqtt-packet refuses (a password without a user
    // name on 3.1.1, a keepalive over 65,535 s) throws here, to the caller, not in a socket callback.
    const connect = mqttPacket.generate(connectPacket(url, options), { protocolVersion: options.protocolVersion });
    this.stream = openTransport(url, options, () => this.write(connect));
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('error', (error: Error) => {
      const code = (error as { code?: string }).code;
      // ws refuses a message past its maxPayload by closing: our bound, not the broker's fault.
      if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return this.fail(new LinkError(`a WebSocket message over ${packetBytes(options.maxIncomingBytes)} bytes from the broker`, code));
      // The network's errors (a reset, a refused connection, a failed handshake) are the broker's side.
      this.fail(new LinkError(error.message, code), true);
    });
    this.stream.on('close', () => this.onClose());
    // The broker ended its side: so does ours, at once (a WebSocket stream whose socket was reset
    // would otherwise wait for a 'finish' that never comes, and never close).
    this.stream.on('end', () => this.stream.destroy());
    this.connectTimer = options.clock.setTimeout(() => this.fail(new LinkError(`no CONNACK within ${options.connectTimeoutMs} ms`)), options.connectTimeoutMs);
  }

  /** Bytes written and not yet taken by the transport (what the broker has not read). */
  get writeBacklogBytes(): number {
    return this.stream.writableLength;
  }

  get isConnected(): boolean {
    return this.connected && !this.closed && !this.ending;
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
    let packet: Buffer;
    try {
      packet = encodePublish(options.contentType === undefined ? fields : { ...fields, contentType: options.contentType });
    } catch (error) {
      queueMicrotask(() => done(new LinkError(`cannot encode the publish: ${(error as Error).message}`), 0));
      return;
    }
    this.pending.set(messageId, done);
    this.write(packet);
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
    const graceful = !force && this.isConnected;
    if (!this.ending) this.failedByBroker = false;
    this.ending = true;
    if (!graceful) {
      this.stream.destroy();
    } else {
      this.stream.write(mqttPacket.generate({ cmd: 'disconnect' }, { protocolVersion: this.options.protocolVersion }));
      this.stream.end();
      // A broker that never closes its side does not keep us: the socket goes after a second.
      const timer = this.options.clock.setTimeout(() => this.stream.destroy(), 1000);
      void closed.then(() => this.options.clock.clearTimeout(timer));
    }
    return closed;
  }

  private onData(chunk: Buffer): void {
    try {
      this.frames.push(
        chunk,
        (frame) => this.onFrame(frame),
        (skipped) => this.onSkipped(skipped),
      );
    } catch (error) {
      // Only the stream's own faults end the link here; a listener's exception is not the broker's.
      if (!(error instanceof MalformedStreamError)) throw error;
      this.fail(new LinkError(`malformed stream from the broker: ${error.message}`));
    }
  }

  /**
   * A PUBLISH over the bound went by unread: reported, and acknowledged if QoS 1, or the broker
   * would hold it in flight for us and, its quota (Mosquitto: 20) used up by such messages, stop
   * sending the ones that fit.
   */
  private onSkipped(skipped: SkippedFrame): void {
    if (this.ending || this.closed) return;
    if (skipped.qos === 2 || skipped.qos === 3) throw new MalformedStreamError(`a QoS ${skipped.qos} message of ${skipped.bytes} bytes, over the bound`);
    this.emit('oversize', skipped);
    if (skipped.qos === 1 && skipped.messageId !== undefined) {
      // 0x83, implementation specific error: taken, not processed (MQTT 5.0 section 3.4.2.1).
      this.send(this.options.protocolVersion === 5 ? { cmd: 'puback', messageId: skipped.messageId, reasonCode: 0x83 } : { cmd: 'puback', messageId: skipped.messageId });
    }
  }

  private onFrame(frame: Buffer): void {
    if (this.closed || this.ending) return;
    const ack = this.connected ? readPlainPubAck(frame, this.options.protocolVersion) : null;
    if (ack) {
      this.settlePublish(ack.messageId, ack.reasonCode, undefined);
      return;
    }
    this.parser.parse(frame);
  }

  private onPacket(packet: Packet): void {
    if (this.closed || this.ending) return;
    if (!this.connected) {
      if (packet.cmd !== 'connack') return this.fail(new LinkError(`the broker sent ${packet.cmd} before CONNACK`));
      return this.onConnack(packet);
    }
    switch (packet.cmd) {
      case 'puback':
        if (packet.messageId !== undefined) this.settlePublish(packet.messageId, packet.reasonCode ?? 0, packet.properties?.reasonString);
        return;
      case 'suback': {
        const id = packet.messageId ?? 0;
        const done = this.subscribing.get(id);
        if (!done) return;
        this.subscribing.delete(id);
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
        // byBroker says what was in flight may be to blame (the uplink's poison strikes): not so
        // when the broker names a cause of its own (a shutdown, a takeover, a move).
        return this.fail(new LinkError(`the broker disconnected (reason 0x${reason.toString(16)}${packet.properties?.reasonString ? `: ${packet.properties.reasonString}` : ''})`, reason), !NOT_A_PUBLISH_FAULT.has(reason));
      }
      default:
        return this.fail(new LinkError(`unexpected ${packet.cmd} from the broker`));
    }
  }

  private onConnack(connack: IConnackPacket): void {
    if (this.connectTimer) this.options.clock.clearTimeout(this.connectTimer);
    this.connectTimer = null;
    const code = this.options.protocolVersion === 5 ? connack.reasonCode : connack.returnCode;
    if (code === undefined) return this.fail(new LinkError('malformed CONNACK from the broker (no return code)'));
    if (code !== 0) {
      return this.fail(new LinkError(`connection refused: ${CONNACK_REFUSALS[code] ?? 'reason'} (0x${code.toString(16)})`, code), true);
    }
    // A clean start has no session to resume: a broker that says otherwise is not to be trusted
    // with what we think is in flight (MQTT 5.0 section 3.2.2.1.1; 3.1.1 section 3.2.2.2).
    if (connack.sessionPresent) return this.fail(new LinkError('the broker claims a session for a clean start'));
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
    if (this.closed || this.ending || this.stream.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(this.uncork);
    }
    this.stream.write(bytes);
  }

  /**
   * Every QoS 1 message read is answered with a PUBACK: a broker that sends and does not read
   * (hostile, or stuck) made the link hold every answer, ≈ 230 bytes of heap each (700 MB for
   * 3 million 9-byte messages in a test). Past MAX_WRITE_BACKLOG unwritten bytes nothing more is
   * read until they drain: the broker's sends then wait in its own buffers (TCP backpressure),
   * and the keepalive, its PINGRESP unread, ends a link that never drains.
   */
  private throttleReads(): void {
    if (this.readsPaused || this.closed || this.ending || this.stream.writableLength <= MAX_WRITE_BACKLOG) return;
    this.readsPaused = true;
    this.stream.pause();
    this.stream.once('drain', this.resumeReads);
    this.emit('throttled', this.stream.writableLength);
  }

  /** Ends the link for `error`; `byBroker` when the broker said so (a DISCONNECT, a refusal) or the network did. */
  private fail(error: LinkError, byBroker = false): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.failure = error;
    this.failedByBroker = byBroker;
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
    this.emit('close', this.failedByBroker);
    for (const done of publishes) done(closedError, 0);
    for (const done of subscriptions) done(closedError, []);
  }
}

/** The CONNECT: a clean start, the will, credentials from the options or else the URL. */
function connectPacket(url: URL, options: MqttLinkOptions): IConnectPacket {
  const connect: IConnectPacket = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: options.protocolVersion,
    clientId: options.clientId,
    clean: true,
    keepalive: options.keepaliveSec,
  };
  const username = options.username ?? fromUrl(url.username, 'user name');
  const password = options.password ?? fromUrl(url.password, 'password');
  if (username !== undefined) connect.username = username;
  if (password !== undefined) connect.password = Buffer.from(password);
  if (options.will) connect.will = { topic: options.will.topic, payload: options.will.payload, qos: 1, retain: options.will.retain };
  if (options.protocolVersion === 5) connect.properties = { maximumPacketSize: packetBytes(options.maxIncomingBytes) };
  return connect;
}

/** A URL's user name or password, percent-decoded; undefined when empty. */
function fromUrl(value: string, what: string): string | undefined {
  if (value === '') return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    throw new LinkError(`the broker URL's ${what} is not valid percent-encoding`);
  }
}

/**
 * ws, loaded by the first WebSocket link rather than with this module: most posts reach their
 * broker over TCP or TLS, and ws with its server half is ≈ 0.7 MB of heap a `run` would hold for
 * nothing (measured: the module loaded alone, after collection). ws is CommonJS, so require()
 * loads it synchronously, where the transport opens.
 */
let webSocketModule: typeof import('ws') | undefined;
function webSocketLibrary(): typeof import('ws') {
  return (webSocketModule ??= createRequire(import.meta.url)('ws') as typeof import('ws'));
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
      const { WebSocket, createWebSocketStream } = webSocketLibrary();
      // ws turns Nagle off itself, and reads each message whole: past maxPayload it closes the
      // connection (1009) rather than skip the message.
      const socket = new WebSocket(address, ['mqtt'], { ...(url.protocol === 'wss:' ? tlsOptions : {}), maxPayload: packetBytes(options.maxIncomingBytes), handshakeTimeout: options.connectTimeoutMs });
      socket.once('open', onOpen);
      return createWebSocketStream(socket);
    }
    default:
      throw new LinkError(`unsupported broker URL scheme ${url.protocol}`);
  }
}
