/**
 * The ANPR parsers on what real cameras sent (fixtures/, sources in fixtures/SOURCES.md), byte
 * for byte: topic sets with vendor prefixes (Hikvision `tnshik`, Axis `tnsaxis`) and their
 * namespaces, the subscription filter built from them, a Hikvision ANPR notification (likelihood
 * on 0-100, a country name, a picture URI), a camera's clock, and a Hikvision ISAPI push (stored
 * once however often it is resent; cut short anywhere, a 400 and no plate).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { postConfigSchema, type AnprPushConfig } from '../../config/schema.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { countryCode } from './country-code.js';
import { AnprHttpPushDriver, type AckedAnprReading } from './http-push-driver.js';
import { ImageStore } from './image-store.js';
import { decodePullMessagesReply, eventTopics, normaliseLikelihood, plateTopics, topicFilter, type EventTopic } from './profile-m.js';
import { RecentKeys } from './recent-keys.js';
import { asNode, parseSoapReply, parseXmlQualified, text1 } from './soap-client.js';
import { cameraUtcMs } from './system-date-and-time.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const ONVIF_TOPICS = 'http://www.onvif.org/ver10/topics';
const HIKVISION_TOPICS = 'http://www.hikvision.com/2011/event/topics';
const AXIS_TOPICS = 'http://www.axis.com/2009/event/topics';

describe('captured fixtures', () => {
  it('are the bytes SOURCES.md records', () => {
    const recorded = [...fixture('SOURCES.md').matchAll(/^([0-9a-f]{64}) {2}(\S+)$/gm)].map(([, sha, name]) => [name, sha]);
    expect(recorded).toHaveLength(7);
    // Every file beside SOURCES.md is a capture it records (a fixture with no source fails here).
    const files = readdirSync(new URL('./fixtures/', import.meta.url)).filter((name) => name !== 'SOURCES.md');
    expect(files.sort()).toEqual(recorded.map(([name]) => name).sort());
    for (const [name, sha] of recorded) expect(createHash('sha256').update(readFileSync(new URL(`./fixtures/${name}`, import.meta.url))).digest('hex'), name).toBe(sha);
  });
});

describe('topic sets of real cameras', () => {
  it('Hikvision: vendor topics keep their tnshik prefix and namespace', () => {
    const topics = eventTopics(parseXmlQualified(fixture('hikvision-get-event-properties.xml')));
    expect(topics).toHaveLength(31);
    expect(topics).toContainEqual({ expression: 'tns1:Device/HardwareFailure/tnshik:HardDiskFull', namespaces: { tns1: ONVIF_TOPICS, tnshik: HIKVISION_TOPICS }, plate: false });
    expect(topics).toContainEqual({ expression: 'tns1:Device/tnshik:Network/tnshik:IPAddrConflict', namespaces: { tns1: ONVIF_TOPICS, tnshik: HIKVISION_TOPICS }, plate: false });
    expect(topics).toContainEqual({ expression: 'tns1:UserAlarm/tnshik:IllegalAccess', namespaces: { tns1: ONVIF_TOPICS, tnshik: HIKVISION_TOPICS }, plate: false });
    expect(topics).toContainEqual({ expression: 'tns1:RuleEngine/CellMotionDetector/Motion', namespaces: { tns1: ONVIF_TOPICS }, plate: false });
    // This camera runs no ANPR analytics: nothing to subscribe to.
    expect(plateTopics(parseXmlQualified(fixture('hikvision-get-event-properties.xml')))).toEqual([]);
  });

  it('Axis: all 44 topics of its event list, tnsaxis ones with their namespace', () => {
    const topics = eventTopics(parseXmlQualified(fixture('axis-get-event-instances.xml')));
    expect(topics).toHaveLength(44);
    expect(topics).toContainEqual({ expression: 'tns1:Device/tnsaxis:Sensor/PIR', namespaces: { tns1: ONVIF_TOPICS, tnsaxis: AXIS_TOPICS }, plate: false });
    expect(topics).toContainEqual({ expression: 'tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1', namespaces: { tnsaxis: AXIS_TOPICS }, plate: false });
    expect(topics.filter((topic) => topic.plate)).toEqual([]);
  });

  it('a filter on vendor topics names them with their prefixes and declares each namespace', () => {
    const topics = eventTopics(parseXmlQualified(fixture('hikvision-get-event-properties.xml'))).filter((topic) => topic.expression.startsWith('tns1:UserAlarm/'));
    expect(topicFilter(topics)).toBe(
      '<Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" ' +
        'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tnshik="http://www.hikvision.com/2011/event/topics">tns1:UserAlarm/tnshik:IllegalAccess</wsnt:TopicExpression></Filter>',
    );
  });

  it('no filter rather than a wrong one: an undeclared prefix, one prefix for two namespaces, a reserved prefix', () => {
    const topic = (expression: string, namespaces: Record<string, string>): EventTopic => ({ expression, namespaces, plate: true });
    expect(topicFilter([topic('tns1:RuleEngine/VehicleDetector/tnshik:Vehicle', { tns1: ONVIF_TOPICS })])).toBeNull();
    expect(topicFilter([topic('tns1:A/x:B', { tns1: ONVIF_TOPICS, x: HIKVISION_TOPICS }), topic('tns1:A/x:C', { tns1: ONVIF_TOPICS, x: AXIS_TOPICS })])).toBeNull();
    expect(topicFilter([topic('wsnt:A/B', { wsnt: HIKVISION_TOPICS })])).toBeNull();
    expect(topicFilter([])).toBeNull();
    expect(topicFilter([topic('tns1:A/B', { tns1: 'urn:"quoted"&<x>' })])).toBe(
      '<Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" xmlns:tns1="urn:&quot;quoted&quot;&amp;&lt;x&gt;">tns1:A/B</wsnt:TopicExpression></Filter>',
    );
  });
});

describe('a Hikvision ANPR notification (PullMessages)', () => {
  it('reads the plate with its 0-100 likelihood as 0..1, the country name as a code, and the picture URI', () => {
    const decoded = decodePullMessagesReply(fixture('hikvision-pull-messages-anpr.xml'), 200, 'OK', 10);
    expect(decoded).toEqual({
      ok: true,
      ignored: 0,
      currentTime: '2022-12-30T15:18:27Z',
      terminationTime: '2022-12-30T15:26:31Z',
      reads: [
        {
          topic: 'tns1:RuleEngine/VehicleDetector/tnshik:Vehicle',
          utcTime: '2022-12-30T15:18:27Z',
          plateNumber: 'PP7069',
          plateLikelihood: 0.71,
          countryCode: 'NL',
          plateType: null,
          issuingEntity: null,
          vehicleType: null,
          imageRef: 'http://192.168.84.71/doc/ui/images/plate/202212301618275900.jpg',
          eventId: null,
          source: { VideoSourceConfigurationToken: 'VideoSourceToken', VideoAnalyticsConfigurationToken: 'VideoAnalyticsToken', Rule: 'MyVehicleDetector' },
        },
      ],
    });
  });

  it('the subscription reply names the pull point and the camera time', () => {
    const body = parseSoapReply(fixture('hikvision-create-pull-point-subscription.xml'), 200, 'OK', 'http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest');
    const response = asNode(body.CreatePullPointSubscriptionResponse);
    expect(text1(asNode(response?.SubscriptionReference), 'Address')).toBe('http://192.168.84.71/onvif/Events/PullSubManager_2022-12-30T18:43:58Z_6');
    expect([text1(response, 'CurrentTime'), text1(response, 'TerminationTime')]).toEqual(['2022-12-30T18:43:58Z', '2022-12-30T18:46:58Z']);
  });
});

describe('likelihoods and countries as cameras write them', () => {
  it('likelihood: 0..1 (Profile M) and 0-100 (Hikvision) both as 0..1; nonsense as none', () => {
    expect(normaliseLikelihood('0.87', 'unit')).toBe(0.87);
    expect(normaliseLikelihood('87', 'unit')).toBe(0.87);
    expect(normaliseLikelihood('1', 'unit')).toBe(1);
    expect(normaliseLikelihood('71', 'percent')).toBe(0.71);
    expect(normaliseLikelihood('1', 'percent')).toBe(0.01);
    expect(normaliseLikelihood('0.95', 'percent')).toBe(0.95);
    expect(normaliseLikelihood('95.5', 'percent')).toBe(0.955);
    expect(normaliseLikelihood('100', 'percent')).toBe(1);
    // A float written with all its digits (as JavaScript's String() writes one): read, not dropped.
    expect(normaliseLikelihood('0.8734523456789012', 'unit')).toBe(0.8734523456789012);
    expect(normaliseLikelihood(0.12345678901234568, 'percent')).toBe(0.12345678901234568);
    expect(normaliseLikelihood(`0.${'1'.repeat(21)}`, 'unit')).toBeNull();
    // The go-hikvision-lpr tests feed 1000; over 100 is on no scale.
    for (const nonsense of ['1000', '-1', '-0', '1e2', 'NaN', 'Infinity', '', ' ', '0x10', null, undefined]) expect(normaliseLikelihood(nonsense, 'percent'), String(nonsense)).toBeNull();
  });

  it('country: alpha-2, alpha-3 and English names as alpha-2; a numeric index, a region or "NON" as none', () => {
    expect(['ge', 'NL', 'NLD', 'Netherlands', 'Türkiye', 'GEO'].map(countryCode)).toEqual(['GE', 'NL', 'NL', 'NL', 'TR', 'GE']);
    expect(['3', 'NON', 'Atlantis', '', null, '__proto__', 'constructor', 'x'.repeat(65)].map(countryCode)).toEqual([null, null, null, null, null, null, null, null]);
  });
});

describe("an Axis camera's clock (GetSystemDateAndTime)", () => {
  it('reads its UTC date and time, not its local time', () => {
    const body = parseSoapReply(fixture('axis-get-system-date-and-time.xml'), 200, 'OK', 'http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime');
    expect(cameraUtcMs(body)).toBe(Date.UTC(2024, 6, 9, 19, 49, 6));
  });

  it('gives no reading for a date that does not exist or a reply without UTCDateTime', () => {
    const reply = (date: string) =>
      parseSoapReply(
        `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><GetSystemDateAndTimeResponse><SystemDateAndTime><UTCDateTime><Time><Hour>1</Hour><Minute>2</Minute><Second>3</Second></Time>${date}</UTCDateTime></SystemDateAndTime></GetSystemDateAndTimeResponse></env:Body></env:Envelope>`,
        200,
        'OK',
        'GetSystemDateAndTime',
      );
    expect(cameraUtcMs(reply('<Date><Year>2024</Year><Month>2</Month><Day>29</Day></Date>'))).toBe(Date.UTC(2024, 1, 29, 1, 2, 3));
    expect(cameraUtcMs(reply('<Date><Year>2023</Year><Month>2</Month><Day>29</Day></Date>'))).toBeNull();
    expect(cameraUtcMs(reply('<Date><Year>2024</Year><Month>13</Month><Day>1</Day></Date>'))).toBeNull();
    expect(cameraUtcMs(reply(''))).toBeNull();
  });
});

/** A minimal JFIF: the captured push's pictures are not public, only its XML. */
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0xff, 0xd9]);
const BOUNDARY = 'MIME_boundary';

