/**
 * The barrier driver against the simulated I/O module over real Modbus TCP, and the simulated
 * module read by mbpoll (a Modbus master nobody here wrote).
 */
import { execFile } from 'node:child_process';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type BarrierConfig } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import { join } from 'node:path';
import { serveBarrierModbus, serveBarrierModbusRtu } from '../../sim/barrier/barrier-modbus-server.js';
import { openPtyPair } from '../../sim/pty-pair.js';
import { SimulatedBarrier } from '../../sim/barrier/simulated-barrier.js';
import { freePort } from '../../test/helpers/free-port.js';
import { tempDir } from '../../test/helpers/test-config.js';
import type { DriverHealth, HealthState } from '../driver.js';
import { BarrierDriver, type BarrierReading } from './barrier-driver.js';

const REGISTERS = { openCoil: 0, closeCoil: 1, openLimitInput: 0, closedLimitInput: 1, loopInput: 2, photocellInput: 3 };
const context = { clock: systemClock, logger: pino({ level: 'silent' }), backoff: { initialMs: 20, maxMs: 100 } };

function barrierConfig(port: number, overrides: Record<string, unknown> = {}): BarrierConfig {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'bar-1', driver: 'modbus-tcp', connection: { host: '127.0.0.1', port, unitId: 1 }, pollMs: 20, pulseMs: 50, confirmTimeoutMs: 1000, requestTimeoutMs: 500, ...overrides }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  });
  return config.lanes[0]!.devices[0] as BarrierConfig;
}

function until<T>(driver: BarrierDriver, event: 'reading' | 'health', match: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const listener = (value: T): void => {
      if (!match(value)) return;
      driver.off(event, listener as unknown as (r: BarrierReading) => void);
      resolve(value);
    };
    driver.on(event, listener as unknown as (r: BarrierReading) => void);
  });
}
const health = (driver: BarrierDriver, state: HealthState): Promise<DriverHealth> =>
  driver.health().state === state ? Promise.resolve(driver.health()) : until<DriverHealth>(driver, 'health', (h) => h.state === state);

