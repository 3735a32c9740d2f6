/**
 * Lanes that survive a SIGKILL: `sim` drives trucks through the demo post's devices (on free
 * ports) while `run` is killed with SIGKILL again and again and started again on the same data.
 * Every crossing completes at most once, under its original id and with its original arrival
 * time; crossings that were open across a kill complete after it, saying their durations crossed
 * a restart; and the trucks ride the outages out.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../config/load-config.js';
import { adjustDemoConfig } from '../gateway/demo/demo-config.js';
import { Collector } from './helpers/collector.js';
import { freePort } from './helpers/free-port.js';
import { GatewayProcess } from './helpers/gateway-process.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { tempDir } from './helpers/test-config.js';

const KILLS = 20;
const PASSWORD = 'inspector passphrase 7';

interface Completed {
  crossingId: string;
  milestones: Record<string, string>;
  durations: { crossingSec: number; clock?: string };
  outcome: string;
}

describe('restart-safe lanes', () => {
  const rig = systemRig<Mosquitto>();

  it('completes every crossing once, with its first arrival time, across repeated SIGKILLs', async () => {
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url));
    const dataDir = tempDir();
    const config = await adjustDemoConfig(loadConfigFile('config/examples/demo-post.yaml'), dataDir, freePort);
    config.http.port = await freePort();
    const configFile = join(dataDir, 'post.yaml');
    writeFileSync(configFile, stringify(config));
    const where = ['--config', configFile, '--data', dataDir];
    expect((await new GatewayProcess(['user', 'add', 'sim-inspector', '--role', 'supervisor', ...where], {}, { stdin: `${PASSWORD}\n` }).exited).code).toBe(0);
    const client = new GatewayProcess(['client', 'add', 'sim-registration', '--role', 'registration', ...where]);
    expect((await client.exited).code).toBe(0);
    const registrationToken = /bearer token: +(\S+)/.exec(client.stdout.join('\n'))?.[1];
    const credentials = join(dataDir, 'sim-credentials.json');
    writeFileSync(credentials, JSON.stringify({ registrationToken, supervisor: { name: 'sim-inspector', password: PASSWORD } }));

    const sim = new GatewayProcess(['sim', '--config', configFile, '--credentials', credentials, '--speed', '1200', '--interval', '900', '--control-port', String(await freePort())]);
    rig.processes.push(sim);
    await sim.waitForStdout((line) => line.includes('ready'), 30_000, 'the simulator ready');

    const start = (): GatewayProcess => {
      const run = new GatewayProcess(['run', ...where, '--mqtt', broker.url]);
      rig.processes.push(run);
      return run;
    };
    const arrivals = (): string[] => collector.received.filter((m) => m.type === 'vehicle.arrived').map((m) => String(m.event.data.crossingId));
    let run = start();
    for (let kill = 1; kill <= KILLS; kill += 1) {
      // Kill once a vehicle has arrived since the last start and is on its way: mid-crossing.
      const seen = arrivals().length;
      await collector.waitFor((r) => r.filter((m) => m.type === 'vehicle.arrived').length > seen, 90_000, `a vehicle arriving before kill ${kill}`);
      await run.kill('SIGKILL');
      run = start();
      await run.waitForLog((line) => line.msg === 'gateway running', 45_000, `the gateway running again after kill ${kill}`);
    }
    await collector.waitFor(
      (r) => r.filter((m) => m.type === 'crossing.completed' && (m.event.data as unknown as Completed).durations.clock === 'wall-across-restart' && (m.event.data as unknown as Completed).outcome === 'completed').length >= 3,
      150_000,
      'three crossings open across a kill, completed after it',
    );
    expect(run.logs.some((line) => line.msg === 'open crossings restored after a restart') || rig.processes.some((p) => p.logs.some((line) => line.msg === 'open crossings restored after a restart'))).toBe(true);

    const completed = collector.received.filter((m) => m.type === 'crossing.completed').map((m) => m.event.data as unknown as Completed);
    // One vehicle.arrived per crossing (a restored crossing does not arrive again), by event id.
    const arrivedEvents = new Map<string, Set<string>>();
    const firstArrival = new Map<string, number>();
    for (const m of collector.received.filter((r) => r.type === 'vehicle.arrived')) {
      const id = String(m.event.data.crossingId);
      arrivedEvents.set(id, (arrivedEvents.get(id) ?? new Set<string>()).add(String(m.event.id)));
      if (!firstArrival.has(id)) firstArrival.set(id, Date.parse(String(m.event.time)));
    }
    expect([...arrivedEvents.values()].filter((ids) => ids.size > 1)).toEqual([]);
    // Once each (at least once delivery may repeat an event id, never a crossing under a new id).
    const byCrossing = new Map<string, Set<string>>();
    for (const m of collector.received.filter((r) => r.type === 'crossing.completed')) {
      const ids = byCrossing.get(String(m.event.data.crossingId)) ?? new Set<string>();
      ids.add(String(m.event.id));
      byCrossing.set(String(m.event.data.crossingId), ids);
    }
    expect([...byCrossing.values()].filter((ids) => ids.size > 1)).toEqual([]);
    for (const crossing of completed) {
      // Its original arrival time, whatever happened since: the milestone is stamped a moment
      // before its event is built, never a restart later.
      const arrived = firstArrival.get(crossing.crossingId);
      expect(arrived).toBeDefined();
      expect(Math.abs(Date.parse(String(crossing.milestones.arrived)) - (arrived as number))).toBeLessThan(1000);
    }
    const acrossRestart = completed.filter((c) => c.durations.clock === 'wall-across-restart');
    const abandoned = completed.filter((c) => c.outcome === 'abandoned');
    expect(abandoned).toEqual([]);
    console.log(`restart-safe lanes: ${KILLS} kills, ${firstArrival.size} arrivals, ${completed.length} completed (${acrossRestart.length} across a restart), ${abandoned.length} abandoned`);
  }, 300_000);
});
