/**
 * The MQTT uplink: forwards the outbox to the VMC broker with QoS 1 and forgets an event only
 * after its PUBACK. The outbox is the only source of truth; nothing is queued in memory, so each
 * connection is a fresh link (mqtt-link.ts: no reconnect, no queue of its own), and on every
 * reconnect everything unacknowledged is read again from disk.
 *
 * - A bounded in-flight window (min of config and the broker's Receive Maximum): message ids
 *   are 16 bits, and a broker's quota is its Receive Maximum.
 * - A publish not acknowledged within `publishTimeoutMs` forces a reconnect: a broker that
 *   stops answering on an open connection is not waited for.
 * - One bad event never holds back the others. It is parked (kept in the outbox, alarmed once,
 *   retried every `refusedRetryMs`, delivered out of order and flagged `replayed` when it
 *   finally goes) when the broker refuses it (MQTT 5 PUBACK reason code >= 0x80, e.g. 0x87 Not
 *   authorized); when its PUBLISH exceeds the Maximum Packet Size of the broker's CONNACK (not
 *   sent at all: Mosquitto, AWS IoT and others drop the connection on such a packet); and when
 *   the broker dropped the connection `poisonAfterDrops` times in a row while it was the oldest
 *   unacknowledged publish (MQTT 3.1.1 has no other way to say "too large"). After a drop, that
 *   event is sent alone first, so the blame falls on it only if it alone is in flight.
 * - An event the broker routed to nobody (MQTT 5 PUBACK 0x10 No matching subscribers: the VMC is
 *   not subscribed, e.g. Mosquitto lost its shared subscription in a restart) is not forgotten
 *   unless `keepUnrouted` is off: it stays in the outbox. The oldest of those is sent again as a
 *   probe (after 1 s, doubling to 30 s while it comes back 0x10); once a probe is routed the rest
 *   go at once, out of order and flagged `replayed`. One probe at a time, so a post the VMC does
 *   not hear for a day resends one event per 30 s, not its whole backlog. Every reconnect sends
 *   them again in order with the rest.
 * - MQTT 5 first, falling back to 3.1.1 when a broker refuses it; a broker list for failover.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { redactUrl } from '../../config/secrets.js';
import { CLOUDEVENTS_CONTENT_TYPE } from '../../contract/envelope.js';
import type { OutboxRow, SqliteOutbox } from '../outbox/sqlite-outbox.js';
import { backoffCap, backoffDelay, type BackoffPolicy } from '../../core/backoff.js';
import { ConnectionStateMachine, type ConnectionState } from './connection-state.js';
import { LinkError, MqttLink, type LinkGrant, type MqttLinkOptions } from './mqtt-link.js';
import { publishPacketBytes, stringPropertyBytes } from './packet-size.js';
import { uplinkSecurityWarnings } from './resolve-settings.js';
import { eventTopic, statusTopic } from './topics.js';

/** Uplink settings with secrets and files already resolved. */
export interface UplinkSettings {
  brokers: string[];
  /** Topic root with `{postId}` already substituted. */
  root: string;
  clientId: string;
  username?: string;
  password?: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  protocolVersion: 4 | 5;
  keepaliveSec: number;
  inflightWindow: number;
  publishTimeoutMs: number;
  /** Retry interval of parked publishes (a suspect poison message's doubles per failed retry). */
  refusedRetryMs: number;
  /** Drops in a row with the same oldest unacknowledged publish that park it (default 3). */
  poisonAfterDrops?: number;
  /** Keep and resend events the broker routed to no subscriber (PUBACK 0x10); default true. */
  keepUnrouted?: boolean;
  /**
   * Most events kept back by seq in memory, parked and unrouted together (default 10,000): past it
   * no newer event is read from the outbox until some are delivered.
   */
  maxHeldEvents?: number;
  reconnect: BackoffPolicy;
  /** How long to wait for a CONNACK. */
  connectTimeoutMs?: number;
  /** The largest packet taken from the broker: a VMC command with its topic and properties. */
  maxIncomingBytes: number;
}

export interface UplinkDeps {
  settings: UplinkSettings;
  postId: string;
  gatewayVersion: string;
  outbox: SqliteOutbox;
  clock: Clock;
  logger: Logger;
  random?: () => number;
}

export interface RefusedPublish {
  seq: number;
  id: string;
  type: string;
  laneId: string;
  reasonCode: number;
  reason: string;
}

/** Why a publish is parked. */
export type ParkCause = 'refused' | 'packet-too-large' | 'poison';

/** An event parked without a PUBACK refusal: too large for the broker, or a suspect poison message. */
export interface ParkedPublish {
  seq: number;
  id: string;
  type: string;
  laneId: string;
  cause: Exclude<ParkCause, 'refused'>;
  /** Size of its PUBLISH packet. */
  packetBytes: number;
  /** The broker's Maximum Packet Size (packet-too-large), or null when it announced none. */
  maxPacketSize: number | null;
  /** Connection drops in a row with it the oldest unacknowledged publish (poison). */
  drops: number;
}

