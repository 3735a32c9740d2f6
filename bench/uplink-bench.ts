/**
 * Pieces of the uplink benchmark: the raw MQTT.js baseline and the gateway's durable path, both
 * QoS 1 with the same bounded in-flight window against the same broker, so their ratio says what
 * durability costs on this machine whatever its speed.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { systemClock } from '../core/clock.js';
import { createEventFactory, type EventDraft } from '../contract/envelope.js';
import { SqliteOutbox } from '../gateway/outbox/sqlite-outbox.js';
import { MqttLink } from '../gateway/uplink/mqtt-link.js';
import { MqttUplink, type UplinkSettings } from '../gateway/uplink/mqtt-uplink.js';

export const LANES = ['lane-1', 'lane-2', 'lane-3', 'lane-4'];
const silent = pino({ level: 'silent' });
const factory = createEventFactory('bench-post', systemClock);

export function benchEvent(n: number): EventDraft {
  const lane = LANES[n % LANES.length] as string;
  return factory.create(
    'vehicle.weighed',
    lane,
    { crossingId: `bench-${lane}-${n}`, clock: { synchronised: true, offsetMs: 0.3 }, sinceArrivalSec: 5400 + (n % 600), weightKg: 20_000 + (n % 10_000), deviceId: `${lane}-weighbridge` },
    `bench-${lane}-${n}`,
  );
}

export function uplinkSettings(brokerUrl: string, window: number): UplinkSettings {
  return {
    brokers: [brokerUrl],
    root: 'border/v1/bench-post',
    clientId: `bench-gateway-${process.pid}`,
    protocolVersion: 5,
    keepaliveSec: 30,
    inflightWindow: window,
    // The bench sends no commands: anything from the broker past 64 KiB is not for it.
    maxIncomingBytes: 64 * 1024,
    publishTimeoutMs: 30_000,
    refusedRetryMs: 60_000,
    // Nobody subscribes to the bench's broker (raw publishes neither): it answers 0x10, which a
    // post would keep for the VMC; here the events count as delivered on the broker's PUBACK.
    keepUnrouted: false,
    reconnect: { initialMs: 100, maxMs: 1000 },
  };
}

/** Publishes one QoS 1 message and calls back on its PUBACK (or failure). */
type PublishOne = (topic: string, payload: string, done: (error: Error | undefined) => void) => void;

/**
 * Builds `count` events and publishes them through `publish`, at most `window` unacknowledged,
 * refilling once `refillBatch` slots are free (1: after every PUBACK, as a plain MQTT.js program
 * would; in batches of 32 against a tuned broker, the strongest baseline we know there). Each event
 * is built and serialised as the durable path does, so the ratio isolates what the outbox costs.
 * Returns events/s.
 */
async function windowedPublish(publish: PublishOne, count: number, window: number, refillBatch: number): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let sent = 0;
    let acked = 0;
    let inflight = 0;
    const pump = (): void => {
      if (window - inflight < Math.min(refillBatch, window / 2) && sent < count) return;
      while (inflight < window && sent < count) {
        const n = sent;
        sent += 1;
        inflight += 1;
        const payload = JSON.stringify({ ...benchEvent(n), seq: n + 1 });
        publish(`border/v1/bench-post/${LANES[n % 4]}/vehicle.weighed`, payload, (error) => {
          if (error) return reject(error);
          inflight -= 1;
          acked += 1;
          if (acked === count) resolve();
          else pump();
        });
      }
    };
    pump();
  });
  return count / ((performance.now() - started) / 1000);
}

/** Baseline: the gateway without its outbox, publishing with raw MQTT.js. Returns events/s. */
export async function rawPublish(brokerUrl: string, count: number, window: number, refillBatch = 32): Promise<number> {
  const client = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, clientId: `bench-raw-${process.pid}`, reconnectPeriod: 0 });
  (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
  const properties = { contentType: 'application/cloudevents+json' };
  const rate = await windowedPublish((topic, payload, done) => client.publish(topic, payload, { qos: 1, properties }, (error) => done(error)), count, window, refillBatch);
  await client.endAsync();
  return rate;
}

/**
 * The durable path's own publisher without the outbox: the gateway's MQTT link (mqtt-link.ts)
 * publishing the same events as `rawPublish`, with the same window and refill. The durable path
 * against this says what storing costs; against `rawPublish`, what a post gets over a program
 * that publishes with MQTT.js and stores nothing. Returns events/s.
 */
export async function linkPublish(brokerUrl: string, count: number, window: number, refillBatch = 32): Promise<number> {
  const link = new MqttLink({ url: brokerUrl, protocolVersion: 5, clientId: `bench-link-${process.pid}`, keepaliveSec: 30, connectTimeoutMs: 10_000, maxIncomingBytes: 64 * 1024, clock: systemClock });
  await new Promise<void>((resolve, reject) => {
    link.once('connect', () => resolve());
    link.once('error', reject);
  });
  const options = { contentType: 'application/cloudevents+json' };
  const rate = await windowedPublish((topic, payload, done) => link.publish(topic, payload, options, (error) => done(error)), count, window, refillBatch);
  await link.end();
  return rate;
}

export interface DurableRun {
  outbox: SqliteOutbox;
  uplink: MqttUplink;
  close(): Promise<void>;
}

