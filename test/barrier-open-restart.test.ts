/**
 * A release committed whose OPEN never reached the barrier, across a SIGKILL, all real processes:
 * `border-gateway run` driving Debian's pymodbus as the lane's barrier I/O module, a real Mosquitto
 * and a VMC-like subscriber. The module is frozen (SIGSTOP: it takes the connection and answers
 * nothing) before the vehicle is released, so the gateway's OPEN waits on its read of the inputs,
 * and the gateway is killed once `vehicle.released` is out: the cycle is stored `open`, the arm
 * is closed. After the restart the gateway sends no OPEN by itself (the vehicle may have gone
 * during the outage): the arm's first reading raises WF_BARRIER_OPEN_UNCONFIRMED on the lane,
 * the console shows it with the barrier as its action, and the supervisor's hand open lets the
 * truck through (its exit recorded by the loop).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { Collector } from './helpers/collector.js';
import type { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { PYTHON, PymodbusModule } from './helpers/pymodbus-module.js';
import { systemRig } from './helpers/rig.js';
import { startRunPost, writeRunPost, type SupervisorCall } from './helpers/run-post.js';
import { tempDir } from './helpers/test-config.js';
import { waitUntil } from './helpers/wait-until.js';

interface LaneView {
  laneId: string;
  barrier: { phase: string; position: string | null; vehiclePresent: boolean | null };
  alarms: { code: string; resolvedBy: string | null }[];
}

describe('a barrier open lost to a SIGKILL', () => {
  beforeAll(() => {
    const probe = spawnSync(PYTHON, ['-c', 'import pymodbus'], { encoding: 'utf8' });
    if (probe.status !== 0) throw new Error(`pymodbus is not installed for ${PYTHON}: apt-get install python3-pymodbus (${probe.stderr || probe.error?.message})`);
  });
  const rig = systemRig<Mosquitto>();

  it('alarms the lane after the restart instead of leaving the released truck at a closed arm, and opens nothing by itself', async () => {
    const { module, port } = await PymodbusModule.start();
    try {
      const dir = tempDir('barrier-open-restart-');
      const broker = (rig.broker = await Mosquitto.start());
      const collector = (rig.collector = await Collector.connect(broker.url, 'border/#'));
      // A request unanswered for a minute fails: far longer than the test keeps the module frozen,
      // so the OPEN cannot fail (and be alarmed as a failed open) before the kill.
      const runPost = await writeRunPost(dir, {
        postId: 'barrier-post',
        brokerUrl: broker.url,
        devices: `      - { id: lane-1-barrier, driver: modbus-tcp, connection: { host: 127.0.0.1, port: ${port}, unitId: 1 }, pollMs: 50, pulseMs: 50, confirmTimeoutMs: 3000, requestTimeoutMs: 60000 }`,
      });
      const { dataDir } = runPost;
      const start = async (): Promise<{ gateway: GatewayProcess; call: SupervisorCall; lane: () => Promise<LaneView> }> => {
        const { gateway, call } = await startRunPost(rig, runPost);
        const lane = async (): Promise<LaneView> => ((await call('GET', '/api/lanes')) as unknown as LaneView[]).find((l) => l.laneId === 'lane-1') as LaneView;
        return { gateway, call, lane };
      };

      // 1. The barrier connected and read closed; then the module freezes, and a truck is released.
      let post = await start();
      await waitUntil('the arm read closed', async () => (await post.lane()).barrier.position === 'closed');
      module.freeze(true);
      const registered = await post.call('POST', '/api/lanes/lane-1/registrations', { plate: 'GE111AA', direction: 'import', declaredWeightKg: 20_000, documents: ['SAD-1'] });
      const crossingId = String(registered.crossingId);
      const weighed = await post.call('POST', `/api/lanes/lane-1/crossings/${crossingId}/weight`, { weightKg: 20_000, reason: 'weighbridge out of order' });
      expect(weighed.state).toBe('released');
      await collector.waitFor((r) => r.some((m) => m.type === 'vehicle.released' && m.event.data.crossingId === crossingId), 60_000, 'the release published (so committed)');
      expect((await post.gateway.kill('SIGKILL')).signal).toBe('SIGKILL');
      // Killed at that point: the cycle stored open, no OPEN coil ever written, no alarm raised.
      const stored = new Database(join(dataDir, 'outbox.db'), { readonly: true });
      const cycle = JSON.parse(stored.prepare<[], { cycle: string }>("SELECT cycle FROM barrier_cycles WHERE lane_id = 'lane-1'").get()?.cycle ?? '{}') as { phase?: string; waiting?: number };
      stored.close();
      expect(cycle).toMatchObject({ phase: 'open', waiting: 1 });
      module.freeze(false);
      expect(module.coilWrites).toEqual([]);
      expect(collector.received.filter((m) => m.type === 'alarm.raised')).toEqual([]);

      // 2. Back up: the arm reads closed, and the lane is alarmed; nothing is opened.
      post = await start();
      await collector.waitFor((r) => r.some((m) => m.type === 'alarm.raised' && m.event.data.alarm === 'WF_BARRIER_OPEN_UNCONFIRMED'), 60_000, 'the lane alarm');
      const [alarm] = collector.received.filter((m) => m.type === 'alarm.raised');
      expect(alarm).toMatchObject({ topic: 'border/v1/barrier-post/lane-1/alarm.raised', event: { data: { severity: 'warning', details: { barrierId: 'lane-1-barrier', command: 'open', position: 'closed', waiting: 1 } } } });
      const view = await post.lane();
      expect(view.alarms).toEqual([expect.objectContaining({ code: 'WF_BARRIER_OPEN_UNCONFIRMED', resolvedBy: 'barrier' })]);
      expect(view.barrier.phase).toBe('idle');
      expect(module.coilWrites).toEqual([]);

      // 3. As the alarm asks: the supervisor opens by hand; the truck drives through over the loop.
      expect(await post.call('POST', '/api/lanes/lane-1/barrier', { command: 'open', reason: 'truck waiting after the restart' })).toMatchObject({ position: 'open' });
      expect(await module.writes(1)).toEqual(['coil 0 1']);
      await waitUntil('the alarm resolved', async () => (await post.lane()).alarms.length === 0);
      await module.set('loop', true);
      await waitUntil('the truck on the loop', async () => (await post.lane()).barrier.vehiclePresent === true);
      await module.set('loop', false);
      await collector.waitFor((r) => r.some((m) => m.type === 'crossing.completed' && m.event.data.crossingId === crossingId), 60_000, 'the crossing completed');
      // Only the supervisor's OPEN (and its release after the pulse) was ever written.
      expect(module.coilWrites.filter((line) => line.endsWith(' 1'))).toEqual(['coil 0 1']);
    } finally {
      await module.stop();
    }
  }, 240_000);
});