export interface UplinkEvents {
  state: [state: ConnectionState, broker: string | null];
  delivered: [row: OutboxRow, latencyMs: number];
  refused: [refusal: RefusedPublish];
  /** Emitted once per event, when it is first parked as too large or as a suspect. */
  parked: [parked: ParkedPublish];
  timeout: [seq: number];
  /** An event the broker routed to nobody, first kept (not on its resends); `count`: kept now. */
  unrouted: [kept: { seq: number; type: string; laneId: string; count: number }];
  /** The spell is over: every kept event was routed to a subscriber at last. */
  routed: [];
  /** Holding began (as many events held back as `maxHeldEvents`) or ended. */
  holding: [report: HoldingReport];
}

/** Events held back in memory (parked, unrouted), when the uplink starts or stops holding. */
export interface HoldingReport {
  holding: boolean;
  parked: number;
  unrouted: number;
  maxHeldEvents: number;
}

interface InFlight {
  row: OutboxRow;
  sentAtMono: number;
}

/** Backoff of the probe among unrouted events: 1 s, doubling per answer 0x10, at most 30 s (no jitter). */
const UNROUTED_PROBE_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000 };
/** MQTT 5 reason code: the broker accepted the message but no subscription matched it. */
const NO_MATCHING_SUBSCRIBERS = 0x10;

interface Parked {
  cause: ParkCause;
  retryAtMono: number;
  /** Retries that ended like the first attempt (a suspect's interval doubles with each). */
  retries: number;
}

/** Bytes the `"replayed":true` flag adds to a stored payload when send() splices it in. */
const REPLAYED_FLAG_BYTES = Buffer.byteLength(',"replayed":true');
/** Properties of every MQTT 5 publish: only the content type. */
const MQTT5_PROPERTIES_BYTES = stringPropertyBytes(CLOUDEVENTS_CONTENT_TYPE);
const DEFAULT_POISON_AFTER_DROPS = 3;
/** An event's publish options: the CloudEvents content type where the protocol has properties. */
const MQTT5_PUBLISH = { contentType: CLOUDEVENTS_CONTENT_TYPE };
const MQTT311_PUBLISH = {};
/** A suspect poison message is retried at most this many times `refusedRetryMs` apart. */
const MAX_POISON_BACKOFF = 64;
/**
 * Parked and unrouted events are known by seq in memory (≈ 20 bytes each unrouted, ≈ 100 parked):
 * a broker that refuses, or routes to nobody, every event for days would otherwise grow them
 * with the outbox. 10,000 is a few hours of a busy post's events and at most ≈ 1 MB.
 */
export const DEFAULT_MAX_HELD_EVENTS = 10_000;

function rethrow(error: unknown): never {
  throw error;
}

export class MqttUplink extends EventEmitter<UplinkEvents> {
  private readonly deps: UplinkDeps;
  private readonly machine: ConnectionStateMachine;
  private client: MqttLink | null = null;
  /** Incremented per connection; acks of an older connection are ignored. */
  private epoch = 0;
  private brokerIndex = 0;
  private failedAttempts = 0;
  private connectedBroker: string | null = null;
  /** Monotonic time of the current connection's CONNACK: how long it lasted decides its loss's backoff. */
  private connectedAtMono = 0;
  private connectedVersion: 4 | 5 = 5;
  /** Maximum Packet Size of the current connection's CONNACK (MQTT 5); null when none. */
  private maxPacketSize: number | null = null;
  /**
   * The oldest unacknowledged publish at the last connection drop(s), and how many drops in a
   * row it was that. Sent alone on the next connection; any answer clears it.
   */
  private suspect: { seq: number; drops: number } | null = null;
  /** Per broker: the protocol version to try next (MQTT 5 until a broker refuses it). */
  private readonly versionByBroker = new Map<string, 4 | 5>();
  private cursor = 0;
  /** Events with a lower seq were committed before this connection: sent as `replayed`. */
  private liveFromSeq = 0;
  private window = 1;
  /**
   * The broker's Receive Maximum (at least 1), and whether the status publish of this connection
   * is unacknowledged: it counts against that quota, so with a Receive Maximum of 1 no event goes
   * until it is answered (the window alone, at least 1, would put two in flight).
   */
  private brokerQuota = Number.POSITIVE_INFINITY;
  private statusInFlight = false;
  private readonly inflight = new Map<number, InFlight>();
  private readonly parked = new Map<number, Parked>();
  /** Events routed to nobody, by seq, in the order they were answered so. */
  private readonly unrouted = new Set<number>();
  /** Probes answered 0x10 in a row (the backoff's exponent), and when the next goes. */
  private unroutedProbes = 0;
  private probeAtMono = Number.POSITIVE_INFINITY;
  /** A kept event was routed: the others are sent now, not after the probe's backoff. */
  private unroutedFlush = false;
  private unroutedTimer: TimerHandle | null = null;
  /** As many events held back as `maxHeldEvents`: no newer ones are read until some go. */
  private holding = false;
  private pumping = false;
  private pumpScheduled = false;
  /** Set while stop() waits for the in-flight publishes; called when the last one is answered. */
  private onDrained: (() => void) | null = null;
  private reconnectTimer: TimerHandle | null = null;
  private watchdogTimer: TimerHandle | null = null;
  private retryTimer: TimerHandle | null = null;
  /**
   * Newly durable events go out at once, inside the sync's callback, before the producers'
   * continuations (a device push's 200) run: the events one sync made durable are read and sent
   * together, and each reaches the broker before its answer reaches the device. Sent on the next
   * turn instead, every message of a busy listener waited one more turn of the loop after its 200
   * (at 8 pushes in flight ≈ 4 ms; Node-RED, which publishes before it answers, was ahead per
   * message at every load); the answers wait for a few publishes now (≈ 20 µs each).
   *
   * What the pump throws (a read the database refused) is thrown again on a turn of its own, as
   * it was when the pump ran on one: not into the outbox's sync callback, nor into an append's
   * promise (a commit at `maxBatch` runs inside one), where it would vanish.
   */
  private readonly onCommitted = (): void => {
    try {
      this.pump();
    } catch (error) {
      setImmediate(rethrow, error);
    }
  };
  /** schedulePumpAfterAcks's callback, made once: an arrow per call would be optimised again and again. */
  private readonly runPump = (): void => {
    this.pumpScheduled = false;
    this.pump();
  };
  /** A topic filter subscribed on every connection, and who hears its messages (subscribe()). */
  private subscription: { filter: string; onMessage: (topic: string, payload: Buffer, retained: boolean) => void } | null = null;

