/**
 * One event the broker will not take must not hold back the ones behind it. The broker here has
 * a packet limit (`max_packet_size 2048`), as AWS IoT and most production brokers do: that limit
 * is the condition under test, not a test convenience. The gateway's own cap (64 KiB by default)
 * is above it, so an event between the two is committed and must be dealt with by the uplink:
 *
 * - MQTT 5: the broker announces its Maximum Packet Size in the CONNACK; the event is parked
 *   without being sent, the rest flows on the same connection, and once a broker that accepts it
 *   is there the parked event is retried and delivered, out of order, flagged `replayed`;
 * - MQTT 3.1.1: the broker just drops the connection on the packet; after `poisonAfterDrops` (3)
 *   drops with that event the oldest unacknowledged publish, it is parked as a suspect poison
 *   message and the rest flows.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Gateway } from '../gateway/daemon.js';
import type { ParkedPublish } from '../gateway/uplink/mqtt-uplink.js';
import { Collector, firstArrivalSeqsByLane, isIncreasing } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { startTestGateway, testConfig, uplinkConnected, weighed } from './helpers/test-config.js';

const BROKER_MAX_PACKET = 2048;
const LANES = ['lane-1', 'lane-2', 'lane-3'];

/** One small event, one too big for the broker (under the gateway's cap), 50 small ones: committed together. */
async function commitSmallBigSmall(gateway: Gateway): Promise<{ big: { seq: number; id: string }; smallIds: string[] }> {
  const small = [weighed(gateway, 'lane-1', 0)];
  const big = gateway.emit('operator.action', 'lane-2', { operatorId: 'op-1', action: 'note', reason: 'r'.repeat(4 * BROKER_MAX_PACKET), crossingId: null });
  for (let i = 1; i <= 50; i += 1) small.push(weighed(gateway, LANES[i % LANES.length] as string, i));
  const committed = (await Promise.all([...small, big])) as { seq: number; id: string }[];
  return { big: committed[committed.length - 1] as { seq: number; id: string }, smallIds: committed.slice(0, -1).map((c) => c.id) };
}

function nextParked(gateway: Gateway): Promise<ParkedPublish> {
  return new Promise((resolve) => gateway.uplink.once('parked', resolve));
}

/** Resolves once the uplink has had `count` publishes acknowledged. */
function deliveredCount(gateway: Gateway, count: number): Promise<void> {
  let delivered = 0;
  return new Promise((resolve) => {
    gateway.uplink.on('delivered', () => {
      delivered += 1;
      if (delivered === count) resolve();
    });
  });
}

