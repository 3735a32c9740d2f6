/**
 * The barrier cycle against a Modbus TCP slave nobody here wrote: Debian's pymodbus serving a
 * barrier I/O module (helpers/pymodbus-io-module.py) whose loop and photocell the test sets, as the
 * vehicles would. The real barrier driver, device manager, lane workflow and outbox run; what the
 * outbox holds is what the uplink publishes, on `{root}/{laneId}/{type}`.
 *
 * A released vehicle leaves the loop while its trailer still blocks the photocell: the close is
 * refused (GW_ERR_BARRIER_UNSAFE on the lane, naming the photocell), retried on the reading that
 * shows both clear, and confirmed by the closed limit switch (WF_BARRIER_CLOSED_AFTER_RETRY). The
 * next vehicle then gets its own cycle: no false WF_TWO_VEHICLES_ONE_CYCLE.
 *
 * The driver keeps real time (its request and confirmation deadlines must mean what they say
 * against a real process); every wait is for an event (a line from the module, a reading, a
 * commit), never for time to pass. The workflow's stamping clock is a manual one.
 */
import { spawnSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/load-config.js';
import { systemClock } from '../core/clock.js';
import type { BarrierDriver, BarrierReading } from '../drivers/barrier/barrier-driver.js';
import { Gateway } from '../gateway/daemon.js';
import { DeviceManager } from '../gateway/devices/device-manager.js';
import { createLogger } from '../gateway/logger.js';
import { startPostRuntime, type PostRuntime } from '../gateway/post-runtime.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import { eventTopic } from '../gateway/uplink/topics.js';
import { nextReading } from './helpers/driver-events.js';
import { ManualClock } from './helpers/manual-clock.js';
import { HUNG_MS, PYTHON, PymodbusModule } from './helpers/pymodbus-module.js';
import { tempDir } from './helpers/test-config.js';

const SUPERVISOR = { id: 'sup-1', role: 'supervisor' as const };
const DECLARATION = { direction: 'export' as const, declaredWeightKg: 20_000, documents: ['SAD-1'], aeo: false };

interface Published {
  topic: string;
  laneId: string;
  type: string;
  subject?: string;
  data: Record<string, unknown>;
}

/** The outbox as the uplink would publish it, and a wait for what the test expects there. */
class PublishedEvents {
  private readonly waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(
    private readonly gateway: Gateway,
    private readonly root: string,
  ) {
    gateway.outbox.on('committed', () => {
      for (const waiter of [...this.waiters]) {
        if (!waiter.test()) continue;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  }

  all(): Published[] {
    return this.gateway.outbox.readFrom(0, 10_000).map((row) => {
      const event = JSON.parse(row.payload) as { type: string; subject?: string; data: Record<string, unknown> };
      return { topic: eventTopic(this.root, row.laneId, row.type), laneId: row.laneId, type: row.type, ...(event.subject ? { subject: event.subject } : {}), data: event.data };
    });
  }

  alarms(code?: string): Published[] {
    return this.all().filter((e) => e.type === 'alarm.raised' && (code === undefined || e.data.alarm === code));
  }

  waitFor(test: (events: Published[]) => boolean, what: string): Promise<void> {
    if (test(this.all())) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not published: ${what}; alarms: ${JSON.stringify(this.alarms().map((a) => a.data))}`)), HUNG_MS);
      this.waiters.push({
        test: () => test(this.all()),
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

describe('barrier close refused for safety, against a pymodbus I/O module', () => {
  beforeAll(() => {
    // Like mosquitto and mbpoll for the other system tests (scripts/test.sh): missing is a failure, never a skip.
    const probe = spawnSync(PYTHON, ['-c', 'import pymodbus'], { encoding: 'utf8' });
    if (probe.status !== 0) throw new Error(`pymodbus is not installed for ${PYTHON}: apt-get install python3-pymodbus (${probe.stderr || probe.error?.message})`);
  });

  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startPost(): Promise<{ module: PymodbusModule; driver: BarrierDriver; runtime: PostRuntime; published: PublishedEvents; clock: ManualClock }> {
    const { module, port } = await PymodbusModule.start();
    cleanups.push(() => module.stop());
    const config = parseConfigText(`
version: 1
post: { id: test-post }
lanes:
  - id: lane-1
    devices:
      - { id: lane-1-barrier, driver: modbus-tcp, connection: { host: 127.0.0.1, port: ${port}, unitId: 1 }, pollMs: 20, pulseMs: 50, confirmTimeoutMs: 3000, requestTimeoutMs: 1000 }
  - id: lane-2
uplink: { brokers: ['mqtt://127.0.0.1:1'] }
outbox: { path: outbox.db }
models: { risk: null, xrayScreening: null }
`);
    const logger = createLogger('silent');
    const dataDir = tempDir('barrier-retry-');
    const uplink = resolveUplinkSettings(config);
    const gateway = await Gateway.start({ config, uplink, logger, clock: systemClock, dataDir, http: false });
    cleanups.push(() => gateway.stop());
    const published = new PublishedEvents(gateway, uplink.root);
    const devices = new DeviceManager(config, gateway, systemClock, logger, dataDir);
    cleanups.push(() => devices.stop());
    const clock = new ManualClock();
    const runtime = await startPostRuntime({ config, gateway, devices, clock, logger });
    cleanups.push(() => runtime.stop());
    await devices.start();
    const driver = devices.driver('lane-1-barrier') as BarrierDriver;
    if (driver.lastInputs() === null) await nextReading<BarrierReading>(driver);
    expect(driver.lastInputs()).toEqual({ position: 'closed', vehiclePresent: false, photocellBlocked: false });
    return { module, driver, runtime, published, clock };
  }

  /** A vehicle the booth registers (no camera on this lane) and a supervisor releases: the barrier opens for it. */
  async function release(runtime: PostRuntime, driver: BarrierDriver, plate: string): Promise<string> {
    const opened = nextReading<BarrierReading>(driver, (r) => r.position === 'open');
    const crossing = runtime.post.register('lane-1', { plate, actor: SUPERVISOR, declaration: DECLARATION });
    runtime.post.lane('lane-1').workflow.forceRelease(crossing.crossingId, SUPERVISOR, 'released for the barrier test');
    await opened;
    return crossing.crossingId;
  }

  it('retries the close once the photocell clears, alarms both on the lane topic, and the next vehicle gets its own cycle', async () => {
    const { module, driver, runtime, published, clock } = await startPost();
    const first = await release(runtime, driver, 'GE-101-AA');
    expect(await module.writes(2)).toEqual(['coil 0 1', 'coil 0 0']);

    // The tractor on the loop, its trailer under the arm; then the tractor leaves the loop.
    await module.set('loop', true);
    await module.set('photocell', true);
    await nextReading<BarrierReading>(driver, (r) => r.vehiclePresent && r.photocellBlocked);
    await module.set('loop', false);
    await published.waitFor((events) => events.some((e) => e.type === 'alarm.raised' && e.data.alarm === 'GW_ERR_BARRIER_UNSAFE'), 'the refusal');
    const [refusal] = published.alarms('GW_ERR_BARRIER_UNSAFE');
    expect(refusal).toMatchObject({
      topic: 'border/v1/test-post/lane-1/alarm.raised',
      data: {
        severity: 'warning',
        message: expect.stringContaining('lane-1-barrier: refusing to close: the safety photocell is blocked') as unknown,
        details: { barrierId: 'lane-1-barrier', command: 'close', input: 'photocell', crossingId: null },
      },
    });
    // Never closed on the trailer; the vehicle has left the loop, so its crossing is complete.
    expect(module.coilWrites).not.toContain('coil 1 1');
    expect(driver.lastInputs()).toMatchObject({ position: 'open', photocellBlocked: true });
    expect(published.all().some((e) => e.type === 'crossing.completed' && e.subject === first)).toBe(true);

    // The trailer clears the photocell 42 s later: that reading brings the close again, confirmed closed.
    clock.advance(42_000);
    const closed = nextReading<BarrierReading>(driver, (r) => r.position === 'closed');
    await module.set('photocell', false);
    await closed;
    await published.waitFor((events) => events.some((e) => e.type === 'alarm.raised' && e.data.alarm === 'WF_BARRIER_CLOSED_AFTER_RETRY'), 'the close after the retry');
    expect(await module.writes(4)).toEqual(['coil 0 1', 'coil 0 0', 'coil 1 1', 'coil 1 0']);
    expect(published.alarms('WF_BARRIER_CLOSED_AFTER_RETRY')).toEqual([
      expect.objectContaining({
        topic: 'border/v1/test-post/lane-1/alarm.raised',
        data: expect.objectContaining({ severity: 'info', details: { barrierId: 'lane-1-barrier', command: 'close', refusedFor: 'photocell', attempts: 2, waitedSec: 42, crossingId: null } }) as unknown,
      }),
    ]);

    // The next vehicle: its own opening, through and closed behind it.
    const second = await release(runtime, driver, 'GE-202-BB');
    expect((await module.writes(6)).slice(4)).toEqual(['coil 0 1', 'coil 0 0']);
    await module.set('loop', true);
    await nextReading<BarrierReading>(driver, (r) => r.vehiclePresent);
    const closedAgain = nextReading<BarrierReading>(driver, (r) => r.position === 'closed');
    await module.set('loop', false);
    await closedAgain;
    await published.waitFor((events) => events.some((e) => e.type === 'crossing.completed' && e.subject === second), 'the second crossing');
    expect((await module.writes(8)).slice(6)).toEqual(['coil 1 1', 'coil 1 0']);

    const events = published.all();
    expect(published.alarms('WF_TWO_VEHICLES_ONE_CYCLE')).toEqual([]);
    // Exactly the two barrier alarms, both on the lane; nothing of the lane's on the post's topic.
    expect(published.alarms().map((a) => [a.topic, a.data.alarm])).toEqual([
      ['border/v1/test-post/lane-1/alarm.raised', 'GW_ERR_BARRIER_UNSAFE'],
      ['border/v1/test-post/lane-1/alarm.raised', 'WF_BARRIER_CLOSED_AFTER_RETRY'],
    ]);
    expect(events.filter((e) => e.laneId === 'post').map((e) => e.type)).toEqual([]);
    // The booth's arrivals and the supervisor's releases are the lane's too.
    const actions = events.filter((e) => e.type === 'operator.action');
    expect(new Set(actions.map((a) => a.topic))).toEqual(new Set(['border/v1/test-post/lane-1/operator.action']));
    expect(actions.filter((a) => a.subject === second).map((a) => a.data.action)).toEqual(['crossing.arrival', 'crossing.register', 'crossing.release']);
    expect(events.filter((e) => e.type === 'vehicle.arrived').map((e) => e.data.detectedBy)).toEqual(['operator', 'operator']);
  });
});
