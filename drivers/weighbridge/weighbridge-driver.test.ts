/**
 * The weighbridge driver against the simulated indicator over real transports: a TCP socket (a
 * serial device server) and a socat pty pair (a serial line), plus frames written by printf.
 * Components run on the real clock with short settings; the test only waits for events.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { MockBinding, type MockPortBinding } from '@serialport/binding-mock';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type WeighbridgeConfig } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import { SimulatedIndicator } from '../../sim/weighbridge/simulated-indicator.js';
import { openPtyPair } from '../../sim/pty-pair.js';
import { serveIndicatorPty, serveIndicatorTcp } from '../../sim/weighbridge/indicator-endpoints.js';
import { tempDir } from '../../test/helpers/test-config.js';
import { healthState, nextReading } from '../../test/helpers/driver-events.js';
import type { HealthState } from '../driver.js';
import { TOLEDO_MOTION_CHECKSUM } from './golden-frames.js';
import { encodeToledoFrame } from './toledo-frame.js';
import { WeighbridgeDriver, type WeighbridgeReading } from './weighbridge-driver.js';

function weighbridgeConfig(device: Record<string, unknown>): WeighbridgeConfig {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'wb-1', stableMs: 200, silenceMs: 1000, ...device }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  });
  return config.lanes[0]!.devices[0] as WeighbridgeConfig;
}

const context = { clock: systemClock, logger: pino({ level: 'silent' }), backoff: { initialMs: 20, maxMs: 100 } };

const next = (driver: WeighbridgeDriver, match: (reading: WeighbridgeReading) => boolean) => nextReading(driver, match);
const health = (driver: WeighbridgeDriver, state: HealthState) => healthState(driver, state);

describe('weighbridge driver', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  for (const protocol of ['sma', 'toledo'] as const) {
    it(`reads stable ${protocol} weights over TCP, survives garbage and a dropped connection`, async () => {
      const indicator = new SimulatedIndicator({ protocol, checksum: protocol === 'toledo', clock: systemClock, periodMs: 20 });
      indicator.noiseKg = 5;
      indicator.startContinuous();
      cleanups.push(() => indicator.stop());
      const server = await serveIndicatorTcp(indicator);
      cleanups.push(() => server.close());
      const driver = new WeighbridgeDriver(weighbridgeConfig({ driver: protocol, ...(protocol === 'toledo' ? { checksum: true } : {}), connection: { host: '127.0.0.1', port: server.port } }), context);
      cleanups.push(() => driver.stop());
      await driver.start();
      await health(driver, 'up');

      indicator.setLoad(18_000, true);
      indicator.setLoad(24_560);
      const stable = await next(driver, (r) => r.type === 'weight.stable');
      expect(stable).toMatchObject({ type: 'weight.stable', deviceId: 'wb-1', axles: null });
      expect(Math.abs((stable as { weightKg: number }).weightKg - 24_560)).toBeLessThanOrEqual(5);

      indicator.injectGarbage(Buffer.from('\x00\xff garbage \x02\x02 more'));
      const degraded = await health(driver, 'degraded');
      expect(degraded.lastError).toMatch(/garbage|frame/);
      await health(driver, 'up');
      indicator.setLoad(31_000);
      await next(driver, (r) => r.type === 'weight.stable' && Math.abs(r.weightKg - 31_000) <= 5);
      expect(driver.stats().discardedBytes).toBeGreaterThan(0);

      server.dropClients();
      const down = await health(driver, 'down');
      expect(down.lastError).toBeTruthy();
      await health(driver, 'up');
      indicator.setLoad(0);
      indicator.setLoad(12_000);
      await next(driver, (r) => r.type === 'weight.stable' && Math.abs(r.weightKg - 12_000) <= 5);
    });
  }

  it('polls an SMA indicator with <LF>W<CR>', async () => {
    const indicator = new SimulatedIndicator({ protocol: 'sma', clock: systemClock });
    indicator.setLoad(9_990);
    const server = await serveIndicatorTcp(indicator);
    cleanups.push(() => server.close());
    const driver = new WeighbridgeDriver(weighbridgeConfig({ driver: 'sma', smaMode: 'poll', pollMs: 50, connection: { host: '127.0.0.1', port: server.port } }), context);
    cleanups.push(() => driver.stop());
    await driver.start();
    await expect(next(driver, (r) => r.type === 'weight.stable')).resolves.toMatchObject({ weightKg: 9_990 });
  });

  it('reads a real serial line (socat pty pair) from the simulator', async () => {
    const dir = tempDir('pty-');
    const pty = await openPtyPair(join(dir, 'indicator'), join(dir, 'ttyGW'));
    cleanups.push(() => pty.close());
    const indicator = new SimulatedIndicator({ protocol: 'toledo', clock: systemClock, periodMs: 20 });
    indicator.setLoad(40_100);
    indicator.startContinuous();
    cleanups.push(() => indicator.stop());
    const device = await serveIndicatorPty(indicator, pty.devicePath);
    cleanups.push(() => device.close());
    const driver = new WeighbridgeDriver(weighbridgeConfig({ driver: 'toledo', connection: { path: pty.gatewayPath, baudRate: 9600 } }), context);
    cleanups.push(() => driver.stop());
    await driver.start();
    await expect(next(driver, (r) => r.type === 'weight.stable')).resolves.toMatchObject({ weightKg: 40_100 });
  });

  it('reads frames that printf writes into the pty, as an integrator would test a line', async () => {
    const dir = tempDir('pty-');
    const pty = await openPtyPair(join(dir, 'indicator'), join(dir, 'ttyGW'));
    cleanups.push(() => pty.close());
    const driver = new WeighbridgeDriver(weighbridgeConfig({ driver: 'sma', connection: { path: pty.gatewayPath, baudRate: 9600 } }), context);
    cleanups.push(() => driver.stop());
    await driver.start();
    await health(driver, 'up');
    const stable = next(driver, (r) => r.type === 'weight.stable');
    // A shell loop, not the test, paces the frames: 15 frames 50 ms apart outlast stableMs (200).
    const script = `for i in $(seq 15); do printf '\\n 1G       24560kg \\r'; sleep 0.05; done > ${pty.devicePath}`;
    await new Promise<void>((resolve, reject) => execFile('sh', ['-c', script], (error) => (error ? reject(new Error(error.message)) : resolve())));
    await expect(stable).resolves.toMatchObject({ weightKg: 24_560 });
    expect(driver.stats().badFrames).toBe(0);
  });
});

describe('weighbridge driver on a mocked serial binding (@serialport/binding-mock)', () => {
  it('reads Toledo frames, resynchronising after garbage, without any OS serial port', async () => {
    MockBinding.createPort('/dev/ttyMOCK0', { echo: false, record: true });
    // Wrap the mock so the test holds the opened port and can play the indicator on it.
    let opened: MockPortBinding | undefined;
    const binding: typeof MockBinding = {
      ...MockBinding,
      open: async (options) => (opened = await MockBinding.open(options)),
    };
    const config = weighbridgeConfig({ driver: 'toledo', checksum: true, connection: { path: '/dev/ttyMOCK0', baudRate: 9600 }, stableMs: 0 });
    const driver = new WeighbridgeDriver(config, { ...context, serialBinding: binding });
    try {
      const stable = next(driver, (r) => r.type === 'weight.stable');
      await driver.start();
      await health(driver, 'up');
      opened!.emitData(Buffer.concat([Buffer.from('\x00garbage'), TOLEDO_MOTION_CHECKSUM.subarray(0, 5), encodeToledoFrame({ value: 26_000, motion: false }, true)]));
      await expect(stable).resolves.toMatchObject({ weightKg: 26_000 });
      expect(driver.stats().discardedBytes).toBe(13);
    } finally {
      await driver.stop();
      MockBinding.reset();
    }
  });
});