describe('an event too large for the broker', () => {
  const rig = systemRig<Mosquitto>();

  it('MQTT 5: is parked before sending (CONNACK Maximum Packet Size), the rest flows, and it goes once the broker takes it', async () => {
    const broker = rig.broker = await Mosquitto.start({ extraConfig: [`max_packet_size ${BROKER_MAX_PACKET}`] });
    const collector = rig.collector = await Collector.connect(broker.url);
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url], { uplink: { protocolVersion: 5, refusedRetryMs: 100 } }));
    await uplinkConnected(gateway);
    const parked = nextParked(gateway);
    const allAcknowledged = deliveredCount(gateway, 52); // 51 small events and the alarm
    const { big, smallIds } = await commitSmallBigSmall(gateway);

    expect(await parked).toMatchObject({ seq: big.seq, cause: 'packet-too-large', maxPacketSize: BROKER_MAX_PACKET });
    await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised'), 30_000, 'the alarm');
    await allAcknowledged;
    const weighedIds = collector.received.filter((m) => m.type === 'vehicle.weighed').map((m) => m.id);
    expect(new Set(weighedIds).size).toBe(51);
    expect(new Set(weighedIds)).toEqual(new Set(smallIds));
    expect(collector.received.some((m) => m.id === big.id)).toBe(false);
    const alarms = collector.received.filter((m) => m.type === 'alarm.raised');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.event.data).toMatchObject({ alarm: 'GW_ERR_UPLINK_PACKET_TOO_LARGE', details: { seq: big.seq, id: big.id, type: 'operator.action', maxPacketSize: BROKER_MAX_PACKET } });
    for (const seqs of firstArrivalSeqsByLane(collector.received.filter((m) => m.type === 'vehicle.weighed')).values()) expect(isIncreasing(seqs)).toBe(true);
    gateway.outbox.flushRemovals();
    expect(gateway.outbox.depth).toBe(1); // the parked event, kept with its seq
    expect(gateway.uplink.parkedByCause()).toEqual({ refused: 0, 'packet-too-large': 1, poison: 0 });
    expect(gateway.health()).toMatchObject({ uplink: { refused: 1, parked: { 'packet-too-large': 1 } } });
    expect(await gateway.metrics.registry.getSingleMetricAsString('gateway_uplink_parked')).toContain('cause="packet-too-large"} 1');
    expect(await gateway.metrics.registry.getSingleMetricAsString('gateway_uplink_reconnects_total')).toContain('gateway_uplink_reconnects_total 0');

    // The broker's limit is raised (restart with a new configuration): the retry delivers it.
    const configFile = join(broker.dir, 'mosquitto.conf');
    writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(`max_packet_size ${BROKER_MAX_PACKET}`, 'max_packet_size 65536'));
    const delivered = new Promise<void>((resolve) => gateway.uplink.on('delivered', (row) => row.seq === big.seq && resolve()));
    await broker.stop();
    await broker.run();
    await collector.waitFor((r) => r.some((m) => m.id === big.id), 30_000, 'the parked event, once the broker takes it');
    await delivered;
    expect(collector.received.find((m) => m.id === big.id)).toMatchObject({ seq: big.seq, replayed: true });
    expect(gateway.uplink.parkedCount).toBe(0);
    // No second alarm: the broker may hand the subscriber its first one again after its restart
    // (at least once), so alarms are counted by id.
    expect(new Set(collector.received.filter((m) => m.type === 'alarm.raised').map((m) => m.id)).size).toBe(1);
  });

  it('MQTT 3.1.1: the broker drops the connection on it; after 3 drops it is parked as a suspect and the rest flows', async () => {
    const broker = rig.broker = await Mosquitto.start({ extraConfig: [`max_packet_size ${BROKER_MAX_PACKET}`] });
    const collector = rig.collector = await Collector.connect(broker.url);
    // No retry within the test: a retry of a poison message costs one more dropped connection.
    const gateway = rig.gateway = await startTestGateway(testConfig([broker.url], { uplink: { protocolVersion: 4, refusedRetryMs: 600_000 } }));
    await uplinkConnected(gateway);
    const parked = nextParked(gateway);
    const allAcknowledged = deliveredCount(gateway, 52);
    const { big, smallIds } = await commitSmallBigSmall(gateway);

    expect(await parked).toMatchObject({ seq: big.seq, cause: 'poison', drops: 3, maxPacketSize: null });
    await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised'), 30_000, 'the alarm');
    await allAcknowledged;
    const weighedIds = collector.received.filter((m) => m.type === 'vehicle.weighed').map((m) => m.id);
    expect(new Set(weighedIds)).toEqual(new Set(smallIds));
    expect(new Set(weighedIds).size).toBe(51);
    expect(collector.received.some((m) => m.id === big.id)).toBe(false);
    const alarms = collector.received.filter((m) => m.type === 'alarm.raised');
    expect(alarms).toHaveLength(1);
    expect(alarms[0]?.event.data).toMatchObject({ alarm: 'GW_ERR_UPLINK_PUBLISH_POISON', details: { seq: big.seq, id: big.id, cause: 'poison', drops: 3 } });
    expect(alarms[0]?.contentType).toBeUndefined(); // sent over 3.1.1
    for (const seqs of firstArrivalSeqsByLane(collector.received.filter((m) => m.type === 'vehicle.weighed')).values()) expect(isIncreasing(seqs)).toBe(true);
    gateway.outbox.flushRemovals();
    expect(gateway.outbox.depth).toBe(1);
    expect(gateway.uplink.parkedByCause()).toEqual({ refused: 0, 'packet-too-large': 0, poison: 1 });
    // One drop per strike; the suspect was sent alone after the first, so no other event was blamed.
    expect(await gateway.metrics.registry.getSingleMetricAsString('gateway_uplink_reconnects_total')).toContain('gateway_uplink_reconnects_total 3');
    console.log(`poison: ${collector.received.length} messages received (${collector.uniqueIds().size} unique), big event seq ${big.seq} parked after 3 drops`);
  });
});
