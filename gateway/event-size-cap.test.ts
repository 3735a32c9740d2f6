/**
 * Every event is bounded where it is made: `emit` refuses one whose serialised envelope is over
 * `uplink.maxEventBytes`, tells the producer, stores nothing of it, and raises one small alarm
 * (coalesced: a producer stuck in a loop does not fill the outbox with alarms).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../test/helpers/free-port.js';
import { startTestGateway, testConfig } from '../test/helpers/test-config.js';
import type { Gateway } from './daemon.js';

const CAP = 2048;

function nextCommit(gateway: Gateway): Promise<number> {
  return new Promise((resolve) => gateway.outbox.once('committed', resolve));
}

function operatorAction(gateway: Gateway, reasonBytes: number) {
  return gateway.emit('operator.action', 'lane-2', { operatorId: 'op-1', action: 'note', reason: 'r'.repeat(reasonBytes), crossingId: null }, 'c-1');
}

describe('event size cap', () => {
  let gateway: Gateway | undefined;
  afterEach(async () => {
    await gateway?.stop();
    gateway = undefined;
  });

  it('refuses an oversized event, stores none of it, and raises one coalesced alarm', async () => {
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`], { uplink: { maxEventBytes: CAP } }));
    const g = gateway;
    const alarmCommitted = nextCommit(g);
    await expect(operatorAction(g, 3000)).rejects.toMatchObject({ code: 'GW_ERR_EVENT_TOO_LARGE', details: { type: 'operator.action', laneId: 'lane-2', maxEventBytes: CAP } });
    await alarmCommitted;
    expect(g.outbox.depth).toBe(1);
    const alarm = JSON.parse(g.outbox.read(1)?.payload ?? '{}') as { type: string; data: { alarm: string; details: Record<string, unknown> } };
    expect(alarm.type).toBe('alarm.raised');
    expect(alarm.data.alarm).toBe('GW_ERR_EVENT_TOO_LARGE');
    expect(alarm.data.details).toMatchObject({ type: 'operator.action', laneId: 'lane-2', maxEventBytes: CAP, subject: 'c-1', withheld: 0 });
    expect(alarm.data.details.bytes).toBeGreaterThan(3000);
    expect(g.outbox.read(1)?.bytes).toBeLessThan(1024); // the alarm is small

    // A producer in a loop: every one refused, no further alarm within the interval.
    for (let i = 0; i < 5; i += 1) await expect(operatorAction(g, 5000 + i)).rejects.toMatchObject({ code: 'GW_ERR_EVENT_TOO_LARGE' });
    await operatorAction(g, 100); // under the cap: stored
    expect(g.outbox.depth).toBe(2);
    const metric = await g.metrics.registry.getSingleMetricAsString('gateway_outbox_commit_failures_total');
    expect(metric).toContain('code="GW_ERR_EVENT_TOO_LARGE"} 6');
  });

  it('only logs an oversized alarm, so an alarm about it cannot loop', async () => {
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`], { uplink: { maxEventBytes: CAP } }));
    gateway.raiseAlarm('TEST_ALARM', 'info', 'a huge alarm', { blob: 'x'.repeat(CAP) });
    await operatorAction(gateway, 10);
    expect(gateway.outbox.depth).toBe(1);
    expect(gateway.outbox.read(1)?.type).toBe('operator.action');
  });

  it('defaults to 64 KiB', () => {
    expect(testConfig(['mqtt://127.0.0.1:1']).uplink.maxEventBytes).toBe(64 * 1024);
  });
});
