/**
 * Outbox faults at the gateway level: the byte bound reached during a long outage (drops are
 * counted, alarmed and everything else delivered), and a full disk (producers told, /healthz 503,
 * recovery once space returns).
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../core/errors.js';
import { systemRig } from './helpers/rig.js';
import { Collector } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { emitBurst, startTestGateway, testConfig, uplinkConnected, weighed } from './helpers/test-config.js';

describe('outbox faults', () => {
  const rig = systemRig<Mosquitto>();

  it('during an outage, drops telemetry first, counts and alarms it, and delivers the rest', async () => {
    const broker = rig.broker = await Mosquitto.start();
    const collector = rig.collector = await Collector.connect(broker.url);
    await broker.stop();
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url], { outbox: { maxBytes: 128 * 1024 } }));

    const telemetry = 300;
    const statusCommits = Array.from({ length: telemetry }, (_, i) =>
      gateway.emit('device.status', 'post', { deviceId: `cam-${i}`, state: 'down', lastError: 'connection refused' }),
    );
    await Promise.all(statusCommits);
    await emitBurst(gateway, ['lane-1', 'lane-2'], 400);
    const stats = gateway.outbox.stats();
    expect(stats.bytes).toBeLessThanOrEqual(128 * 1024);
    expect(stats.dropped.telemetry).toBeGreaterThan(0);
    expect(stats.dropped.critical).toBe(0);
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('gateway_outbox_dropped_total');
    expect(metrics).toContain(`gateway_outbox_dropped_total{class="telemetry"} ${stats.dropped.telemetry}`);
    // The alarm is raised from the commit that dropped events, so it lands in the next commit.
    const hasDropAlarm = (): boolean => gateway.outbox.readFrom(0, 100_000).some((row) => row.type === 'alarm.raised' && row.payload.includes('GW_ERR_OUTBOX_FULL'));
    if (!hasDropAlarm()) await once(gateway.outbox, 'committed');
    expect(hasDropAlarm()).toBe(true);
    const stored = gateway.outbox.readFrom(0, 100_000);

    await broker.run();
    const expected = stored.length;
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= expected, 45_000, `${expected} stored events`);
    const received = collector.uniqueIds().size;
    const finalDrops = gateway.outbox.stats().dropped;
    expect(finalDrops.critical).toBe(0);
    const dropped = finalDrops.telemetry + finalDrops.operational;
    console.log(`outbox bound: emitted ${telemetry + 400} + alarms, dropped ${dropped} (counted), delivered ${received}`);
    // Every event emitted is either delivered or counted as dropped: none vanishes silently.
    const emittedWeighed = collector.received.filter((m) => m.type === 'vehicle.weighed').length;
    const emittedStatus = new Set(collector.received.filter((m) => m.type === 'device.status').map((m) => m.id)).size;
    expect(new Set(collector.received.filter((m) => m.type === 'vehicle.weighed').map((m) => m.id)).size + finalDrops.operational).toBe(400);
    expect(emittedStatus + finalDrops.telemetry).toBe(telemetry);
    expect(emittedWeighed).toBeGreaterThan(0);
  });

  it('on a full disk, tells the producer, turns /healthz to 503, and recovers', async () => {
    const broker = rig.broker = await Mosquitto.start();
    const collector = rig.collector = await Collector.connect(broker.url);
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url]), undefined, true);
    await uplinkConnected(gateway);
    await emitBurst(gateway, ['lane-1'], 10);
    const healthUrl = `http://127.0.0.1:${gateway.httpAddress?.port}/healthz`;

    const db = gateway.outbox.database;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    const results = await Promise.allSettled(Array.from({ length: 300 }, (_, i) => weighed(gateway, 'lane-2', i)));
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => isGatewayError(r.reason, 'GW_ERR_OUTBOX_DISK_FULL'))).toBe(true);
    const failing = await fetch(healthUrl);
    expect(failing.status).toBe(503);
    expect(await failing.json()).toMatchObject({ status: 'failing', outbox: { lastError: { code: 'GW_ERR_OUTBOX_DISK_FULL' } } });

    db.pragma('max_page_count = 1073741823');
    await weighed(gateway, 'lane-3', 1);
    expect((await fetch(healthUrl)).status).toBe(200);
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    await collector.waitFor((r) => new Set(r.map((m) => m.id)).size >= 10 + accepted + 1, 30_000, 'every committed event');
    console.log(`disk full: ${refused.length} appends refused with GW_ERR_OUTBOX_DISK_FULL, ${10 + accepted + 1} committed and delivered`);
  });
});
