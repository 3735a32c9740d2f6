/**
 * The simulated camera refuses what a real camera refuses, over real HTTP, driven by a small SOAP
 * client written here (not the driver's): a wrong or missing token, a replayed nonce, a `Created`
 * more than five minutes from the camera's clock (also when the camera's clock is an hour off,
 * set through the simulator's fault endpoint), XML that is not namespace well-formed, another
 * SOAP version, a header it must but cannot understand. It delivers only the topics a
 * subscription's filter names (nothing for a prefix the client did not declare), and every reply
 * declares every prefix it uses.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { postConfigSchema } from '../../config/schema.js';
import { systemClock } from '../../core/clock.js';
import { freePort } from '../../test/helpers/free-port.js';
import { startControlServer } from '../control-server.js';
import { startPostSimulator } from '../post-simulator.js';
import { SimulatedCamera, type SimulatedCameraOptions } from './simulated-camera.js';
import { NS, readXml, type XmlElement } from './soap-xml.js';
import { CONCRETE_SET_DIALECT } from './topic-filter.js';
import { passwordDigest, PASSWORD_DIGEST_TYPE } from './username-token.js';

const USER = 'admin';
const PASSWORD = 'cam s3cret';
const VENDOR_TOPICS = 'http://vendor.example/anpr/topics';

interface Token {
  username?: string;
  password?: string;
  /** Created, ms; default now. */
  createdMs?: number;
  nonce?: Buffer;
  passwordType?: string;
}