  constructor(deps: UplinkDeps) {
    super();
    this.deps = deps;
    this.machine = new ConnectionStateMachine((from, to) => {
      deps.logger.debug({ from, to }, 'uplink state');
      this.emit('state', to, this.connectedBroker);
    });
  }

  get state(): ConnectionState {
    return this.machine.state;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  get parkedCount(): number {
    return this.parked.size;
  }

  /** Events the broker routed to nobody, kept and sent again (part of the outbox depth). */
  get unroutedCount(): number {
    return this.unrouted.size;
  }

  /** True while the uplink holds back newer events because `maxHeldEvents` are parked or unrouted. */
  get isHolding(): boolean {
    return this.holding;
  }

  /** Parked events by cause (they are also part of the outbox depth). */
  parkedByCause(): Record<ParkCause, number> {
    const counts: Record<ParkCause, number> = { refused: 0, 'packet-too-large': 0, poison: 0 };
    for (const parked of this.parked.values()) counts[parked.cause] += 1;
    return counts;
  }

  /** Starts connecting; returns at once. Connection faults are retried, never thrown. */
  start(): void {
    for (const warning of uplinkSecurityWarnings(this.deps.settings)) {
      this.deps.logger.warn({ code: 'GW_ERR_UPLINK_INSECURE', ...warning.details }, warning.message);
    }
    this.deps.outbox.on('committed', this.onCommitted);
    this.connect();
  }

  /**
   * Subscribes to `filter` at QoS 1 on every connection (now, if connected, and after each
   * reconnect: connections start clean, so the broker forgets subscriptions between them) and
   * hands each message to `onMessage`, `retained` when it is the broker's stored copy. The post's
   * VMC commands come this way (gateway/vmc-commands); the listener must not throw or block.
   */
  subscribe(filter: string, onMessage: (topic: string, payload: Buffer, retained: boolean) => void): void {
    this.subscription = { filter, onMessage };
    if (this.machine.is('connected')) this.subscribeOn(this.client);
  }

  private subscribeOn(client: MqttLink | null): void {
    const subscription = this.subscription;
    if (!client || !subscription) return;
    client.subscribe(subscription.filter, (error, granted) => {
      const refused = granted.some((code) => code >= 0x80);
      if (error || refused) this.deps.logger.warn({ filter: subscription.filter, err: error, granted }, 'subscription refused; retried on the next connection');
    });
  }

  /**
   * Stops: waits up to `drainMs` for in-flight publishes to be acknowledged (fewer duplicates
   * after a restart), publishes the retained offline status, and disconnects.
   */
  async stop(drainMs = 2000): Promise<void> {
    if (this.machine.is('stopped')) return;
    this.deps.outbox.off('committed', this.onCommitted);
    if (this.inflight.size > 0 && this.machine.is('connected')) {
      await new Promise<void>((resolve) => {
        const timer = this.deps.clock.setTimeout(() => finish(), drainMs);
        const finish = (): void => {
          this.deps.clock.clearTimeout(timer);
          this.onDrained = null;
          resolve();
        };
        this.onDrained = finish;
      });
    }
    const client = this.client;
    const wasConnected = this.machine.is('connected');
    this.machine.to('stopped');
    this.clearTimers();
    this.epoch += 1;
    this.client = null;
    if (client) {
      if (wasConnected) {
        await new Promise<void>((resolve) => {
          client.publish(statusTopic(this.deps.settings.root), this.statusPayload('offline', 'stopped'), { retain: true }, () => resolve());
          this.deps.clock.setTimeout(resolve, 1000);
        });
      }
      await client.end(!wasConnected);
    }
  }

  private connect(): void {
    const { settings, logger } = this.deps;
    const broker = settings.brokers[this.brokerIndex] as string;
    const version = this.versionByBroker.get(broker) ?? settings.protocolVersion;
    this.machine.to('connecting');
    const epoch = ++this.epoch;
    const options: MqttLinkOptions = {
      url: broker,
      protocolVersion: version,
      clientId: settings.clientId,
      keepaliveSec: settings.keepaliveSec,
      connectTimeoutMs: settings.connectTimeoutMs ?? 10_000,
      maxIncomingBytes: settings.maxIncomingBytes,
      will: { topic: statusTopic(settings.root), payload: Buffer.from(this.statusPayload('offline', 'connection lost')), retain: true },
      clock: this.deps.clock,
    };
    if (settings.username !== undefined) options.username = settings.username;
    if (settings.password !== undefined) options.password = settings.password;
    if (settings.tls) options.tls = settings.tls;
    logger.info({ broker: redactUrl(broker), protocolVersion: version }, 'uplink connecting');
    let client: MqttLink;
    try {
      client = new MqttLink(options);
    } catch (error) {
      logger.error({ err: error, broker: redactUrl(broker) }, 'uplink cannot create client');
      this.scheduleReconnect(false, version);
      return;
    }
    this.client = client;
    let lastError: Error | null = null;
    client.on('connect', (grant) => {
      if (epoch === this.epoch) this.onConnected(broker, version, grant);
    });
    client.on('error', (error) => {
      lastError = error;
      if (epoch !== this.epoch) return;
      const code = (error as { code?: unknown }).code;
      if (version === 5 && refusedProtocol(error)) logger.info({ broker: redactUrl(broker) }, 'broker refused MQTT 5; falling back to 3.1.1');
      else logger.warn({ broker: redactUrl(broker), error: error.message, code }, 'uplink error');
    });
    client.on('close', (byBroker) => {
      if (epoch !== this.epoch) return;
      this.onClosed(version, lastError, byBroker);
    });
    client.on('message', (topic, payload, retained) => {
      if (epoch === this.epoch) this.subscription?.onMessage(topic, payload, retained);
    });
    client.on('throttled', (backlogBytes) => logger.debug({ backlogBytes }, 'the broker is not reading what the uplink writes; reading from it paused until it does'));
    // Held to a bound, not read: nothing larger than a command may be is one (GW_ERR_COMMAND_TOO_LARGE).
    client.on('oversize', (skipped) => {
      logger.warn({ code: 'GW_ERR_COMMAND_TOO_LARGE', bytes: skipped.bytes, maxBytes: options.maxIncomingBytes }, 'a message from the broker larger than any command may be; skipped unread');
    });
  }

  private onConnected(broker: string, version: 4 | 5, grant: LinkGrant): void {
    const { settings, outbox, logger } = this.deps;
    this.connectedBroker = broker;
    this.connectedVersion = version;
    this.versionByBroker.set(broker, version);
    // failedAttempts is reset only once the connection has proved itself (scheduleReconnect):
    // a broker that accepts each connection and closes it at once is a failed attempt each time.
    this.connectedAtMono = this.deps.clock.monotonic();
    this.liveFromSeq = outbox.lastSeq + 1;
    this.cursor = 0;
    // Everything unacknowledged is read again from the start, in order: the kept ones with it.
    this.unrouted.clear();
    this.unroutedProbes = 0;
    this.probeAtMono = Number.POSITIVE_INFINITY;
    this.unroutedFlush = false;
    this.maxPacketSize = grant.maximumPacketSize ?? null;
    const receiveMaximum = grant.receiveMaximum;
    // One slot of the broker's Receive Maximum is kept for the status publish: exceeding it is a
    // protocol error for which Mosquitto drops the connection (MQTT 5 section 4.9).
    const brokerLimit = receiveMaximum === undefined ? Number.POSITIVE_INFINITY : receiveMaximum - 1;
    this.window = Math.max(1, Math.min(settings.inflightWindow, brokerLimit));
    // 0 is a protocol error (MQTT 5.0 section 3.2.2.3.3); taken as 1 rather than never sending.
    this.brokerQuota = receiveMaximum === undefined ? Number.POSITIVE_INFINITY : Math.max(1, receiveMaximum);
    this.machine.to('connected');
    logger.info(
      { broker: redactUrl(broker), protocolVersion: version, window: this.window, maxPacketSize: this.maxPacketSize, backlog: outbox.depth },
      'uplink connected',
    );
    const epoch = this.epoch;
    this.statusInFlight = true;
    this.client?.publish(statusTopic(settings.root), this.statusPayload('online'), { retain: true }, () => {
      if (epoch !== this.epoch) return;
      this.statusInFlight = false;
      this.schedulePumpAfterAcks();
    });
    this.subscribeOn(this.client);
    this.armWatchdog();
    this.pump();
  }

  private onClosed(version: 4 | 5, lastError: Error | null, byBroker: boolean): void {
    const wasConnected = this.machine.is('connected');
    // Before dropClient() forgets what was in flight: the broker closed it (not our watchdog, a
    // missed PINGRESP or a malformed stream, for which no event is to blame).
    if (wasConnected && byBroker) this.blameDrop();
    this.dropClient();
    if (this.machine.is('stopped')) return;
    if (wasConnected) {
      this.deps.logger.warn({ broker: this.connectedBroker && redactUrl(this.connectedBroker), err: lastError }, 'uplink connection lost');
    }
    this.scheduleReconnect(wasConnected, version, lastError);
  }

  private scheduleReconnect(wasConnected: boolean, version: 4 | 5, lastError: Error | null = null): void {
    const { settings } = this.deps;
    const broker = settings.brokers[this.brokerIndex] as string;
    this.connectedBroker = null;
    // A connection that ended before the longest backoff had passed has not proved the broker
    // sane: counted as a failed attempt (the backoff grows, the next broker is tried), or a broker
    // kicking each client it accepts (a session taken over by a second gateway with the same
    // client id, a policy disconnecting on the status topic) was reconnected to every 250-500 ms
    // forever, each time re-reading the backlog and receiving the retained commands again.
    const healthy = wasConnected && this.deps.clock.monotonic() - this.connectedAtMono >= settings.reconnect.maxMs;
    if (healthy) this.failedAttempts = 0;
    if (!wasConnected && version === 5 && settings.protocolVersion === 5 && refusedProtocol(lastError)) {
      // An MQTT 3.1.1 broker answers an MQTT 5 CONNECT with "unacceptable protocol version":
      // retry the same broker at once with 3.1.1 and remember it.
      this.versionByBroker.set(broker, 4);
      this.machine.to('backoff');
      this.reconnectTimer = this.deps.clock.setTimeout(() => this.reconnectNow(), 0);
      return;
    }
    if (!healthy) {
      this.failedAttempts += 1;
      // Failover: the next broker in the list gets the next try.
      this.brokerIndex = (this.brokerIndex + 1) % settings.brokers.length;
      if (this.brokerIndex === 0) {
        this.deps.logger.warn(
          { code: 'GW_ERR_UPLINK_CONNECT', brokers: settings.brokers.map(redactUrl), attempts: this.failedAttempts, err: lastError?.message },
          wasConnected ? 'no broker keeps the connection up; retrying' : 'no broker reachable; retrying',
        );
      }
    }
    const delay = backoffDelay(healthy ? 0 : this.failedAttempts - 1, settings.reconnect, this.deps.random);
    this.machine.to('backoff');
    this.deps.logger.info({ delayMs: delay, next: redactUrl(settings.brokers[this.brokerIndex] as string) }, 'uplink reconnect scheduled');
    this.reconnectTimer = this.deps.clock.setTimeout(() => this.reconnectNow(), delay);
  }

  private reconnectNow(): void {
    this.reconnectTimer = null;
    if (this.machine.is('backoff')) this.connect();
  }

  /** Ends the current client without waiting and forgets its in-flight publishes. */
  private dropClient(): void {
    const client = this.client;
    this.client = null;
    this.epoch += 1;
    this.inflight.clear();
    if (this.watchdogTimer) this.deps.clock.clearTimeout(this.watchdogTimer);
    this.watchdogTimer = null;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      void client.end(true);
    }
  }