export async function startDurable(brokerUrl: string, dir: string, window: number): Promise<DurableRun> {
  const outbox = SqliteOutbox.open({ path: join(dir, 'outbox.db'), maxBytes: 2 * 1024 ** 3, maxBatch: 1000, clock: systemClock, logger: silent });
  const uplink = new MqttUplink({ settings: uplinkSettings(brokerUrl, window), postId: 'bench-post', gatewayVersion: 'bench', outbox, clock: systemClock, logger: silent });
  const connected = new Promise<void>((resolve) => uplink.on('state', (state) => state === 'connected' && resolve()));
  uplink.start();
  await connected;
  return {
    outbox,
    uplink,
    close: async () => {
      await uplink.stop();
      outbox.close();
    },
  };
}

/**
 * The durable path: each event committed (group commit, WAL fsync off the event loop) → published → PUBACK → row
 * removed. Producers append in chunks of `chunk` and wait for the commit, as the workflow does.
 * Returns events/s from the first append to the last PUBACK.
 */
export async function durablePublish(run: DurableRun, count: number, chunk = 1000): Promise<number> {
  let delivered = 0;
  const done = new Promise<void>((resolve) => {
    const onDelivered = (): void => {
      delivered += 1;
      if (delivered === count) {
        run.uplink.off('delivered', onDelivered);
        resolve();
      }
    };
    run.uplink.on('delivered', onDelivered);
  });
  const started = performance.now();
  for (let i = 0; i < count; i += chunk) {
    const appends: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(count, i + chunk); j += 1) appends.push(run.outbox.append(benchEvent(j)));
    await Promise.all(appends);
  }
  await done;
  run.outbox.flushRemovals();
  return count / ((performance.now() - started) / 1000);
}

/**
 * Latency from the producer's append to the broker's PUBACK, at a steady `rate` events/s for
 * `seconds`: the commit, its fsync, the publish and the acknowledgement. Returns sorted ms.
 */
export async function steadyLatency(run: DurableRun, rate: number, seconds: number): Promise<number[]> {
  const appendedAt = new Map<number, number>();
  const deliveredAt = new Map<number, number>();
  const latencies: number[] = [];
  const settle = (seq: number): void => {
    const appended = appendedAt.get(seq);
    const delivered = deliveredAt.get(seq);
    if (appended === undefined || delivered === undefined) return;
    latencies.push(delivered - appended);
    appendedAt.delete(seq);
    deliveredAt.delete(seq);
  };
  // A PUBACK can come before the producer's promise has run its callback: both times are kept
  // by seq and matched whichever comes second.
  const onDelivered = (row: { seq: number }): void => {
    deliveredAt.set(row.seq, performance.now());
    settle(row.seq);
  };
  run.uplink.on('delivered', onDelivered);
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const total = rate * seconds;
  let emitted = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      // Catch up to the schedule, so timer jitter does not lower the rate.
      const due = Math.min(total, Math.round(((performance.now() - started) / 1000) * rate) + perTick);
      for (; emitted < due; emitted += 1) {
        const at = performance.now();
        run.outbox.append(benchEvent(emitted)).then(
          (committed) => {
            appendedAt.set(committed.seq, at);
            settle(committed.seq);
          },
          () => undefined,
        );
      }
      if (emitted >= total) resolve();
      else setTimeout(tick, tickMs);
    };
    tick();
  });
  while (latencies.length < total) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  run.uplink.off('delivered', onDelivered);
  return latencies.sort((a, b) => a - b);
}

/**
 * The baseline of `steadyLatency`: raw MQTT.js publishing the same events at the same steady rate
 * to the same broker (QoS 1, Nagle off), from the publish call to its PUBACK. What the machine's
 * scheduling and the broker alone cost, with nothing stored. Returns sorted ms.
 */
export async function rawSteadyLatency(brokerUrl: string, rate: number, seconds: number): Promise<number[]> {
  const client = await mqtt.connectAsync(brokerUrl, { protocolVersion: 5, clientId: `bench-raw-steady-${process.pid}`, reconnectPeriod: 0 });
  (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
  const latencies: number[] = [];
  const tickMs = 10;
  const perTick = Math.max(1, Math.round((rate * tickMs) / 1000));
  const total = rate * seconds;
  let emitted = 0;
  const started = performance.now();
  let failed: Error | null = null;
  await new Promise<void>((resolve, reject) => {
    const tick = (): void => {
      const due = Math.min(total, Math.round(((performance.now() - started) / 1000) * rate) + perTick);
      for (; emitted < due && !failed; emitted += 1) {
        const n = emitted;
        const at = performance.now();
        const payload = JSON.stringify({ ...benchEvent(n), seq: n + 1 });
        client.publish(`border/v1/bench-post/${LANES[n % 4]}/vehicle.weighed`, payload, { qos: 1, properties: { contentType: 'application/cloudevents+json' } }, (error) => {
          if (error) {
            failed ??= error;
            return reject(error);
          }
          latencies.push(performance.now() - at);
          if (latencies.length === total) resolve();
        });
      }
      if (emitted < total && !failed) setTimeout(tick, tickMs);
    };
    tick();
  }).finally(() => client.endAsync(true));
  return latencies.sort((a, b) => a - b);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}
