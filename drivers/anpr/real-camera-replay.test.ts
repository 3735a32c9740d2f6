/**
 * The ONVIF driver against a camera that answers with replies captured from real devices
 * (fixtures/, sources in fixtures/SOURCES.md), over a real socket: a plain node:http server
 * written here, not the simulator. Its clock is an hour ahead of ours and it checks every
 * WS-UsernameToken as cameras do (the digest, and `Created` within 5 s of its own clock), so a
 * driver that signs with its own time is refused. It applies the subscription's topic filter as
 * a camera does, resolving prefixes to namespaces: `Vehicle` without Hikvision's namespace
 * matches nothing. Replies no capture exists for are constructed and named so (SOURCES.md).
 * Time is a ManualClock started where the captured GetSystemDateAndTime says the camera was.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema, type OnvifCameraConfig } from '../../config/schema.js';
import { CameraServer } from '../../test/helpers/camera-server.js';
import { nextReading } from '../../test/helpers/driver-events.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { DriverHealth } from '../driver.js';
import { MIN_PULL_INTERVAL_MS, OnvifAnprDriver, type AnprReading } from './onvif-anpr-driver.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const HOUR = 3_600_000;
/** What the captured GetSystemDateAndTime (an Axis camera) says its UTC time was. */
const CAPTURED_CAMERA_TIME = Date.UTC(2024, 6, 9, 19, 49, 6);
/** Hikvision's ONVIF event topic namespace (as the captured replies declare `tnshik`). */
const HIKVISION_TOPICS = 'http://www.hikvision.com/2011/event/topics';
const ONVIF_TOPICS = 'http://www.onvif.org/ver10/topics';
/** The picture the captured notification names (PictureUri), on the camera's LAN address. */
const CAPTURED_PICTURE_PATH = '/doc/ui/images/plate/202212301618275900.jpg';
/** A minimal JFIF: the captures carry the picture's address, not its bytes. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xd9]);
const PASSWORD = 'Hik12345';
const BACKOFF = { initialMs: 100, maxMs: 100 };

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" ' +
  'xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:ter="http://www.onvif.org/ver10/error" ' +
  `xmlns:tns1="${ONVIF_TOPICS}" xmlns:tnshik="${HIKVISION_TOPICS}"><env:Body>`;
const constructed = (body: string): string => `${ENVELOPE_OPEN}${body}</env:Body></env:Envelope>`;

/**
 * Constructed (no capture lists it, SOURCES.md): the Hikvision ANPR topic as GetEventProperties
 * would describe it, with the items the captured notification carries.
 */
const HIKVISION_ANPR_TOPIC_SET = constructed(
  '<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation><wsnt:FixedTopicSet>true</wsnt:FixedTopicSet>' +
    '<wstop:TopicSet><tns1:RuleEngine wstop:topic="false"><VehicleDetector wstop:topic="false"><tnshik:Vehicle wstop:topic="true"><tt:MessageDescription IsProperty="false">' +
    '<tt:Source><tt:SimpleItemDescription Name="VideoSourceConfigurationToken" Type="tt:ReferenceToken"/><tt:SimpleItemDescription Name="VideoAnalyticsConfigurationToken" Type="tt:ReferenceToken"/><tt:SimpleItemDescription Name="Rule" Type="xs:string"/></tt:Source>' +
    '<tt:Data><tt:SimpleItemDescription Name="PlateNumber" Type="xs:string"/><tt:SimpleItemDescription Name="Likelihood" Type="xs:int"/><tt:SimpleItemDescription Name="Nation" Type="xs:string"/>' +
    '<tt:SimpleItemDescription Name="Country" Type="xs:string"/><tt:SimpleItemDescription Name="VehicleLaneNumber" Type="xs:int"/><tt:SimpleItemDescription Name="VehicleDirection" Type="xs:string"/><tt:SimpleItemDescription Name="PictureUri" Type="xs:anyURI"/></tt:Data>' +
    '</tt:MessageDescription></tnshik:Vehicle></VehicleDetector></tns1:RuleEngine>' +
    '<tns1:VideoSource wstop:topic="false"><MotionAlarm wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Source><tt:SimpleItemDescription Name="Source" Type="tt:ReferenceToken"/></tt:Source><tt:Data><tt:SimpleItemDescription Name="State" Type="xs:boolean"/></tt:Data></tt:MessageDescription></MotionAlarm></tns1:VideoSource>' +
    '</wstop:TopicSet></tev:GetEventPropertiesResponse>',
);

