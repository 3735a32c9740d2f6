/**
 * The VMC's MQTT 5 session: a shared subscription (`$share/{group}/{topic}`) so the instances of
 * one group split the posts' events, QoS 1, and a persistent session (clean start off, a session
 * expiry) so what arrives while an instance is down waits for it at the broker. A message is
 * acknowledged only once stored (mqtt.js `customHandleAcks`, which sends the PUBACK when its
 * callback runs); when the store fails the connection is dropped unacknowledged, so the broker
 * delivers it again after the reconnect (MQTT 5.0 section 4.4: unacknowledged QoS 1 messages are
 * resent on a session's reconnection).
 *
 * A message the store keeps failing on while the database itself answers (VmcStore.ping) is the
 * problem, not the database: after `maxStoreFailures` failures of the same message (topic and
 * payload) it is dead-lettered (counted, logged once, acknowledged), so one bad message cannot
 * hold the session (and every message behind it) forever. While the database does not answer,
 * a message is retried without limit. The reconnect backoff keeps growing over sessions that
 * end in a store failure; it starts again after a message is stored or a session stays up.
 * QoS 0 messages are dropped and counted: the contract is QoS 1, and a QoS 0 message could be
 * neither acknowledged after its commit nor held back (nothing bounds how many run at once).
 */
import { createHash } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { redactUrl } from '../config/secrets.js';
import { DEFAULT_TOPIC_FILTER, type EventIntake } from './event-intake.js';

/** One state for the connection (STYLE.md practice 7), never a cluster of booleans. */
export type ConsumerState = 'idle' | 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface ConsumerOptions {
  url: string;
  group: string;
  /** Topic filter inside the share (default `border/v1/+/#`). */
  topic?: string;
  /** MQTT client id: stable across restarts, so the broker keeps this instance's session. */
  clientId: string;
  intake: EventIntake;
  clock: Clock;
  logger: Logger;
  /** Seconds the broker keeps the session (and its queued messages) while this instance is away. Default 7 days. */
  sessionExpirySec?: number;
  /** Reconnect backoff (capped exponential with jitter). */
  reconnect?: { initialMs: number; maxMs: number };
  username?: string;
  password?: string;
  /** Store failures of one message, while the store answers a ping, before it is dead-lettered (default 5). */
  maxStoreFailures?: number;
}

/** A session up this long without a store failure ends the backoff sequence (the next reconnect starts from initialMs). */
const STABLE_SESSION_MS = 30_000;
/** The store-failure and QoS 0 warnings are logged at most once per this, with the count since. */
const LOG_INTERVAL_MS = 60_000;
/** How many failing messages are remembered (each by a hash); the oldest is forgotten past it. */
const MAX_TRACKED_FAILURES = 1000;

export class Consumer {
  private client: MqttClient | null = null;
  private stateValue: ConsumerState = 'idle';
  private attempt = 0;
  private retryTimer: TimerHandle | null = null;
  private readonly filter: string;
  private connectedAtMs: number | null = null;
  private sessionStoreFailed = false;
  /** Store failures per message (sha-256 of topic and payload), oldest first. */
  private readonly failuresByMessage = new Map<string, number>();
  private readonly lastLog = new Map<'store' | 'qos0', { atMs: number; suppressed: number }>();
  storeFailures = 0;
  /** Messages acknowledged and dropped after repeated store failures (GW_ERR_VMC_DEAD_LETTER). */
  deadLettered = 0;
  /** QoS 0 messages dropped (the contract publishes at QoS 1). */
  qos0Dropped = 0;

  constructor(private readonly options: ConsumerOptions) {
    this.filter = `$share/${options.group}/${options.topic ?? DEFAULT_TOPIC_FILTER}`;
  }

  get state(): ConsumerState {
    return this.stateValue;
  }

  get subscription(): string {
    return this.filter;
  }

  /** Connects and subscribes; resolves once the first attempt has connected or failed (then retries go on). */
  start(): Promise<void> {
    return this.connect();
  }

