/**
 * A broker restart that loses the VMC's subscription: Mosquitto 2.0 saves sessions and plain
 * subscriptions in its persistence file but not shared ones (`$share/…`), so after it restarts the
 * VMC's session is back without its subscription until the VMC subscribes again. What the post
 * publishes meanwhile is acknowledged with PUBACK 0x10 (No matching subscribers) and routed to
 * nobody. The gateway keeps those events and sends them again until a subscriber receives them;
 * with `uplink.keepUnrouted: false` (the control, which shows the fixture reproduces the loss) they
 * are forgotten as delivered and never arrive.
 */
import { describe, expect, it } from 'vitest';
import type { Gateway } from '../gateway/daemon.js';
import { Collector } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { emitBurst, startTestGateway, testConfig, uplinkConnected } from './helpers/test-config.js';

const LANES = ['lane-1', 'lane-2', 'lane-3'];
const SHARED = '$share/vmc/border/#';
const EVENTS = 90;

function disconnected(gateway: Gateway): Promise<void> {
  return new Promise((resolve) => gateway.uplink.on('state', (state) => state !== 'connected' && resolve()));
}

describe('events the broker routes to nobody', () => {
  const rig = systemRig<Mosquitto>();

  /**
   * Starts a broker, a VMC with a shared subscription and a gateway (with `uplink` settings),
   * delivers EVENTS, and restarts the broker, which loses the subscription; returns once the
   * gateway is connected again, with the last seq delivered before.
   */
  async function deliverThenLoseTheSubscription(uplink: Record<string, unknown>): Promise<{ broker: Mosquitto; vmc: Collector; gateway: Gateway; lastSeqBefore: number }> {
    const broker = (rig.broker = await Mosquitto.start());
    const vmc = await Collector.connect(broker.url, SHARED);
    const gateway = (rig.gateway = await startTestGateway(testConfig([broker.url], { uplink })));
    await uplinkConnected(gateway);
    await emitBurst(gateway, LANES, EVENTS);
    await vmc.waitFor((r) => new Set(r.map((m) => m.id)).size >= EVENTS, 45_000, 'the first events');
    const down = disconnected(gateway);
    await broker.stop();
    await down;
    await broker.run();
    await uplinkConnected(gateway);
    return { broker, vmc, gateway, lastSeqBefore: gateway.outbox.lastSeq };
  }

  /**
   * Delivers EVENTS, restarts the broker (the shared subscription is gone), commits EVENTS more
   * and waits until the gateway has had them all answered 0x10, then subscribes a VMC again and
   * commits one marker event. Returns the ids each VMC session received.
   */
  async function restartLosingTheSubscription(keepUnrouted: boolean): Promise<{ gateway: Gateway; before: Set<string>; after: Set<string>; gapIds: Set<string>; keptInOutbox: number; forgotten: number; unroutedAtMost: number }> {
    const { broker, vmc, gateway, lastSeqBefore } = await deliverThenLoseTheSubscription({ keepUnrouted });
    // Every event of the gap answered by the broker: kept (keepUnrouted) or forgotten as delivered.
    // Counted by seq and type: the gap's own events, not a resend of an earlier one or the alarm.
    let gapOpen = true; // closed before the marker is committed
    const inGap = (seq: number, type: string): boolean => gapOpen && seq > lastSeqBefore && type === 'vehicle.weighed';
    const forgotten = new Set<number>();
    const kept = new Set<number>();
    const gapIds = new Set<string>();
    let unroutedAtMost = 0;
    const answered = new Promise<void>((resolve) => {
      const check = (): void => {
        if (forgotten.size + kept.size >= EVENTS) resolve();
      };
      gateway.uplink.on('delivered', (row) => {
        if (inGap(row.seq, row.type)) {
          forgotten.add(row.seq);
          gapIds.add(row.id);
        }
        check();
      });
      gateway.uplink.on('unrouted', (event) => {
        unroutedAtMost = Math.max(unroutedAtMost, event.count);
        const row = gateway.outbox.read(event.seq);
        if (row && inGap(event.seq, event.type)) {
          kept.add(event.seq);
          gapIds.add(row.id);
        }
        check();
      });
    });
    await emitBurst(gateway, LANES, EVENTS, EVENTS);
    await answered;
    gapOpen = false;
    const keptInOutbox = gateway.outbox.readFrom(lastSeqBefore + 1, 10 * EVENTS).filter((row) => kept.has(row.seq)).length;
    const routedAgain = new Promise<void>((resolve) => gateway.uplink.once('routed', () => resolve()));

    const again = await Collector.connect(broker.url, SHARED);
    await emitBurst(gateway, LANES, 1, 2 * EVENTS);
    await again.waitFor((r) => r.some((m) => m.seq === gateway.outbox.lastSeq), 45_000, 'the marker event');
    if (keepUnrouted) {
      await again.waitFor((r) => [...gapIds].every((id) => r.some((m) => m.id === id)), 45_000, 'the kept events');
      await routedAgain;
    }
    const after = again.uniqueIds();
    const before = vmc.uniqueIds();
    await again.close();
    await vmc.close();
    return { gateway, before, after, gapIds, keptInOutbox, forgotten: forgotten.size, unroutedAtMost };
  }

  it('keeps them and sends them again until the VMC has subscribed again: nothing lost', async () => {
    const { gateway, before, after, gapIds, keptInOutbox, forgotten, unroutedAtMost } = await restartLosingTheSubscription(true);
    // The gap's events, and the alarm saying so (kept like them).
    expect(unroutedAtMost).toBeGreaterThanOrEqual(EVENTS);
    expect(gapIds.size).toBe(EVENTS);
    expect(keptInOutbox).toBe(EVENTS);
    expect(forgotten).toBe(0);
    expect(before.size).toBe(EVENTS);
    // Every event of the gap reached the VMC that subscribed again, and the marker after them.
    for (const id of gapIds) expect(after.has(id)).toBe(true);
    expect(after.size).toBeGreaterThanOrEqual(EVENTS + 1);
    expect(gateway.uplink.unroutedCount).toBe(0);
    expect(gateway.health().uplink).toMatchObject({ unrouted: 0 });
    console.log(`unrouted kept: ${EVENTS} delivered before the restart, ${gapIds.size} routed to nobody and kept, ${[...gapIds].filter((id) => after.has(id)).length} of them received after the VMC subscribed again (${after.size} events in all, the marker and the alarm among them)`);
  }, 120_000);

  it('holds newer events in the outbox once maxHeldEvents are kept, and delivers every one after the VMC subscribes again', async () => {
    const HELD = 30;
    const { broker, vmc, gateway, lastSeqBefore } = await deliverThenLoseTheSubscription({ maxHeldEvents: HELD });

    let unroutedAtMost = 0;
    let forgotten = 0;
    let nobodySubscribed = true;
    const holdingReports: boolean[] = [];
    gateway.uplink.on('holding', (report) => holdingReports.push(report.holding));
    gateway.uplink.on('delivered', (row) => {
      if (nobodySubscribed && row.seq > lastSeqBefore) forgotten += 1;
    });
    gateway.uplink.on('unrouted', (event) => {
      unroutedAtMost = Math.max(unroutedAtMost, event.count);
    });
    const full = new Promise<void>((resolve) => gateway.uplink.on('holding', (report) => report.holding && resolve()));
    await emitBurst(gateway, LANES, EVENTS, EVENTS);
    await full;
    // At the bound: the rest of the gap waits in the outbox, unread by the uplink.
    expect(gateway.uplink.isHolding).toBe(true);
    expect(gateway.health().uplink).toMatchObject({ unrouted: HELD, holding: true });
    const gap = gateway.outbox.readFrom(lastSeqBefore + 1, 10 * EVENTS).filter((row) => row.type === 'vehicle.weighed');
    expect(gap).toHaveLength(EVENTS);

    nobodySubscribed = false;
    const again = await Collector.connect(broker.url, SHARED);
    await emitBurst(gateway, LANES, 1, 2 * EVENTS);
    const marker = gateway.outbox.lastSeq;
    await again.waitFor((r) => gap.every((row) => r.some((m) => m.id === row.id)) && r.some((m) => m.seq === marker), 60_000, 'the gap and the marker');
    await again.waitFor((r) => r.some((m) => m.type === 'alarm.raised' && (m.event.data as { alarm?: string }).alarm === 'GW_ERR_UPLINK_HOLDING'), 30_000, 'the holding alarm');
    expect(unroutedAtMost).toBe(HELD);
    expect(forgotten).toBe(0); // nothing of the gap was taken for delivered while nobody received it
    expect(gateway.uplink.isHolding).toBe(false);
    expect(holdingReports).toEqual([true, false]);
    await again.close();
    await vmc.close();
    console.log(`held: ${EVENTS} events routed to nobody, at most ${unroutedAtMost} kept in memory (the rest in the outbox), all ${gap.length} received after the VMC subscribed again`);
  }, 120_000);

  it('loses them with keepUnrouted off (the control: the fixture reproduces the loss)', async () => {
    const { after, gapIds, forgotten, unroutedAtMost } = await restartLosingTheSubscription(false);
    expect(unroutedAtMost).toBe(0);
    // Forgotten as delivered, and never received: the VMC that subscribed again got the marker only.
    expect(forgotten).toBe(EVENTS);
    expect(gapIds.size).toBe(EVENTS);
    expect([...gapIds].filter((id) => after.has(id))).toEqual([]);
    expect(after.size).toBe(1);
  }, 120_000);
});
