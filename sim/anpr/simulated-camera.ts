/**
 * A simulated ANPR camera speaking ONVIF over HTTP/SOAP: device service (information,
 * capabilities), media (profiles, snapshot URI, a JPEG snapshot), events (GetEventProperties with
 * a licence-plate topic, PullPoint subscriptions with long-polling PullMessages, Renew,
 * Unsubscribe, expiry). Every SOAP request must carry a valid WS-UsernameToken digest. Plates are
 * published as Profile M `tt:LicensePlateInfo`. Faults: expire all subscriptions, unreadable or
 * misread plates, slow replies.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { parseXml, textOf, type XmlNode } from '../../drivers/anpr/soap-client.js';
import { escapeXml, verifyUsernameToken } from '../../drivers/anpr/ws-security.js';

export const PLATE_TOPIC = 'tns1:RuleEngine/LicensePlateRecognition/Plate';
/** A 1×1 JPEG: enough for a snapshot test to check the bytes. */
export const SNAPSHOT_JPEG = Buffer.from('/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAAA//EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AN//Z', 'base64');

export interface PlateEvent {
  plate: string;
  likelihood: number;
  country: string;
  plateType?: string;
  vehicleType?: string;
}

interface Subscription {
  id: number;
  terminationMs: number;
  queue: PlateEvent[];
  waiter: (() => void) | null;
}

const ENVELOPE_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:tt="http://www.onvif.org/ver10/schema" ' +
  'xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tev="http://www.onvif.org/ver10/events/wsdl" ' +
  'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1" ' +
  'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:ter="http://www.onvif.org/ver10/error"><env:Body>';
const ENVELOPE_CLOSE = '</env:Body></env:Envelope>';

export class SimulatedCamera extends EventEmitter<{ renewed: [id: number]; subscribed: [id: number]; request: [count: number] }> {
  private server: Server | null = null;
  private readonly subscriptions = new Map<number, Subscription>();
  private nextId = 1;
  port = 0;
  /** Delay every SOAP reply by this many ms of the clock. */
  replyDelayMs = 0;
  requests = 0;

