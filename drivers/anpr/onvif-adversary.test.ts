/**
 * The ONVIF driver against a hostile camera: a plain node:http server written here (not the
 * simulator, so these tests stand on their own) that answers one operation with (a) a 100 MB
 * reply without Content-Length, (b) a Content-Length of 100 MB, (c) a reply trickling a byte
 * every ~100 ms forever, (d) addresses on another host, (e) an entity-expansion bomb. Each time
 * the driver stays alive, reports the fault as health with its code, and retries after its
 * backoff. Time is a ManualClock: deadlines and backoff move only when the test says so.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type OnvifCameraConfig } from '../../config/schema.js';
import { nextReading } from '../../test/helpers/driver-events.js';
import { CameraServer } from '../../test/helpers/camera-server.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { DriverHealth } from '../driver.js';
import { MIN_PULL_INTERVAL_MS, OnvifAnprDriver, type AnprReading } from './onvif-anpr-driver.js';

const MB = 1024 * 1024;
const BACKOFF = { initialMs: 100, maxMs: 100 };
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xd9]);

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" ' +
  'xmlns:tns1="http://www.onvif.org/ver10/topics"><env:Body>';
const ENVELOPE_CLOSE = '</env:Body></env:Envelope>';
const soap = (body: string): string => ENVELOPE_OPEN + body + ENVELOPE_CLOSE;

const TOPIC_SET =
  '<tev:GetEventPropertiesResponse><wstop:TopicSet><tns1:RuleEngine><LicensePlateRecognition><Plate wstop:topic="true"><tt:MessageDescription IsProperty="false">' +
  '<tt:Data><tt:ElementItemDescription Name="LicensePlateInfo" Type="tt:LicensePlateInfo"/></tt:Data></tt:MessageDescription></Plate></LicensePlateRecognition></tns1:RuleEngine></wstop:TopicSet></tev:GetEventPropertiesResponse>';

const PLATE_MESSAGES =
  '<tev:PullMessagesResponse><tev:CurrentTime>2026-11-26T06:00:00Z</tev:CurrentTime><tev:TerminationTime>2026-11-26T06:01:00Z</tev:TerminationTime>' +
  '<wsnt:NotificationMessage><wsnt:Topic>tns1:RuleEngine/LicensePlateRecognition/Plate</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2026-11-26T06:00:00Z"><tt:Data>' +
  '<tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo><tt:PlateNumber Likelihood="0.9">GE-123-AB</tt:PlateNumber><tt:CountryCode Likelihood="0.9">GE</tt:CountryCode></tt:LicensePlateInfo></tt:ElementItem>' +
  '</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage></tev:PullMessagesResponse>';

/** The classic "billion laughs": ten levels of ten references, 10^9 "lol"s once expanded. */
const ENTITY_BOMB =
  '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">' +
  Array.from({ length: 9 }, (_, level) => `<!ENTITY lol${level + 1} "${`&lol${level === 0 ? '' : level};`.repeat(10)}">`).join('') +
  ']>' +
  soap('<tev:PullMessagesResponse><wsnt:NotificationMessage><wsnt:Topic>&lol9;</wsnt:Topic></wsnt:NotificationMessage></tev:PullMessagesResponse>');

type Handler = (response: ServerResponse, request: RecordedRequest) => void;

interface RecordedRequest {
  operation: string;
  url: string;
  /** Whether it carried credentials: a WS-UsernameToken or an Authorization header. */
  credentials: boolean;
}

/** A camera written for these tests: correct ONVIF answers unless `handlers` says otherwise. */
class HostileCamera extends CameraServer<RecordedRequest> {
  readonly handlers = new Map<string, Handler>();
  /** Where CreatePullPointSubscription says the pull point is (default: this camera). */
  pullPointBase: string | null = null;
  eventsXAddr: string | null = null;
  snapshotUri: string | null = null;

  protected record(request: IncomingMessage, text: string, operation: string): RecordedRequest {
    return { operation, url: request.url ?? '', credentials: text.includes('UsernameToken') || request.headers.authorization !== undefined };
  }

