/**
 * A simulated ANPR camera speaking ONVIF over HTTP/SOAP 1.2, as strict as the real ones: device
 * service (information, capabilities, date and time), media (profiles, stream and snapshot URIs, a
 * JPEG snapshot), events (GetEventProperties, PullPoint subscriptions with their topic filter,
 * long-polling PullMessages, Renew, Unsubscribe, expiry). Plates are published as Profile M
 * `tt:LicensePlateInfo`.
 *
 * Strict where real cameras are: every request must be namespace well-formed SOAP 1.2 and carry a
 * WS-UsernameToken digest that is right, fresh (±5 min of the camera's own clock) and not replayed
 * (username-token.ts); only GetSystemDateAndTime answers without one. A subscription delivers only
 * the topics its filter names (topic-filter.ts). Every prefix a reply uses is declared in it.
 *
 * The SOAP, XML and WS-Security code here is the simulator's own, written from the specifications:
 * it imports nothing of the driver, so a driver bug cannot hide behind a shared encoder.
 * Faults: expire all subscriptions, unreadable or misread plates, slow replies, a clock that is off.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { listenOn } from '../../core/listen.js';
import { childOf, childText, escapeXml, NS, readXml, splitQName, XmlRefused, type XmlElement } from './soap-xml.js';
import { CONCRETE_DIALECT, CONCRETE_SET_DIALECT, InvalidTopicExpression, TopicFilter, type Topic } from './topic-filter.js';
import { readUsernameToken, UsernameTokenChecker } from './username-token.js';

export const PLATE_TOPIC = 'tns1:RuleEngine/LicensePlateRecognition/Plate';
export const MOTION_TOPIC = 'tns1:VideoSource/MotionAlarm';
/** A 1×1 JPEG: enough for a snapshot test to check the bytes. */
export const SNAPSHOT_JPEG = Buffer.from('/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAAA//EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AN//Z', 'base64');

/** Most bytes one JPEG comment segment carries (its 2-byte length counts itself). */
const COMMENT_BYTES = 65_533;

/**
 * A JPEG of `bytes` bytes (3 fewer at most; at least SNAPSHOT_JPEG's), different each time: the 1×1 image with
 * comment segments (COM, FF FE) of random bytes after its JFIF header, as a camera's picture
 * stands in for a vehicle's. A decoder skips comments, so it is still the 1×1 image.
 */
export function sizedSnapshot(bytes: number): Buffer {
  // After the start marker and the JFIF header (APP0), which must come first.
  const afterHeader = 4 + SNAPSHOT_JPEG.readUInt16BE(4);
  const segments: Buffer[] = [SNAPSHOT_JPEG.subarray(0, afterHeader)];
  for (let left = bytes - SNAPSHOT_JPEG.length; left >= 4; ) {
    const payload = Math.min(COMMENT_BYTES, left - 4);
    const header = Buffer.from([0xff, 0xfe, (payload + 2) >> 8, (payload + 2) & 0xff]);
    segments.push(header, randomBytes(payload));
    left -= payload + 4;
  }
  segments.push(SNAPSHOT_JPEG.subarray(afterHeader));
  return Buffer.concat(segments);
}

/** Largest SOAP request read; a camera's requests are a few KiB. */
export const MAX_REQUEST_BYTES = 64 * 1024;
/** Notifications a subscription keeps for its client at most; older ones are dropped first. */
const MAX_QUEUED = 256;

export interface PlateEvent {
  plate: string;
  likelihood: number;
  country: string;
  plateType?: string;
  vehicleType?: string;
}

/** Where the camera publishes plates: a topic namespace, the prefix it writes it with, the path. */
export interface PlateTopicOption {
  prefix: string;
  namespace: string;
  path: string[];
}