  constructor(
    private readonly options: { username: string; password: string; clock: Clock; model?: string; serial?: string },
  ) {
    super();
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get deviceServiceUrl(): string {
    return `${this.baseUrl}/onvif/device_service`;
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<void> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(port, host, resolve));
    const address = this.server.address();
    this.port = typeof address === 'object' && address ? address.port : port;
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

  /** A vehicle passes: every live subscription gets the plate read. */
  showPlate(event: PlateEvent): void {
    for (const subscription of this.subscriptions.values()) {
      subscription.queue.push(event);
      subscription.waiter?.();
    }
  }

  /** The camera forgets every subscription (reboot, expiry): the next pull gets a fault. */
  expireSubscriptions(): void {
    for (const subscription of this.subscriptions.values()) subscription.waiter?.();
    this.subscriptions.clear();
  }

  get liveSubscriptions(): number {
    return this.subscriptions.size;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    this.requests += 1;
    this.emit('request', this.requests);
    const url = request.url ?? '/';
    if (request.method === 'GET' && url === '/snapshot.jpg') return this.snapshot(request, response);
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const envelope = parseXml(Buffer.concat(chunks).toString('utf8')).Envelope as XmlNode | undefined;
    const reply = (status: number, body: string): void => {
      const send = (): void => {
        if (response.writableEnded) return;
        response.writeHead(status, { 'content-type': 'application/soap+xml; charset=utf-8' });
        response.end(ENVELOPE_OPEN + body + ENVELOPE_CLOSE);
      };
      if (this.replyDelayMs > 0) this.options.clock.setTimeout(send, this.replyDelayMs);
      else send();
    };
    const body = (envelope?.Body as XmlNode | undefined) ?? {};
    const operation = Object.keys(body).find((key) => !key.startsWith('@')) ?? '';
    // GetSystemDateAndTime answers without authentication (ONVIF Core 5.9.4): clients need the
    // camera's time to build a valid UsernameToken.
    if (!envelope || (operation !== 'GetSystemDateAndTime' && !this.authorised(envelope))) {
      return reply(400, fault('env:Sender', 'ter:NotAuthorized', 'Sender not authorized'));
    }
    const pullMatch = /^\/onvif\/pullpoint\/(\d+)$/.exec(url);
    if (pullMatch) return this.pullPoint(Number(pullMatch[1]), operation, body[operation] as XmlNode, reply);
    switch (`${url} ${operation}`) {
      case '/onvif/device_service GetDeviceInformation':
        return reply(200, `<tds:GetDeviceInformationResponse><tds:Manufacturer>border-gateway sim</tds:Manufacturer><tds:Model>${this.options.model ?? 'ANPR-1'}</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion><tds:SerialNumber>${this.options.serial ?? 'SIM0001'}</tds:SerialNumber><tds:HardwareId>sim</tds:HardwareId></tds:GetDeviceInformationResponse>`);
      case '/onvif/device_service GetSystemDateAndTime': {
        const d = new Date(this.options.clock.now());
        return reply(
          200,
          `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>` +
            `<tt:UTCDateTime><tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute><tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time>` +
            `<tt:Date><tt:Year>${d.getUTCFullYear()}</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`,
        );
      }
      case '/onvif/device_service GetCapabilities':
        return reply(200, `<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Events><tt:XAddr>${this.baseUrl}/onvif/events</tt:XAddr><tt:WSPullPointSupport>true</tt:WSPullPointSupport></tt:Events><tt:Media><tt:XAddr>${this.baseUrl}/onvif/media</tt:XAddr></tt:Media></tds:Capabilities></tds:GetCapabilitiesResponse>`);
      case '/onvif/media GetProfiles':
        return reply(200, `<trt:GetProfilesResponse><trt:Profiles token="profile_1" fixed="true"><tt:Name>main</tt:Name></trt:Profiles></trt:GetProfilesResponse>`);
      case '/onvif/media GetStreamUri':
        return reply(200, `<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>rtsp://127.0.0.1:554/main</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>`);
      case '/onvif/media GetSnapshotUri':
        return reply(200, `<trt:GetSnapshotUriResponse><trt:MediaUri><tt:Uri>${this.baseUrl}/snapshot.jpg</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetSnapshotUriResponse>`);
      case '/onvif/events GetEventProperties':
        return reply(200, this.eventProperties());
      case '/onvif/events CreatePullPointSubscription': {
        const seconds = durationSec(textOf((body[operation] as XmlNode).InitialTerminationTime)) ?? 60;
        const id = this.nextId++;
        const now = this.options.clock.now();
        this.subscriptions.set(id, { id, terminationMs: now + seconds * 1000, queue: [], waiter: null });
        this.emit('subscribed', id);
        return reply(200, `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa:Address>${this.baseUrl}/onvif/pullpoint/${id}</wsa:Address></tev:SubscriptionReference><wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime><wsnt:TerminationTime>${iso(now + seconds * 1000)}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>`);
      }
      default:
        return reply(400, fault('env:Receiver', 'ter:ActionNotSupported', `${operation} is not supported at ${url}`));
    }
  }

  private pullPoint(id: number, operation: string, request: XmlNode, reply: (status: number, body: string) => void): void {
    const now = this.options.clock.now();
    const subscription = this.subscriptions.get(id);
    if (!subscription || subscription.terminationMs < now) {
      this.subscriptions.delete(id);
      return reply(400, fault('env:Sender', 'wsrf-rw:ResourceUnknownFault', `subscription ${id} does not exist`));
    }
    if (operation === 'Unsubscribe') {
      this.subscriptions.delete(id);
      subscription.waiter?.();
      return reply(200, '<wsnt:UnsubscribeResponse/>');
    }
    if (operation === 'Renew') {
      const seconds = durationSec(textOf(request.TerminationTime)) ?? 60;
      subscription.terminationMs = now + seconds * 1000;
      this.emit('renewed', id);
      return reply(200, `<wsnt:RenewResponse><wsnt:TerminationTime>${iso(subscription.terminationMs)}</wsnt:TerminationTime><wsnt:CurrentTime>${iso(now)}</wsnt:CurrentTime></wsnt:RenewResponse>`);
    }
    if (operation !== 'PullMessages') return reply(400, fault('env:Receiver', 'ter:ActionNotSupported', operation));
    const timeoutSec = durationSec(textOf(request.Timeout)) ?? 10;
    const limit = Number(textOf(request.MessageLimit) ?? 10);
    let timer: TimerHandle | null = null;
    const respond = (): void => {
      if (timer) this.options.clock.clearTimeout(timer);
      subscription.waiter = null;
      const events = subscription.queue.splice(0, limit);
      const current = this.options.clock.now();
      reply(200, `<tev:PullMessagesResponse><tev:CurrentTime>${iso(current)}</tev:CurrentTime><tev:TerminationTime>${iso(subscription.terminationMs)}</tev:TerminationTime>${events.map((e) => notification(e, current)).join('')}</tev:PullMessagesResponse>`);
    };
    if (subscription.queue.length > 0) return respond();
    subscription.waiter = respond;
    timer = this.options.clock.setTimeout(respond, timeoutSec * 1000);
  }

  private authorised(envelope: XmlNode): boolean {
    const token = ((envelope.Header as XmlNode | undefined)?.Security as XmlNode | undefined)?.UsernameToken as XmlNode | undefined;
    if (!token) return false;
    return verifyUsernameToken(
      { username: textOf(token.Username) ?? '', digest: textOf(token.Password) ?? '', nonce: textOf(token.Nonce) ?? '', created: textOf(token.Created) ?? '' },
      this.options.username,
      this.options.password,
    );
  }

  private snapshot(request: IncomingMessage, response: ServerResponse): void {
    const expected = `Basic ${Buffer.from(`${this.options.username}:${this.options.password}`).toString('base64')}`;
    if (request.headers.authorization !== expected) {
      response.writeHead(401, { 'www-authenticate': 'Basic realm="camera"' }).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'image/jpeg' }).end(SNAPSHOT_JPEG);
  }