describe('barrier driver over Modbus TCP', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig(overrides: Record<string, unknown> = {}) {
    const barrier = new SimulatedBarrier(REGISTERS, systemClock, 100);
    const server = await serveBarrierModbus(barrier, systemClock, await freePort());
    cleanups.push(() => server.close());
    const driver = new BarrierDriver(barrierConfig(server.port, overrides), context);
    cleanups.push(() => driver.stop());
    await driver.start();
    await until<BarrierReading>(driver, 'reading', () => true);
    return { barrier, server, driver };
  }

  it('opens and closes, confirmed by the limit switches, and reports loop changes', async () => {
    const { barrier, driver } = await rig();
    expect(driver.lastInputs()).toEqual({ position: 'closed', vehiclePresent: false, photocellBlocked: false });
    await driver.open();
    expect(barrier.armPosition).toBe('open');
    barrier.vehiclePresent = true;
    await until<BarrierReading>(driver, 'reading', (r) => r.vehiclePresent);
    barrier.vehiclePresent = false;
    await until<BarrierReading>(driver, 'reading', (r) => !r.vehiclePresent);
    await driver.close();
    expect(barrier.armPosition).toBe('closed');
    await driver.close(); // already closed: confirmed at once, no movement
    expect(barrier.movements).toBe(2);
  });

  it('refuses to close on a vehicle or a blocked photocell, and says why', async () => {
    const { barrier, driver } = await rig();
    await driver.open();
    barrier.vehiclePresent = true;
    await expect(driver.close()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_UNSAFE', message: 'bar-1: refusing to close: a vehicle is on the loop' });
    barrier.vehiclePresent = false;
    barrier.photocellBlocked = true;
    await expect(driver.close()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_UNSAFE', message: expect.stringContaining('photocell') as unknown });
    expect(barrier.armPosition).toBe('open');
    expect(barrier.coil(REGISTERS.closeCoil)).toBe(false);
  });

  it('names Modbus exceptions and reports an unconfirmed movement', async () => {
    const { barrier, driver } = await rig({ confirmTimeoutMs: 300 });
    barrier.nextException = 0x02;
    await expect(driver.open()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_MODBUS_EXCEPTION', message: 'bar-1 read inputs 0-3: Modbus exception 0x02 ILLEGAL DATA ADDRESS' });
    expect(driver.health()).toMatchObject({ state: 'degraded', lastError: expect.stringContaining('ILLEGAL DATA ADDRESS') as unknown });
    barrier.jammed = true;
    await expect(driver.open()).rejects.toMatchObject({ code: 'GW_ERR_BARRIER_NOT_CONFIRMED', message: 'bar-1: not open after 300 ms (arm closed)' });
  });

  it('reports slow replies as a timeout, and reconnects after the module drops the connection', async () => {
    const { barrier, server, driver } = await rig({ requestTimeoutMs: 100, confirmTimeoutMs: 2000 });
    barrier.replyDelayMs = 400;
    await expect(driver.open()).rejects.toThrow(/Timed out|no answer/);
    barrier.replyDelayMs = 0;
    server.dropClients();
    await health(driver, 'down');
    await health(driver, 'up');
    await driver.open();
    expect(barrier.armPosition).toBe('open');
  });

  it('never blocks another device: one barrier down, the other still works', async () => {
    const first = await rig();
    const second = await rig();
    await first.server.close();
    await health(first.driver, 'down');
    await second.driver.open();
    expect(second.barrier.armPosition).toBe('open');
  });

  it('serves inputs that mbpoll reads', async () => {
    const barrier = new SimulatedBarrier(REGISTERS, systemClock, 100);
    const server = await serveBarrierModbus(barrier, systemClock, await freePort());
    cleanups.push(() => server.close());
    barrier.vehiclePresent = true;
    const output = await new Promise<string>((resolve, reject) =>
      execFile('mbpoll', ['-m', 'tcp', '-p', String(server.port), '-a', '1', '-t', '1', '-r', '1', '-c', '4', '-1', '127.0.0.1'], (error, stdout) =>
        error ? reject(new Error(`mbpoll failed: ${error.message}\n${stdout}`)) : resolve(stdout),
      ),
    );
    const values = Object.fromEntries([...output.matchAll(/\[(\d+)\]:\s+(\d)/g)].map((m) => [Number(m[1]), Number(m[2])]));
    // mbpoll numbers references from 1: input 0 (open limit) is [1], input 2 (loop) is [3].
    expect(values).toEqual({ 1: 0, 2: 1, 3: 1, 4: 0 });
  });
});

describe('barrier driver over Modbus RTU (a real serial line: socat pty pair)', () => {
  it('opens the arm, confirmed by its limit switch, through the serial line', async () => {
    const dir = tempDir('rtu-');
    const pty = await openPtyPair(join(dir, 'module'), join(dir, 'ttyGW'));
    const barrier = new SimulatedBarrier(REGISTERS, systemClock, 100);
    const slave = await serveBarrierModbusRtu(barrier, systemClock, pty.devicePath, 3);
    const config = postConfigSchema.parse({
      version: 1,
      post: { id: 'p' },
      lanes: [{ id: 'lane-1', devices: [{ id: 'bar-rtu', driver: 'modbus-rtu', connection: { path: pty.gatewayPath, baudRate: 9600, unitId: 3 }, pollMs: 50, pulseMs: 50, confirmTimeoutMs: 2000, requestTimeoutMs: 500 }] }],
      uplink: { brokers: ['mqtt://127.0.0.1:1'] },
    }).lanes[0]!.devices[0] as BarrierConfig;
    const driver = new BarrierDriver(config, context);
    try {
      await driver.start();
      await until<BarrierReading>(driver, 'reading', () => true);
      await driver.open();
      expect(barrier.armPosition).toBe('open');
    } finally {
      await driver.stop();
      await slave.close();
      await pty.close();
    }
  });
});
