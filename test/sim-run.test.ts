/**
 * The whole southbound path as an integrator runs it: `border-gateway sim` opens the demo post's
 * simulated devices, `border-gateway run` with the same config reads them over ONVIF, Modbus TCP
 * and the weighbridge protocols, and the events reach a real Mosquitto. The simulator is then
 * killed (every device unplugged at once) and restarted: the gateway reports each device down,
 * then up again, without restarting.
 */
import { describe, expect, it } from 'vitest';
import { Collector, type Received } from './helpers/collector.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const CONFIG = 'config/examples/demo-post.yaml';
const SIMULATED = ['lane-1-entry-cam', 'lane-1-weighbridge', 'lane-1-barrier', 'lane-2-entry-cam', 'lane-2-weighbridge', 'lane-2-barrier'];

const statusOf = (received: Received[], deviceId: string): string | undefined =>
  received.filter((m) => m.type === 'device.status' && m.event.data.deviceId === deviceId).at(-1)?.event.data.state as string | undefined;

describe('sim + run with the demo post', () => {
  const rig = systemRig<Mosquitto>();

  it('shows plate reads, stable weights, barrier movements and scans at the broker, and survives the devices going away', async () => {
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url));
    const sim = new GatewayProcess(['sim', '--config', CONFIG, '--interval', '2']);
    rig.processes.push(sim);
    await sim.waitForStdout((line) => line.includes('ready'), 30_000, 'the simulator ready');
    expect(sim.stdout.join('\n')).toContain('ONVIF camera http://127.0.0.1:18081/onvif/device_service');
    expect(sim.stdout.join('\n')).toContain('X-ray scanner writing data/xray-drop/lane-1');

    const run = new GatewayProcess(['run', '--config', CONFIG, '--mqtt', broker.url, '--data', tempDir(), '--log-level', 'warn']);
    rig.processes.push(run);
    await collector.waitFor(
      (r) =>
        r.some((m) => m.type === 'anpr.plate' && m.event.data.plate !== null) &&
        r.some((m) => m.type === 'weighbridge.weight') &&
        r.some((m) => m.type === 'barrier.state' && m.event.data.position === 'open') &&
        r.some((m) => m.type === 'xray.scan' && m.event.data.status === 'completed') &&
        SIMULATED.every((id) => statusOf(r, id) === 'up'),
      60_000,
      'plates, weights, barrier movements, scans and every device up',
    );
    const plate = collector.received.find((m) => m.type === 'anpr.plate' && m.event.data.plate !== null);
    expect(plate?.event.data).toMatchObject({ deviceId: expect.stringMatching(/entry-cam$/) as unknown, plate: { text: expect.stringMatching(/^[A-Z0-9]+$/) as unknown } });
    const weight = collector.received.find((m) => m.type === 'weighbridge.weight');
    expect(Number(weight?.event.data.weightKg)).toBeGreaterThanOrEqual(15_000);
    const scan = collector.received.find((m) => m.type === 'xray.scan' && m.event.data.status === 'completed');
    expect(scan?.event.data).toMatchObject({ deviceId: 'lane-1-xray', image: { width: 128, height: 64 } });

    // Faults injected through the simulator's control endpoint reach the gateway as events.
    const control = /faults: curl -X POST (http:\/\/127\.0\.0\.1:\d+)\/faults/.exec(sim.stdout.join('\n'))?.[1];
    expect(control).toBeDefined();
    const inject = (deviceId: string, fault: object) => fetch(`${control}/faults/${deviceId}`, { method: 'POST', body: JSON.stringify(fault) });
    expect((await inject('lane-1-weighbridge', { fault: 'garbage' })).status).toBe(200);
    expect((await inject('lane-1-entry-cam', { fault: 'misread' })).status).toBe(200);
    expect((await inject('lane-1-entry-cam', { fault: 'jam' })).status).toBe(400);
    await collector.waitFor(
      (r) =>
        r.some((m) => m.type === 'device.status' && m.event.data.deviceId === 'lane-1-weighbridge' && m.event.data.state === 'degraded') &&
        r.some((m) => m.type === 'anpr.plate' && (m.event.data.plate as { formatValid?: boolean } | null)?.formatValid === false),
      30_000,
      'the garbage and the misread plate',
    );

    await sim.kill('SIGKILL');
    await collector.waitFor((r) => SIMULATED.every((id) => statusOf(r, id) === 'down'), 60_000, 'every device down');
    const again = new GatewayProcess(['sim', '--config', CONFIG, '--interval', '2']);
    rig.processes.push(again);
    await collector.waitFor((r) => SIMULATED.every((id) => statusOf(r, id) === 'up'), 60_000, 'every device up again');
    const counts = Object.fromEntries(['anpr.plate', 'weighbridge.weight', 'barrier.state', 'xray.scan', 'device.status'].map((t) => [t, collector.received.filter((m) => m.type === t).length]));
    console.log(`sim+run: ${JSON.stringify(counts)}`);
  });
});
