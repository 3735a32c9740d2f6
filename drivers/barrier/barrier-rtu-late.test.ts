/**
 * The barrier driver on a serial line whose module answers late (test/helpers/late-rtu-module.py:
 * RTU framing of its own, over a socat pty pair). Modbus RTU has no transaction ids: a reply that
 * comes after its request timed out would be read as the answer to the next request, and a
 * module's stale "lane clear" taken for a fresh one closed the barrier on a vehicle (a helper's
 * audit, DELAY 450 ms against a 300 ms timeout). Real time: the module is another process.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { postConfigSchema, type BarrierConfig } from '../../config/schema.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { openPtyPair } from '../../sim/pty-pair.js';
import { PYTHON } from '../../test/helpers/pymodbus-module.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { BarrierDriver, RTU_REPLIES_TO_TRUST } from './barrier-driver.js';

const MODULE_SCRIPT = fileURLToPath(new URL('../../test/helpers/late-rtu-module.py', import.meta.url));
/** Long enough that a module answering at once is never late on a loaded machine. */
const REQUEST_TIMEOUT_MS = 400;

/** The late module as a child process: its stdout lines, and commands acknowledged. */
class LateModule {
  readonly lines: string[] = [];
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.lines.push(line));
  }

  static async start(devicePath: string): Promise<LateModule> {
    const module = new LateModule(spawn(PYTHON, [MODULE_SCRIPT, devicePath], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await vi.waitFor(() => expect(module.lines).toContain('ready'), { timeout: 10_000 });
    return module;
  }

  async set(name: 'delay' | 'vehicle', value: number): Promise<void> {
    const ack = `ok ${name} ${value}`;
    const before = this.lines.filter((line) => line === ack).length;
    this.child.stdin.write(`${name} ${value}\n`);
    await vi.waitFor(() => expect(this.lines.filter((line) => line === ack).length).toBe(before + 1));
  }

  /** Every coil written ON, with whether a vehicle was on the loop then. */
  coilsOn(): string[] {
    return this.lines.filter((line) => line.startsWith('coil ') && line.includes(' on '));
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }
}

function rtuBarrier(path: string): BarrierConfig {
  return postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'bar-rtu', driver: 'modbus-rtu', connection: { path, baudRate: 19200, unitId: 1 }, pollMs: 50, pulseMs: 100, confirmTimeoutMs: 2000, requestTimeoutMs: REQUEST_TIMEOUT_MS }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  }).lanes[0]!.devices[0] as BarrierConfig;
}

describe('barrier driver over Modbus RTU, against a module that answers late', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(clock: Clock = systemClock): Promise<{ module: LateModule; driver: BarrierDriver }> {
    const dir = tempDir('rtu-late-');
    const pty = await openPtyPair(join(dir, 'module'), join(dir, 'ttyGW'));
    cleanups.push(() => pty.close());
    const module = await LateModule.start(pty.devicePath);
    cleanups.push(() => module.stop());
    const driver = new BarrierDriver(rtuBarrier(pty.gatewayPath), { clock, logger: pino({ level: 'silent' }) });
    cleanups.push(() => driver.stop());
    return { module, driver };
  }

  it('never takes a reply that came after its request timed out for the next request’s, so it does not close on a vehicle', async () => {
    const { module, driver } = await start();
    // Later than the request timeout: each late "lane clear" comes while the next request may
    // already be waiting for its answer. Without the line held after a timeout the driver ran a
    // reply behind, in time, and closed on the vehicle that had come meanwhile.
    await module.set('delay', REQUEST_TIMEOUT_MS + 150);
    await driver.start();
    await vi.waitFor(() => expect(driver.timeouts).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    for (let round = 0; round < 5; round += 1) {
      // A read sampled with the lane clear, then a vehicle, and a close asked for at once.
      await module.set('vehicle', 0);
      const sampled = module.lines.length;
      await vi.waitFor(() => expect(module.lines.slice(sampled)).toContain('read vehicle 0'), { timeout: 10_000 });
      await module.set('vehicle', 1);
      await expect(driver.close()).rejects.toThrow();
    }
    expect(module.coilsOn()).toEqual([]);
  });

  it(`after a reply missed, decides a close only once the line has answered ${RTU_REPLIES_TO_TRUST} requests in a row`, async () => {
    const { module, driver } = await start();
    await driver.start();
    await vi.waitFor(() => expect(driver.lastInputs()).toMatchObject({ position: 'open', vehiclePresent: false }), { timeout: 10_000 });
    // One read answered late; the close is asked for as that read times out.
    const refused = new Promise<unknown>((resolve) => {
      const listener = (health: { lastError?: string | null }): void => {
        if (!health.lastError?.includes('Timed out')) return;
        driver.off('health', listener);
        void module.set('delay', 0);
        driver.close().then(() => resolve('closed'), resolve);
      };
      driver.on('health', listener);
    });
    await module.set('delay', REQUEST_TIMEOUT_MS + 100);
    expect(await refused).toMatchObject({ code: 'GW_ERR_BARRIER_UNSAFE', message: expect.stringContaining('the serial line missed a reply lately') as unknown });
    expect(module.coilsOn()).toEqual([]);
    // Back in step, the inputs are published although unchanged: the lane workflow tries a
    // refused close again on the reading that shows the lane clear (post-workflow.ts).
    const readings: unknown[] = [];
    driver.on('reading', (reading) => readings.push(reading));
    await vi.waitFor(() => expect(readings).toContainEqual(expect.objectContaining({ position: 'open', vehiclePresent: false, photocellBlocked: false })), { timeout: 10_000 });
    // Answers in step again: the close is decided, with the lane clear.
    await vi.waitFor(async () => expect(await driver.close().then(() => 'closed', (error: Error) => error.message)).toBe('closed'), { timeout: 10_000, interval: 100 });
    expect(module.coilsOn()).toEqual(['coil 1 on vehicle 0']);
  });

  it('holds the line on the monotonic clock: the wall clock stepped back an hour during a hold stops nothing', async () => {
    let wallOffsetMs = 0;
    const clock: Clock = { ...systemClock, now: () => systemClock.now() + wallOffsetMs };
    const { module, driver } = await start(clock);
    await module.set('delay', REQUEST_TIMEOUT_MS + 100);
    await driver.start();
    await vi.waitFor(() => expect(driver.timeouts).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    // NTP steps the wall clock back an hour while the line is held; the module answers in time again.
    wallOffsetMs = -3_600_000;
    await module.set('delay', 0);
    const sampled = module.lines.length;
    await vi.waitFor(() => expect(module.lines.slice(sampled).filter((line) => line.startsWith('read ')).length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
  });
});
