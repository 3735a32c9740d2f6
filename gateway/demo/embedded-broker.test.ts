import { createServer, type Server } from 'node:net';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { listenOn } from '../../core/listen.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './embedded-broker.js';

describe('the demo’s embedded broker', () => {
  let holder: Server | null = null;
  let broker: EmbeddedBroker | null = null;

  afterEach(async () => {
    await broker?.close();
    await new Promise<void>((resolve) => (holder ? holder.close(() => resolve()) : resolve()));
    broker = null;
    holder = null;
  });

  it('takes another port when the preferred one is held, and carries a QoS 1 message there', async () => {
    holder = createServer();
    const held = await listenOn(holder, 0, '127.0.0.1');
    broker = await startEmbeddedBroker(held);
    expect(broker.port).not.toBe(held);
    expect(broker.url).toBe(`mqtt://127.0.0.1:${broker.port}`);

    const client = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    try {
      const received = new Promise<string>((resolve) => client.on('message', (_topic, payload) => resolve(payload.toString())));
      await client.subscribeAsync('border/#', { qos: 1 });
      await client.publishAsync('border/v1/p1/status', 'up', { qos: 1 });
      expect(await received).toBe('up');
    } finally {
      await client.endAsync();
    }
  });
});
