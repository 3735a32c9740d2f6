/**
 * An ANPR camera pushing plates over HTTP (multipart: EventNotificationAlert XML + JPEG) to the
 * gateway's HTTP server: answered 200 only once the read is committed (so a full disk answers
 * 503 and the camera retries), 400 with the reason for a malformed push.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { postConfigSchema } from '../config/schema.js';
import { systemClock } from '../core/clock.js';
import { DeviceManager } from '../gateway/devices/device-manager.js';
import { Collector } from './helpers/collector.js';
import { Mosquitto } from './helpers/mosquitto.js';
import { systemRig } from './helpers/rig.js';
import { startTestGateway, tempDir, uplinkConnected } from './helpers/test-config.js';

const BOUNDARY = 'boundary-7';
const ALERT = `<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>10.20.1.21</ipAddress><channelID>1</channelID><dateTime>2026-11-26T08:51:24+04:00</dateTime>
<eventType>ANPR</eventType><eventState>active</eventState><eventDescription>ANPR alarm</eventDescription>
<ANPR><country>Georgia</country><licensePlate>GE-123-AB</licensePlate><line>1</line><direction>forward</direction>
<confidenceLevel>93</confidenceLevel><plateType>unknown</plateType><vehicleType>truck</vehicleType></ANPR>
</EventNotificationAlert>`;
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xd9]);

function multipart(xml: string): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="anpr.xml"; filename="anpr.xml"\r\nContent-Type: text/xml; charset="UTF-8"\r\n\r\n${xml}\r\n`),
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="licensePlatePicture.jpg"; filename="licensePlatePicture.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    JPEG,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

describe('ANPR HTTP push', () => {
  const rig = systemRig<Mosquitto>();

  it('stores the read before answering 200, refuses a malformed push with 400, answers 503 when it cannot store', async () => {
    const broker = (rig.broker = await Mosquitto.start());
    const collector = (rig.collector = await Collector.connect(broker.url));
    const config = postConfigSchema.parse({
      version: 1,
      post: { id: 'test-post' },
      lanes: [{ id: 'exit-1', devices: [{ id: 'exit-cam', driver: 'anpr-http-push', role: 'exit', connection: { path: '/anpr/exit-cam' } }] }],
      uplink: { brokers: [broker.url] },
      http: { port: 0 },
      devicePush: { port: 0 },
    });
    const gateway = (rig.gateway = await startTestGateway(config, undefined, true));
    // The camera's own credentials (HTTP Basic: what a camera's push settings can hold), and a
    // client of another camera, and one allowed only from another address.
    const basic = (name: string, secret: string) => `Basic ${Buffer.from(`${name}:${secret}`).toString('base64')}`;
    const camera = basic('exit-cam', gateway.accounts.addClient('exit-cam', 'device', { deviceId: 'exit-cam' }));
    const otherCamera = basic('entry-cam', gateway.accounts.addClient('entry-cam', 'device', { deviceId: 'entry-cam' }));
    const elsewhere = basic('moved-cam', gateway.accounts.addClient('moved-cam', 'device', { deviceId: 'exit-cam', allowFrom: ['10.20.1.0/24'] }));
    await uplinkConnected(gateway);
    const devices = new DeviceManager(config, gateway, systemClock, pino({ level: 'silent' }), tempDir());
    await devices.start();
    // Pushes go to the device listener, never the operators' port.
    expect(gateway.deviceAddress?.port).not.toBe(gateway.httpAddress?.port);
    const url = `http://127.0.0.1:${gateway.deviceAddress?.port}/anpr/exit-cam`;
    const post = (body: Buffer, authorization = camera) =>
      fetch(url, { method: 'POST', headers: { authorization, 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: new Uint8Array(body) });
    const plates = () => gateway.outbox.readFrom(0, 100_000).filter((row) => row.type === 'anpr.plate').length;
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` }, body: new Uint8Array(multipart(ALERT)) })).status).toBe(401);
    expect((await post(multipart(ALERT), basic('exit-cam', 'not-the-secret'))).status).toBe(401);
    expect((await post(multipart(ALERT), otherCamera)).status).toBe(403);
    expect((await post(multipart(ALERT), elsewhere)).status).toBe(403);
    expect((await fetch(`http://127.0.0.1:${gateway.httpAddress?.port}/anpr/exit-cam`, { method: 'POST', headers: { authorization: camera }, body: 'x' })).status).toBe(404);
    expect(plates()).toBe(0);

    const ok = await post(multipart(ALERT));
    expect(ok.status).toBe(200);
    // Answered only after the commit: the read is already in the outbox or delivered.
    expect(gateway.outbox.lastSeq).toBeGreaterThanOrEqual(2);
    await collector.waitFor((r) => r.some((m) => m.type === 'anpr.plate'), 30_000, 'the pushed plate');
    expect(collector.received.find((m) => m.type === 'anpr.plate')?.event.data).toMatchObject({
      deviceId: 'exit-cam',
      plate: { text: 'GE123AB', raw: 'GE-123-AB', confidence: 0.93, country: 'GE', formatValid: true },
      vehicleType: 'truck',
      imageRef: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) as unknown,
    });

    const bad = await post(multipart(ALERT.replace('<eventType>ANPR</eventType>', '<eventType>VMD</eventType>')));
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe('eventType VMD has no ANPR block');
    expect((await fetch(url.replace('exit-cam', 'nobody'), { method: 'POST', body: 'x' })).status).toBe(401);
    expect((await fetch(url.replace('exit-cam', 'nobody'), { method: 'POST', headers: { authorization: camera }, body: 'x' })).status).toBe(404);

    // A full disk: the broker is away (nothing is deleted), the file is capped, and what room is
    // left is filled with ever smaller events until not even a small one fits.
    await broker.stop();
    const db = gateway.outbox.database;
    db.pragma(`max_page_count = ${Number(db.pragma('page_count', { simple: true }))}`);
    for (const size of [2000, 500, 100, 1]) {
      for (let i = 0; i < 10_000; i += 1) {
        const stored = await gateway.emit('device.status', 'exit-1', { deviceId: 'exit-cam', state: 'up', lastError: 'x'.repeat(size) }).then(
          () => true,
          () => false,
        );
        if (!stored) break;
      }
    }
    const refused = await post(multipart(ALERT.replace('GE-123-AB', 'GE-124-AB')));
    expect(refused.status).toBe(503);
    expect(await refused.text()).toMatch(/^not stored: outbox disk full/);
    db.pragma('max_page_count = 1073741823');
    expect((await post(multipart(ALERT.replace('GE-123-AB', 'GE-124-AB')))).status).toBe(200);
    expect(gateway.outbox.readFrom(0, 100_000).some((row) => row.type === 'anpr.plate' && row.payload.includes('GE124AB'))).toBe(true);
    await devices.stop();
  });
});
