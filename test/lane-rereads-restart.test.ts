/**
 * The cameras' re-reads across a SIGKILL, all real processes: `border-gateway run` with an entry
 * and an exit camera that push their reads over HTTP, a real Mosquitto and a VMC-like subscriber.
 * A truck still under the entry camera when the gateway is killed is read again after the restart:
 * one crossing, not two. A truck that has just left is read again by the exit camera after another
 * restart, with the next vehicle released and waiting at the barrier: the re-read is ignored, and
 * the waiting vehicle gets its own exit (no WF_PLATE_MISMATCH, no WF_EXIT_UNKNOWN).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { AccountStore } from '../gateway/auth/account-store.js';
import { Collector, type Received } from './helpers/collector.js';
import { listenersOf, provisionEvidencePost, pushPlate, registerAndWeigh } from './helpers/evidence-post.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9]);

describe("the lane cameras' re-reads across a restart", () => {
  const rig = systemRig<Mosquitto>();

  it('makes one crossing of an entry re-read after a SIGKILL, and ignores an exit re-read of the truck that left before one', async () => {
    const dir = tempDir('rereads-');
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url, 'border/#'));
    const config = join(dir, 'post.yaml');
    writeFileSync(
      config,
      `version: 1
post: { id: rereads-post }
lanes:
  - id: lane-1
    devices:
      - { id: cam-1, driver: anpr-http-push, role: entry, connection: { path: /anpr/cam-1 } }
      - { id: cam-out, driver: anpr-http-push, role: exit, connection: { path: /anpr/cam-out } }
uplink:
  brokers: [${JSON.stringify(broker.url)}]
  reconnect: { initialMs: 50, maxMs: 400 }
outbox: { path: outbox.db }
http: { port: 0 }
devicePush: { port: 0 }
workflow: { randomXrayShare: 0 }
models: { risk: null, xrayScreening: null }
logLevel: info
`,
    );
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const { camera: entryCamera } = await provisionEvidencePost(dataDir);
    const db = new Database(join(dataDir, 'outbox.db'));
    const exitCamera = `Basic ${Buffer.from(`cam-out:${new AccountStore(db).addClient('cam-out', 'device', { deviceId: 'cam-out' })}`).toString('base64')}`;
    db.close();

    const start = async (): Promise<{ gateway: GatewayProcess; devices: string; operators: string }> => {
      const gateway = new GatewayProcess(['run', '--config', config, '--data', dataDir]);
      rig.processes.push(gateway);
      const http = await listenersOf(gateway);
      await gateway.waitForLog((line) => line.msg === 'gateway running', 90_000, 'the gateway running');
      return { gateway, ...http };
    };
    const ofPlate = (type: string, plate: string) => (received: Received[]): Received[] =>
      received.filter((m) => m.type === type && (m.event.data.plate as { text?: string } | null)?.text === plate);
    const crossingIds = (messages: Received[]): string[] => [...new Set(messages.map((m) => String(m.event.data.crossingId)))];

    // 1. A truck arrives; the gateway is killed while it stands under the entry camera.
    let post = await start();
    expect(await pushPlate(post.devices, entryCamera, 'GE111AA', JPEG)).toBe(200);
    await collector.waitFor((r) => ofPlate('vehicle.arrived', 'GE111AA')(r).length > 0, 60_000, 'the first arrival');
    expect((await post.gateway.kill('SIGKILL')).signal).toBe('SIGKILL');

    // 2. Back up, the camera reads it again, then the next truck: one crossing for the first.
    post = await start();
    expect(await pushPlate(post.devices, entryCamera, 'GE111AA', JPEG)).toBe(200);
    expect(await pushPlate(post.devices, entryCamera, 'GE222BB', JPEG)).toBe(200);
    // Events of a lane arrive in order: the second truck's arrival comes after anything the re-read made.
    await collector.waitFor((r) => ofPlate('vehicle.arrived', 'GE222BB')(r).length > 0, 60_000, 'the second truck arriving');
    expect(crossingIds(ofPlate('vehicle.arrived', 'GE111AA')(collector.received))).toHaveLength(1);

    // 3. The first truck is registered, released and leaves; the gateway is killed as it stops past the barrier.
    const first = await registerAndWeigh(post.operators, 'GE111AA', 20_000, 20_000);
    expect(first.state).toBe('released');
    expect(await pushPlate(post.devices, exitCamera, 'GE111AA', JPEG, 'cam-out')).toBe(200);
    const completedOf = (crossingId: string) => (r: Received[]): Received[] => r.filter((m) => m.type === 'crossing.completed' && m.event.data.crossingId === crossingId);
    await collector.waitFor((r) => completedOf(first.crossingId)(r).length > 0, 60_000, 'the first truck completed');
    expect((await post.gateway.kill('SIGKILL')).signal).toBe('SIGKILL');

    // 4. Back up, the second truck is released; the exit camera reads the first truck again, then the second.
    post = await start();
    const second = await registerAndWeigh(post.operators, 'GE222BB', 20_000, 20_000);
    expect(second.state).toBe('released');
    expect(await pushPlate(post.devices, exitCamera, 'GE111AA', JPEG, 'cam-out')).toBe(200);
    expect(await pushPlate(post.devices, exitCamera, 'GE222BB', JPEG, 'cam-out')).toBe(200);
    await collector.waitFor((r) => completedOf(second.crossingId)(r).length > 0, 60_000, 'the second truck completed');
    const alarms = collector.received.filter((m) => m.type === 'alarm.raised').map((m) => m.event.data.alarm);
    expect(alarms.filter((code) => code === 'WF_PLATE_MISMATCH' || code === 'WF_EXIT_UNKNOWN')).toEqual([]);
    const exited = collector.received.filter((m) => m.type === 'vehicle.exited');
    expect(crossingIds(exited).sort()).toEqual([first.crossingId, second.crossingId].sort());
    // Each exit once (at-least-once delivery may repeat an event, never make a second one).
    expect(new Set(exited.map((m) => m.id)).size).toBe(2);
    expect(completedOf(second.crossingId)(collector.received)[0]?.event.data).toMatchObject({ plate: 'GE222BB' });
    expect(crossingIds(collector.received.filter((m) => m.type === 'crossing.completed'))).toHaveLength(2);
  }, 240_000);
});
