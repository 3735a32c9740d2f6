/**
 * The ONVIF operations the ANPR driver uses, over soap-client.ts: device information and
 * capabilities (device service), profiles and the snapshot URI (media service), and the event
 * service's PullPoint subscription (CreatePullPointSubscription, PullMessages, Renew, Unsubscribe;
 * ONVIF Core Specification 9.1 "Real-time Pull-Point Notification Interface"). Every reply is
 * bounded in bytes and time; every address the camera names passes the device address policy
 * before anything, credentials above all, is sent there.
 *
 * Requests are signed with the camera's time, not ours: `measureClock` reads it with the
 * unauthenticated GetSystemDateAndTime, and every WS-UsernameToken's `Created` carries our clock
 * plus that offset (what ONVIF Device Manager and node-onvif do). A request refused as not
 * authorised is retried once after measuring again, for a camera whose clock stepped since.
 *
 * These replace node-onvif, which reads replies whole with only an idle timeout, follows the
 * media address and snapshot URI the camera gives (sending it Basic credentials), and parses with
 * xml2js on the main thread: none of which can be bounded from outside it.
 */
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { httpExchange, type HttpReply } from '../transport/http-exchange.js';
import type { DeviceAddressPolicy } from './device-address.js';
import { basicAuthorization, digestAuthorization, parseDigestChallenge } from './http-auth.js';
import { decodePullMessagesReply, eventTopics, PULL_MESSAGES_ACTION, topicFilter, type EventTopic, type PlateRead } from './profile-m.js';
import {
  asArray,
  asNode,
  clip,
  isAuthenticationFault,
  parseSoapReply,
  parseXmlQualified,
  soapExchange,
  soapRequest,
  text1,
  textOf,
  type SoapCredentials,
  type XmlNode,
} from './soap-client.js';
import { cameraUtcMs, GET_SYSTEM_DATE_AND_TIME_ACTION } from './system-date-and-time.js';
import { escapeXml } from './ws-security.js';

const TDS = 'http://www.onvif.org/ver10/device/wsdl';
const TRT = 'http://www.onvif.org/ver10/media/wsdl';
const TEV = 'http://www.onvif.org/ver10/events/wsdl';
const WSNT = 'http://docs.oasis-open.org/wsn/b-2';

export interface DeviceInformation {
  manufacturer: string | null;
  model: string | null;
  firmwareVersion: string | null;
  serialNumber: string | null;
}

export interface ServiceAddresses {
  /** Capabilities/Events/XAddr as the camera wrote it, not yet checked. */
  events: string | null;
  /** Capabilities/Media/XAddr as the camera wrote it, not yet checked. */
  media: string | null;
}

export interface PullPoint {
  /** The subscription's address, accepted by the address policy. */
  address: URL;
  /** Wall ms when the device will drop the subscription unless renewed. */
  terminationMs: number;
  /** Whether the subscription filters by topic (false: every event comes, see profile-m.ts `topicFilter`). */
  filtered: boolean;
}

/** An image the camera served: at most `maxSnapshotBytes`, its Content-Type an image type. */
export interface CameraImage {
  body: Buffer;
  contentType: string;
}

export interface OnvifClientOptions {
  deviceId: string;
  deviceUrl: string;
  credentials: SoapCredentials;
  clock: Clock;
  /** Deadline of each exchange (a PullMessages gets its long-poll time on top). */
  timeoutMs: number;
  /** Largest SOAP reply read. */
  maxReplyBytes: number;
  /** Largest snapshot read. */
  maxSnapshotBytes: number;
  addresses: DeviceAddressPolicy;
}

export class OnvifClient {
  private readonly deviceUrl: URL;
  /** The camera's clock minus ours, in ms, as last measured (0 until then). */
  clockOffsetMs = 0;
  /** Why the last clock measurement gave nothing, if it did. */
  clockProblem: string | null = null;
  private measuring: Promise<number | null> | null = null;