export interface SimulatedCameraOptions {
  username: string;
  password: string;
  clock: Clock;
  model?: string;
  serial?: string;
  /** How far the camera's own clock is ahead of `clock` (negative: behind), ms; default 0. */
  clockOffsetMs?: number;
  /** The plate topic; default ONVIF's tns1:RuleEngine/LicensePlateRecognition/Plate. A vendor namespace tests a client's filter. */
  plateTopic?: PlateTopicOption;
  /**
   * Bytes of each snapshot, as a real camera's (100–500 KB), each one different; default the
   * 1×1 JPEG (SNAPSHOT_JPEG), every time the same.
   */
  snapshotBytes?: number;
}

/** The prefixes the camera's replies are written with. */
const REPLY_PREFIXES: Record<string, string> = {
  env: NS.env,
  wsa: NS.wsa,
  tds: NS.tds,
  trt: NS.trt,
  tev: NS.tev,
  tt: NS.tt,
  ter: NS.ter,
  tns1: NS.tns1,
  wsnt: NS.wsnt,
  wstop: NS.wstop,
  'wsrf-rw': NS.wsrfrw,
  xs: NS.xs,
};

type Published = { topic: Topic; render: (utcTime: string) => string };

interface Subscription {
  id: number;
  /** Monotonic ms (of the clock) when the camera drops it unless renewed. */
  terminationMono: number;
  /** null: no filter, every topic. */
  filter: TopicFilter | null;
  queue: Published[];
  waiter: (() => void) | null;
}

type Reply = (status: number, body: string) => void;

/** SOAP 1.2 Part 2, 7.5.2.2: a Sender fault is HTTP 400, any other 500. */
function faultStatus(code: string): number {
  return code === 'env:Sender' ? 400 : 500;
}

export class SimulatedCamera extends EventEmitter<{ renewed: [id: number]; subscribed: [id: number]; request: [count: number]; refused: [reason: string] }> {
  private server: Server | null = null;
  private readonly subscriptions = new Map<number, Subscription>();
  private readonly tokens: UsernameTokenChecker;
  private readonly plateTopic: PlateTopicOption;
  private nextId = 1;
  port = 0;
  /** Delay every SOAP reply by this many ms of the clock. */
  replyDelayMs = 0;
  /** How far the camera's clock is ahead of the simulator's (negative: behind), ms. */
  clockOffsetMs: number;
  requests = 0;
  /** Why the last request was refused authentication, for tests and the operator. */
  lastRefusal: string | null = null;

  constructor(private readonly options: SimulatedCameraOptions) {
    super();
    this.clockOffsetMs = options.clockOffsetMs ?? 0;
    this.plateTopic = options.plateTopic ?? { prefix: 'tns1', namespace: NS.tns1, path: ['RuleEngine', 'LicensePlateRecognition', 'Plate'] };
    const { prefix, namespace, path } = this.plateTopic;
    if (!splitQName(prefix) || splitQName(prefix)?.prefix !== null || path.length === 0 || path.some((name) => splitQName(name)?.prefix !== null)) throw new Error('plateTopic: prefix and path must be NCNames');
    if (prefix in REPLY_PREFIXES && REPLY_PREFIXES[prefix] !== namespace) throw new Error(`plateTopic: prefix ${prefix} is the camera's own for ${REPLY_PREFIXES[prefix]}`);
    this.tokens = new UsernameTokenChecker({ username: options.username, password: options.password, now: () => this.now() });
  }