  private connect(): Promise<void> {
    if (this.stateValue === 'stopped') return Promise.resolve();
    this.stateValue = 'connecting';
    // Set by a store failure of this session (queued messages may come before the SUBACK).
    this.sessionStoreFailed = false;
    const { intake, logger } = this.options;
    const clientOptions: IClientOptions = {
      protocolVersion: 5,
      clientId: this.options.clientId,
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      properties: {
        sessionExpiryInterval: this.options.sessionExpirySec ?? 7 * 24 * 3600,
        // A compliant broker sends nothing larger (MQTT 5.0 section 3.1.2.11.4): room for the topic and properties.
        maximumPacketSize: intake.maxMessageBytes + 4096,
        receiveMaximum: 64,
      },
      customHandleAcks: (topic, payload, _packet, done) => {
        void this.deliver(topic, payload).then((acknowledge) => {
          if (acknowledge) done(0);
        });
      },
      ...(this.options.username !== undefined ? { username: this.options.username } : {}),
      ...(this.options.password !== undefined ? { password: this.options.password } : {}),
    };
    const client = mqtt.connect(this.options.url, clientOptions);
    this.client = client;
    // QoS 0 publishes bypass customHandleAcks (mqtt.js handlers/publish): they are dropped, counted.
    client.on('message', (topic, _payload, packet) => {
      if (packet.qos !== 0) return;
      this.qos0Dropped += 1;
      this.logLimited('qos0', (suppressed) =>
        logger.warn({ code: 'GW_ERR_VMC_MESSAGE_REJECTED', reason: 'qos0', topic: topic.slice(0, 200), suppressedSinceLast: suppressed }, 'QoS 0 message dropped: events are published at QoS 1'),
      );
    });
    client.on('error', (error) => logger.warn({ err: error, url: redactUrl(this.options.url) }, 'MQTT error'));
    return new Promise((resolve) => {
      client.once('connect', (connack) => {
        void (async () => {
          try {
            // Also with a session present: subscribing again to the same filter changes nothing,
            // and repairs a session the broker lost (restarted without persistence).
            await client.subscribeAsync(this.filter, { qos: 1 });
            this.stateValue = 'connected';
            this.connectedAtMs = this.options.clock.monotonic();
            logger.info({ url: redactUrl(this.options.url), subscription: this.filter, sessionPresent: connack.sessionPresent }, 'subscribed');
          } catch (error) {
            logger.warn({ err: error }, 'subscribe failed');
            this.dropConnection();
          }
          resolve();
        })();
      });
      client.once('close', () => {
        resolve();
        if (this.client === client) this.scheduleReconnect();
      });
    });
  }

  /** Hands one message to the intake; resolves to whether to acknowledge it. */
  private async deliver(topic: string, payload: Buffer): Promise<boolean> {
    const { intake, logger } = this.options;
    const key = createHash('sha256').update(topic).update('\0').update(payload).digest('base64');
    try {
      await intake.handle(topic, payload);
      this.failuresByMessage.delete(key);
      this.attempt = 0;
      return true;
    } catch (error) {
      const failures = (this.failuresByMessage.get(key) ?? 0) + 1;
      this.failuresByMessage.delete(key);
      this.failuresByMessage.set(key, failures);
      if (this.failuresByMessage.size > MAX_TRACKED_FAILURES) this.failuresByMessage.delete(this.failuresByMessage.keys().next().value as string);
      if (failures >= (this.options.maxStoreFailures ?? 5) && (await intake.storeReachable())) {
        this.failuresByMessage.delete(key);
        this.deadLettered += 1;
        logger.error(
          { err: error, code: 'GW_ERR_VMC_DEAD_LETTER', topic: topic.slice(0, 200), bytes: payload.length, failures },
          'message dead-lettered: it failed to store repeatedly while the store answers; acknowledged and dropped',
        );
        return true;
      }
      this.storeFailed(error);
      return false;
    }
  }

  private storeFailed(error: unknown): void {
    this.storeFailures += 1;
    this.sessionStoreFailed = true;
    this.logLimited('store', (suppressed) =>
      this.options.logger.error(
        { err: error, code: 'GW_ERR_VMC_STORE', suppressedSinceLast: suppressed },
        'store failed; dropping the connection unacknowledged so the broker delivers again',
      ),
    );
    this.dropConnection();
  }

  /** Runs `log` at most once per LOG_INTERVAL_MS per kind, with how many were left out since. */
  private logLimited(kind: 'store' | 'qos0', log: (suppressed: number) => void): void {
    const now = this.options.clock.monotonic();
    const last = this.lastLog.get(kind);
    if (last && now - last.atMs < LOG_INTERVAL_MS) {
      last.suppressed += 1;
      return;
    }
    this.lastLog.set(kind, { atMs: now, suppressed: 0 });
    log(last?.suppressed ?? 0);
  }

  /** Closes the socket without a DISCONNECT: the session and its unacknowledged messages stay at the broker. */
  private dropConnection(): void {
    const client = this.client;
    if (!client) return;
    client.stream?.destroy();
  }

  private scheduleReconnect(): void {
    if (this.stateValue === 'stopped') return;
    // A session that stayed up without a store failure ends the backoff sequence; one that ended
    // in a store failure (or never subscribed) lets it grow, however quickly it connected.
    if (this.connectedAtMs !== null && !this.sessionStoreFailed && this.options.clock.monotonic() - this.connectedAtMs >= STABLE_SESSION_MS) this.attempt = 0;
    this.connectedAtMs = null;
    this.stateValue = 'waiting';
    const old = this.client;
    this.client = null;
    old?.end(true);
    const delay = backoffDelay(this.attempt, this.options.reconnect ?? { initialMs: 500, maxMs: 30_000 });
    this.attempt += 1;
    this.options.logger.info({ delayMs: delay }, 'disconnected; reconnecting');
    this.retryTimer = this.options.clock.setTimeout(() => {
      this.retryTimer = null;
      void this.connect();
    }, delay);
  }

  /** Disconnects cleanly; the session stays at the broker (its expiry) for the next start. */
  async stop(): Promise<void> {
    this.stateValue = 'stopped';
    if (this.retryTimer) this.options.clock.clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync().catch(() => undefined);
  }
}
