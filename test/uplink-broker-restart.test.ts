/**
 * The broker goes away for a while and comes back: every event committed meanwhile arrives, each
 * id at least once, in per-lane order, and the backlog is flagged as replayed.
 */
import { describe, expect, it } from 'vitest';
import { systemRig } from './helpers/rig.js';
import { Collector, firstArrivalSeqsByLane, isIncreasing } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { emitBurst, startTestGateway, testConfig, uplinkConnected } from './helpers/test-config.js';

const LANES = ['lane-1', 'lane-2', 'lane-3'];

describe('uplink against a real Mosquitto that restarts', () => {
  const rig = systemRig<Mosquitto>();

  it('delivers every event committed before, during and after the outage, per lane in order', async () => {
    const broker = rig.broker = await Mosquitto.start();
    const collector = rig.collector = await Collector.connect(broker.url);
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url]));
    await uplinkConnected(gateway);

    await emitBurst(gateway, LANES, 300);
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 300, 45_000, 'first 300 events');

    const disconnected = new Promise<void>((resolve) => gateway.uplink.on('state', (state) => state !== 'connected' && resolve()));
    await broker.stop();
    await disconnected;
    // Committed while the broker is down: durable in the outbox, nowhere else.
    await emitBurst(gateway, LANES, 300, 300);
    expect(gateway.outbox.depth).toBeGreaterThanOrEqual(300);

    await broker.run();
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 600, 45_000, 'all 600 events');

    const ids = collector.uniqueIds();
    const duplicates = collector.received.length - ids.size;
    console.log(`broker restart: committed 600, received ${collector.received.length} (${ids.size} unique, ${duplicates} duplicates)`);
    expect(ids.size).toBe(600);
    const seqs = new Set(collector.received.map((m) => m.seq));
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    for (const [lane, laneSeqs] of firstArrivalSeqsByLane(collector.received)) {
      expect(isIncreasing(laneSeqs), `order on ${lane}`).toBe(true);
      expect(laneSeqs).toHaveLength(200);
    }
    const backlog = collector.received.filter((m) => m.seq > 300);
    expect(backlog.every((m) => m.replayed)).toBe(true);
    expect(collector.received.filter((m) => m.seq <= 300 && !m.replayed).length).toBeGreaterThan(0);
    expect(collector.received.every((m) => m.contentType === 'application/cloudevents+json')).toBe(true);
    expect(collector.status.some((s) => s.includes('"online"'))).toBe(true);
  });
});
