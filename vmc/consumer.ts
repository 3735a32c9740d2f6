/**
 * The VMC's MQTT 5 session: a shared subscription (`$share/{group}/{topic}`) so the instances of
 * one group split the posts' events, QoS 1, and a persistent session (clean start off, a session
 * expiry) so what arrives while an instance is down waits for it at the broker. A message is
 * acknowledged only once stored (mqtt.js `customHandleAcks`, which sends the PUBACK when its
 * callback runs); when the store fails the connection is dropped unacknowledged, so the broker
 * delivers it again after the reconnect (MQTT 5.0 section 4.4: unacknowledged QoS 1 messages are
 * resent on a session's reconnection).
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { backoffDelay } from '../core/backoff.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { redactUrl } from '../config/secrets.js';
import type { EventIntake } from './event-intake.js';

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
}

export class Consumer {
  private client: MqttClient | null = null;
  private stateValue: ConsumerState = 'idle';
  private attempt = 0;
  private retryTimer: TimerHandle | null = null;
  private readonly filter: string;
  storeFailures = 0;

  constructor(private readonly options: ConsumerOptions) {
    this.filter = `$share/${options.group}/${options.topic ?? 'border/v1/+/#'}`;
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
        intake.handle(topic, payload).then(
          () => done(0),
          (error: unknown) => this.storeFailed(error),
        );
      },
      ...(this.options.username !== undefined ? { username: this.options.username } : {}),
      ...(this.options.password !== undefined ? { password: this.options.password } : {}),
    };
    const client = mqtt.connect(this.options.url, clientOptions);
    this.client = client;
    // QoS 0 publishes bypass customHandleAcks; they need no acknowledgement.
    client.on('message', (topic, payload, packet) => {
      if (packet.qos === 0) void intake.handle(topic, payload).catch((error: unknown) => logger.warn({ err: error }, 'a QoS 0 message could not be stored'));
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
            this.attempt = 0;
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

  private storeFailed(error: unknown): void {
    this.storeFailures += 1;
    this.options.logger.error({ err: error, code: 'GW_ERR_VMC_STORE' }, 'store failed; dropping the connection unacknowledged so the broker delivers again');
    this.dropConnection();
  }

  /** Closes the socket without a DISCONNECT: the session and its unacknowledged messages stay at the broker. */
  private dropConnection(): void {
    const client = this.client;
    if (!client) return;
    client.stream?.destroy();
  }

  private scheduleReconnect(): void {
    if (this.stateValue === 'stopped') return;
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
