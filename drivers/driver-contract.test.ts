/**
 * One contract, run against every driver: it starts without throwing whether or not its device
 * is there, reports health through the states, emits readings from its (simulated) device, and
 * after stop() emits nothing more; stop() twice is harmless.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type DeviceConfig } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { serveBarrierModbus } from '../sim/barrier/barrier-modbus-server.js';
import { SimulatedBarrier } from '../sim/barrier/simulated-barrier.js';
import { SimulatedCamera } from '../sim/anpr/simulated-camera.js';
import { serveIndicatorTcp } from '../sim/weighbridge/indicator-endpoints.js';
import { SimulatedIndicator } from '../sim/weighbridge/simulated-indicator.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { freePort } from '../test/helpers/free-port.js';
import { tempDir } from '../test/helpers/test-config.js';
import { AnprHttpPushDriver } from './anpr/http-push-driver.js';
import { OnvifAnprDriver } from './anpr/onvif-anpr-driver.js';
import { BarrierDriver } from './barrier/barrier-driver.js';
import type { Driver, DriverHealth } from './driver.js';
import { WeighbridgeDriver } from './weighbridge/weighbridge-driver.js';
import { XrayFolderDriver } from './xray/xray-folder-driver.js';
import { XrayHttpDriver } from './xray/xray-http-driver.js';

const context = { clock: systemClock, logger: pino({ level: 'silent' }), backoff: { initialMs: 20, maxMs: 100 } };

function device<T extends DeviceConfig>(raw: Record<string, unknown>): T {
  return postConfigSchema.parse({ version: 1, post: { id: 'p' }, lanes: [{ id: 'l', devices: [raw] }], uplink: { brokers: ['mqtt://127.0.0.1:1'] } }).lanes[0]!.devices[0] as T;
}

interface Subject {
  driver: Driver<unknown>;
  /** Makes the device produce one reading. */
  trigger(): Promise<void> | void;
  close(): Promise<void> | void;
}

type Setup = (withDevice: boolean) => Promise<Subject>;

const SETUPS: Record<string, Setup> = {
  weighbridge: async (withDevice) => {
    const indicator = new SimulatedIndicator({ protocol: 'sma', clock: systemClock, periodMs: 20 });
    const port = await freePort();
    const server = withDevice ? await serveIndicatorTcp(indicator, port) : null;
    if (withDevice) indicator.startContinuous();
    const driver = new WeighbridgeDriver(device({ id: 'wb', driver: 'sma', connection: { host: '127.0.0.1', port }, stableMs: 100 }), context);
    return { driver, trigger: () => indicator.setLoad(20_000), close: async () => { indicator.stop(); await server?.close(); } };
  },
  barrier: async (withDevice) => {
    const barrier = new SimulatedBarrier({ openCoil: 0, closeCoil: 1, openLimitInput: 0, closedLimitInput: 1, loopInput: 2, photocellInput: 3 }, systemClock, 50);
    const port = await freePort();
    const server = withDevice ? await serveBarrierModbus(barrier, systemClock, port) : null;
    const driver = new BarrierDriver(device({ id: 'bar', driver: 'modbus-tcp', connection: { host: '127.0.0.1', port }, pollMs: 20 }), context);
    return { driver, trigger: () => void (barrier.vehiclePresent = !barrier.vehiclePresent), close: async () => server?.close() };
  },
  'onvif camera': async (withDevice) => {
    const camera = new SimulatedCamera({ username: 'admin', password: 'pw', clock: systemClock });
    await camera.listen();
    if (!withDevice) await camera.close();
    const driver = new OnvifAnprDriver(device({ id: 'cam', driver: 'onvif', connection: { url: camera.deviceServiceUrl, username: 'admin', password: 'pw' }, pullTimeoutSec: 1 }), 'pw', context);
    return { driver, trigger: () => camera.showPlate({ plate: 'AB123CD', likelihood: 0.9, country: 'GE' }), close: () => camera.close() };
  },
  'x-ray folder': (withDevice) => {
    const folder = withDevice ? tempDir('xray-') : '/dev/null/xray-drop'; // cannot exist, even for root
    const driver = new XrayFolderDriver(device({ id: 'xr', driver: 'xray-folder', connection: { folder }, rescanMs: 50 }), context);
    return Promise.resolve({ driver, trigger: () => new SimulatedScanner(folder, 'sc').started(`s-${Date.now()}`, 'AB123CD'), close: () => undefined });
  },
  'anpr push': () => {
    const driver = new AnprHttpPushDriver(device({ id: 'push', driver: 'anpr-http-push', connection: { path: '/p' } }), context);
    const xml = '<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>AB123CD</licensePlate><confidenceLevel>90</confidenceLevel></ANPR></EventNotificationAlert>';
    return Promise.resolve({ driver, trigger: () => void driver.handle('text/xml', Buffer.from(xml)), close: () => undefined });
  },
  'x-ray push': () => {
    const driver = new XrayHttpDriver(device({ id: 'xh', driver: 'xray-http', connection: { path: '/x' } }), tempDir(), context);
    const body = JSON.stringify({ scanId: 's1', scannerId: 'sc', status: 'started', time: new Date().toISOString() });
    return Promise.resolve({ driver, trigger: () => void driver.handle('application/json', Buffer.from(body)), close: () => undefined });
  },
};

/** Push drivers have no connection to lose: they are up once started. */
const CONNECTIONLESS = new Set(['anpr push', 'x-ray push']);

const healthIs = (driver: Driver<unknown>, match: (h: DriverHealth) => boolean): Promise<DriverHealth> =>
  match(driver.health()) ? Promise.resolve(driver.health()) : new Promise((resolve) => driver.on('health', (h) => match(h) && resolve(h)));

describe.each(Object.keys(SETUPS))('driver contract: %s', (name) => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('is down before start, up with its device, emits readings, and nothing after stop', async () => {
    const subject = await SETUPS[name]!(true);
    closers.push(() => subject.close(), () => subject.driver.stop());
    expect(subject.driver.health()).toMatchObject({ state: 'down', lastError: 'not started' });
    const copy = subject.driver.health();
    copy.state = 'up';
    expect(subject.driver.health().state).toBe('down');
    await subject.driver.start();
    await healthIs(subject.driver, (h) => h.state === 'up');
    const reading = new Promise((resolve) => subject.driver.on('reading', resolve));
    await subject.trigger();
    await expect(reading).resolves.toBeDefined();
    await subject.driver.stop();
    await subject.driver.stop();
    let after = 0;
    subject.driver.on('reading', () => (after += 1));
    subject.driver.on('health', () => (after += 1));
    await subject.trigger();
    await new Promise((resolve) => setImmediate(resolve));
    expect(after).toBe(0);
  });
});

// Push drivers have no connection to lose, so this half of the contract is for the others.
describe.each(Object.keys(SETUPS).filter((name) => !CONNECTIONLESS.has(name)))('driver contract, device absent: %s', (name) => {
  const closers: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  it('starts without its device, reports it down with the reason, never throws', async () => {
    const subject = await SETUPS[name]!(false);
    closers.push(() => subject.close(), () => subject.driver.stop());
    await expect(subject.driver.start()).resolves.toBeUndefined();
    const down = await healthIs(subject.driver, (h) => h.state === 'down' && h.lastError !== 'not started');
    expect(down.lastError).toBeTruthy();
  });
});
