/**
 * The ONVIF operations the ANPR driver uses, over soap-client.ts: device information and
 * capabilities (device service), profiles and the snapshot URI (media service), and the event
 * service's PullPoint subscription (CreatePullPointSubscription, PullMessages, Renew, Unsubscribe;
 * ONVIF Core Specification 9.1 "Real-time Pull-Point Notification Interface"). Every reply is
 * bounded in bytes and time; every address the camera names passes the device address policy
 * before anything, credentials above all, is sent there.
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
import { decodePullMessagesReply, PULL_MESSAGES_ACTION, type PlateRead } from './profile-m.js';
import { asArray, asNode, clip, soapExchange, soapRequest, text1, textOf, type SoapCredentials, type XmlNode } from './soap-client.js';
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

  constructor(private readonly options: OnvifClientOptions) {
    this.deviceUrl = new URL(options.deviceUrl);
  }

  private call(url: URL, action: string, body: string, timeoutMs = this.options.timeoutMs): Promise<XmlNode> {
    const { credentials, clock, maxReplyBytes, deviceId } = this.options;
    return soapRequest({ url, action, body, credentials, clock, timeoutMs, maxBytes: maxReplyBytes, deviceId });
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
    const get = (authorization?: string): Promise<HttpReply> =>
      httpExchange({
        url: uri,
        method: 'GET',
        headers: authorization ? { authorization } : {},
        maxBytes: this.options.maxSnapshotBytes,
        timeoutMs: this.options.timeoutMs,
        clock: this.options.clock,
        what: `${this.options.deviceId} snapshot`,
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
    if (reply.status !== 200) throw new Error(`${this.options.deviceId} snapshot: HTTP ${reply.status} ${clip(reply.statusText, 100)}`);
    const type = String(reply.headers['content-type'] ?? 'image/jpeg');
    if (!type.startsWith('image/')) throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', `${this.options.deviceId} snapshot: ${clip(type, 100)} is not an image`);
    return reply.body;
  }

  async getEventTopicSet(eventsUrl: URL): Promise<XmlNode> {
    const body = await this.call(eventsUrl, `${TEV}/EventPortType/GetEventPropertiesRequest`, `<GetEventProperties xmlns="${TEV}"/>`);
    return asNode(asNode(body.GetEventPropertiesResponse)?.TopicSet) ?? {};
  }

  async createPullPoint(eventsUrl: URL, topics: string[], terminationSec: number): Promise<PullPoint> {
    const filter = topics.length
      ? `<Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" xmlns:tns1="http://www.onvif.org/ver10/topics">${escapeXml(topics.join('|'))}</wsnt:TopicExpression></Filter>`
      : '';
    const body = await this.call(
      eventsUrl,
      `${TEV}/EventPortType/CreatePullPointSubscriptionRequest`,
      `<CreatePullPointSubscription xmlns="${TEV}" xmlns:wsnt="${WSNT}">${filter}<InitialTerminationTime>PT${terminationSec}S</InitialTerminationTime></CreatePullPointSubscription>`,
    );
    const response = asNode(body.CreatePullPointSubscriptionResponse);
    const address = this.resolve(text1(response?.SubscriptionReference, 'Address'), 'pull point (CreatePullPointSubscription SubscriptionReference/Address)');
    return { address, terminationMs: this.terminationOf(textOf(response?.TerminationTime), textOf(response?.CurrentTime), terminationSec) };
  }

  /**
   * Long-polls the pull point; resolves with the plate reads among at most `limit` notifications
   * (more are counted in `ignored`) and the new termination time.
   */
  async pullMessages(pullPoint: PullPoint, timeoutSec: number, limit: number): Promise<{ reads: PlateRead[]; ignored: number; terminationMs: number }> {
    const { credentials, clock, maxReplyBytes, deviceId, timeoutMs } = this.options;
    const reply = await soapExchange({
      url: pullPoint.address,
      action: PULL_MESSAGES_ACTION,
      body: `<PullMessages xmlns="${TEV}"><Timeout>PT${timeoutSec}S</Timeout><MessageLimit>${limit}</MessageLimit></PullMessages>`,
      credentials,
      clock,
      timeoutMs: timeoutSec * 1000 + timeoutMs,
      maxBytes: maxReplyBytes,
      deviceId,
    });
    const decoded = decodePullMessagesReply(reply.text, reply.status, reply.statusText, limit);
    if (!decoded.ok) throw decoded.error;
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