  /**
   * Sends outbox events while the window has room. After acknowledgements it runs once per read
   * of them (schedulePumpAfterAcks), and after a sync once for all it made durable: one SELECT
   * and, as the link corks the socket for a tick, one write for many publishes.
   */
  private pump(): void {
    if (this.pumping || !this.machine.is('connected') || this.windowFull()) return;
    this.pumping = true;
    try {
      if (!this.probeSuspect()) return;
      this.resendUnrouted();
      while (this.machine.is('connected') && !this.windowFull()) {
        // Whatever is in flight may come back parked or unrouted: read no more than may be held.
        const { held, room } = this.heldRoom();
        this.setHolding(held >= this.maxHeldEvents);
        if (room <= 0) break;
        const rows = this.deps.outbox.readFrom(this.cursor, Math.min(room, this.roomInWindow()));
        if (rows.length === 0) break;
        for (const row of rows) {
          this.cursor = row.seq + 1;
          if (this.parked.has(row.seq) || this.unrouted.has(row.seq) || this.inflight.has(row.seq)) continue;
          this.send(row);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** Publishes that may go now: within the window, and with the status publish within the broker's quota. */
  private roomInWindow(): number {
    return Math.min(this.window - this.inflight.size, this.brokerQuota - this.inflight.size - (this.statusInFlight ? 1 : 0));
  }

  private windowFull(): boolean {
    return this.roomInWindow() <= 0;
  }

  private get maxHeldEvents(): number {
    return this.deps.settings.maxHeldEvents ?? DEFAULT_MAX_HELD_EVENTS;
  }

  /**
   * Events held back now, and how many more may be sent before as many could be held as
   * `maxHeldEvents` (every one in flight might come back parked or unrouted).
   */
  private heldRoom(): { held: number; room: number } {
    const held = this.parked.size + this.unrouted.size;
    return { held, room: this.maxHeldEvents - held - this.inflight.size };
  }

  /**
   * Holding is a state with a log line at each end: the events not read wait in the outbox (they
   * are on disk, and go in order once parked or unrouted ones are delivered).
   */
  private setHolding(holding: boolean): void {
    if (holding === this.holding) return;
    this.holding = holding;
    const report: HoldingReport = { holding, parked: this.parked.size, unrouted: this.unrouted.size, maxHeldEvents: this.maxHeldEvents };
    if (holding) this.deps.logger.warn({ code: 'GW_ERR_UPLINK_HOLDING', ...report }, 'uplink holds back newer events: as many are parked or unrouted as it keeps; they wait in the outbox');
    else this.deps.logger.info(report, 'uplink sends newer events again');
    this.emit('holding', report);
  }

  /**
   * Sends the suspect of the last drop alone and holds the window until it is answered, so a
   * drop while it is in flight is its fault and not a neighbour's. True when the window may be
   * used (no suspect, or it is gone).
   */
  private probeSuspect(): boolean {
    const suspect = this.suspect;
    if (!suspect) return true;
    if (this.inflight.has(suspect.seq)) return false;
    const row = this.deps.outbox.read(suspect.seq);
    if (row && !this.parked.has(suspect.seq)) {
      this.send(row);
      if (this.inflight.has(suspect.seq)) return false;
    }
    this.suspect = null; // dropped by the retention policy, or parked before sending
    return true;
  }

  private send(row: OutboxRow): void {
    const client = this.client;
    if (!client) return;
    const epoch = this.epoch;
    // A parked event goes out of order, after newer ones: flagged like a backlog replay.
    const replayed = row.seq < this.liveFromSeq || this.parked.has(row.seq) || this.unrouted.has(row.seq);
    const topic = eventTopic(this.deps.settings.root, row.laneId, row.type);
    if (this.maxPacketSize !== null) {
      const payloadBytes = row.bytes + (replayed ? REPLAYED_FLAG_BYTES : 0);
      const packetBytes = publishPacketBytes(topic, payloadBytes, this.connectedVersion === 5 ? MQTT5_PROPERTIES_BYTES : null);
      if (packetBytes > this.maxPacketSize) {
        this.parkUnsent(row, 'packet-too-large', packetBytes, 0);
        return;
      }
    }
    // The stored payload is a JSON object; the flag is spliced in rather than re-serialised.
    const payload = replayed ? `${row.payload.slice(0, -1)},"replayed":true}` : row.payload;
    this.inflight.set(row.seq, { row, sentAtMono: this.deps.clock.monotonic() });
    client.publish(topic, payload, this.connectedVersion === 5 ? MQTT5_PUBLISH : MQTT311_PUBLISH, (error, reasonCode) => {
      if (epoch !== this.epoch) return;
      const unrouted = !error && reasonCode === NO_MATCHING_SUBSCRIBERS;
      this.onAck(row, error, unrouted && this.deps.settings.keepUnrouted !== false);
    });
  }

  private onAck(row: OutboxRow, error: LinkError | undefined, unrouted = false): void {
    this.inflight.delete(row.seq);
    if (this.inflight.size === 0) this.onDrained?.();
    const wasSuspect = this.suspect?.seq === row.seq;
    if (wasSuspect) this.suspect = null; // answered: whatever dropped the connection, not this
    if (unrouted) {
      this.keepUnrouted(row);
    } else if (!error) {
      if (this.unrouted.delete(row.seq)) {
        // Someone receives again: the rest go now, and the next spell's probe starts at 1 s.
        this.unroutedFlush = this.unrouted.size > 0;
        this.unroutedProbes = 0;
        if (this.unrouted.size === 0) {
          this.deps.logger.info({ seq: row.seq }, 'events routed to a subscriber again; none kept');
          this.emit('routed');
        }
      }
      this.parked.delete(row.seq);
      this.deps.outbox.remove(row.seq);
      // The probe was read past the cursor: remove it now, or the pump would read it again.
      if (wasSuspect) this.deps.outbox.flushRemovals();
      this.emit('delivered', row, Math.max(0, this.deps.clock.now() - row.createdMs));
    } else {
      const reasonCode = error.code;
      if (typeof reasonCode === 'number' && reasonCode >= 0x80) {
        this.park(row, reasonCode, error.message);
      } else {
        // Connection-level failure: the close handler reconnects and the event is sent again.
        this.deps.logger.debug({ err: error, seq: row.seq }, 'publish failed; will resend');
      }
    }
    this.schedulePumpAfterAcks();
  }

  /**
   * Refills the window right after the acknowledgements that freed it, not once many slots are
   * free: a broker with Nagle's algorithm on (Mosquitto's default) holds each PUBACK until we
   * acknowledge its last segment, and our kernel delays that ACK (up to 40 ms) unless we have
   * data to send. A publish sent at once carries the ACK; waiting for half a 20-slot window
   * stalled the link for the delayed-ACK timer on every refill.
   *
   * The refill runs as soon as the read that carried the acknowledgements is handled (a
   * microtask), not at the end of the loop's turn: against a broker's Receive Maximum of 20 each
   * round trip moves at most 19 events, and a turn that also answers dozens of device pushes takes
   * long enough that one refill per turn leaves events waiting in the outbox (at 32 pushes in
   * flight each push's message reached the subscriber 420–493 ms after it was sent, p50, against
   * 288–349 ms with this; docs/benchmarks.md). The PUBACKs of one read still free their slots
   * together.
   */
  private schedulePumpAfterAcks(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(this.runPump);
  }

  /** The broker routed `row` to nobody: kept in the outbox, sent again after a probe is routed. */
  private keepUnrouted(row: OutboxRow): void {
    if (this.unrouted.has(row.seq)) {
      // A resend came back 0x10 too: no subscriber yet. Stop flushing; back off the next probe.
      this.unroutedFlush = false;
      this.unroutedProbes += 1;
      this.scheduleProbe();
      return;
    }
    this.unrouted.add(row.seq);
    if (this.unrouted.size === 1) this.deps.logger.warn({ seq: row.seq, type: row.type, laneId: row.laneId }, 'broker routed an event to no subscriber (is the VMC subscribed?); kept and sent again');
    this.emit('unrouted', { seq: row.seq, type: row.type, laneId: row.laneId, count: this.unrouted.size });
    if (!this.unroutedFlush && this.probeAtMono === Number.POSITIVE_INFINITY) this.scheduleProbe();
  }

  /** The next probe after the current backoff (1 s doubling per probe answered 0x10, up to 30 s). */
  private scheduleProbe(): void {
    this.probeAtMono = this.deps.clock.monotonic() + backoffCap(this.unroutedProbes, UNROUTED_PROBE_BACKOFF);
    if (this.unroutedTimer) this.deps.clock.clearTimeout(this.unroutedTimer);
    this.unroutedTimer = null;
    this.armUnroutedRetry();
  }

  /**
   * Sends kept unrouted events again, oldest first, within the window: all of them once one was
   * routed, else only the oldest as a probe when its backoff has passed.
   */
  private resendUnrouted(): void {
    if (this.unrouted.size === 0) return;
    const probing = !this.unroutedFlush;
    if (probing && this.deps.clock.monotonic() < this.probeAtMono) {
      this.armUnroutedRetry(); // a timer may fire a fraction of a millisecond early
      return;
    }
    for (const seq of this.unrouted) {
      if (!this.machine.is('connected') || this.windowFull()) break;
      if (this.inflight.has(seq) || this.parked.has(seq)) {
        if (probing) return; // the probe is still on its way
        continue;
      }
      const row = this.deps.outbox.read(seq);
      if (!row) {
        this.unrouted.delete(seq); // dropped by the retention policy, counted there
        continue;
      }
      this.send(row);
      if (probing) {
        this.probeAtMono = Number.POSITIVE_INFINITY; // set again when its answer comes
        return;
      }
    }
  }

  private armUnroutedRetry(): void {
    if (this.unroutedTimer || this.probeAtMono === Number.POSITIVE_INFINITY || !this.machine.is('connected')) return;
    this.unroutedTimer = this.deps.clock.setTimeout(
      () => {
        this.unroutedTimer = null;
        this.pump();
      },
      Math.max(0, this.probeAtMono - this.deps.clock.monotonic()),
    );
  }

  private park(row: OutboxRow, reasonCode: number, reason: string): void {
    const first = !this.parked.has(row.seq);
    this.parked.set(row.seq, { cause: 'refused', retries: 0, retryAtMono: this.deps.clock.monotonic() + this.deps.settings.refusedRetryMs });
    // A line per event, not per retry: a broker refusing thousands, retried every minute, is one spell.
    this.deps.logger[first ? 'warn' : 'debug']({ seq: row.seq, id: row.id, type: row.type, reasonCode, reason }, first ? 'broker refused publish; event kept' : 'broker refused a parked publish again');
    if (first) this.emit('refused', { seq: row.seq, id: row.id, type: row.type, laneId: row.laneId, reasonCode, reason });
    this.armRetry();
  }

  /** Parks an event the broker never answered: too large for it, or a suspect poison message. */
  private parkUnsent(row: OutboxRow, cause: ParkedPublish['cause'], packetBytes: number, drops: number): void {
    const previous = this.parked.get(row.seq);
    const retries = previous?.cause === cause ? previous.retries + 1 : 0;
    const backoff = cause === 'poison' ? Math.min(2 ** retries, MAX_POISON_BACKOFF) : 1;
    this.parked.set(row.seq, { cause, retries, retryAtMono: this.deps.clock.monotonic() + this.deps.settings.refusedRetryMs * backoff });
    const details = { seq: row.seq, id: row.id, type: row.type, laneId: row.laneId, packetBytes, maxPacketSize: this.maxPacketSize, drops };
    if (previous?.cause === cause) {
      this.deps.logger.debug({ ...details, cause, retries }, 'parked publish still not deliverable');
    } else {
      this.deps.logger.warn({ ...details, cause }, cause === 'poison' ? 'broker dropped the connection on this publish repeatedly; event parked' : 'publish larger than the broker accepts; event parked');
      this.emit('parked', { ...details, cause });
    }
    this.armRetry();
  }

  /**
   * The broker closed the connection. A parked suspect sent again and in flight takes the blame;
   * otherwise the oldest unacknowledged publish gets a strike, and `poisonAfterDrops` strikes in
   * a row park it. Drops with nothing in flight blame nobody (a network outage, a broker restart
   * between events); the probe on the next connection acquits an innocent suspect.
   */
  private blameDrop(): void {
    let oldest: InFlight | undefined;
    for (const flight of this.inflight.values()) {
      if (this.parked.get(flight.row.seq)?.cause === 'poison') {
        this.parkUnsent(flight.row, 'poison', this.packetBytesOf(flight.row), 1);
        return;
      }
      if (!oldest && !this.parked.has(flight.row.seq)) oldest = flight;
    }
    if (!oldest) return;
    const { seq } = oldest.row;
    const drops = this.suspect?.seq === seq ? this.suspect.drops + 1 : 1;
    const limit = this.deps.settings.poisonAfterDrops ?? DEFAULT_POISON_AFTER_DROPS;
    this.deps.logger.info({ seq, drops, limit }, 'connection dropped with this publish the oldest unacknowledged');
    if (drops >= limit) {
      this.suspect = null;
      this.parkUnsent(oldest.row, 'poison', this.packetBytesOf(oldest.row), drops);
    } else {
      this.suspect = { seq, drops };
    }
  }

  private packetBytesOf(row: OutboxRow): number {
    const topic = eventTopic(this.deps.settings.root, row.laneId, row.type);
    return publishPacketBytes(topic, row.bytes, this.connectedVersion === 5 ? MQTT5_PROPERTIES_BYTES : null);
  }

  private armRetry(): void {
    if (this.retryTimer || this.parked.size === 0 || this.machine.is('stopped')) return;
    this.retryTimer = this.deps.clock.setTimeout(() => {
      this.retryTimer = null;
      this.retryParked();
    }, this.deps.settings.refusedRetryMs);
  }

  private retryParked(): void {
    const now = this.deps.clock.monotonic();
    if (this.machine.is('connected')) {
      for (const [seq, parked] of this.parked) {
        // Within the window: past the broker's Receive Maximum it would disconnect (0x93).
        if (this.windowFull()) break;
        if (parked.retryAtMono > now || this.inflight.has(seq)) continue;
        const row = this.deps.outbox.read(seq);
        if (!row) {
          this.parked.delete(seq); // dropped by the retention policy, counted there
          continue;
        }
        this.send(row);
      }
    }
    this.armRetry();
  }

  /** Forces a reconnect when the oldest in-flight publish waited longer than the timeout. */
  private armWatchdog(): void {
    const period = Math.max(10, Math.min(1000, Math.floor(this.deps.settings.publishTimeoutMs / 4)));
    this.watchdogTimer = this.deps.clock.setTimeout(() => {
      this.watchdogTimer = null;
      if (!this.machine.is('connected')) return;
      const oldest = this.inflight.values().next().value;
      if (oldest && this.deps.clock.monotonic() - oldest.sentAtMono > this.deps.settings.publishTimeoutMs) {
        this.deps.logger.warn({ seq: oldest.row.seq, timeoutMs: this.deps.settings.publishTimeoutMs }, 'publish not acknowledged; reconnecting');
        this.emit('timeout', oldest.row.seq);
        const version = this.connectedVersion;
        this.dropClient();
        this.scheduleReconnect(true, version);
        return;
      }
      this.armWatchdog();
    }, period);
  }

  private clearTimers(): void {
    for (const timer of [this.reconnectTimer, this.watchdogTimer, this.retryTimer, this.unroutedTimer]) {
      if (timer) this.deps.clock.clearTimeout(timer);
    }
    this.reconnectTimer = null;
    this.watchdogTimer = null;
    this.retryTimer = null;
    this.unroutedTimer = null;
  }

  private statusPayload(state: 'online' | 'offline', reason?: string): string {
    return JSON.stringify({
      state,
      postId: this.deps.postId,
      gatewayVersion: this.deps.gatewayVersion,
      time: new Date(this.deps.clock.now()).toISOString(),
      ...(reason ? { reason } : {}),
    });
  }
}

/** True when the broker refused the CONNECT's protocol version (3.1.1 code 1, MQTT 5 code 0x84). */
function refusedProtocol(error: Error | null): boolean {
  if (!error) return false;
  const code = (error as { code?: unknown }).code;
  return code === 1 || code === 0x84 || /protocol version/i.test(error.message);
}
