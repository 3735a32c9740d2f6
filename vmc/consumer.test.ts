/**
 * The consumer against a real Mosquitto: a message whose store fails is not acknowledged, the
 * connection is dropped, and the broker delivers it again on reconnect (from the persistent
 * session), after which it is stored once.
 */
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import type { CloudEvent } from '../contract/envelope.js';
import { Mosquitto } from '../test/helpers/mosquitto.js';
import { createTestDatabase } from '../test/helpers/postgres.js';
import { tempDir } from '../test/helpers/test-config.js';
import { EventMaker } from '../test/helpers/vmc-events.js';
import { Consumer } from './consumer.js';
import { EventIntake } from './event-intake.js';
import { VmcStore } from './store/vmc-store.js';

describe('VMC consumer', () => {
  const stops: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  it('does not acknowledge a message it could not store: the broker redelivers it after the reconnect', async () => {
    const broker = await Mosquitto.start();
    stops.push(() => broker.stop());
    const store = await VmcStore.open(`sqlite:${join(tempDir('vmc-consumer-'), 'vmc.db')}`, systemClock.now());
    stops.push(() => store.close());
    // The first two commits fail (a database that is down), then the store recovers.
    let failures = 2;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'store' && failures > 0) {
          return () => {
            failures -= 1;
            return Promise.reject(new Error('database is down'));
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const logger = pino({ level: 'silent' });
    const intake = new EventIntake({ store: flaky, clock: systemClock, logger, consumerName: 'c1' });
    const consumer = new Consumer({ url: broker.url, group: 'g', clientId: 'vmc-g-c1', intake, clock: systemClock, logger, reconnect: { initialMs: 50, maxMs: 200 } });
    stops.push(() => consumer.stop());
    await consumer.start();
    expect(consumer.state).toBe('connected');

    const maker = new EventMaker('post-a');
    const events = [maker.crossing('c1', 20), maker.crossing('c2', 30), maker.crossing('c3', 40)];
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    for (const event of events) await publisher.publishAsync(`border/v1/post-a/lane-1/${event.type}`, JSON.stringify(event), { qos: 1 });
    await publisher.endAsync();

    await expect.poll(async () => (await store.eventCounts()).total, { timeout: 20_000, interval: 100 }).toBe(3);
    expect(consumer.storeFailures).toBe(2);
    expect(new Set((await store.eventKeys()).map((e) => e.id))).toEqual(new Set(events.map((e) => e.id)));
    // The session's queued messages may be stored before the SUBACK that marks it connected.
    await expect.poll(() => consumer.state, { timeout: 10_000 }).toBe('connected');
  });

  it('acknowledges a poison message as rejected and stores the good ones around it (PostgreSQL store)', async () => {
    const broker = await Mosquitto.start();
    stops.push(() => broker.stop());
    const db = await createTestDatabase();
    stops.push(() => db.drop());
    const store = await VmcStore.open(db.url, systemClock.now());
    stops.push(() => store.close());
    const logger = pino({ level: 'silent' });
    const intake = new EventIntake({ store, clock: systemClock, logger, consumerName: 'c1' });
    const consumer = new Consumer({ url: broker.url, group: 'g', clientId: 'vmc-g-poison', intake, clock: systemClock, logger, reconnect: { initialMs: 50, maxMs: 200 } });
    stops.push(() => consumer.stop());
    await consumer.start();

    const maker = new EventMaker('post-a');
    const good1 = maker.crossing('c1', 20);
    // Schema-valid, refused by PostgreSQL (text cannot hold U+0000): it used to stop the consumer.
    const nul = maker.crossing('c2', 25);
    const nulText = JSON.stringify({ ...nul, data: { ...nul.data, plate: 'AB\u0000123' } });
    // Schema-valid, 100,000 levels deep in `details` (200 KB): JSON.stringify overflowed the stack on it.
    const deep = maker.alarm('GW_ERR_OUTBOX_FULL');
    const deepText = JSON.stringify({ ...deep, data: { ...deep.data, details: { x: 0 } } }).replace('{"x":0}', `{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);
    const good2 = maker.crossing('c3', 30);
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    await publisher.publishAsync(`border/v1/post-a/lane-1/${good1.type}`, JSON.stringify(good1), { qos: 1 });
    await publisher.publishAsync(`border/v1/post-a/lane-1/${nul.type}`, nulText, { qos: 1 });
    await publisher.publishAsync(`border/v1/post-a/post/${deep.type}`, deepText, { qos: 1 });
    await publisher.publishAsync(`border/v1/post-a/lane-1/${good2.type}`, JSON.stringify(good2), { qos: 1 });
    // QoS 0 is off the contract: dropped and counted, never stored.
    const qos0 = maker.crossing('c4', 35);
    await publisher.publishAsync(`border/v1/post-a/lane-1/${qos0.type}`, JSON.stringify(qos0), { qos: 0 });
    await publisher.endAsync();

    await expect.poll(() => intake.stats.received + consumer.qos0Dropped, { timeout: 20_000, interval: 100 }).toBe(5);
    expect(new Set((await store.eventKeys()).map((e) => e.id))).toEqual(new Set([good1.id, good2.id]));
    expect(intake.stats.rejected).toMatchObject({ 'nul-char': 1, 'too-deep': 1 });
    expect(consumer.qos0Dropped).toBe(1);
    expect(consumer.storeFailures).toBe(0);
    expect(consumer.state).toBe('connected');
  });

  it("shows a post's command.applied over a forged command.refused of the same command that arrived first", async () => {
    const broker = await Mosquitto.start();
    stops.push(() => broker.stop());
    const store = await VmcStore.open(`sqlite:${join(tempDir('vmc-consumer-'), 'vmc.db')}`, systemClock.now());
    stops.push(() => store.close());
    const logger = pino({ level: 'silent' });
    const intake = new EventIntake({ store, clock: systemClock, logger, consumerName: 'c1' });
    const consumer = new Consumer({ url: broker.url, group: 'g', clientId: 'vmc-g-answers', intake, clock: systemClock, logger, reconnect: { initialMs: 50, maxMs: 200 } });
    stops.push(() => consumer.stop());
    await consumer.start();
    await store.commands.recordSent({ commandId: 'cmd-1', kind: 'watchlist.update', version: 1, postIds: ['post-a'], summary: '1 plate(s)', issuedBy: 'user:root', issuedAt: new Date().toISOString() });
    const progress = async () => (await store.commands.progress())[0];
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    stops.push(() => publisher.endAsync());
    const publish = (event: CloudEvent) => publisher.publishAsync(`border/v1/post-a/post/${event.type}`, JSON.stringify(event), { qos: 1 });

    // Someone on post-a's topic answers the genuine command's id with a refusal, before the post does.
    await publish(new EventMaker('post-a').watchlistAnswer('cmd-1', 1, 'GW_ERR_COMMAND_SIGNATURE'));
    await expect.poll(async () => (await progress())?.refused.map((r) => r.postId), { timeout: 20_000, interval: 100 }).toEqual(['post-a']);
    // The post applies the command and says so.
    await publish(new EventMaker('post-a').watchlistAnswer('cmd-1', 1));
    await expect.poll(() => intake.stats.stored, { timeout: 20_000, interval: 100 }).toBe(2);
    expect(await progress()).toMatchObject({ applied: ['post-a'], refused: [], waiting: [] });
  });

  it('dead-letters a message the store keeps failing on while the store answers, and stores the rest', async () => {
    const broker = await Mosquitto.start();
    stops.push(() => broker.stop());
    const db = await createTestDatabase();
    stops.push(() => db.drop());
    const store = await VmcStore.open(db.url, systemClock.now());
    stops.push(() => store.close());
    const maker = new EventMaker('post-a');
    const events = [maker.crossing('c1', 20), maker.crossing('c2', 25), maker.crossing('c3', 30)];
    const poisonId = events[1]!.id;
    // A failure no classification knows of, always on the same event: what an unknown poison looks like.
    let poisonFailures = 0;
    const poisoned = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'store') {
          return (batch: typeof events, ...rest: [string, number]) => {
            if (batch.some((e) => e.id === poisonId)) {
              poisonFailures += 1;
              return Promise.reject(new Error('something about this event breaks the store'));
            }
            return target.store(batch, ...rest);
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const intake = new EventIntake({ store: poisoned, clock: systemClock, logger, consumerName: 'c1' });
    const consumer = new Consumer({ url: broker.url, group: 'g', clientId: 'vmc-g-dead', intake, clock: systemClock, logger, reconnect: { initialMs: 20, maxMs: 1000 }, maxStoreFailures: 4 });
    stops.push(() => consumer.stop());
    await consumer.start();
    const publisher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
    for (const event of events) await publisher.publishAsync(`border/v1/post-a/lane-1/${event.type}`, JSON.stringify(event), { qos: 1 });
    await publisher.endAsync();

    await expect.poll(async () => (await store.eventCounts()).total, { timeout: 20_000, interval: 100 }).toBe(2);
    expect(new Set((await store.eventKeys()).map((e) => e.id))).toEqual(new Set([events[0]!.id, events[2]!.id]));
    expect(consumer.deadLettered).toBe(1);
    expect(poisonFailures).toBe(4);
    expect(consumer.storeFailures).toBe(3);
    // Each session ended in a store failure, however quickly it had subscribed: the backoff grows
    // (20 ms doubling, half jitter: [10, 20], [20, 40], [40, 80]) rather than starting again.
    const delays = lines.filter((l) => l.msg === 'disconnected; reconnecting').map((l) => l.delayMs as number);
    expect(delays).toHaveLength(3);
    expect(delays[2]).toBeGreaterThanOrEqual(40);
    expect(lines.filter((l) => l.code === 'GW_ERR_VMC_DEAD_LETTER')).toHaveLength(1);
    // The store-failure log is rate-limited: three failures, one line.
    expect(lines.filter((l) => l.code === 'GW_ERR_VMC_STORE')).toHaveLength(1);
  });
});