  protected answer(response: ServerResponse, recorded: RecordedRequest): void {
    const { operation } = recorded;
    const handler = this.handlers.get(operation);
    if (handler) return handler(response, recorded);
    const reply = (body: string): void => void response.writeHead(200, { 'content-type': 'application/soap+xml' }).end(soap(body));
    switch (operation) {
      case 'GetDeviceInformation':
        return reply('<tds:GetDeviceInformationResponse><tds:Manufacturer>Hostile</tds:Manufacturer><tds:Model>H-1</tds:Model><tds:FirmwareVersion>6.6.6</tds:FirmwareVersion><tds:SerialNumber>X</tds:SerialNumber></tds:GetDeviceInformationResponse>');
      case 'GetCapabilities':
        return reply(
          `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>${this.eventsXAddr ?? `${this.base}/onvif/events`}</tt:XAddr></tt:Events>` +
            `<tt:Media><tt:XAddr>${this.base}/onvif/media</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`,
        );
      case 'GetProfiles':
        return reply('<trt:GetProfilesResponse><trt:Profiles token="p1"><tt:Name>main</tt:Name></trt:Profiles></trt:GetProfilesResponse>');
      case 'GetSnapshotUri':
        return reply(`<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${this.snapshotUri ?? `${this.base}/snapshot.jpg`}</tt:Uri></trt:MediaUri></trt:GetSnapshotUriResponse>`);
      case 'GET /snapshot.jpg':
        return void response.writeHead(200, { 'content-type': 'image/jpeg' }).end(JPEG);
      case 'GetEventProperties':
        return reply(TOPIC_SET);
      case 'CreatePullPointSubscription':
        return reply(
          `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${this.pullPointBase ?? this.base}/onvif/pullpoint/1</wsa:Address></tev:SubscriptionReference>` +
            '<wsnt:CurrentTime>2026-11-26T06:00:00Z</wsnt:CurrentTime><wsnt:TerminationTime>2026-11-26T06:01:00Z</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>',
        );
      case 'PullMessages':
        return; // a long poll with nothing to say: held open until the test ends
      default:
        return reply('<wsnt:UnsubscribeResponse/>');
    }
  }
}

/** Streams `total` bytes of XML-looking filler, honouring backpressure, until done or the peer hangs up. */
function stream(response: ServerResponse, total: number, sent: { bytes: number; closed: boolean }): void {
  const chunk = Buffer.alloc(64 * 1024, '<a>lol</a>');
  response.on('close', () => (sent.closed = true));
  const pump = (): void => {
    while (sent.bytes < total && !sent.closed) {
      sent.bytes += chunk.length;
      if (!response.write(chunk)) return void response.once('drain', pump);
    }
    if (!sent.closed) response.end();
  };
  pump();
}

function cameraConfig(url: string, overrides: Record<string, unknown> = {}): OnvifCameraConfig {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'cam-1', driver: 'onvif', connection: { url, username: 'admin', password: 'x' }, pullTimeoutSec: 1, requestTimeoutMs: 1000, ...overrides }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  });
  return config.lanes[0]!.devices[0] as OnvifCameraConfig;
}

function healthWhere(driver: OnvifAnprDriver, match: (health: DriverHealth) => boolean): Promise<DriverHealth> {
  if (match(driver.health())) return Promise.resolve(driver.health());
  return new Promise((resolve) => {
    const listener = (health: DriverHealth): void => {
      if (!match(health)) return;
      driver.off('health', listener);
      resolve(health);
    };
    driver.on('health', listener);
  });
}