/**
 * Constructed from the ONVIF Core Specification's generic faults (5.11.2.2): what a camera sends
 * for a token it refuses (a wrong password, or a `Created` outside its window). Hikvision answers
 * it with HTTP 401.
 */
const NOT_AUTHORIZED =
  '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body><env:Fault>' +
  '<env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>' +
  '<env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>';

interface RecordedRequest {
  operation: string;
  url: string;
  /** The token's Created minus the camera's clock, in ms; null for an unsigned request. */
  createdSkewMs: number | null;
  refused: boolean;
}

/** A camera whose replies are the captured ones wherever a capture exists. */
class CapturedCamera extends CameraServer<RecordedRequest> {
  /** PullMessages replies still to give, in order; then the long poll is held open. */
  readonly pullReplies: string[] = [];
  /** GetSystemDateAndTime requests to answer 503 first (a camera busy at boot). */
  clockReadsToRefuse = 0;
  /** The topic filter of the last subscription, prefixes resolved: `{namespace}name` per step. */
  filter: string[] | null = null;
  filterXml: string | null = null;
  /** Answer CreatePullPointSubscription with a pull point on this server instead of the captured one. */
  pullPointHere = false;

  constructor(
    private readonly clock: ManualClock,
    private readonly aheadMs: number,
  ) {
    super();
  }

  get cameraNow(): number {
    return this.clock.now() + this.aheadMs;
  }

  count(operation: string): number {
    return this.requests.filter((request) => request.operation === operation).length;
  }

  /** The token check cameras make: the digest of nonce + created + password, and Created near the camera's clock. */
  private verify(text: string): { signed: boolean; ok: boolean; skew: number | null } {
    const field = (name: string) => new RegExp(`<${name}[^>]*>([^<]*)</${name}>`).exec(text)?.[1];
    const [user, digest, nonce, created] = [field('Username'), field('Password'), field('Nonce'), field('Created')];
    if (user === undefined || digest === undefined || nonce === undefined || created === undefined) return { signed: false, ok: false, skew: null };
    const expected = createHash('sha1')
      .update(Buffer.concat([Buffer.from(nonce, 'base64'), Buffer.from(created + PASSWORD)]))
      .digest('base64');
    const skew = Date.parse(created) - this.cameraNow;
    return { signed: true, ok: user === 'admin' && digest === expected && Math.abs(skew) <= 5000, skew };
  }

  protected record(request: IncomingMessage, text: string, operation: string): RecordedRequest {
    const token = this.verify(text);
    const unsigned = operation === 'GetSystemDateAndTime' || request.method === 'GET';
    return { operation, url: request.url ?? '', createdSkewMs: token.skew, refused: !unsigned && !token.ok };
  }

