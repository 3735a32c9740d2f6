/**
 * A VMC-like subscriber for system tests: a persistent MQTT 5 session (so messages published while
 * it reconnects are queued for it by the broker) that records every event it receives.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface Received {
  topic: string;
  id: string;
  seq: number;
  type: string;
  laneId: string;
  replayed: boolean;
  event: Record<string, unknown> & { data: Record<string, unknown> };
  contentType: string | undefined;
}

export class Collector extends EventEmitter<{ message: [Received]; status: [string] }> {
  readonly received: Received[] = [];
  readonly status: string[] = [];
  private readonly client: MqttClient;

  private constructor(client: MqttClient) {
    super();
    this.client = client;
    client.on('message', (topic, payload, packet) => {
      if (topic.endsWith('/status')) {
        this.status.push(payload.toString());
        this.emit('status', payload.toString());
        return;
      }
      const event = JSON.parse(payload.toString()) as Received['event'];
      const source = String(event.source);
      const message: Received = {
        topic,
        id: String(event.id),
        seq: Number(event.seq),
        type: String(event.type),
        laneId: source.slice(source.lastIndexOf('/') + 1),
        replayed: event.replayed === true,
        event,
        contentType: packet.properties?.contentType,
      };
      this.received.push(message);
      this.emit('message', message);
    });
  }

  /** `options`: extra MQTT.js options, e.g. a client certificate for a TLS listener. */
  static async connect(url: string, filter = 'border/#', protocolVersion: 4 | 5 = 5, options: IClientOptions = {}): Promise<Collector> {
    const clientId = `collector-${process.pid}-${Date.now()}`;
    const client = mqtt.connect(url, {
      ...options,
      protocolVersion,
      clientId,
      clean: false,
      ...(protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      reconnectPeriod: 100,
    });
    const collector = new Collector(client);
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(filter, { qos: 1 });
    return collector;
  }

  /** Resolves once `predicate` holds over what was received; rejects after `timeoutMs` with a summary. */
  waitFor(predicate: (received: Received[]) => boolean, timeoutMs = 45_000, what = 'messages'): Promise<void> {
    if (predicate(this.received)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onMessage = (): void => {
        if (!predicate(this.received)) return;
        clearTimeout(timer);
        this.off('message', onMessage);
        resolve();
      };
      const timer = setTimeout(() => {
        this.off('message', onMessage);
        reject(new Error(`timed out waiting for ${what}; received ${this.received.length}`));
      }, timeoutMs);
      this.on('message', onMessage);
    });
  }

  /** Resolves once a retained status message matching `match` has arrived. */
  waitForStatus(match: (status: string) => boolean, timeoutMs = 30_000): Promise<string> {
    const seen = this.status.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const onStatus = (status: string): void => {
        if (!match(status)) return;
        clearTimeout(timer);
        this.off('status', onStatus);
        resolve(status);
      };
      const timer = setTimeout(() => {
        this.off('status', onStatus);
        reject(new Error(`timed out waiting for a status; got ${this.status.join(' | ')}`));
      }, timeoutMs);
      this.on('status', onStatus);
    });
  }

  uniqueIds(): Set<string> {
    return new Set(this.received.map((message) => message.id));
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Seqs of each lane in order of first arrival (duplicates after the first are ignored). */
export function firstArrivalSeqsByLane(received: Received[]): Map<string, number[]> {
  const seen = new Set<string>();
  const byLane = new Map<string, number[]>();
  for (const message of received) {
    if (seen.has(message.id)) continue;
    seen.add(message.id);
    const seqs = byLane.get(message.laneId) ?? [];
    seqs.push(message.seq);
    byLane.set(message.laneId, seqs);
  }
  return byLane;
}

export function isIncreasing(values: number[]): boolean {
  return values.every((value, index) => index === 0 || value > (values[index - 1] as number));
}
