/**
 * Uplink faults against the embedded broker (aedes, MQTT 3.1.1 only): failover past a dead
 * broker with the fallback from MQTT 5 to 3.1.1, and a broker that stops acknowledging publishes
 * (MQTT.js #1974) — the publish timeout forces a reconnect and nothing is lost.
 */
import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { describe, expect, it } from 'vitest';
import { systemRig } from './helpers/rig.js';
import { Collector, firstArrivalSeqsByLane, isIncreasing } from './helpers/collector.js';
import { freePort } from './helpers/free-port.js';
import { emitBurst, startTestGateway, testConfig, uplinkConnected } from './helpers/test-config.js';

interface TestBroker {
  url: string;
  /** While true, QoS 1 publishes are never acknowledged (the broker hangs on them). */
  blackhole: boolean;
  close(): Promise<void>;
}

async function startAedes(): Promise<TestBroker> {
  const state = { blackhole: false };
  const aedes = await Aedes.createBroker({
    authorizePublish: (_client, _packet, callback) => {
      if (!state.blackhole) callback(null);
    },
  });
  const server: Server = createServer((socket) => aedes.handle(socket));
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    get blackhole() {
      return state.blackhole;
    },
    set blackhole(value: boolean) {
      state.blackhole = value;
    },
    close: async () => {
      server.close();
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    },
  };
}

const LANES = ['lane-1', 'lane-2', 'lane-3'];

describe('uplink faults', () => {
  const rig = systemRig<TestBroker>();

  it('fails over past a dead broker and falls back to MQTT 3.1.1', async () => {
    const broker = rig.broker = await startAedes();
    const collector = rig.collector = await Collector.connect(broker.url, 'border/#', 4);
    const dead = `mqtt://127.0.0.1:${await freePort()}`;
    const gateway = rig.gateway = await startTestGateway(testConfig([dead, broker.url]));
    const states: string[] = [];
    gateway.uplink.on('state', (state) => states.push(state));
    await uplinkConnected(gateway);
    await emitBurst(gateway, LANES, 90);
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 90, 30_000, '90 events');
    expect(states.filter((s) => s === 'backoff').length).toBeGreaterThanOrEqual(1);
    expect(collector.received.every((m) => m.contentType === undefined)).toBe(true); // 3.1.1 has no properties
    for (const seqs of firstArrivalSeqsByLane(collector.received).values()) expect(isIncreasing(seqs)).toBe(true);
    expect(gateway.health()).toMatchObject({ status: 'ok', uplink: { state: 'connected' } });
  });

  it('reconnects when the broker stops acknowledging, and delivers everything', async () => {
    const broker = rig.broker = await startAedes();
    const collector = rig.collector = await Collector.connect(broker.url, 'border/#', 4);
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url], { uplink: { publishTimeoutMs: 300, protocolVersion: 4 } }));
    await uplinkConnected(gateway);
    broker.blackhole = true;
    const timedOut = new Promise<number>((resolve) => gateway.uplink.once('timeout', resolve));
    await emitBurst(gateway, LANES, 60);
    await timedOut;
    expect(gateway.outbox.depth).toBeGreaterThanOrEqual(60);
    broker.blackhole = false;
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 60 && r.some((m) => m.type === 'alarm.raised'), 30_000, '60 events and the alarm');
    const alarm = collector.received.find((m) => m.type === 'alarm.raised');
    expect(alarm?.event.data).toMatchObject({ alarm: 'GW_ERR_UPLINK_PUBLISH_TIMEOUT' });
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('gateway_publish_timeouts_total');
    expect(metrics).toMatch(/gateway_publish_timeouts_total [1-9]/);
    console.log(`publish timeout: 60 committed, ${collector.received.length} received (${collector.uniqueIds().size} unique)`);
  });
});
