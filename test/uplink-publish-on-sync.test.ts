/**
 * Newly durable events are published inside the sync's callback, before their producers hear
 * "stored": by the time a device push could be answered 200, its event is on the wire to the
 * broker (not sent a turn of the event loop later, after the answers). Against a real Mosquitto.
 */
import { describe, expect, it } from 'vitest';
import { systemRig } from './helpers/rig.js';
import { Collector } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { startTestGateway, testConfig, uplinkConnected, weighed } from './helpers/test-config.js';

describe('uplink: events go out as their sync completes', () => {
  const rig = systemRig<Mosquitto>();

  it('has each event in flight when its producer hears it is stored, and every one arrives', async () => {
    const broker = rig.broker = await Mosquitto.start();
    const collector = rig.collector = await Collector.connect(broker.url);
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url]));
    await uplinkConnected(gateway);

    // One event alone: sent before its append resolves; its PUBACK can only be read on a later turn.
    const delivered = new Promise((resolve) => gateway.uplink.once('delivered', resolve));
    await weighed(gateway, 'lane-1', 0);
    expect(gateway.uplink.inflightCount).toBe(1);
    await delivered;
    expect(gateway.uplink.inflightCount).toBe(0);

    // Ten made durable by one sync: all ten read and sent together, before any producer goes on.
    const seen: number[] = [];
    await Promise.all(Array.from({ length: 10 }, (_, i) => weighed(gateway, 'lane-2', i + 1).then(() => seen.push(gateway.uplink.inflightCount))));
    expect(seen[0]).toBe(10);
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 11, 15_000, 'all 11 events');
  });
});
