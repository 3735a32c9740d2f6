/**
 * The whole post as an integrator runs it: `border-gateway sim` opens the demo post's simulated
 * devices and drives trucks through them (registering each at the gateway's lane API),
 * `border-gateway run` with the same config reads the devices over ONVIF, Modbus TCP and the
 * weighbridge protocols, runs the lane workflow and the bundled models, opens the barriers, and
 * the events reach a real Mosquitto. Faults are injected (garbage, misread, two vehicles in one
 * barrier cycle); then the simulator is killed (every device unplugged at once): the gateway
 * reports each device down, an operator registers and weighs a truck by hand through the API, and
 * when the simulator returns every device comes back up without a gateway restart.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../config/load-config.js';
import { adjustDemoConfig } from '../gateway/demo/demo-config.js';
import { Collector, type Received } from './helpers/collector.js';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const DEMO_CONFIG = 'config/examples/demo-post.yaml';
const SIMULATED = ['lane-1-entry-cam', 'lane-1-exit-cam', 'lane-1-weighbridge', 'lane-1-barrier', 'lane-2-entry-cam', 'lane-2-exit-cam', 'lane-2-weighbridge', 'lane-2-barrier'];
const OPERATOR_PASSWORD = 'lane two operator passphrase';

/**
 * The demo post's configuration on ports of this run's own (other runs may hold the example's
 * 18080 and friends), its X-ray drop folders under `dataDir`: written there, with the HTTP port.
 */
async function demoPostOnFreePorts(dataDir: string): Promise<{ file: string; httpPort: number }> {
  const config = await adjustDemoConfig(loadConfigFile(DEMO_CONFIG), dataDir, freePort);
  config.http.port = await freePort();
  const file = join(dataDir, 'demo-post.yaml');
  writeFileSync(file, JSON.stringify(config));
  return { file, httpPort: config.http.port };
}

const statusOf = (received: Received[], deviceId: string): string | undefined =>
  received.filter((m) => m.type === 'device.status' && m.event.data.deviceId === deviceId).at(-1)?.event.data.state as string | undefined;