  private eventProperties(): string {
    return (
      '<tev:GetEventPropertiesResponse><tev:TopicNamespaceLocation>http://www.onvif.org/onvif/ver10/topics/topicns.xml</tev:TopicNamespaceLocation>' +
      '<wsnt:FixedTopicSet>true</wsnt:FixedTopicSet><wstop:TopicSet>' +
      '<tns1:VideoSource><MotionAlarm wstop:topic="true"><tt:MessageDescription IsProperty="true"><tt:Data><tt:SimpleItemDescription Name="State" Type="xs:boolean"/></tt:Data></tt:MessageDescription></MotionAlarm></tns1:VideoSource>' +
      '<tns1:RuleEngine><LicensePlateRecognition><Plate wstop:topic="true"><tt:MessageDescription IsProperty="false">' +
      '<tt:Source><tt:SimpleItemDescription Name="VideoSourceConfigurationToken" Type="tt:ReferenceToken"/></tt:Source>' +
      '<tt:Data><tt:ElementItemDescription Name="LicensePlateInfo" Type="tt:LicensePlateInfo"/><tt:SimpleItemDescription Name="VehicleType" Type="xs:string"/><tt:SimpleItemDescription Name="ImageRef" Type="xs:anyURI"/></tt:Data>' +
      '</tt:MessageDescription></Plate></LicensePlateRecognition></tns1:RuleEngine>' +
      '</wstop:TopicSet><wsnt:TopicExpressionDialect>http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet</wsnt:TopicExpressionDialect></tev:GetEventPropertiesResponse>'
    );
  }
}

function notification(event: PlateEvent, nowMs: number): string {
  return (
    `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${PLATE_TOPIC}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message UtcTime="${iso(nowMs)}" PropertyOperation="Initialized">` +
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

function fault(code: string, subcode: string, reason: string): string {
  return `<env:Fault><env:Code><env:Value>${code}</env:Value><env:Subcode><env:Value>${subcode}</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">${escapeXml(reason)}</env:Text></env:Reason></env:Fault>`;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `PT10S`, `PT1M` → seconds. */
function durationSec(text: string | null): number | null {
  const match = text ? /^PT(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?$/.exec(text) : null;
  if (!match) return null;
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}