describe('ONVIF driver against a hostile camera', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig(overrides: Record<string, unknown> = {}) {
    const camera = await new HostileCamera().listen();
    cleanups.push(() => camera.close());
    const clock = new ManualClock();
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (line: Buffer, _encoding, done) => (logs.push(JSON.parse(line.toString()) as Record<string, unknown>), done()) });
    const driver = new OnvifAnprDriver(cameraConfig(`${camera.base}/onvif/device_service`, overrides), 'x', { clock, logger: pino({ level: 'warn' }, sink), backoff: BACKOFF, random: () => 1 });
    cleanups.push(() => driver.stop());
    return { camera, clock, driver, logs };
  }

  /** After the backoff the driver asks again: proof it is alive and retrying. */
  async function retries(camera: HostileCamera, clock: ManualClock, operation = 'GetDeviceInformation'): Promise<void> {
    const again = camera.nextRequest((request) => request.operation === operation);
    clock.advance(BACKOFF.maxMs);
    await again;
  }

  it('(a) cuts off a 100 MB reply without Content-Length at maxReplyBytes, reports it and retries', async () => {
    const { camera, clock, driver } = await rig();
    const sent = { bytes: 0, closed: false };
    camera.handlers.set('GetDeviceInformation', (response) => {
      response.writeHead(200, { 'content-type': 'application/soap+xml' }); // chunked: no Content-Length
      stream(response, 100 * MB, sent);
    });
    await driver.start();
    const down = await healthWhere(driver, (h) => h.state === 'down' && /TOO_LARGE/.test(h.lastError ?? ''));
    expect(down.lastError).toBe('GW_ERR_DEVICE_REPLY_TOO_LARGE: cam-1 GetDeviceInformation: the reply passed the limit of 262144 bytes and was cut off');
    await retries(camera, clock);
    // The gateway hung up long before the end: what was written is what the kernel buffered, not 100 MB.
    expect(sent.closed).toBe(true);
    expect(sent.bytes).toBeLessThan(50 * MB);
  });

  it('(b) refuses a Content-Length of 100 MB before reading the body', async () => {
    const { camera, clock, driver } = await rig();
    const sent = { bytes: 0, closed: false };
    camera.handlers.set('GetEventProperties', (response) => {
      response.writeHead(200, { 'content-type': 'application/soap+xml', 'content-length': String(100 * MB) });
      stream(response, 100 * MB, sent);
    });
    await driver.start();
    const down = await healthWhere(driver, (h) => h.state === 'down' && /TOO_LARGE/.test(h.lastError ?? ''));
    expect(down.lastError).toBe('GW_ERR_DEVICE_REPLY_TOO_LARGE: cam-1 GetEventProperties: the reply announces 104857600 bytes (Content-Length), over the limit of 262144');
    await retries(camera, clock);
    expect(sent.closed).toBe(true);
    expect(sent.bytes).toBeLessThan(50 * MB);
  });

  it('(c) cuts off a reply trickling a byte every 100 ms at requestTimeoutMs for the whole reply, not per byte', async () => {
    const { camera, clock, driver } = await rig({ requestTimeoutMs: 1000 });
    let trickled = 0;
    let closed = false;
    const byteSent: (() => void)[] = [];
    camera.handlers.set('GetCapabilities', (response) => {
      response.writeHead(200, { 'content-type': 'application/soap+xml' });
      const timer = setInterval(() => {
        response.write('<');
        trickled += 1;
        byteSent.splice(0).forEach((resolve) => resolve());
      }, 100);
      response.on('close', () => {
        closed = true;
        clearInterval(timer);
      });
    });
    const nextByte = () => new Promise<void>((resolve) => byteSent.push(resolve));
    await driver.start();
    // 300 ms of the deadline pass between bytes: an idle timeout would never fire.
    for (let step = 0; step < 3; step += 1) {
      await nextByte();
      clock.advance(300);
    }
    await nextByte();
    expect(closed).toBe(false);
    expect(driver.health().lastError).toBe('not started');
    clock.advance(100);
    const down = await healthWhere(driver, (h) => h.state === 'down' && /TIMEOUT/.test(h.lastError ?? ''));
    expect(down.lastError).toBe('GW_ERR_DEVICE_REPLY_TIMEOUT: cam-1 GetCapabilities: the reply was not complete within 1000 ms');
    await retries(camera, clock);
    expect(closed).toBe(true);
    expect(trickled).toBeGreaterThanOrEqual(4);
  });

  it('(c) gives PullMessages its long-poll time on top of requestTimeoutMs, then cuts it off', async () => {
    const { camera, clock, driver } = await rig({ requestTimeoutMs: 1000, pullTimeoutSec: 1 });
    const pulling = camera.nextRequest((r) => r.operation === 'PullMessages');
    await driver.start();
    await pulling;
    await healthWhere(driver, (h) => h.state === 'up');
    clock.advance(1999);
    expect(driver.health().state).toBe('up');
    clock.advance(1);
    const down = await healthWhere(driver, (h) => h.state === 'down');
    expect(down.lastError).toBe('GW_ERR_DEVICE_REPLY_TIMEOUT: cam-1 PullMessages: the reply was not complete within 2000 ms');
    await retries(camera, clock);
  });

  it('takes a reply cut short of its Content-Length for no reply', async () => {
    const { camera, clock, driver } = await rig();
    camera.handlers.set('GetCapabilities', (response) => {
      response.writeHead(200, { 'content-type': 'application/soap+xml', 'content-length': '1000' });
      response.write(soap('<tds:GetCapabilitiesResponse/>').slice(0, 500), () => response.destroy());
    });
    await driver.start();
    const down = await healthWhere(driver, (h) => h.state === 'down' && h.lastError !== 'not started');
    expect(down.lastError).toMatch(/^cam-1 GetCapabilities: the reply was cut short/);
    await retries(camera, clock);
  });

  it('(d) never follows a pull point on another host: no request, no credentials there', async () => {
    const { camera, clock, driver } = await rig();
    const elsewhere = await new HostileCamera('127.0.0.2').listen();
    cleanups.push(() => elsewhere.close());
    camera.pullPointBase = elsewhere.base;
    await driver.start();
    const down = await healthWhere(driver, (h) => h.state === 'down' && /FOREIGN/.test(h.lastError ?? ''));
    expect(down.lastError).toBe(
      `GW_ERR_DEVICE_FOREIGN_ADDRESS: refused the camera's pull point (CreatePullPointSubscription SubscriptionReference/Address) ${elsewhere.base}/onvif/pullpoint/1: it is not on the camera's host (127.0.0.1)`,
    );
    await retries(camera, clock);
    expect(elsewhere.connections).toBe(0);
    expect(elsewhere.requests).toEqual([]);
  });

  it('(d) never follows an event service on another host, nor a host that only looks alike', async () => {
    const { camera, clock, driver } = await rig();
    const elsewhere = await new HostileCamera('127.0.0.2').listen();
    cleanups.push(() => elsewhere.close());
    camera.eventsXAddr = `http://127.0.0.1.${'evil'}.example:${elsewhere.port}/onvif/events`;
    await driver.start();
    expect((await healthWhere(driver, (h) => /FOREIGN/.test(h.lastError ?? ''))).lastError).toContain('event service (GetCapabilities Events/XAddr) http://127.0.0.1.evil.example');
    camera.eventsXAddr = `${elsewhere.base}/onvif/events`;
    await retries(camera, clock);
    await healthWhere(driver, (h) => (h.lastError ?? '').includes(`${elsewhere.base}/onvif/events`));
    camera.eventsXAddr = `ftp://127.0.0.1:${camera.port}/onvif/events`;
    await retries(camera, clock);
    expect((await healthWhere(driver, (h) => (h.lastError ?? '').includes('ftp:'))).lastError).toContain('its scheme ftp: is not http or https');
    expect(elsewhere.connections).toBe(0);
  });

  it('(d) follows a host listed in trustedHosts, with credentials', async () => {
    const { camera, driver } = await rig({ trustedHosts: ['127.0.0.2'] });
    const natInside = await new HostileCamera('127.0.0.2').listen();
    cleanups.push(() => natInside.close());
    camera.pullPointBase = natInside.base;
    const pulled = natInside.nextRequest((r) => r.operation === 'PullMessages');
    await driver.start();
    expect((await pulled).credentials).toBe(true);
    await healthWhere(driver, (h) => h.state === 'up');
  });

  it('(d) with rewriteForeignAddresses, moves a foreign pull point onto the device URL and logs it', async () => {
    const { camera, driver, logs } = await rig({ rewriteForeignAddresses: true });
    const elsewhere = await new HostileCamera('127.0.0.2').listen();
    cleanups.push(() => elsewhere.close());
    camera.pullPointBase = `http://192.0.2.7:8000`;
    const pulled = camera.nextRequest((r) => r.operation === 'PullMessages');
    let served = false;
    camera.handlers.set('PullMessages', (response) => {
      if (served) return; // then a quiet long poll
      served = true;
      response.writeHead(200).end(soap(PLATE_MESSAGES));
    });
    const read = nextReading<AnprReading>(driver);
    await driver.start();
    expect((await pulled).url).toBe('/onvif/pullpoint/1');
    expect((await read).plate?.text).toBe('GE123AB');
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'camera address moved onto the configured device URL (rewriteForeignAddresses)', from: 'http://192.0.2.7:8000/onvif/pullpoint/1', to: `${camera.base}/onvif/pullpoint/1` }));
    expect(elsewhere.connections).toBe(0);
  });

  it('(d) refuses a snapshot URI on another host: plates flow, health degraded, no snapshot request there', async () => {
    const { camera, driver } = await rig();
    const elsewhere = await new HostileCamera('127.0.0.2').listen();
    cleanups.push(() => elsewhere.close());
    camera.snapshotUri = `${elsewhere.base}/snapshot.jpg`;
    await driver.start();
    const degraded = await healthWhere(driver, (h) => h.state === 'degraded');
    expect(degraded.lastError).toContain(`no snapshot: GW_ERR_DEVICE_FOREIGN_ADDRESS: refused the camera's snapshot URI (GetSnapshotUri MediaUri/Uri) ${elsewhere.base}/snapshot.jpg`);
    await expect(driver.fetchSnapshot()).rejects.toThrow(/no snapshot URI \(no snapshot: GW_ERR_DEVICE_FOREIGN_ADDRESS/);
    expect(elsewhere.connections).toBe(0);
  });

  it('caps a snapshot at maxSnapshotBytes and marks the camera degraded', async () => {
    const { camera, driver } = await rig({ maxSnapshotBytes: 64 * 1024 });
    const sent = { bytes: 0, closed: false };
    const pulling = camera.nextRequest((r) => r.operation === 'PullMessages');
    await driver.start();
    await pulling;
    await healthWhere(driver, (h) => h.state === 'up');
    expect(await driver.fetchSnapshot()).toEqual(JPEG);
    camera.handlers.set('GET /snapshot.jpg', (response) => {
      response.writeHead(200, { 'content-type': 'image/jpeg' });
      stream(response, 100 * MB, sent);
    });
    await expect(driver.fetchSnapshot()).rejects.toThrow('cam-1 snapshot: the reply passed the limit of 65536 bytes and was cut off');
    expect(driver.health()).toMatchObject({ state: 'degraded', lastError: expect.stringMatching(/^GW_ERR_DEVICE_REPLY_TOO_LARGE/) as unknown });
  });

  it('paces a camera whose long poll answers at once: one pull per MIN_PULL_INTERVAL_MS, not a spin', async () => {
    const { camera, clock, driver } = await rig();
    const empty = soap(PLATE_MESSAGES.replace(/<wsnt:NotificationMessage>.*<\/wsnt:NotificationMessage>/, ''));
    camera.handlers.set('PullMessages', (response) => void response.writeHead(200, { 'content-type': 'application/soap+xml' }).end(empty));
    await driver.start();
    await camera.nextRequest((request) => request.operation === 'PullMessages');
    const pulls = () => camera.requests.filter((request) => request.operation === 'PullMessages').length;
    // Each answer comes at once; without a pause the next pull would follow on the same tick.
    for (let step = 1; step <= 10; step += 1) {
      const next = camera.nextRequest((request) => request.operation === 'PullMessages');
      clock.advance(MIN_PULL_INTERVAL_MS);
      await next;
      expect(pulls()).toBe(step + 1);
    }
    // The clock stands still: however many turns the event loop takes, no further pull is sent
    // (unpaced, a local round trip takes a few dozen turns, so hundreds would follow).
    for (let turn = 0; turn < 5000; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    expect(pulls()).toBe(11);
  });

  it('(e) refuses an entity-expansion bomb unexpanded, and resubscribes', async () => {
    const { camera, clock, driver } = await rig();
    camera.handlers.set('PullMessages', (response) => void response.writeHead(200, { 'content-type': 'application/soap+xml' }).end(ENTITY_BOMB));
    await driver.start();
    const down = await healthWhere(driver, (h) => h.state === 'down' && h.lastError !== 'not started');
    expect(down.lastError).toBe('GW_ERR_DEVICE_REPLY_INVALID: PullMessages: the XML has a document type declaration; none is accepted from a device (SOAP 1.2 Part 1, 5)');
    await retries(camera, clock);
  });

  it('(e) refuses nesting too deep and markup too dense to parse quickly', async () => {
    const { camera, clock, driver } = await rig();
    camera.handlers.set('GetEventProperties', (response) => void response.writeHead(200).end(soap(`${'<a>'.repeat(100)}${'</a>'.repeat(100)}`)));
    await driver.start();
    expect((await healthWhere(driver, (h) => h.state === 'down' && h.lastError !== 'not started')).lastError).toMatch(/^GW_ERR_DEVICE_REPLY_INVALID: GetEventProperties: unparsable XML: .*nested/i);
    camera.handlers.set('GetEventProperties', (response) => void response.writeHead(200).end(soap('<a/>'.repeat(7000))));
    await retries(camera, clock);
    expect((await healthWhere(driver, (h) => /TOO_LARGE/.test(h.lastError ?? ''))).lastError).toBe(
      'GW_ERR_DEVICE_REPLY_TOO_LARGE: GetEventProperties: the XML has more than 6000 tags, attributes and entity references',
    );
  });
});
