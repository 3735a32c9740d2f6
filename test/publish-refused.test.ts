/**
 * The broker refuses a publish (MQTT 5 PUBACK 0x87 Not authorized, from a Mosquitto ACL): the
 * event stays in the outbox, an alarm is raised, other events keep flowing, and once the ACL
 * allows it the event is delivered, flagged `replayed`. The broker is configured as in production
 * and keeps the connection after a refusal, so the flag comes from the parking itself and not
 * from a reconnect's backlog replay (the test's earlier broker dropped the connection after every
 * refusal, which hid that).
 */
import { describe, expect, it } from 'vitest';
import { systemRig } from './helpers/rig.js';
import { Collector } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { emitBurst, startTestGateway, testConfig, uplinkConnected, weighed } from './helpers/test-config.js';

const DENIED_TOPIC = 'border/v1/test-post/lane-2/operator.action';

describe('publish refused by the broker', () => {
  const rig = systemRig<Mosquitto>();

  it('keeps the event, raises an alarm, and delivers it once allowed', async () => {
    const broker = rig.broker = await Mosquitto.start({ acl: [`topic deny ${DENIED_TOPIC}`, 'topic readwrite #'] });
    const collector = rig.collector = await Collector.connect(broker.url);
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url], { uplink: { refusedRetryMs: 50 } }));
    await uplinkConnected(gateway);
    const leftConnected: string[] = [];
    gateway.uplink.on('state', (state) => state !== 'connected' && leftConnected.push(state));

    const refused = await gateway.emit('operator.action', 'lane-2', { operatorId: 'op-7', action: 'override-channel', reason: 'supervisor order', crossingId: null });
    await emitBurst(gateway, ['lane-1', 'lane-2'], 20);

    await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised'), 30_000, 'the refusal alarm');
    const alarm = collector.received.find((m) => m.type === 'alarm.raised');
    expect(alarm?.event.data).toMatchObject({ alarm: 'GW_ERR_UPLINK_PUBLISH_REFUSED', details: { id: refused.id, reasonCode: 0x87 } });
    await collector.waitFor((r) => r.filter((m) => m.type === 'vehicle.weighed').length >= 20, 30_000, 'the other events');
    expect(collector.received.some((m) => m.id === refused.id)).toBe(false);
    expect(gateway.outbox.read(refused.seq)?.id).toBe(refused.id);
    expect(gateway.uplink.parkedCount).toBe(1);
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('gateway_publish_refused_total');
    expect(metrics).toContain('reason_code="135"} 1');

    const acknowledged = new Promise<void>((resolve) => gateway.uplink.on('delivered', (row) => row.seq === refused.seq && resolve()));
    await broker.reloadAcl(['topic readwrite #']);
    await weighed(gateway, 'lane-1', 999); // keeps traffic going; the parked event is retried on its own timer
    await collector.waitFor((r) => r.some((m) => m.id === refused.id), 30_000, 'the refused event, once allowed');
    const delivered = collector.received.find((m) => m.id === refused.id);
    expect(delivered?.replayed).toBe(true);
    await acknowledged;
    expect(gateway.uplink.parkedCount).toBe(0);
    expect(leftConnected).toEqual([]); // one connection throughout: refusals did not drop it
    console.log(`refused: 1 event parked then delivered; ${collector.received.length} messages received in all`);
  });

  it('holds newer events in the outbox once maxHeldEvents are parked, and delivers them all once allowed', async () => {
    const HELD = 10;
    const denied = 'border/v1/test-post/lane-2/vehicle.weighed';
    const broker = (rig.broker = await Mosquitto.start({ acl: [`topic deny ${denied}`, 'topic readwrite #'] }));
    const collector = (rig.collector = await Collector.connect(broker.url));
    const gateway = (rig.gateway = await startTestGateway(testConfig([broker.url], { uplink: { refusedRetryMs: 50, maxHeldEvents: HELD } })));
    await uplinkConnected(gateway);
    let parkedAtMost = 0;
    gateway.uplink.on('refused', () => {
      parkedAtMost = Math.max(parkedAtMost, gateway.uplink.parkedCount);
    });
    const holding = new Promise<void>((resolve) => gateway.uplink.on('holding', (report) => report.holding && resolve()));
    await emitBurst(gateway, ['lane-2'], 2 * HELD);
    const firstAllowed = gateway.outbox.lastSeq + 1;
    await emitBurst(gateway, ['lane-1'], 5, 100);
    await holding;
    // Ten refused and parked; the other ten of lane 2 and lane 1's five wait in the outbox, unsent.
    expect(gateway.uplink.parkedCount).toBe(HELD);
    expect(gateway.health().uplink).toMatchObject({ refused: HELD, holding: true });
    const waiting = gateway.outbox.readFrom(firstAllowed, 100).filter((row) => row.laneId === 'lane-1');
    expect(waiting).toHaveLength(5);

    // The broker forwards a message before the gateway reads its PUBACK: wait for the PUBACKs too.
    const cleared = new Promise<void>((resolve) => gateway.uplink.on('delivered', () => gateway.uplink.parkedCount === 0 && !gateway.uplink.isHolding && resolve()));
    await broker.reloadAcl(['topic readwrite #']);
    await collector.waitFor((r) => r.filter((m) => m.type === 'vehicle.weighed').length >= 2 * HELD + 5, 30_000, 'every event, once allowed');
    await cleared;
    await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised' && (m.event.data as { alarm?: string }).alarm === 'GW_ERR_UPLINK_HOLDING'), 30_000, 'the holding alarm');
    expect(parkedAtMost).toBe(HELD);
    expect(new Set(collector.received.filter((m) => m.type === 'vehicle.weighed').map((m) => m.id)).size).toBe(2 * HELD + 5);
    for (const row of waiting) expect(collector.received.some((m) => m.id === row.id)).toBe(true);
    expect(gateway.uplink.parkedCount).toBe(0);
    expect(gateway.uplink.isHolding).toBe(false);
    console.log(`held: ${2 * HELD} of lane 2 refused, at most ${parkedAtMost} parked, the rest and lane 1's 5 waited in the outbox; all ${2 * HELD + 5} received once allowed`);
  });
});