/** A SOAP 1.2 request with WS-Addressing and, unless `token` is null, a UsernameToken. */
function envelope(body: string, token: Token | null = {}, options: { header?: string; envNs?: string } = {}): string {
  let security = '';
  if (token) {
    const created = new Date(token.createdMs ?? Date.now()).toISOString();
    const nonce = token.nonce ?? randomBytes(16);
    security =
      `<wsse:Security s:mustUnderstand="1" xmlns:wsse="${NS.wsse}" xmlns:wsu="${NS.wsu}"><wsse:UsernameToken>` +
      `<wsse:Username>${token.username ?? USER}</wsse:Username>` +
      `<wsse:Password Type="${token.passwordType ?? PASSWORD_DIGEST_TYPE}">${passwordDigest(nonce, created, token.password ?? PASSWORD)}</wsse:Password>` +
      `<wsse:Nonce>${nonce.toString('base64')}</wsse:Nonce><wsu:Created>${created}</wsu:Created>` +
      `</wsse:UsernameToken></wsse:Security>`;
  }
  return (
    `<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="${options.envNs ?? NS.env}" xmlns:a="${NS.wsa}"><s:Header>` +
    `<a:MessageID>urn:uuid:${randomBytes(8).toString('hex')}</a:MessageID>${security}${options.header ?? ''}</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

interface Answer {
  status: number;
  text: string;
  body: XmlElement | undefined;
  /** Fault Code/Value and Subcode/Value texts, when the answer is a fault. */
  fault: { code: string; subcode: string | null } | null;
}

const replies: string[] = [];

async function post(url: string, text: string, contentType = 'application/soap+xml; charset=utf-8'): Promise<Answer> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': contentType }, body: text });
  const reply = await response.text();
  if (reply === '') return { status: response.status, text: reply, body: undefined, fault: null };
  replies.push(reply);
  const body = readXml(reply).children.find((c) => c.ns === NS.env && c.local === 'Body');
  const fault = body?.children.find((c) => c.ns === NS.env && c.local === 'Fault');
  const code = fault?.children.find((c) => c.local === 'Code');
  const value = (element: XmlElement | undefined): string | null => element?.children.find((c) => c.local === 'Value')?.text.trim() ?? null;
  return { status: response.status, text: reply, body, fault: fault ? { code: value(code) ?? '', subcode: value(code?.children.find((c) => c.local === 'Subcode')) } : null };
}

/**
 * The prefixes a reply uses in element and attribute names and in QName content (fault codes,
 * topics, `Type` attributes) but does not declare; found by pattern, independently of the XML
 * reader under test.
 */
function undeclaredPrefixes(text: string): string[] {
  const declared = new Set(['xml', ...[...text.matchAll(/\sxmlns:([A-Za-z_][\w.-]*)=/g)].map((m) => m[1] as string)]);
  const used = new Set<string>();
  for (const m of text.matchAll(/<\/?([A-Za-z_][\w.-]*):[A-Za-z_]/g)) used.add(m[1] as string);
  for (const m of text.matchAll(/\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*="/g)) if (m[1] !== 'xmlns') used.add(m[1] as string);
  for (const m of text.matchAll(/\sType="([A-Za-z_][\w.-]*):/g)) used.add(m[1] as string);
  for (const m of text.matchAll(/<(?:[\w.-]+:)?(?:Value|Topic)\b[^>]*>\s*([A-Za-z_][\w.-]*):/g)) used.add(m[1] as string);
  return [...used].filter((prefix) => !declared.has(prefix)).sort();
}

const filterXml = (expression: string, declarations = ` xmlns:tns1="${NS.tns1}"`, dialect = CONCRETE_SET_DIALECT): string =>
  `<Filter><wsnt:TopicExpression Dialect="${dialect}"${declarations}>${expression}</wsnt:TopicExpression></Filter>`;

describe('simulated ONVIF camera', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function start(options: Partial<SimulatedCameraOptions> = {}) {
    const camera = new SimulatedCamera({ username: USER, password: PASSWORD, clock: systemClock, ...options });
    await camera.listen();
    cleanups.push(() => camera.close());
    const device = `${camera.baseUrl}/onvif/device_service`;
    const events = `${camera.baseUrl}/onvif/events`;
    const subscribe = async (filter = ''): Promise<string> => {
      const answer = await post(events, envelope(`<CreatePullPointSubscription xmlns="${NS.tev}" xmlns:wsnt="${NS.wsnt}">${filter}<InitialTerminationTime>PT60S</InitialTerminationTime></CreatePullPointSubscription>`));
      expect(answer.status, answer.text).toBe(200);
      return /<wsa:Address>([^<]+)<\/wsa:Address>/.exec(answer.text)?.[1] as string;
    };
    /** The topics of what a pull point holds now (Timeout PT0S: nothing is waited for). */
    const pull = async (address: string): Promise<string[]> => {
      const answer = await post(address, envelope(`<PullMessages xmlns="${NS.tev}"><Timeout>PT0S</Timeout><MessageLimit>10</MessageLimit></PullMessages>`));
      expect(answer.status, answer.text).toBe(200);
      return [...answer.text.matchAll(/<wsnt:Topic [^>]*>([^<]+)<\/wsnt:Topic>/g)].map((m) => m[1] as string);
    };
    return { camera, device, events, subscribe, pull };
  }

  it('serves snapshots of a real camera\'s size on request, each different, each a JPEG whose segments add up', async () => {
    const { camera } = await start({ snapshotBytes: 300 * 1024 });
    const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
    const fetchSnapshot = async (): Promise<Buffer> => Buffer.from(await (await fetch(`${camera.baseUrl}/snapshot.jpg`, { headers: { authorization: basic } })).arrayBuffer());
    const [first, second] = [await fetchSnapshot(), await fetchSnapshot()];
    for (const jpeg of [first, second]) {
      expect(jpeg.length).toBeGreaterThan(300 * 1024 - 4);
      expect(jpeg.length).toBeLessThanOrEqual(300 * 1024);
      // SOI, then length-prefixed segments up to the scan (SOS), then EOI at the very end.
      expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
      // JFIF: its APP0 header first, then the comments.
      expect(jpeg.subarray(2, 4)).toEqual(Buffer.from([0xff, 0xe0]));
      expect(jpeg.subarray(6, 11).toString('latin1')).toBe('JFIF\0');
      let at = 2;
      while (jpeg[at + 1] !== 0xda) {
        expect(jpeg[at]).toBe(0xff);
        at += 2 + jpeg.readUInt16BE(at + 2);
      }
      expect(jpeg.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    }
    expect(first.equals(second)).toBe(false);
  });

  it('computes the PasswordDigest of the ONVIF Application Programmer’s Guide example (6.1.1.3)', () => {
    expect(passwordDigest(Buffer.from('LKqI6G/AikKCQrN0zqZFlg==', 'base64'), '2010-09-16T07:50:45Z', 'userpassword')).toBe('tuOSpGlFlIXsozq4HFNeeGeFLEI=');
  });

  it('answers a valid token, and refuses a missing one, a wrong password and PasswordText with 400 ter:NotAuthorized', async () => {
    const { camera, device } = await start();
    const info = `<GetDeviceInformation xmlns="${NS.tds}"/>`;
    const ok = await post(device, envelope(info));
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('<tds:Manufacturer>border-gateway sim</tds:Manufacturer>');
    for (const token of [null, { password: 'wrong' }, { username: 'root' }, { passwordType: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText' }]) {
      const refused = await post(device, envelope(info, token));
      expect(refused.status).toBe(400);
      expect(refused.fault).toEqual({ code: 'env:Sender', subcode: 'ter:NotAuthorized' });
    }
    expect(camera.lastRefusal).toMatch(/PasswordDigest/);
  });

  it('refuses a replayed nonce', async () => {
    const { camera, device } = await start();
    const request = envelope(`<GetCapabilities xmlns="${NS.tds}"><Category>All</Category></GetCapabilities>`);
    expect((await post(device, request)).status).toBe(200);
    const replayed = await post(device, request);
    expect(replayed.status).toBe(400);
    expect(replayed.fault?.subcode).toBe('ter:NotAuthorized');
    expect(camera.lastRefusal).toMatch(/replay/);
    // The same nonce with a new Created (and so a new digest) is still a replay.
    const nonce = randomBytes(16);
    expect((await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`, { nonce }))).status).toBe(200);
    expect((await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`, { nonce, createdMs: Date.now() + 1000 }))).status).toBe(400);
  });

  it('refuses a Created more than five minutes from its clock, either way', async () => {
    const { camera, device } = await start();
    const info = `<GetDeviceInformation xmlns="${NS.tds}"/>`;
    for (const skewMs of [-5 * 60_000 - 5_000, 5 * 60_000 + 5_000, -24 * 3_600_000]) {
      const refused = await post(device, envelope(info, { createdMs: Date.now() + skewMs }));
      expect(refused.status).toBe(400);
      expect(refused.fault).toEqual({ code: 'env:Sender', subcode: 'ter:NotAuthorized' });
      expect(camera.lastRefusal).toMatch(/more than 300 s from the camera's time/);
    }
    // Within the window either way is fine.
    for (const skewMs of [-4 * 60_000, 4 * 60_000]) expect((await post(device, envelope(info, { createdMs: Date.now() + skewMs }))).status).toBe(200);
  });

  it('with its clock an hour off, answers GetSystemDateAndTime without a token and takes only tokens made on its time', async () => {
    const { camera, device } = await start({ clockOffsetMs: 3_600_000 });
    const info = `<GetDeviceInformation xmlns="${NS.tds}"/>`;
    expect((await post(device, envelope(info))).status).toBe(400);
    const time = await post(device, envelope(`<GetSystemDateAndTime xmlns="${NS.tds}"/>`, null));
    expect(time.status).toBe(200);
    const field = (name: string): number => Number(new RegExp(`<tt:${name}>(\\d+)</tt:${name}>`).exec(time.text)?.[1]);
    const cameraMs = Date.UTC(field('Year'), field('Month') - 1, field('Day'), field('Hour'), field('Minute'), field('Second'));
    expect(Math.abs(cameraMs - (Date.now() + 3_600_000))).toBeLessThan(5_000);
    // A client that corrects for the camera's clock is let in.
    expect((await post(device, envelope(info, { createdMs: cameraMs }))).status).toBe(200);
    camera.clockOffsetMs = 0;
    expect((await post(device, envelope(info))).status).toBe(200);
  });

  it('refuses XML that is not namespace well-formed, SOAP 1.1, a header it cannot understand, another content type', async () => {
    const { device } = await start();
    const undeclared = await post(device, envelope('<tds:GetDeviceInformation/>'));
    expect(undeclared.status).toBe(400);
    expect(undeclared.fault).toEqual({ code: 'env:Sender', subcode: 'ter:WellFormed' });
    const undeclaredAttribute = await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}" q:x="1"/>`));
    expect(undeclaredAttribute.fault?.subcode).toBe('ter:WellFormed');
    const soap11 = await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`, {}, { envNs: 'http://schemas.xmlsoap.org/soap/envelope/' }));
    expect(soap11.status).toBe(500);
    expect(soap11.fault?.code).toBe('env:VersionMismatch');
    const header = await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`, {}, { header: '<x:Billing xmlns:x="urn:example:billing" s:mustUnderstand="true"/>' }));
    expect(header.status).toBe(500);
    expect(header.fault?.code).toBe('env:MustUnderstand');
    const wrongNamespace = await post(device, envelope('<GetDeviceInformation xmlns="http://www.onvif.org/ver20/device/wsdl"/>'));
    expect(wrongNamespace.fault).toEqual({ code: 'env:Receiver', subcode: 'ter:ActionNotSupported' });
    expect((await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`), 'text/xml; charset=utf-8')).status).toBe(415);
  });

  it('delivers only the topics a subscription filter names', async () => {
    const { camera, subscribe, pull } = await start();
    const everything = await subscribe();
    const plates = await subscribe(filterXml('tns1:RuleEngine/LicensePlateRecognition/Plate'));
    const ruleEngine = await subscribe(filterXml(' tns1:RuleEngine//. '));
    const either = await subscribe(filterXml('tns1:VideoSource/MotionAlarm|tns1:RuleEngine/LicensePlateRecognition/Plate'));
    const motionOnly = await subscribe(filterXml('tns1:VideoSource//.'));
    // The filter's prefix is resolved to its namespace, whatever the client calls it.
    const otherPrefix = await subscribe(filterXml('o:RuleEngine/LicensePlateRecognition/Plate', ` xmlns:o="${NS.tns1}"`));
    camera.showMotion(true);
    camera.showPlate({ plate: 'GE-123-AB', likelihood: 0.93, country: 'GE' });
    const PLATE = 'tns1:RuleEngine/LicensePlateRecognition/Plate';
    const MOTION = 'tns1:VideoSource/MotionAlarm';
    expect(await pull(everything)).toEqual([MOTION, PLATE]);
    expect(await pull(plates)).toEqual([PLATE]);
    expect(await pull(ruleEngine)).toEqual([PLATE]);
    expect(await pull(either)).toEqual([MOTION, PLATE]);
    expect(await pull(motionOnly)).toEqual([MOTION]);
    expect(await pull(otherPrefix)).toEqual([PLATE]);
    expect(await pull(plates)).toEqual([]);
  });

  it('matches nothing for a filter whose prefix the client did not declare, or that names another namespace', async () => {
    const { camera, subscribe, pull } = await start();
    const undeclared = await subscribe(filterXml('tns1:RuleEngine/LicensePlateRecognition/Plate', ''));
    const elsewhere = await subscribe(filterXml('tns1:RuleEngine/LicensePlateRecognition/Plate', ' xmlns:tns1="http://www.onvif.org/ver20/topics"'));
    camera.showPlate({ plate: 'GE-123-AB', likelihood: 0.93, country: 'GE' });
    expect(await pull(undeclared)).toEqual([]);
    expect(await pull(elsewhere)).toEqual([]);
  });

  it('publishes a vendor-namespace plate topic that only a filter in that namespace receives', async () => {
    const { camera, events, subscribe, pull } = await start({ plateTopic: { prefix: 'tnsvendor', namespace: VENDOR_TOPICS, path: ['LicensePlateRecognition', 'Plate'] } });
    const properties = await post(events, envelope(`<GetEventProperties xmlns="${NS.tev}"/>`));
    expect(properties.text).toContain('<tnsvendor:LicensePlateRecognition><Plate wstop:topic="true">');
    expect(properties.text).toContain(`xmlns:tnsvendor="${VENDOR_TOPICS}"`);
    const asOnvif = await subscribe(filterXml('tns1:LicensePlateRecognition/Plate'));
    const asVendor = await subscribe(filterXml('v:LicensePlateRecognition/Plate', ` xmlns:v="${VENDOR_TOPICS}"`));
    camera.showPlate({ plate: 'GE-123-AB', likelihood: 0.93, country: 'GE' });
    expect(await pull(asOnvif)).toEqual([]);
    expect(await pull(asVendor)).toEqual(['tnsvendor:LicensePlateRecognition/Plate']);
  });

  it('refuses a topic expression it cannot read, in a dialect it does not know', async () => {
    const { events } = await start();
    const create = (filter: string) => post(events, envelope(`<CreatePullPointSubscription xmlns="${NS.tev}" xmlns:wsnt="${NS.wsnt}">${filter}</CreatePullPointSubscription>`));
    const bad = await create(filterXml('tns1:RuleEngine//LicensePlate'));
    expect(bad.status).toBe(400);
    expect(bad.fault).toEqual({ code: 'env:Sender', subcode: 'wsnt:InvalidTopicExpressionFault' });
    const dialect = await create(filterXml('tns1:RuleEngine', ` xmlns:tns1="${NS.tns1}"`, 'http://www.w3.org/TR/1999/REC-xpath-19991116'));
    expect(dialect.fault?.subcode).toBe('wsnt:TopicExpressionDialectUnknownFault');
  });

  it('declares in every reply each prefix the reply uses', async () => {
    replies.length = 0;
    const { camera, device, events, subscribe } = await start();
    const media = `${camera.baseUrl}/onvif/media`;
    await post(device, envelope(`<GetSystemDateAndTime xmlns="${NS.tds}"/>`, null));
    await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`));
    await post(device, envelope(`<GetCapabilities xmlns="${NS.tds}"><Category>All</Category></GetCapabilities>`));
    await post(media, envelope(`<GetProfiles xmlns="${NS.trt}"/>`));
    await post(media, envelope(`<GetSnapshotUri xmlns="${NS.trt}"><ProfileToken>profile_1</ProfileToken></GetSnapshotUri>`));
    await post(media, envelope(`<GetStreamUri xmlns="${NS.trt}"><ProfileToken>profile_1</ProfileToken></GetStreamUri>`));
    await post(events, envelope(`<GetEventProperties xmlns="${NS.tev}"/>`));
    const pullPoint = await subscribe();
    camera.showPlate({ plate: 'GE-123-AB', likelihood: 0.93, country: 'GE' });
    camera.showMotion(false);
    await post(pullPoint, envelope(`<PullMessages xmlns="${NS.tev}"><Timeout>PT0S</Timeout><MessageLimit>10</MessageLimit></PullMessages>`));
    await post(pullPoint, envelope(`<Renew xmlns="${NS.wsnt}"><TerminationTime>PT60S</TerminationTime></Renew>`));
    await post(pullPoint, envelope(`<Unsubscribe xmlns="${NS.wsnt}"/>`));
    // Faults: no such subscription any more, not authorised, not supported, not well-formed.
    await post(pullPoint, envelope(`<PullMessages xmlns="${NS.tev}"><Timeout>PT0S</Timeout><MessageLimit>10</MessageLimit></PullMessages>`));
    await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`, null));
    await post(device, envelope(`<SystemReboot xmlns="${NS.tds}"/>`));
    await post(device, envelope('<tds:GetDeviceInformation/>'));
    expect(replies).toHaveLength(15);
    expect(replies.join('\n')).toContain('wsrf-rw:ResourceUnknownFault');
    for (const reply of replies) {
      expect(undeclaredPrefixes(reply), reply).toEqual([]);
      expect(() => readXml(reply), reply).not.toThrow();
    }
  });
});

describe('simulated camera faults through the control endpoint', () => {
  it('sets the camera an hour off with {"fault":"clock-skew"}, and right again with offsetMs 0', async () => {
    const port = await freePort();
    const config = postConfigSchema.parse({
      version: 1,
      post: { id: 'p' },
      lanes: [{ id: 'lane-1', devices: [{ id: 'cam-1', driver: 'onvif', connection: { url: `http://127.0.0.1:${port}/onvif/device_service`, username: USER, password: PASSWORD } }] }],
      uplink: { brokers: ['mqtt://127.0.0.1:1'] },
    });
    const simulator = await startPostSimulator(config, systemClock, { intervalSec: 3600, traffic: false, desk: null });
    const control = await startControlServer(simulator, 0);
    try {
      const device = `http://127.0.0.1:${port}/onvif/device_service`;
      const inject = (fault: unknown) => fetch(`http://127.0.0.1:${control.port}/faults/cam-1`, { method: 'POST', body: JSON.stringify(fault) });
      const info = envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`);
      expect((await post(device, info)).status).toBe(200);
      expect((await inject({ fault: 'clock-skew', offsetMs: 3_600_000 })).status).toBe(200);
      expect((await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`))).status).toBe(400);
      expect((await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`, { createdMs: Date.now() + 3_600_000 }))).status).toBe(200);
      expect((await inject({ fault: 'clock-skew', offsetMs: 'an hour' })).status).toBe(400);
      expect((await inject({ fault: 'clock-skew', offsetMs: 0 })).status).toBe(200);
      expect((await post(device, envelope(`<GetDeviceInformation xmlns="${NS.tds}"/>`))).status).toBe(200);
    } finally {
      await control.close();
      await simulator.stop();
    }
  });
});