  protected answer(response: ServerResponse, recorded: RecordedRequest, text: string, request: IncomingMessage): void {
    const { operation, refused } = recorded;
    const soap = (body: string, status = 200): void => void response.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' }).end(body);
    if (refused) return soap(NOT_AUTHORIZED, 401);
    switch (operation) {
      case 'GetSystemDateAndTime':
        if (this.clockReadsToRefuse > 0) {
          this.clockReadsToRefuse -= 1;
          return void response.writeHead(503).end();
        }
        return soap(fixture('axis-get-system-date-and-time.xml'));
      case 'GetDeviceInformation':
        return soap(fixture('milesight-get-device-information.xml'));
      case 'GetCapabilities':
        return soap(
          constructed(
            `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>${this.base}/onvif/Events</tt:XAddr><tt:WSSubscriptionPolicySupport>true</tt:WSSubscriptionPolicySupport>` +
              `<tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events><tt:Media><tt:XAddr>${this.base}/onvif/Media</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`,
          ),
        );
      case 'GetProfiles':
        return soap(constructed('<trt:GetProfilesResponse><trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name></trt:Profiles></trt:GetProfilesResponse>'));
      case 'GetSnapshotUri':
        return soap(constructed(`<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${this.base}/onvif/snapshot.jpg</tt:Uri></trt:MediaUri></trt:GetSnapshotUriResponse>`));
      case 'GetEventProperties':
        return soap(HIKVISION_ANPR_TOPIC_SET);
      case 'CreatePullPointSubscription':
        this.recordFilter(text);
        if (this.pullPointHere) {
          return soap(
            constructed(
              `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${this.base}/onvif/Events/PullSubManager_1</wsa:Address></tev:SubscriptionReference>` +
                '<wsnt:CurrentTime>2024-07-09T19:49:06Z</wsnt:CurrentTime><wsnt:TerminationTime>2024-07-09T19:50:06Z</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>',
            ),
          );
        }
        return soap(fixture('hikvision-create-pull-point-subscription.xml'));
      case 'PullMessages': {
        const next = this.delivers() ? this.pullReplies.shift() : undefined;
        return next === undefined ? undefined : soap(next); // nothing to say: the long poll is held
      }
      case `GET ${CAPTURED_PICTURE_PATH}`:
        // Pictures want the camera's HTTP credentials (Hikvision: Digest or Basic).
        if (request.headers.authorization !== `Basic ${Buffer.from(`admin:${PASSWORD}`).toString('base64')}`) {
          return void response.writeHead(401, { 'www-authenticate': 'Basic realm="DS-2CD"' }).end();
        }
        return void response.writeHead(200, { 'content-type': 'image/jpeg' }).end(JPEG);
      default:
        return soap(constructed(`<${operation}Response xmlns="http://docs.oasis-open.org/wsn/b-2"/>`));
    }
  }

  /** Reads the subscription's TopicExpression with its namespace declarations, as a camera resolves it. */
  private recordFilter(text: string): void {
    const match = /<(?:[\w-]+:)?TopicExpression([^>]*)>([^<]*)<\/(?:[\w-]+:)?TopicExpression>/.exec(text);
    this.filterXml = match?.[0] ?? null;
    if (!match) return void (this.filter = null);
    const declared = new Map([...(match[1] ?? '').matchAll(/xmlns:([\w.-]+)="([^"]*)"/g)].map(([, prefix, uri]) => [prefix, uri]));
    this.filter = (match[2] ?? '').split('|').map((expression) =>
      expression
        .split('/')
        .map((step) => (step.includes(':') ? `{${declared.get(step.split(':')[0] ?? '') ?? '?'}}${step.split(':')[1]}` : step))
        .join('/'),
    );
  }

  /** Whether the subscription lets the captured notification's topic through. */
  private delivers(): boolean {
    const topic = `{${ONVIF_TOPICS}}RuleEngine/VehicleDetector/{${HIKVISION_TOPICS}}Vehicle`;
    return this.filter === null || this.filter.includes(topic);
  }
}

function cameraConfig(url: string, overrides: Record<string, unknown> = {}): OnvifCameraConfig {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'cam-1', driver: 'onvif', connection: { url, username: 'admin', password: 'x' }, pullTimeoutSec: 1, requestTimeoutMs: 60_000, ...overrides }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  });
  return config.lanes[0]!.devices[0] as OnvifCameraConfig;
}

/**
 * Moves the clock a pull interval at a time, letting sockets turn between steps, until `promise`
 * settles. Requests get a minute (requestTimeoutMs), so stepping never times one out.
 */
async function advanceUntil<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let settled = false;
  let value: T | undefined;
  void promise.then((result) => {
    settled = true;
    value = result;
  });
  for (let step = 0; step < 100 && !settled; step += 1) {
    for (let turn = 0; turn < 200 && !settled; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
    if (!settled) clock.advance(MIN_PULL_INTERVAL_MS);
  }
  if (!settled) throw new Error('never happened');
  return value as T;
}