describe('sim + run with the demo post', () => {
  const rig = systemRig<Mosquitto>();

  it('joins device readings into crossings, alarms on faults, and lets operators act while devices are down', async () => {
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url));
    // The integrator's first steps: an operator account and the registration system's client,
    // made with the command line; the simulator plays the registration desk and the inspectors.
    const dataDir = tempDir();
    const { file: config, httpPort } = await demoPostOnFreePorts(dataDir);
    const API = `http://127.0.0.1:${httpPort}/api`;
    const where = ['--config', config, '--data', dataDir];
    for (const [name, role] of [['op-7', 'operator'], ['sim-inspector', 'supervisor']] as const) {
      expect((await new GatewayProcess(['user', 'add', name, '--role', role, ...where], {}, { stdin: `${OPERATOR_PASSWORD}\n` }).exited).code).toBe(0);
    }
    const client = new GatewayProcess(['client', 'add', 'sim-registration', '--role', 'registration', ...where]);
    expect((await client.exited).code).toBe(0);
    const registrationToken = /bearer token: +(\S+)/.exec(client.stdout.join('\n'))?.[1];
    const credentials = join(dataDir, 'sim-credentials.json');
    writeFileSync(credentials, JSON.stringify({ registrationToken, supervisor: { name: 'sim-inspector', password: OPERATOR_PASSWORD } }));
    // Trucks every 20 traffic-minutes per lane; queues and waits run 1200 times faster than real time.
    const SIM_ARGS = ['sim', '--config', config, '--speed', '1200', '--interval', '1200', '--control-port', '0', '--credentials', credentials];
    const sim = new GatewayProcess(SIM_ARGS);
    rig.processes.push(sim);
    await sim.waitForStdout((line) => line.includes('ready'), 30_000, 'the simulator ready');
    const entryCamera = loadConfigFile(config).lanes[0]?.devices.find((device) => device.id === 'lane-1-entry-cam');
    expect(sim.stdout.join('\n')).toContain(`ONVIF camera ${entryCamera?.connection && 'url' in entryCamera.connection ? entryCamera.connection.url : 'missing'}`);
    expect(sim.stdout.join('\n')).toContain(`X-ray scanner writing ${join(dataDir, 'data/xray-drop/lane-1')}`);

    const run = new GatewayProcess(['run', ...where, '--mqtt', broker.url, '--log-level', 'warn']);
    rig.processes.push(run);
    await collector.waitFor(
      (r) =>
        r.some((m) => m.type === 'anpr.plate' && m.event.data.plate !== null) &&
        r.some((m) => m.type === 'weighbridge.weight') &&
        r.some((m) => m.type === 'barrier.state' && m.event.data.position === 'open') &&
        r.some((m) => m.type === 'xray.scan' && m.event.data.status === 'completed') &&
        r.filter((m) => m.type === 'crossing.completed').length >= 3 &&
        SIMULATED.every((id) => statusOf(r, id) === 'up'),
      90_000,
      'plates, weights, barrier movements, scans, three completed crossings and every device up',
    );
    // Each completed crossing was decided by the bundled model and went through every step.
    for (const completed of collector.received.filter((m) => m.type === 'crossing.completed')) {
      const data = completed.event.data as { risk: { modelVersion: string; reasons: string[] }; milestones: Record<string, string>; durations: { crossingSec: number } };
      expect(data.risk.modelVersion).toBe('2026.11.26');
      expect(data.risk.reasons.length).toBeGreaterThan(0);
      expect(Object.keys(data.milestones)).toEqual(expect.arrayContaining(['arrived', 'registered', 'weighed', 'riskAssessed', 'released', 'exited']));
      expect(data.durations.crossingSec).toBeGreaterThan(0);
    }
    const plate = collector.received.find((m) => m.type === 'anpr.plate' && m.event.data.plate !== null);
    expect(plate?.event.data).toMatchObject({ deviceId: expect.stringMatching(/entry-cam$/) as unknown, plate: { text: expect.stringMatching(/^[A-Z0-9]+$/) as unknown } });
    const weight = collector.received.find((m) => m.type === 'weighbridge.weight');
    // The lightest simulated vehicle is a van declaring 2,000 kg (scales read ±2%).
    expect(Number(weight?.event.data.weightKg)).toBeGreaterThanOrEqual(1900);
    const scan = collector.received.find((m) => m.type === 'xray.scan' && m.event.data.status === 'completed');
    expect(scan?.event.data).toMatchObject({ deviceId: 'lane-1-xray', image: { width: 256, height: 128 } });

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

    // Two vehicles under one barrier opening: the next truck through lane 1 brings a second.
    expect((await inject('lane-1-barrier', { fault: 'tailgate' })).status).toBe(200);
    await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised' && m.event.data.alarm === 'WF_TWO_VEHICLES_ONE_CYCLE'), 90_000, 'the two-vehicles alarm');

    await sim.kill('SIGKILL');
    await collector.waitFor((r) => SIMULATED.every((id) => statusOf(r, id) === 'down'), 60_000, 'every device down');
    expect(collector.received.some((m) => m.type === 'alarm.raised' && m.event.data.alarm === 'WF_DEVICE_DOWN' && (m.event.data.details as { deviceId: string }).deviceId === 'lane-2-weighbridge')).toBe(true);
    // Degraded lane: the camera and the weighbridge are gone, the operator enters what they would have read.
    const login = await fetch(`${API}/session`, { method: 'POST', body: JSON.stringify({ name: 'op-7', password: OPERATOR_PASSWORD, bearer: true }), headers: { 'content-type': 'application/json' } });
    expect(login.status).toBe(201);
    const authorization = `Bearer ${((await login.json()) as { token: string }).token}`;
    const post = (path: string, body: object) => fetch(`${API}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { authorization, 'content-type': 'application/json' } });
    const registered = await post('/lanes/lane-2/registrations', { plate: 'ZZ-900-ZZ', direction: 'export', declaredWeightKg: 18_000, documents: ['SAD-1'] });
    expect(registered.status).toBe(201);
    const { crossingId } = (await registered.json()) as { crossingId: string };
    const withoutReason = await post(`/lanes/lane-2/crossings/${crossingId}/weight`, { weightKg: 18_200, reason: ' ' });
    expect(withoutReason.status).toBe(400);
    expect(await withoutReason.json()).toMatchObject({ code: 'GW_ERR_HTTP_BAD_REQUEST', message: expect.stringContaining('reason') as unknown });
    const weighed = await post(`/lanes/lane-2/crossings/${crossingId}/weight`, { weightKg: 18_200, reason: 'weighbridge down, weighed at the mobile scale' });
    expect(weighed.status).toBe(200);
    expect(((await weighed.json()) as { risk: { modelVersion: string } }).risk.modelVersion).toBe('2026.11.26');
    await collector.waitFor(
      (r) => r.some((m) => m.type === 'operator.action' && m.event.data.crossingId === crossingId && m.event.data.action === 'crossing.weight' && m.event.data.operatorId === 'op-7') && r.some((m) => m.type === 'risk.assessed' && m.event.data.crossingId === crossingId),
      30_000,
      'the manual weight recorded and the risk assessed',
    );
    const again = new GatewayProcess(SIM_ARGS);
    rig.processes.push(again);
    await collector.waitFor((r) => SIMULATED.every((id) => statusOf(r, id) === 'up'), 60_000, 'every device up again');
    const counts = Object.fromEntries(['anpr.plate', 'weighbridge.weight', 'barrier.state', 'xray.scan', 'device.status', 'crossing.completed', 'alarm.raised'].map((t) => [t, collector.received.filter((m) => m.type === t).length]));
    console.log(`sim+run: ${JSON.stringify(counts)}`);
    // Its waits bound each step (up to 90 s); the whole is more than the default 60 s on a loaded machine.
  }, 300_000);
});