function multipart(xml: string): Buffer {
  return Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="anpr.xml"; filename="anpr.xml"\r\nContent-Type: text/xml\r\n\r\n${xml}\r\n`),
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="licensePlatePicture.jpg"; filename="licensePlatePicture.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    JPEG,
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]);
}

function pushRig(overrides: Record<string, unknown> = {}) {
  const config = postConfigSchema.parse({
    version: 1,
    post: { id: 'p' },
    lanes: [{ id: 'lane-1', devices: [{ id: 'exit-cam', driver: 'anpr-http-push', connection: { path: '/anpr/exit-cam' }, ...overrides }] }],
    uplink: { brokers: ['mqtt://127.0.0.1:1'] },
  }).lanes[0]!.devices[0] as AnprPushConfig;
  const clock = new ManualClock();
  const driver = new AnprHttpPushDriver(config, { clock, logger: pino({ level: 'silent' }) });
  const readings: AckedAnprReading[] = [];
  let store: 'ok' | 'full' = 'ok';
  driver.on('reading', (reading) => {
    readings.push(reading);
    if (store === 'ok') reading.ack.resolve();
    else reading.ack.reject(new Error('outbox disk full'));
  });
  return { driver, clock, readings, failStores: (failing: boolean) => (store = failing ? 'full' : 'ok') };
}

describe('a Hikvision ISAPI push (anpr-http-push)', () => {
  const ALERT = fixture('hikvision-isapi-anpr-alert.xml');
  const TYPE = `multipart/form-data; boundary=${BOUNDARY}`;

  it('reads the captured alert: plate, 0-100 confidence as 0..1, no country from a firmware index, the picture part', async () => {
    const { driver, readings } = pushRig();
    await driver.start();
    expect(await driver.handle(TYPE, multipart(ALERT))).toEqual({ status: 200, body: 'stored' });
    expect(readings).toHaveLength(1);
    expect(readings[0]).toMatchObject({
      type: 'plate.read',
      deviceId: 'exit-cam',
      // <country>3</country> indexes Hikvision's table and <countryAbbreviation> is NON: no country.
      plate: { text: 'PECT600', raw: 'PECT600', confidence: 0.97, country: null, formatValid: null },
      plateType: 'unknown',
      vehicleType: 'vehicle',
      // The picture part, named by the sha256 of its bytes and held for the console and evidence.
      imageRef: `sha256:${createHash('sha256').update(JPEG).digest('hex')}`,
      cameraTime: '2024-01-19T11:17:19+08:00',
    });
    expect(driver.lastImages.get('licensePlatePicture.jpg')).toEqual(JPEG);
    expect(driver.image(readings[0]?.imageRef as string)?.body).toEqual(JPEG);
  });

  it('a resent push (same UUID) is answered 200 and not stored twice; one not stored is stored on resend', async () => {
    const { driver, readings, failStores, clock } = pushRig({ duplicateWindowSec: 60 });
    await driver.start();
    failStores(true);
    expect((await driver.handle(TYPE, multipart(ALERT))).status).toBe(503);
    failStores(false);
    expect(await driver.handle(TYPE, multipart(ALERT))).toEqual({ status: 200, body: 'stored' });
    expect(await driver.handle(TYPE, multipart(ALERT))).toEqual({ status: 200, body: 'stored (duplicate)' });
    // Two resends at once while the first is still being stored: one reading.
    const concurrent = await Promise.all([driver.handle(TYPE, multipart(ALERT.replace('PECT600', 'PECT601').replace(/<UUID>\w+/, '<UUID>other'))), driver.handle(TYPE, multipart(ALERT.replace('PECT600', 'PECT601').replace(/<UUID>\w+/, '<UUID>other')))]);
    expect(concurrent.map((response) => response.status)).toEqual([200, 200]);
    expect(readings.map((reading) => reading.plate?.text)).toEqual(['PECT600', 'PECT600', 'PECT601']);
    expect(driver.duplicates).toBe(2);
    // After the window, the same UUID is a new event again.
    clock.advance(60_001);
    expect(await driver.handle(TYPE, multipart(ALERT))).toEqual({ status: 200, body: 'stored' });
  });

  it('without a UUID, pushes are told apart by dateTime, channel and plate', async () => {
    const { driver, readings } = pushRig();
    await driver.start();
    const noUuid = ALERT.replace(/\s*<UUID>\w+<\/UUID>/, '');
    expect((await driver.handle(TYPE, multipart(noUuid))).body).toBe('stored');
    expect((await driver.handle(TYPE, multipart(noUuid))).body).toBe('stored (duplicate)');
    expect((await driver.handle(TYPE, multipart(noUuid.replace('11:17:19', '11:17:20')))).body).toBe('stored');
    expect(readings).toHaveLength(2);
  });

  it('a push cut short anywhere is answered 400 and stores nothing', async () => {
    const { driver, readings } = pushRig();
    await driver.start();
    const whole = multipart(ALERT);
    const xmlStart = whole.indexOf('<?xml');
    const plateAt = whole.indexOf('PECT600');
    // The multipart body cut in the XML, in the picture, before its close delimiter.
    for (const cut of [xmlStart + 40, plateAt + 4, whole.length - 30, whole.length - 4]) {
      expect((await driver.handle(TYPE, whole.subarray(0, cut))).status, `cut at ${cut}`).toBe(400);
    }
    // The XML alone (a camera posting text/xml) cut after the plate: a valid-looking prefix, not a plate.
    const raw = Buffer.from(ALERT);
    for (const cut of [raw.indexOf('</licensePlate>') + 15, raw.indexOf('</ANPR>') + 7, raw.lastIndexOf('>')]) {
      const response = await driver.handle('application/xml', raw.subarray(0, cut));
      expect(response.status, `cut at ${cut}`).toBe(400);
      expect(response.body).toMatch(/unacceptable XML: .*not well-formed/);
    }
    // A multipart body whose close delimiter arrived but whose XML part was cut.
    const cutXml = ALERT.slice(0, ALERT.indexOf('</ANPR>'));
    expect((await driver.handle(TYPE, multipart(cutXml))).status).toBe(400);
    expect(readings).toEqual([]);
    expect(driver.refused).toBe(8);
  });
});

describe('bounded memory for duplicates and pictures', () => {
  it('remembers at most maxKeys events, each for windowMs', () => {
    const clock = new ManualClock();
    const recent = new RecentKeys({ clock, windowMs: 1000, maxKeys: 3 });
    expect(['a', 'b', 'a', 'c', 'd'].map((key) => recent.addIfNew(key))).toEqual([true, true, false, true, true]);
    expect(recent.size).toBe(3);
    expect(recent.has('a')).toBe(false); // the oldest, dropped for d
    clock.advance(1000);
    expect(recent.has('d')).toBe(false);
    expect(recent.size).toBe(0);
  });

  it('holds at most maxImages pictures and maxBytes bytes, by digest', () => {
    const store = new ImageStore({ maxImages: 2, maxBytes: 10 });
    const a = store.put(Buffer.alloc(4, 1), 'image/jpeg');
    expect(a.ref).toBe(`sha256:${createHash('sha256').update(Buffer.alloc(4, 1)).digest('hex')}`);
    store.put(Buffer.alloc(4, 2), 'image/jpeg');
    store.put(Buffer.alloc(4, 3), 'image/jpeg');
    expect([store.size, store.bytes, store.get(a.ref)]).toEqual([2, 8, null]);
    store.put(Buffer.alloc(9, 4), 'image/jpeg');
    expect([store.size, store.bytes]).toEqual([1, 9]);
    expect(store.put(Buffer.alloc(11), 'image/jpeg').ref).toMatch(/^sha256:/);
    expect([store.size, store.bytes]).toEqual([1, 9]);
  });
});