describe('the ONVIF driver against replies captured from real cameras', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function rig(options: { password?: string; overrides?: Record<string, unknown> } = {}) {
    // The camera's clock is an hour ahead, and reads what the captured GetSystemDateAndTime says.
    const clock = new ManualClock(CAPTURED_CAMERA_TIME - HOUR);
    const camera = await new CapturedCamera(clock, HOUR).listen();
    cleanups.push(() => camera.close());
    const health: DriverHealth[] = [];
    const driver = new OnvifAnprDriver(
      // The captured camera names its LAN address (192.168.84.71) for the pull point and pictures:
      // behind NAT, which is what rewriteForeignAddresses is for.
      cameraConfig(`${camera.base}/onvif/device_service`, { rewriteForeignAddresses: true, ...options.overrides }),
      options.password ?? PASSWORD,
      { clock, logger: pino({ level: 'silent' }), backoff: BACKOFF, random: () => 1 },
    );
    driver.on('health', (h) => health.push(h));
    cleanups.push(() => driver.stop());
    return { clock, camera, driver, health };
  }

  it('signs with the clock of a camera an hour ahead, subscribes to the vendor topic by its namespace, reads the Hikvision plate and fetches its picture', async () => {
    const { camera, driver, health } = await rig();
    camera.pullReplies.push(fixture('hikvision-pull-messages-anpr.xml'));
    const read = nextReading<AnprReading>(driver);
    await driver.start();
    const reading = await read;

    expect(reading).toMatchObject({
      type: 'plate.read',
      deviceId: 'cam-1',
      plate: { text: 'PP7069', raw: 'PP7069', confidence: 0.71, country: 'NL', formatValid: null },
      cameraTime: '2022-12-30T15:18:27Z',
      imageRef: `sha256:${createHash('sha256').update(JPEG).digest('hex')}`,
      image: { bytes: JPEG.length, contentType: 'image/jpeg' },
    });
    expect(driver.image(reading.imageRef as string)?.body).toEqual(JPEG);
    expect(driver.deviceInformation()).toEqual({ manufacturer: 'Milesight Technology Co.,Ltd.', model: 'MS-C8165-PE', firmwareVersion: '61.8.0.3-r8', serialNumber: 'EM82V102329001403' });

    // Measured once, unsigned, before anything signed; every token's Created within a second of the camera's clock.
    expect(camera.requests[0]).toMatchObject({ operation: 'GetSystemDateAndTime', createdSkewMs: null });
    // The camera's whole second, read as its middle (the ManualClock stands still during the read).
    expect(driver.clockOffsetMs).toBe(HOUR + 500);
    const signed = camera.requests.filter((request) => request.createdSkewMs !== null);
    expect(signed.map((request) => request.operation)).toEqual(['GetDeviceInformation', 'GetCapabilities', 'GetProfiles', 'GetSnapshotUri', 'GetEventProperties', 'CreatePullPointSubscription', 'PullMessages']);
    for (const request of signed) expect(Math.abs(request.createdSkewMs as number), request.operation).toBeLessThanOrEqual(1000);
    expect(camera.requests.some((request) => request.refused)).toBe(false);

    // The filter names tnshik:Vehicle and declares tnshik, so the camera resolves it to Hikvision's topic.
    expect(camera.filterXml).toBe(
      `<wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" xmlns:tns1="${ONVIF_TOPICS}" xmlns:tnshik="${HIKVISION_TOPICS}">tns1:RuleEngine/VehicleDetector/tnshik:Vehicle</wsnt:TopicExpression>`,
    );
    expect(camera.filter).toEqual([`{${ONVIF_TOPICS}}RuleEngine/VehicleDetector/{${HIKVISION_TOPICS}}Vehicle`]);
    // The captured pull point and picture, on the camera's LAN address, moved onto the device URL.
    expect(camera.requests.find((request) => request.operation === 'PullMessages')?.url).toBe('/onvif/Events/PullSubManager_2022-12-30T18:43:58Z_6');
    expect(camera.count(`GET ${CAPTURED_PICTURE_PATH}`)).toBe(2); // the Basic challenge, then the picture
    expect(health.map((h) => h.state)).toEqual(['up']);
  });

  it('reads one notification delivered twice once', async () => {
    const { clock, camera, driver } = await rig();
    camera.pullReplies.push(fixture('hikvision-pull-messages-anpr.xml'), fixture('hikvision-pull-messages-anpr.xml'));
    const readings: AnprReading[] = [];
    driver.on('reading', (reading) => readings.push(reading));
    await driver.start();
    // The third pull comes only once the second (the same notification again) has been handled.
    await advanceUntil(
      clock,
      new Promise<void>((resolve) => {
        const poll = (): void => void (camera.count('PullMessages') >= 3 ? resolve() : setImmediate(poll));
        poll();
      }),
    );
    expect(readings.map((reading) => reading.plate?.text)).toEqual(['PP7069']);
    expect(driver.duplicates).toBe(1);
    // The duplicate's picture is not fetched again either.
    expect(camera.count(`GET ${CAPTURED_PICTURE_PATH}`)).toBe(2);
  });

  it('after a NotAuthorized for a stale Created, measures the camera clock again and retries once, without going through setup again', async () => {
    const { camera, driver, health } = await rig();
    // The first clock read fails (a camera busy at boot): the driver signs with its own time.
    camera.clockReadsToRefuse = 1;
    camera.pullReplies.push(fixture('hikvision-pull-messages-anpr.xml'));
    const read = nextReading<AnprReading>(driver);
    await driver.start();
    expect((await read).plate?.text).toBe('PP7069');

    expect(camera.requests.slice(0, 5).map((request) => [request.operation, request.refused])).toEqual([
      ['GetSystemDateAndTime', false], // 503
      ['GetDeviceInformation', true], // Created an hour behind the camera: NotAuthorized
      ['GetSystemDateAndTime', false], // measured again
      ['GetDeviceInformation', false], // the same request, retried once, accepted
      ['GetCapabilities', false],
    ]);
    expect(Math.abs(camera.requests[1]!.createdSkewMs! + HOUR)).toBeLessThanOrEqual(1000);
    expect(driver.clockOffsetMs).toBe(HOUR + 500);
    expect(driver.subscriptions).toBe(1);
    expect(camera.count('CreatePullPointSubscription')).toBe(1);
    expect(health.map((h) => h.state)).toEqual(['up']);
  });

  it('a wrong password is refused twice per attempt (no loop), reported as the camera said, and retried after the backoff', async () => {
    const { clock, camera, driver } = await rig({ password: 'wrong' });
    const down = new Promise<DriverHealth>((resolve) => driver.on('health', (h) => h.state === 'down' && resolve(h)));
    await driver.start();
    expect((await down).lastError).toBe('GetDeviceInformation: "Sender not Authorized" (ter:NotAuthorized)');
    expect(camera.requests.map((request) => request.operation)).toEqual(['GetSystemDateAndTime', 'GetDeviceInformation', 'GetSystemDateAndTime', 'GetDeviceInformation']);
    const again = camera.nextRequest((request) => request.operation === 'GetDeviceInformation');
    clock.advance(BACKOFF.maxMs);
    await again;
    expect(camera.count('CreatePullPointSubscription')).toBe(0);
  });

  it('refuses a picture on another host: the plate is read without it, the camera marked degraded, nothing sent there', async () => {
    const elsewhere = createServer((_request, response) => void response.writeHead(200, { 'content-type': 'image/jpeg' }).end(JPEG));
    let connections = 0;
    elsewhere.on('connection', () => (connections += 1));
    elsewhere.listen(0, '127.0.0.2');
    await once(elsewhere, 'listening');
    cleanups.push(async () => {
      elsewhere.close();
      await once(elsewhere, 'close');
    });
    const port = (elsewhere.address() as { port: number }).port;
    const { camera, driver } = await rig({ overrides: { rewriteForeignAddresses: false } });
    camera.pullPointHere = true;
    // Constructed: the captured notification, its PictureUri pointing at another host.
    camera.pullReplies.push(fixture('hikvision-pull-messages-anpr.xml').replace('http://192.168.84.71/doc/ui/images/plate/', `http://127.0.0.2:${port}/`));
    const read = nextReading<AnprReading>(driver);
    const degraded = new Promise<DriverHealth>((resolve) => driver.on('health', (h) => h.state === 'degraded' && resolve(h)));
    await driver.start();
    expect(await read).toMatchObject({ plate: { text: 'PP7069' }, imageRef: null, image: null });
    expect((await degraded).lastError).toBe(
      `picture not fetched: GW_ERR_DEVICE_FOREIGN_ADDRESS: refused the camera's picture URI (notification ImageRef/PictureUri) http://127.0.0.2:${port}/202212301618275900.jpg: it is not on the camera's host (127.0.0.1)`,
    );
    expect(driver.picturesMissed).toBe(1);
    expect(connections).toBe(0);
  });
});