  constructor(private readonly options: OnvifClientOptions) {
    this.deviceUrl = new URL(options.deviceUrl);
  }

  private call(url: URL, action: string, body: string, timeoutMs = this.options.timeoutMs): Promise<XmlNode> {
    const { credentials, clock, maxReplyBytes, deviceId } = this.options;
    return this.signed(() => soapRequest({ url, action, body, credentials, clock, clockOffsetMs: this.clockOffsetMs, timeoutMs, maxBytes: maxReplyBytes, deviceId }));
  }

  /**
   * Runs a signed request (`send` reads `clockOffsetMs` when it builds the token); when the camera
   * refuses it as not authorised (isAuthenticationFault), measures the camera's clock again and,
   * if that gave a reading, sends it once more. A wrong password is refused twice and thrown.
   */
  private async signed<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (!isAuthenticationFault(error) || (await this.measureClock()) === null) throw error;
      return send();
    }
  }

  /**
   * Reads the camera's clock (GetSystemDateAndTime, unsigned) and sets `clockOffsetMs`; resolves
   * with the offset, or null (keeping the previous one, the reason in `clockProblem`) when the
   * camera gives no reading. Concurrent callers share one request. Never rejects.
   */
  measureClock(): Promise<number | null> {
    this.measuring ??= this.readCameraClock().finally(() => {
      this.measuring = null;
    });
    return this.measuring;
  }

  private async readCameraClock(): Promise<number | null> {
    const { clock, maxReplyBytes, deviceId, timeoutMs } = this.options;
    const sent = clock.now();
    let camera: number | null;
    try {
      const body = await soapRequest({
        url: this.deviceUrl,
        action: GET_SYSTEM_DATE_AND_TIME_ACTION,
        body: `<GetSystemDateAndTime xmlns="${TDS}"/>`,
        credentials: null,
        clock,
        timeoutMs,
        maxBytes: maxReplyBytes,
        deviceId,
      });
      camera = cameraUtcMs(body);
    } catch (error) {
      this.clockProblem = clip((error as Error).message, 200);
      return null;
    }
    if (camera === null) {
      this.clockProblem = 'GetSystemDateAndTime: the reply has no valid UTCDateTime';
      return null;
    }
    const received = clock.now();
    // The camera writes whole seconds, so its time was within [camera, camera + 1 s): the middle
    // of that second, against the middle of our round trip.
    this.clockOffsetMs = Math.round(camera + 500 - (sent + received) / 2);
    this.clockProblem = null;
    return this.clockOffsetMs;
  }

  /** Checks an address the camera gave (see device-address.ts); throws GW_ERR_DEVICE_FOREIGN_ADDRESS. */
  resolve(address: string | null, what: string): URL {
    if (!address) throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', `the camera gave no ${what}`);
    return this.options.addresses.resolve(address, what);
  }

  async getDeviceInformation(): Promise<DeviceInformation> {
    const body = await this.call(this.deviceUrl, `${TDS}/GetDeviceInformation`, `<GetDeviceInformation xmlns="${TDS}"/>`);
    const info = asNode(body.GetDeviceInformationResponse);
    const field = (key: string): string | null => {
      const text = text1(info, key);
      return text === null ? null : clip(text, 128);
    };
    return { manufacturer: field('Manufacturer'), model: field('Model'), firmwareVersion: field('FirmwareVersion'), serialNumber: field('SerialNumber') };
  }

  /** The event and media service addresses, from GetCapabilities (unchecked: see `resolve`). */
  async getCapabilities(): Promise<ServiceAddresses> {
    const body = await this.call(this.deviceUrl, `${TDS}/GetCapabilities`, `<GetCapabilities xmlns="${TDS}"><Category>All</Category></GetCapabilities>`);
    const caps = asNode(asNode(body.GetCapabilitiesResponse)?.Capabilities);
    return { events: text1(caps?.Events, 'XAddr'), media: text1(caps?.Media, 'XAddr') };
  }

  /** The snapshot URI of the first media profile, checked by the address policy. */
  async getSnapshotUri(mediaUrl: URL): Promise<URL> {
    const profiles = await this.call(mediaUrl, `${TRT}/GetProfiles`, `<GetProfiles xmlns="${TRT}"/>`);
    const token = asNode(asArray(asNode(profiles.GetProfilesResponse)?.Profiles)[0])?.['@token'];
    if (typeof token !== 'string' || token === '') throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', 'GetProfiles: the camera has no media profile');
    const body = await this.call(mediaUrl, `${TRT}/GetSnapshotUri`, `<GetSnapshotUri xmlns="${TRT}"><ProfileToken>${escapeXml(clip(token, 64))}</ProfileToken></GetSnapshotUri>`);
    return this.resolve(text1(asNode(body.GetSnapshotUriResponse)?.MediaUri, 'Uri'), 'snapshot URI (GetSnapshotUri MediaUri/Uri)');
  }

  /**
   * GETs a snapshot (at most `maxSnapshotBytes`, within the deadline). Credentials only answer the
   * camera's challenge: Digest when offered, else Basic.
   */
  async fetchSnapshot(uri: URL): Promise<Buffer> {
    return (await this.fetchImage(uri, 'snapshot')).body;
  }

  /**
   * GETs the picture a notification names (Profile M ImageRef, Hikvision PictureUri), bounded as a
   * snapshot is. The reference is resolved against the device URL and must pass the address
   * policy first: a picture on another host is refused (GW_ERR_DEVICE_FOREIGN_ADDRESS) unrequested.
   */
  async fetchPicture(reference: string): Promise<CameraImage> {
    return this.fetchImage(this.resolve(reference, 'picture URI (notification ImageRef/PictureUri)'), 'picture');
  }

  private async fetchImage(uri: URL, what: string): Promise<CameraImage> {
    const get = (authorization?: string): Promise<HttpReply> =>
      httpExchange({
        url: uri,
        method: 'GET',
        headers: authorization ? { authorization } : {},
        maxBytes: this.options.maxSnapshotBytes,
        timeoutMs: this.options.timeoutMs,
        clock: this.options.clock,
        what: `${this.options.deviceId} ${what}`,
      });
    let reply = await get();
    if (reply.status === 401) {
      const { username, password } = this.options.credentials;
      const challenge = String(reply.headers['www-authenticate'] ?? '');
      const digest = parseDigestChallenge(challenge);
      const target = `${uri.pathname}${uri.search}`;
      if (digest) reply = await get(digestAuthorization(digest, { username, password, method: 'GET', uri: target }));
      else if (/\bBasic\b/i.test(challenge)) reply = await get(basicAuthorization(username, password));
    }
    if (reply.status !== 200) throw new Error(`${this.options.deviceId} ${what}: HTTP ${reply.status} ${clip(reply.statusText, 100)}`);
    const type = String(reply.headers['content-type'] ?? 'image/jpeg');
    if (!type.startsWith('image/')) throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', `${this.options.deviceId} ${what}: ${clip(type, 100)} is not an image`);
    return { body: reply.body, contentType: clip(type.split(';')[0]?.trim() ?? 'image/jpeg', 64) };
  }

  /**
   * Every topic of the camera's topic set (GetEventProperties), with the namespace of each prefix
   * as the camera declared it: the reply is read once more with its prefixes kept (see
   * profile-m.ts `eventTopics`), since `tnshik:Vehicle` is a different topic from `Vehicle`.
   */
  async getEventTopics(eventsUrl: URL): Promise<EventTopic[]> {
    const action = `${TEV}/EventPortType/GetEventPropertiesRequest`;
    const { credentials, clock, maxReplyBytes, deviceId, timeoutMs } = this.options;
    const text = await this.signed(async () => {
      const reply = await soapExchange({ url: eventsUrl, action, body: `<GetEventProperties xmlns="${TEV}"/>`, credentials, clock, clockOffsetMs: this.clockOffsetMs, timeoutMs, maxBytes: maxReplyBytes, deviceId });
      parseSoapReply(reply.text, reply.status, reply.statusText, action);
      return reply.text;
    });
    return eventTopics(parseXmlQualified(text));
  }

  /** Subscribes to `topics` (a filter naming them, or none when they cannot be expressed: see `topicFilter`). */
  async createPullPoint(eventsUrl: URL, topics: readonly EventTopic[], terminationSec: number): Promise<PullPoint> {
    const filter = topicFilter(topics) ?? '';
    const body = await this.call(
      eventsUrl,
      `${TEV}/EventPortType/CreatePullPointSubscriptionRequest`,
      `<CreatePullPointSubscription xmlns="${TEV}" xmlns:wsnt="${WSNT}">${filter}<InitialTerminationTime>PT${terminationSec}S</InitialTerminationTime></CreatePullPointSubscription>`,
    );
    const response = asNode(body.CreatePullPointSubscriptionResponse);
    const address = this.resolve(text1(response?.SubscriptionReference, 'Address'), 'pull point (CreatePullPointSubscription SubscriptionReference/Address)');
    return { address, terminationMs: this.terminationOf(textOf(response?.TerminationTime), textOf(response?.CurrentTime), terminationSec), filtered: filter !== '' };
  }

  /**
   * Long-polls the pull point; resolves with the plate reads among at most `limit` notifications
   * (more are counted in `ignored`) and the new termination time.
   */
  async pullMessages(pullPoint: PullPoint, timeoutSec: number, limit: number): Promise<{ reads: PlateRead[]; ignored: number; terminationMs: number }> {
    const { credentials, clock, maxReplyBytes, deviceId, timeoutMs } = this.options;
    const decoded = await this.signed(async () => {
      const reply = await soapExchange({
        url: pullPoint.address,
        action: PULL_MESSAGES_ACTION,
        body: `<PullMessages xmlns="${TEV}"><Timeout>PT${timeoutSec}S</Timeout><MessageLimit>${limit}</MessageLimit></PullMessages>`,
        credentials,
        clock,
        clockOffsetMs: this.clockOffsetMs,
        timeoutMs: timeoutSec * 1000 + timeoutMs,
        maxBytes: maxReplyBytes,
        deviceId,
      });
      const result = decodePullMessagesReply(reply.text, reply.status, reply.statusText, limit);
      if (!result.ok) throw result.error;
      return result;
    });
    return { reads: decoded.reads, ignored: decoded.ignored, terminationMs: this.terminationOf(decoded.terminationTime, decoded.currentTime, 0, pullPoint.terminationMs) };
  }

  async renew(pullPoint: PullPoint, terminationSec: number): Promise<number> {
    const body = await this.call(pullPoint.address, `${WSNT}/SubscriptionManager/RenewRequest`, `<Renew xmlns="${WSNT}"><TerminationTime>PT${terminationSec}S</TerminationTime></Renew>`);
    const response = asNode(body.RenewResponse);
    return this.terminationOf(textOf(response?.TerminationTime), textOf(response?.CurrentTime), terminationSec);
  }

  async unsubscribe(pullPoint: PullPoint): Promise<void> {
    await this.call(pullPoint.address, `${WSNT}/SubscriptionManager/UnsubscribeRequest`, `<Unsubscribe xmlns="${WSNT}"/>`);
  }

  /**
   * Termination time in our clock: the device's TerminationTime minus its CurrentTime (so a
   * camera whose clock is off does not make us renew too late), added to our now.
   */
  private terminationOf(terminationTime: string | null, currentTime: string | null, fallbackSec: number, fallbackMs?: number): number {
    const termination = Date.parse(terminationTime ?? '');
    const current = Date.parse(currentTime ?? '');
    if (Number.isFinite(termination) && Number.isFinite(current)) return this.options.clock.now() + (termination - current);
    return fallbackMs ?? this.options.clock.now() + fallbackSec * 1000;
  }
}
