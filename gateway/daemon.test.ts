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
});
