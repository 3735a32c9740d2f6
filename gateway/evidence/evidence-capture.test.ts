/**
 * Evidence taken on a running post (gateway, post runtime, lane workflow): a camera's pushed
 * picture, named by its digest, is stored as the plate snapshot of the crossing its read made; a
 * completed scan keeps its full image (not sent) and a thumbnail naming it (`of`) with the
 * image's size. The camera is the real push driver; the other readings are handed to the workflow
 * as the device manager would.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AnprPushConfig } from '../../config/schema.js';
import { encodePgm } from '../../drivers/xray/pgm.js';
import { AnprHttpPushDriver } from '../../drivers/anpr/http-push-driver.js';
import { SimulatedScanner } from '../../sim/xray/simulated-scanner.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { DeviceFeedStandIn } from '../../test/helpers/post-harness.js';
import { rulesOnlyConfig, startTestGateway, tempDir } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import { createLogger } from '../logger.js';
import { startPostRuntime, type PostRuntime } from '../post-runtime.js';

interface Stored {
  type: string;
  source: string;
  subject?: string;
  data: Record<string, unknown>;
}

const BOUNDARY = 'capture-boundary';
const ALERT = `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<dateTime>2026-11-27T08:00:00+04:00</dateTime><eventType>ANPR</eventType>
<ANPR><licensePlate>GE-123-AB</licensePlate><confidenceLevel>93</confidenceLevel><vehicleType>truck</vehicleType></ANPR>
</EventNotificationAlert>`;
const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('evidence capture on a post', () => {
  let gateway: Gateway | undefined;
  let runtime: PostRuntime | undefined;
  afterEach(async () => {
    await runtime?.stop();
    await gateway?.stop();
    runtime = undefined;
    gateway = undefined;
  });

  it('stores a pushed picture as its crossing\'s snapshot, and a scan\'s full image and thumbnail', async () => {
    const dir = tempDir('capture-');
    const config = rulesOnlyConfig([{ id: 'lane-1', devices: [{ id: 'cam-1', driver: 'anpr-http-push', role: 'entry', connection: { path: '/anpr/cam-1' } }] }, { id: 'lane-2' }]);
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 8));
    const logger = createLogger('silent');
    const camera = new AnprHttpPushDriver(config.lanes[0]!.devices[0] as AnprPushConfig, { clock, logger });
    // The stand-in feed, with the camera's driver where the console and evidence look pictures up.
    const feed = new DeviceFeedStandIn();
    const devices = { onReadings: feed.onReadings.bind(feed), onHealthChanges: feed.onHealthChanges.bind(feed), health: feed.health, driver: (id: string) => (id === 'cam-1' ? camera : undefined) };
    gateway = await startTestGateway(config, dir);
    const g = gateway;
    runtime = await startPostRuntime({ config, gateway: g, devices, clock, logger });
    const post = runtime;
    const reads: (string | null)[] = [];
    camera.on('reading', (reading) => {
      reads.push(reading.imageRef);
      feed.read('lane-1', 'entry', reading);
      reading.ack.resolve();
    });
    await camera.start();
    const events = async (): Promise<Stored[]> => {
      await post.evidence.idle();
      while (g.outbox.durableSeq < g.outbox.lastSeq) await once(g.outbox, 'committed');
      return g.outbox.readFrom(0, 100_000).map((row) => JSON.parse(row.payload) as Stored);
    };

    // The camera pushes its read with a 50 KiB picture.
    const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(50 * 1024), Buffer.from([0xff, 0xd9])]);
    const push = Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="anpr.xml"; filename="anpr.xml"\r\nContent-Type: text/xml\r\n\r\n${ALERT}\r\n`),
      Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="licensePlatePicture.jpg"; filename="licensePlatePicture.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      jpeg,
      Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
    ]);
    expect(await camera.handle(`multipart/form-data; boundary=${BOUNDARY}`, push)).toEqual({ status: 200, body: 'stored' });
    const arrived = (await events()).find((e) => e.type === 'vehicle.arrived');
    const crossingId = String(arrived?.data.crossingId);
    expect(reads).toEqual([digestOf(jpeg)]);
    const snapshot = (await events()).find((e) => e.type === 'evidence.stored');
    expect(snapshot).toMatchObject({ source: '/border/test-post/lane-1', subject: crossingId, data: { digest: digestOf(jpeg), kind: 'plate-snapshot', contentType: 'image/jpeg', bytes: jpeg.length, crossingId, deviceId: 'cam-1', chunks: 2 } });
    const chunks = (await events()).filter((e) => e.type === 'evidence.chunk' && e.data.digest === digestOf(jpeg));
    expect(Buffer.concat(chunks.map((c) => Buffer.from(String(c.data.data), 'base64'))).equals(jpeg)).toBe(true);

    // Registered, weighed off its declaration: orange, to the scanner; the scan completes.
    post.post.register('lane-1', { plate: 'GE123AB', actor: { id: 'desk', role: 'registration' }, declaration: { direction: 'import', declaredWeightKg: 10_000, documents: [], aeo: false, previousVisits30d: null } });
    feed.read('lane-1', 'lane', { type: 'weight.stable', deviceId: 'scale-1', weightKg: 20_000, axles: null, atMs: clock.now() });
    await events();
    expect(post.post.lane('lane-1').workflow.get(crossingId)?.state).toBe('scanning');
    const scan = join(dir, 'scan-1.pgm');
    writeFileSync(scan, encodePgm(new SimulatedScanner(dir, 'xray-1').image(400, 200)));
    feed.read('lane-2', 'lane', { type: 'scan', deviceId: 'xray-1', status: 'completed', scanId: 'scan-1', scannerId: 'scanner-A', plate: 'GE123AB', container: null, scannerTime: new Date(clock.now()).toISOString(), imageRef: scan, image: null, metadataRef: null, decision: { analyst: 'ana', result: 'clear' }, atMs: clock.now() });
    await events();
    const stored = (await events()).filter((e) => e.type === 'evidence.stored').slice(1);
    const image = readFileSync(scan);
    expect(stored.map((e) => e.data)).toMatchObject([
      { digest: digestOf(image), kind: 'xray-image', contentType: 'image/x-portable-graymap', bytes: image.length, crossingId, deviceId: 'scanner-A', chunks: 0 },
      { kind: 'xray-thumbnail', contentType: 'image/png', crossingId, deviceId: 'scanner-A', imageWidth: 400, imageHeight: 200, of: digestOf(image) },
    ]);
    expect(stored.every((e) => e.source === '/border/test-post/lane-1' && e.subject === crossingId)).toBe(true);
    const thumbnail = stored[1]!.data;
    const thumbnailChunks = (await events()).filter((e) => e.type === 'evidence.chunk' && e.data.digest === thumbnail.digest);
    expect(thumbnailChunks).toHaveLength(Number(thumbnail.chunks));
    const png = Buffer.concat(thumbnailChunks.map((c) => Buffer.from(String(c.data.data), 'base64')));
    expect(digestOf(png)).toBe(thumbnail.digest);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    // No chunk of the full image: kept until the VMC asks.
    expect((await events()).some((e) => e.type === 'evidence.chunk' && e.data.digest === digestOf(image))).toBe(false);
    expect(post.evidence.store.get(digestOf(image))).toMatchObject({ kind: 'xray-image', crossingId });
  });

  it('keeps a clock that steps time from moving on while a scan\'s evidence is being written', async () => {
    const dir = tempDir('capture-settle-');
    const config = rulesOnlyConfig([{ id: 'lane-1' }]);
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 8));
    const feed = new DeviceFeedStandIn();
    gateway = await startTestGateway(config, dir);
    runtime = await startPostRuntime({ config, gateway, devices: feed, clock, logger: createLogger('silent') });
    const post = runtime;
    const crossing = post.post.register('lane-1', { plate: 'GE123AB', actor: { id: 'desk', role: 'registration' }, declaration: { direction: 'import', declaredWeightKg: 10_000, documents: [], aeo: false, previousVisits30d: null } });
    feed.read('lane-1', 'lane', { type: 'weight.stable', deviceId: 'scale-1', weightKg: 20_000, axles: null, atMs: clock.now() });
    await clock.runFor(0);
    expect(post.post.lane('lane-1').workflow.get(crossing.crossingId)?.state).toBe('scanning');
    const scan = join(dir, 'scan-1.pgm');
    writeFileSync(scan, encodePgm(new SimulatedScanner(dir, 'xray-1').image(400, 200)));
    feed.read('lane-1', 'lane', { type: 'scan', deviceId: 'xray-1', status: 'completed', scanId: 'scan-1', scannerId: 'scanner-A', plate: 'GE123AB', container: null, scannerTime: new Date(clock.now()).toISOString(), imageRef: scan, image: null, metadataRef: null, decision: { analyst: 'ana', result: 'clear' }, atMs: clock.now() });
    // A copy, a thumbnail read row by row and two files placed: file system calls in the thread
    // pool, which a few turns of the event loop do not see to the end. The clock waits for them.
    await clock.runFor(0);
    expect(post.evidence.store.index.holdsFor(crossing.crossingId, 'xray-image')).toBe(true);
    expect(post.evidence.store.index.holdsFor(crossing.crossingId, 'xray-thumbnail')).toBe(true);
    // Stopped, the evidence holds the clock no longer.
    expect(clock.settling).toBe(1);
    await post.stop();
    runtime = undefined;
    expect(clock.settling).toBe(0);
    await clock.runFor(1000);
    expect(clock.now()).toBe(Date.UTC(2026, 10, 27, 8) + 1000);
  });
});
