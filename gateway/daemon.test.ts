import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../test/helpers/free-port.js';
import { startTestGateway, testConfig } from '../test/helpers/test-config.js';
import type { Gateway } from './daemon.js';
import type { EventData } from '../contract/catalogue.js';

describe('Gateway without a reachable broker', () => {
  let gateway: Gateway | undefined;
  afterEach(async () => {
    await gateway?.stop();
  });

  it('keeps committing offline, reports degraded health and per-device health', async () => {
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`]));
    await gateway.emit('device.status', 'lane-1', { deviceId: 'lane-1-barrier', state: 'down', lastError: 'ECONNREFUSED' });
    await gateway.emit('device.status', 'lane-1', { deviceId: 'lane-1-cam', state: 'up', lastError: null });
    const metrics = await gateway.metrics.registry.getSingleMetricAsString('gateway_device_health');
    expect(metrics).toContain('gateway_device_health{device="lane-1-barrier",state="down"} 1');
    expect(metrics).toContain('gateway_device_health{device="lane-1-barrier",state="up"} 0');
    expect(metrics).toContain('gateway_device_health{device="lane-1-cam",state="up"} 1');
    expect(gateway.health()).toMatchObject({ status: 'degraded', outbox: { depth: 2, lastSeq: 2 } });
  });

  it('refuses an event that breaks the catalogue, naming the field, and stores nothing', async () => {
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`]));
    const bad = { deviceId: 'x', state: 'sideways', lastError: null } as unknown as EventData<'device.status'>;
    await expect(gateway.emit('device.status', 'lane-1', bad)).rejects.toMatchObject({ code: 'GW_ERR_EVENT_INVALID', message: expect.stringContaining('state') as unknown });
    expect(gateway.outbox.depth).toBe(0);
  });

  it("reports the WAL's size in /healthz and the metrics, and raises GW_ERR_OUTBOX_WAL_GROWING once per spell past its bound", async () => {
    gateway = await startTestGateway(testConfig([`mqtt://127.0.0.1:${await freePort()}`]));
    await gateway.emit('device.status', 'lane-1', { deviceId: 'lane-1-cam', state: 'up', lastError: null });
    const wal = gateway.outbox.walState();
    expect(wal).toMatchObject({ oversized: false, warnBytes: 16 * 1024 * 1024 });
    expect(gateway.health()).toMatchObject({ outbox: { wal: { bytes: wal?.bytes, oversized: false } } });
    expect(await gateway.metrics.registry.getSingleMetricAsString('gateway_outbox_wal_bytes')).toMatch(/^gateway_outbox_wal_bytes \d+$/m);
    const alarms: string[] = [];
    gateway.onEvent((event) => {
      if (event.type === 'alarm.raised') alarms.push((event.data as EventData<'alarm.raised'>).alarm);
    });
    // What the outbox says when a look finds the WAL past its bound (sqlite-outbox.test.ts grows a real one), and back.
    gateway.outbox.emit('wal', { bytes: 20 * 1024 * 1024, warnBytes: 16 * 1024 * 1024, oversized: true });
    gateway.outbox.emit('wal', { bytes: 4 * 1024 * 1024, warnBytes: 16 * 1024 * 1024, oversized: false });
    expect(alarms).toEqual(['GW_ERR_OUTBOX_WAL_GROWING']);
  });
});
