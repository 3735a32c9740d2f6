/**
 * The ONVIF operations node-onvif does not offer, over soap-client.ts: the capabilities (for the
 * event service address) and the event service's PullPoint subscription
 * (CreatePullPointSubscription, PullMessages, Renew, Unsubscribe; ONVIF Core Specification 9.1
 * "Real-time Pull-Point Notification Interface").
 */
import type { Clock } from '../../core/clock.js';
import { asArray, soapRequest, text1, textOf, type SoapCredentials, type XmlNode } from './soap-client.js';

const TDS = 'http://www.onvif.org/ver10/device/wsdl';
const TEV = 'http://www.onvif.org/ver10/events/wsdl';
const WSNT = 'http://docs.oasis-open.org/wsn/b-2';

export interface DeviceInformation {
  manufacturer: string | null;
  model: string | null;
  firmwareVersion: string | null;
  serialNumber: string | null;
}

export interface PullPoint {
  address: string;
  /** Wall ms when the device will drop the subscription unless renewed. */
  terminationMs: number;
}

export class OnvifClient {
  constructor(
    readonly deviceUrl: string,
    private readonly credentials: SoapCredentials,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
  ) {}

  private call(url: string, action: string, body: string, timeoutMs = this.timeoutMs): Promise<XmlNode> {
    return soapRequest(url, action, body, this.credentials, this.clock, timeoutMs);
  }

  /** The event service's address, from GetCapabilities. */
  async getEventsUrl(): Promise<string> {
    const body = await this.call(this.deviceUrl, `${TDS}/GetCapabilities`, `<GetCapabilities xmlns="${TDS}"><Category>All</Category></GetCapabilities>`);
    const caps = (body.GetCapabilitiesResponse as XmlNode | undefined)?.Capabilities as XmlNode | undefined;
    const eventsUrl = text1(caps?.Events, 'XAddr');
    if (!eventsUrl) throw new Error('the camera reports no event service (Capabilities/Events/XAddr)');
    return eventsUrl;
  }


  async getEventTopicSet(eventsUrl: string): Promise<XmlNode> {
    const body = await this.call(eventsUrl, `${TEV}/EventPortType/GetEventPropertiesRequest`, `<GetEventProperties xmlns="${TEV}"/>`);
    return ((body.GetEventPropertiesResponse as XmlNode | undefined)?.TopicSet as XmlNode | undefined) ?? {};
  }

  async createPullPoint(eventsUrl: string, topics: string[], terminationSec: number): Promise<PullPoint> {
    const filter = topics.length
      ? `<Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" xmlns:tns1="http://www.onvif.org/ver10/topics">${topics.join('|')}</wsnt:TopicExpression></Filter>`
      : '';
    const body = await this.call(
      eventsUrl,
      `${TEV}/EventPortType/CreatePullPointSubscriptionRequest`,
      `<CreatePullPointSubscription xmlns="${TEV}" xmlns:wsnt="${WSNT}">${filter}<InitialTerminationTime>PT${terminationSec}S</InitialTerminationTime></CreatePullPointSubscription>`,
    );
    const response = body.CreatePullPointSubscriptionResponse as XmlNode | undefined;
    const address = text1(response?.SubscriptionReference, 'Address');
    if (!address) throw new Error('CreatePullPointSubscription: no SubscriptionReference/Address');
    return { address, terminationMs: this.terminationOf(response, terminationSec) };
  }

  /** Long-polls the pull point; resolves with the notifications and the new termination time. */
  async pullMessages(pullPoint: PullPoint, timeoutSec: number, limit: number): Promise<{ notifications: XmlNode[]; terminationMs: number }> {
    const body = await this.call(
      pullPoint.address,
      `${TEV}/PullPointSubscription/PullMessagesRequest`,
      `<PullMessages xmlns="${TEV}"><Timeout>PT${timeoutSec}S</Timeout><MessageLimit>${limit}</MessageLimit></PullMessages>`,
      timeoutSec * 1000 + this.timeoutMs,
    );
    const response = body.PullMessagesResponse as XmlNode | undefined;
    return {
      notifications: asArray(response?.NotificationMessage as XmlNode | XmlNode[] | undefined),
      terminationMs: this.terminationOf(response, 0, pullPoint.terminationMs),
    };
  }

  async renew(pullPoint: PullPoint, terminationSec: number): Promise<number> {
    const body = await this.call(pullPoint.address, `${WSNT}/SubscriptionManager/RenewRequest`, `<Renew xmlns="${WSNT}"><TerminationTime>PT${terminationSec}S</TerminationTime></Renew>`);
    return this.terminationOf(body.RenewResponse as XmlNode | undefined, terminationSec);
  }

  async unsubscribe(pullPoint: PullPoint): Promise<void> {
    await this.call(pullPoint.address, `${WSNT}/SubscriptionManager/UnsubscribeRequest`, `<Unsubscribe xmlns="${WSNT}"/>`);
  }

  /**
   * Termination time in our clock: the device's TerminationTime minus its CurrentTime (so a
   * camera whose clock is off does not make us renew too late), added to our now.
   */
  private terminationOf(response: XmlNode | undefined, fallbackSec: number, fallbackMs?: number): number {
    const termination = Date.parse(textOf(response?.TerminationTime) ?? '');
    const current = Date.parse(textOf(response?.CurrentTime) ?? '');
    if (Number.isFinite(termination) && Number.isFinite(current)) return this.clock.now() + (termination - current);
    return fallbackMs ?? this.clock.now() + fallbackSec * 1000;
  }
}
