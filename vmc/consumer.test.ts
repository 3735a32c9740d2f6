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
import { Mosquitto } from '../test/helpers/mosquitto.js';
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
    expect(consumer.state).toBe('connected');
  });
});
