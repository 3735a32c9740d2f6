/**
 * The VMC side: one MQTT subscriber (QoS 1) on both peers' topics, in the benchmark process,
 * stamping each message as it arrives (performance.now(), the clock the pushes are timed with).
 * A tally per peer run keeps, by plate, when its message first arrived; repeats and the peer's
 * other messages are counted beside it.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import type { Classified } from './peer-process.js';

export interface Tally {
  /** Plate → when its message first arrived. */
  firstArrival: Map<string, number>;
  /** Messages for a plate that had arrived already. */
  repeats: number;
  /** The peer's other messages, by type. */
  others: Map<string, number>;
  /** When the last message of this peer arrived (any type). */
  lastMessageMs: number;
}

export interface SubscriberOptions {
  /** A persistent session under this client id (MQTT 5, expiry one hour): the broker queues for it while it is away. */
  persistentId?: string;
}

export class Arrivals {
  private watching: { classify: (topic: string, payload: Buffer) => Classified; tally: Tally } | null = null;
  private readonly events = new EventEmitter<{ message: [plate: string] }>();

  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  static async connect(url: string, topics: string[], options: SubscriberOptions = {}): Promise<Arrivals> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion: 5,
      clientId: options.persistentId ?? `bench-vmc-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
      clean: options.persistentId === undefined,
      ...(options.persistentId === undefined ? {} : { properties: { sessionExpiryInterval: 3600 } }),
      reconnectPeriod: 200,
    });
    await client.subscribeAsync(topics, { qos: 1 });
    return new Arrivals(client);
  }

  /** Counts the messages `classify` claims from now on into a new tally (ending the previous one). */
  watch(classify: (topic: string, payload: Buffer) => Classified): Tally {
    const tally: Tally = { firstArrival: new Map(), repeats: 0, others: new Map(), lastMessageMs: 0 };
    this.watching = { classify, tally };
    return tally;
  }

  /** Resolves true once every plate has arrived, false after `timeoutMs` without them all. */
  waitForPlates(tally: Tally, plates: string[], timeoutMs: number): Promise<boolean> {
    const missing = new Set(plates.filter((plate) => !tally.firstArrival.has(plate)));
    if (missing.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onMessage = (plate: string): void => {
        if (!missing.delete(plate) || missing.size > 0) return;
        clearTimeout(timer);
        this.events.off('message', onMessage);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.events.off('message', onMessage);
        resolve(false);
      }, timeoutMs);
      this.events.on('message', onMessage);
    });
  }

  /** Resolves once no message of the tally's peer has arrived for `quietMs` (at most `timeoutMs`). */
  async waitQuiet(tally: Tally, quietMs: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const quietFor = performance.now() - tally.lastMessageMs;
      if (quietFor >= quietMs || performance.now() >= deadline) return;
      await new Promise((resolve) => setTimeout(resolve, Math.min(quietMs - quietFor, deadline - performance.now()) + 1));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }

  private onMessage(topic: string, payload: Buffer): void {
    const at = performance.now();
    const watching = this.watching;
    if (!watching) return;
    const classified = watching.classify(topic, payload);
    if (!classified) return;
    const { tally } = watching;
    tally.lastMessageMs = at;
    if ('plate' in classified) {
      if (tally.firstArrival.has(classified.plate)) tally.repeats += 1;
      else tally.firstArrival.set(classified.plate, at);
      this.events.emit('message', classified.plate);
    } else {
      tally.others.set(classified.other, (tally.others.get(classified.other) ?? 0) + 1);
    }
  }
}
