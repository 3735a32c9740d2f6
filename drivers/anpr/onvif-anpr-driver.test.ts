/**
 * The ONVIF ANPR driver against the simulated camera over real HTTP/SOAP: authentication,
 * topic discovery, PullPoint plate events, renewal, a subscription the camera dropped, a wrong
 * password, and the snapshot.
 */
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type OnvifCameraConfig } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import { SimulatedCamera, SNAPSHOT_JPEG } from '../../sim/anpr/simulated-camera.js';
import { healthState, nextReading } from '../../test/helpers/driver-events.js';
import type { DriverHealth, HealthState } from '../driver.js';
import { OnvifAnprDriver, type AnprReading } from './onvif-anpr-driver.js';

const context = { clock: systemClock, logger: pino({ level: 'silent' }), backoff: { initialMs: 20, maxMs: 100 } };

function cameraConfig(url: string, overrides: Partial<OnvifCameraConfig> = {}): OnvifCameraConfig {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'cam-1', driver: 'onvif', connection: { url, username: 'admin', password: 'x' }, pullTimeoutSec: 1 }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  });
  return { ...(config.lanes[0]!.devices[0] as OnvifCameraConfig), ...overrides };
}

const health = (driver: OnvifAnprDriver, state: HealthState) => healthState(driver, state);

describe('ONVIF ANPR driver', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig(password = 's3cret', overrides: Partial<OnvifCameraConfig> = {}, snapshotBytes?: number) {
    const camera = new SimulatedCamera({ username: 'admin', password: 's3cret', clock: systemClock, ...(snapshotBytes === undefined ? {} : { snapshotBytes }) });
    await camera.listen();
    cleanups.push(() => camera.close());
    const driver = new OnvifAnprDriver(cameraConfig(camera.deviceServiceUrl, overrides), password, context);
    cleanups.push(() => driver.stop());
    return { camera, driver };
  }

  it('subscribes to the discovered plate topic and reports normalised plate reads', async () => {
    const { camera, driver } = await rig();
    const subscribed = new Promise((resolve) => camera.once('subscribed', resolve));
    await driver.start();
    await subscribed;
    await health(driver, 'up');
    expect(driver.deviceInformation()).toMatchObject({ manufacturer: 'border-gateway sim', serialNumber: 'SIM0001' });

    const read = nextReading<AnprReading>(driver);
    camera.showPlate({ plate: 'ge-123-ab', likelihood: 0.93, country: 'GE', vehicleType: 'Truck' });
    expect(await read).toMatchObject({
      type: 'plate.read',
      deviceId: 'cam-1',
      plate: { text: 'GE123AB', raw: 'ge-123-ab', confidence: 0.93, country: 'GE' },
      vehicleType: 'Truck',
      plateType: 'Normal',
      // The notification's ImageRef (/snapshot.jpg) is fetched and kept; the read names it by digest.
      imageRef: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as unknown,
      image: { bytes: SNAPSHOT_JPEG.length, contentType: 'image/jpeg' },
    });

    const { imageRef } = await read;
    expect(driver.image(imageRef as string)?.body).toEqual(SNAPSHOT_JPEG);

    const unreadable = nextReading<AnprReading>(driver);
    camera.showPlate({ plate: 'G?1?3', likelihood: 0.2, country: 'GE' });
    expect(await unreadable).toMatchObject({ type: 'plate.read', plate: null });
    expect(driver.snapshotUrl).toBe(`${camera.baseUrl}/snapshot.jpg`);
    expect(await driver.fetchSnapshot()).toEqual(SNAPSHOT_JPEG);
  });

  it('holds every picture of a pull while its read is heard, however many the pull brought', async () => {
    // 300 KB pictures, as a real camera's: the store keeps a few, a pull brings up to ten.
    const { camera, driver } = await rig('s3cret', {}, 300 * 1024);
    const subscribed = new Promise((resolve) => camera.once('subscribed', resolve));
    await driver.start();
    await subscribed;
    await health(driver, 'up');
    let burst = 0;
    let largestBurst = 0;
    const heard: boolean[] = [];
    const all = new Promise<void>((resolve) =>
      driver.on('reading', (reading) => {
        // What the evidence capture does, at the same moment: look the picture up.
        heard.push(reading.type === 'plate.read' && reading.imageRef !== null && driver.image(reading.imageRef) !== null);
        // Reads emitted in one run of the loop came from one pull.
        if (burst === 0) setImmediate(() => (burst = 0));
        burst += 1;
        largestBurst = Math.max(largestBurst, burst);
        if (heard.length === 8) resolve();
      }),
    );
    for (let i = 0; i < 8; i += 1) camera.showPlate({ plate: `GE${100 + i}AB`, likelihood: 0.9, country: 'GE' });
    await all;
    expect(largestBurst).toBeGreaterThan(4);
    expect(heard).toEqual(Array.from({ length: 8 }, () => true));
  });

  it('renews the subscription before it terminates', async () => {
    // A 3 s subscription with 1 s polls is renewed before a poll could outlast it.
    const { camera, driver } = await rig('s3cret', { subscriptionSec: 3, pullTimeoutSec: 1, requestTimeoutMs: 500 });
    const renewed = new Promise((resolve) => camera.once('renewed', resolve));
    await driver.start();
    await renewed;
    expect(driver.subscriptions).toBe(1);
    expect(camera.liveSubscriptions).toBe(1);
  });

  it('recreates a subscription the camera dropped, and keeps reading plates', async () => {
    const { camera, driver } = await rig();
    await driver.start();
    await health(driver, 'up');
    const resubscribed = new Promise((resolve) => camera.once('subscribed', resolve));
    camera.expireSubscriptions();
    const down = await health(driver, 'down');
    expect(down.lastError).toMatch(/ResourceUnknown|does not exist/);
    await resubscribed;
    await health(driver, 'up');
    expect(driver.subscriptions).toBe(2);
    const read = nextReading<AnprReading>(driver);
    camera.showPlate({ plate: 'AB123CD', likelihood: 0.99, country: 'GE' });
    expect((await read).plate?.text).toBe('AB123CD');
  });

  it('reports a wrong password as the camera said it, and keeps retrying', async () => {
    const { camera, driver } = await rig('wrong');
    const refused = new Promise<DriverHealth>((resolve) => driver.on('health', (h) => h.state === 'down' && h.lastError !== 'not started' && resolve(h)));
    await driver.start();
    const down = await refused;
    expect(down.state).toBe('down');
    expect(down.lastError).toMatch(/Sender not authorized/);
    // The retry comes after the backoff, and is refused again.
    await new Promise((resolve) => camera.on('request', (count) => count >= 2 && resolve(count)));
    expect(camera.liveSubscriptions).toBe(0);
    expect(driver.health().state).toBe('down');
  });
});