  /** The camera's own wall clock. */
  now(): number {
    return this.options.clock.now() + this.clockOffsetMs;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get deviceServiceUrl(): string {
    return `${this.baseUrl}/onvif/device_service`;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<void> {
    // A request must arrive whole within 30 s, as a camera's web server insists.
    this.server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (request, response) => {
      // A request the camera cannot handle ends its connection, as a crashed handler's would.
      this.handle(request, response).catch(() => response.destroy());
    });
    this.port = await listenOn(this.server, port, host);
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions.values()) subscription.waiter?.();
    this.subscriptions.clear();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** A vehicle passes: every live subscription whose filter takes the plate topic gets the read. */
  showPlate(event: PlateEvent): void {
    const { prefix, namespace, path } = this.plateTopic;
    this.publish({ topic: { ns: namespace, path }, render: (utcTime) => plateNotification(event, `${prefix}:${path.join('/')}`, utcTime) });
  }

  /** The motion detector changes state (published on tns1:VideoSource/MotionAlarm). */
  showMotion(active: boolean): void {
    this.publish({ topic: { ns: NS.tns1, path: ['VideoSource', 'MotionAlarm'] }, render: (utcTime) => motionNotification(active, utcTime) });
  }

  /** The camera forgets every subscription (reboot, expiry): the next pull gets a fault. */
  expireSubscriptions(): void {
    for (const subscription of this.subscriptions.values()) subscription.waiter?.();
    this.subscriptions.clear();
  }

  get liveSubscriptions(): number {
    return this.subscriptions.size;
  }

  private publish(published: Published): void {
    const mono = this.options.clock.monotonic();
    for (const subscription of this.subscriptions.values()) {
      if (subscription.terminationMono < mono) {
        this.subscriptions.delete(subscription.id);
        continue;
      }
      if (subscription.filter && !subscription.filter.matches(published.topic)) continue;
      subscription.queue.push(published);
      if (subscription.queue.length > MAX_QUEUED) subscription.queue.shift();
      subscription.waiter?.();
    }
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.requests += 1;
    this.emit('request', this.requests);
    const url = request.url ?? '/';
    if (request.method === 'GET' && url === '/snapshot.jpg') return this.snapshot(request, response);
    // ONVIF Core 25.12, 5.8.2.4 "HTTP errors": 405 for another method, 415 for another encapsulation.
    if (request.method !== 'POST') return void response.writeHead(405, { allow: 'POST' }).end();
    if (!/^application\/soap\+xml\s*(;|$)/i.test(request.headers['content-type'] ?? '')) return void response.writeHead(415).end();
    const text = await readBounded(request);
    if (text === null) {
      response.once('finish', () => request.destroy());
      return void response.writeHead(413, { connection: 'close' }).end();
    }
    const reply: Reply = (status, body) => {
      const send = (): void => {
        if (response.writableEnded || response.destroyed) return;
        response.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' });
        response.end(this.envelope(body));
      };
      if (this.replyDelayMs > 0) this.options.clock.setTimeout(send, this.replyDelayMs);
      else send();
    };
    const refuse = (code: string, subcode: string | null, reason: string): void => reply(faultStatus(code), fault(code, subcode, reason));
    let envelope: XmlElement;
    try {
      envelope = readXml(text);
    } catch (error) {
      if (error instanceof XmlRefused) return refuse('env:Sender', error.subcode, error.message);
      throw error;
    }
    if (envelope.local !== 'Envelope' || envelope.ns !== NS.env) {
      // SOAP 1.2 Part 1, 5.4.7: an envelope in another namespace (SOAP 1.1's) is a VersionMismatch.
      if (envelope.local === 'Envelope') return refuse('env:VersionMismatch', null, `the envelope is in ${envelope.ns ?? 'no namespace'}; this camera speaks SOAP 1.2`);
      return refuse('env:Sender', 'ter:TagMismatch', 'the document is no SOAP envelope');
    }
    const header = childOf(envelope, NS.env, 'Header');
    const body = childOf(envelope, NS.env, 'Body');
    if (!body) return refuse('env:Sender', 'ter:Tag', 'the envelope has no Body');
    const notUnderstood = header?.children.find((block) => mustUnderstand(block) && !understood(block));
    if (notUnderstood) return refuse('env:MustUnderstand', null, `header block {${notUnderstood.ns ?? ''}}${notUnderstood.local} is not understood`);
    const operation = body.children[0];
    if (!operation) return refuse('env:Sender', 'ter:Tag', 'the Body is empty');
    // GetSystemDateAndTime answers without authentication (ONVIF Core 25.12, 8.3.6: access class
    // PRE_AUTH, 5.9.4.3): a client needs the camera's time to build a token it will accept.
    const preAuth = operation.ns === NS.tds && operation.local === 'GetSystemDateAndTime';
    if (!preAuth) {
      const verdict = this.tokens.check(readUsernameToken(header));
      if (!verdict.ok) {
        this.lastRefusal = verdict.reason;
        this.emit('refused', verdict.reason);
        // ONVIF Core 25.12, 5.9.1: UsernameToken only, so HTTP 400 with env:Sender ter:NotAuthorized.
        return reply(400, fault('env:Sender', 'ter:NotAuthorized', 'Sender not authorized'));
      }
    }
    try {
      this.dispatch(url, operation, reply);
    } catch (error) {
      if (error instanceof SoapFault) return refuse(error.code, error.subcode, error.message);
      throw error;
    }
  }

  private dispatch(url: string, operation: XmlElement, reply: Reply): void {
    const pullMatch = /^\/onvif\/pullpoint\/(\d+)$/.exec(url);
    if (pullMatch) return this.pullPoint(Number(pullMatch[1]), operation, reply);
    const name = `${url} {${operation.ns ?? ''}}${operation.local}`;
    switch (name) {
      case `/onvif/device_service {${NS.tds}}GetDeviceInformation`:
        return reply(
          200,
          `<tds:GetDeviceInformationResponse><tds:Manufacturer>border-gateway sim</tds:Manufacturer><tds:Model>${escapeXml(this.options.model ?? 'ANPR-1')}</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>${escapeXml(this.options.serial ?? 'SIM0001')}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`,
        );
      case `/onvif/device_service {${NS.tds}}GetSystemDateAndTime`: {
        const d = new Date(this.now());
        return reply(
          200,
          `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>` +
            `<tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
            `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
        );
      }
      case `/onvif/device_service {${NS.tds}}GetCapabilities`:
        return reply(
          200,
          `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>${this.baseUrl}/onvif/events</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport><tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events><tt:Media><tt:XAddr>${this.baseUrl}/onvif/media</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`,
        );
      case `/onvif/media {${NS.trt}}GetProfiles`:
        return reply(200, `<trt:GetProfilesResponse><trt:Profiles token="profile_1" fixed="true"><tt:Name>main</tt:Name></trt:Profiles></trt:GetProfilesResponse>`);
      case `/onvif/media {${NS.trt}}GetStreamUri`:
        return reply(200, `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://127.0.0.1:554/main</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`);
      case `/onvif/media {${NS.trt}}GetSnapshotUri`:
        return reply(
          200,
          `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${this.baseUrl}/snapshot.jpg</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>`,
        );
      case `/onvif/events {${NS.tev}}GetEventProperties`:
        return reply(200, this.eventProperties());
      case `/onvif/events {${NS.tev}}CreatePullPointSubscription`:
        return this.createPullPoint(operation, reply);
      default:
        throw new SoapFault('env:Receiver', 'ter:ActionNotSupported', `{${operation.ns ?? ''}}${operation.local} is not supported at ${url}`);
    }
  }

  /** ONVIF Core 25.12, 9.1.1; the filter as 9.6.3 defines it (see topic-filter.ts). */
  private createPullPoint(request: XmlElement, reply: Reply): void {
    const filterElement = childOf(request, NS.tev, 'Filter');
    let filter: TopicFilter | null = null;
    for (const item of filterElement?.children ?? []) {
      if (item.ns !== NS.wsnt || item.local !== 'TopicExpression') {
        // WS-BaseNotification 1.3, 4.2: a filter the producer does not support is InvalidFilterFault.
        throw new SoapFault('env:Sender', 'wsnt:InvalidFilterFault', `this camera filters by wsnt:TopicExpression only, not {${item.ns ?? ''}}${item.local}`);
      }
      const dialect = item.attributes.get('Dialect') ?? '';
      if (!TopicFilter.isKnownDialect(dialect)) throw new SoapFault('env:Sender', 'wsnt:TopicExpressionDialectUnknownFault', `unknown topic expression dialect ${dialect.slice(0, 200)}`);
      if (filter) throw new SoapFault('env:Sender', 'wsnt:InvalidFilterFault', 'one TopicExpression per subscription');
      try {
        filter = TopicFilter.parse(item.text, dialect, item.scope);
      } catch (error) {
        if (error instanceof InvalidTopicExpression) throw new SoapFault('env:Sender', 'wsnt:InvalidTopicExpressionFault', error.message);
        throw error;
      }
    }
    const seconds = this.terminationSec(childText(request, NS.tev, 'InitialTerminationTime'), 60);
    const id = this.nextId++;
    const now = this.now();
    this.subscriptions.set(id, { id, terminationMono: this.options.clock.monotonic() + seconds * 1000, filter, queue: [], waiter: null });
    this.emit('subscribed', id);
    reply(
      200,
      `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${this.baseUrl}/onvif/pullpoint/${id}</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${iso(now + seconds * 1000)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`,
    );
  }

  private pullPoint(id: number, request: XmlElement, reply: Reply): void {
    const mono = this.options.clock.monotonic();
    const subscription = this.subscriptions.get(id);
    if (!subscription || subscription.terminationMono < mono) {
      this.subscriptions.delete(id);
      return reply(400, fault('env:Sender', 'wsrf-rw:ResourceUnknownFault', `subscription ${id} does not exist`));
    }
    const terminationTime = (): string => iso(this.now() + (subscription.terminationMono - this.options.clock.monotonic()));
    const operation = `{${request.ns ?? ''}}${request.local}`;
    if (operation === `{${NS.wsnt}}Unsubscribe`) {
      this.subscriptions.delete(id);
      subscription.waiter?.();
      return reply(200, '<wsnt:UnsubscribeResponse/>');
    }
    if (operation === `{${NS.wsnt}}Renew`) {
      const seconds = this.terminationSec(childText(request, NS.wsnt, 'TerminationTime'), 60);
      subscription.terminationMono = mono + seconds * 1000;
      this.emit('renewed', id);
      return reply(200, `<wsnt:RenewResponse><wsnt:TerminationTime>${terminationTime()}</wsnt:TerminationTime><wsnt:CurrentTime>${iso(this.now())}</wsnt:CurrentTime></wsnt:RenewResponse>`);
    }
    if (operation !== `{${NS.tev}}PullMessages`) throw new SoapFault('env:Receiver', 'ter:ActionNotSupported', `${operation} is not supported at a pull point`);
    const timeoutSec = durationSec(childText(request, NS.tev, 'Timeout')) ?? 10;
    const limit = Math.max(1, Math.min(1000, Number.parseInt(childText(request, NS.tev, 'MessageLimit') ?? '10', 10) || 10));
    let timer: TimerHandle | null = null;
    const respond = (): void => {
      if (timer) this.options.clock.clearTimeout(timer);
      subscription.waiter = null;
      const events = subscription.queue.splice(0, limit);
      const current = iso(this.now());
      reply(200, `<tev:PullMessagesResponse><tev:CurrentTime>${current}</tev:CurrentTime><tev:TerminationTime>${terminationTime()}</tev:TerminationTime>${events.map((e) => e.render(current)).join('')}</tev:PullMessagesResponse>`);
    };
    if (subscription.queue.length > 0) return respond();
    subscription.waiter = respond;
    timer = this.options.clock.setTimeout(respond, timeoutSec * 1000);
  }

  /**
   * Seconds from now of an AbsoluteOrRelativeTimeType (WS-BaseNotification 1.3, 4.1): a duration,
   * or a dateTime read on the camera's own clock (ONVIF Core 25.12, 9.1.1: devices take both).
   */
  private terminationSec(text: string | null, fallback: number): number {
    if (text === null || text === '') return fallback;
    const relative = durationSec(text);
    if (relative !== null) return relative;
    const absolute = Date.parse(text);
    if (!/T.*(Z|[+-]\d{2}:\d{2})$/.test(text) || !Number.isFinite(absolute)) throw new SoapFault('env:Sender', 'wsnt:UnacceptableInitialTerminationTimeFault', `"${text.slice(0, 64)}" is no duration or dateTime`);
    const seconds = (absolute - this.now()) / 1000;
    if (seconds <= 0) throw new SoapFault('env:Sender', 'wsnt:UnacceptableInitialTerminationTimeFault', `${text} is in the past of the camera's clock (${iso(this.now())})`);
    return seconds;
  }

  private snapshot(request: IncomingMessage, response: ServerResponse): void {
    const expected = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
    if (request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="camera"' }).end();
      return;
    }
    const { snapshotBytes } = this.options;
    response.writeHead(200, { 'content-type': 'image/jpeg' }).end(snapshotBytes === undefined ? SNAPSHOT_JPEG : sizedSnapshot(snapshotBytes));
  }

  /** The reply envelope: every prefix any reply uses is declared here (Namespaces in XML 1.0, 5). */
  private envelope(body: string): string {
    const { prefix, namespace } = this.plateTopic;
    const declarations = Object.entries(REPLY_PREFIXES).map(([p, ns]) => ` xmlns:${p}="${ns}"`);
    if (!(prefix in REPLY_PREFIXES)) declarations.push(` xmlns:${prefix}="${escapeXml(namespace)}"`);
    return `<?xml version="1.0" encoding="UTF-8"?><env:Envelope${declarations.join('')}><env:Body>${body}</env:Body></env:Envelope>`;
  }

  /** ONVIF Core 25.12, 9.5 and 9.6.2: every topic carries wstop:topic="true" and its MessageDescription. */
  private eventProperties(): string {
    const { prefix, path } = this.plateTopic;
    const plateDescription =
      '<tt:MessageDescription IsProperty="false">' +
      '<tt:Source><tt:SimpleItemDescription Name="VideoSourceConfigurationToken" Type="tt:ReferenceToken"/></tt:Source>' +
      '<tt:Data><tt:ElementItemDescription Name="LicensePlateInfo" Type="tt:LicensePlateInfo"/><tt:SimpleItemDescription Name="VehicleType" Type="xs:string"/><tt:SimpleItemDescription Name="ImageRef" Type="xs:anyURI"/></tt:Data>' +
      '</tt:MessageDescription>';
    const motion =
      '<tns1:VideoSource><MotionAlarm wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Source><tt:SimpleItemDescription Name="Source" Type="tt:ReferenceToken"/></tt:Source><tt:Data><tt:SimpleItemDescription Name="State" Type="xs:boolean"/></tt:Data></tt:MessageDescription></MotionAlarm></tns1:VideoSource>';
    const [root, ...below] = path as [string, ...string[]];
    let plate = plateDescription;
    for (const [index, name] of [...below].reverse().entries()) plate = index === 0 ? `<${name} wstop:topic="true">${plate}</${name}>` : `<${name}>${plate}</${name}>`;
    plate = below.length === 0 ? `<${prefix}:${root} wstop:topic="true">${plate}</${prefix}:${root}>` : `<${prefix}:${root}>${plate}</${prefix}:${root}>`;
    return (
      '<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>' +
      `<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>${motion}${plate}</wstop:TopicSet>` +
      `<wsnt:TopicExpressionDialect>${CONCRETE_SET_DIALECT}</wsnt:TopicExpressionDialect><wsnt:TopicExpressionDialect>${CONCRETE_DIALECT}</wsnt:TopicExpressionDialect>` +
      '<tev:MessageContentSchemaLocation>http://www.onvif.org/onvif/ver10/schema/onvif.xsd</tev:MessageContentSchemaLocation></tev:GetEventPropertiesResponse>'
    );
  }
}


/** A request refused with a SOAP fault (code and subcode as QNames the envelope declares). */
class SoapFault extends Error {
  constructor(
    readonly code: string,
    readonly subcode: string | null,
    message: string,
  ) {
    super(message);
  }
}

/** WS-Addressing and WS-Security header blocks are understood; any other with mustUnderstand is not (SOAP 1.2 Part 1, 5.2.3). */
function understood(block: XmlElement): boolean {
  return (block.ns === NS.wsa && ['Action', 'To', 'MessageID', 'ReplyTo', 'From', 'FaultTo', 'RelatesTo'].includes(block.local)) || (block.ns === NS.wsse && block.local === 'Security');
}

function mustUnderstand(block: XmlElement): boolean {
  const value = block.attributes.get(`{${NS.env}}mustUnderstand`)?.trim();
  return value === '1' || value === 'true';
}

/** The request body, or null when it is larger than MAX_REQUEST_BYTES. */
async function readBounded(request: IncomingMessage): Promise<string | null> {
  if (Number(request.headers['content-length'] ?? 0) > MAX_REQUEST_BYTES) return null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_REQUEST_BYTES) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function plateNotification(event: PlateEvent, topic: string, utcTime: string): string {
  return (
    `<wsnt:NotificationMessage><wsnt:Topic Dialect="${CONCRETE_SET_DIALECT}">${topic}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${utcTime}" PropertyOperation="Initialized">` +
    `<tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="vsc_1"/></tt:Source>` +
    `<tt:Data><tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo>` +
    `<tt:PlateNumber Likelihood="${event.likelihood}">${escapeXml(event.plate)}</tt:PlateNumber>` +
    `<tt:PlateType Likelihood="0.9">${escapeXml(event.plateType ?? 'Normal')}</tt:PlateType>` +
    `<tt:CountryCode Likelihood="0.95">${escapeXml(event.country)}</tt:CountryCode>` +
    `<tt:IssuingEntity Likelihood="0.9">${escapeXml(event.country)}</tt:IssuingEntity>` +
    `</tt:LicensePlateInfo></tt:ElementItem>` +
    `<tt:SimpleItem Name="VehicleType" Value="${escapeXml(event.vehicleType ?? 'Truck')}"/>` +
    `<tt:SimpleItem Name="ImageRef" Value="/snapshot.jpg"/>` +
    `</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`
  );
}

function motionNotification(active: boolean, utcTime: string): string {
  return (
    `<wsnt:NotificationMessage><wsnt:Topic Dialect="${CONCRETE_SET_DIALECT}">${MOTION_TOPIC}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${utcTime}" PropertyOperation="Changed">` +
    `<tt:Source><tt:SimpleItem Name="Source" Value="vs_1"/></tt:Source>` +
    `<tt:Data><tt:SimpleItem Name="State" Value="${active}"/></tt:Data>` +
    `</tt:Message></wsnt:Message></wsnt:NotificationMessage>`
  );
}

/** SOAP 1.2 Part 1, 5.4: Code/Value, an optional Subcode/Value, Reason/Text. */
function fault(code: string, subcode: string | null, reason: string): string {
  const sub = subcode ? `<env:Subcode><env:Value>${subcode}</env:Value></env:Subcode>` : '';
  return `<env:Fault><env:Code><env:Value>${code}</env:Value>${sub}</env:Code><env:Reason><env:Text xml:lang="en">${escapeXml(reason)}</env:Text></env:Reason></env:Fault>`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** An xs:duration of hours, minutes and seconds (`PT10S`, `PT1M`, `PT1H30M`) → seconds; null when it is not one. */
function durationSec(text: string | null): number | null {
  const match = text ? /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(text) : null;
  if (!match || text === 'PT') return null;
  return Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0);
}
