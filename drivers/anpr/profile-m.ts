/**
 * Decoding ONVIF notification messages into plate reads. Plate data follows Profile M's
 * `tt:LicensePlateInfo` (PlateNumber, PlateType, CountryCode, IssuingEntity, each with a
 * Likelihood attribute), carried in a message Data ElementItem; the vehicle type and the image
 * reference come as Data SimpleItems. Which topics carry plates is discovered, not assumed: any
 * topic whose message description declares a LicensePlateInfo element or a PlateNumber item.
 */
import { GatewayError } from '../../core/errors.js';
import { asArray, asNode, parseSoapReply, SoapFault, textOf, type XmlNode } from './soap-client.js';

export interface PlateRead {
  topic: string;
  utcTime: string | null;
  plateNumber: string | null;
  plateLikelihood: number | null;
  countryCode: string | null;
  plateType: string | null;
  issuingEntity: string | null;
  vehicleType: string | null;
  imageRef: string | null;
  source: Record<string, string>;
}

/** Topic paths (as `tns1:A/B/C`) whose message description mentions plate data. */
export function plateTopics(topicSet: XmlNode, prefix = 'tns1:'): string[] {
  const found: string[] = [];
  const walk = (node: unknown, path: string[]): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node as XmlNode)) {
      if (key.startsWith('@') || key === '#text') continue;
      if (key === 'MessageDescription') {
        if (/LicensePlateInfo|PlateNumber/.test(JSON.stringify(child))) found.push(prefix + path.join('/'));
        continue;
      }
      for (const item of asArray(child as XmlNode | XmlNode[])) walk(item, [...path, key]);
    }
  };
  walk(topicSet, []);
  return found;
}

/** Longest device text kept in a read; a longer value is dropped (null), never cut to something it did not say. */
const MAX_TEXT = 256;
/** Longest plate text accepted from a camera (as core/plates admits). */
const MAX_PLATE_TEXT = 32;
/** Most Source items kept per read. */
const MAX_SOURCE_ITEMS = 16;

function boundedText(value: string | null | undefined, max = MAX_TEXT): string | null {
  if (typeof value !== 'string') return null;
  const text = value.trim();
  return text !== '' && text.length <= max ? text : null;
}

function simpleItems(node: unknown): Record<string, string> {
  const items: Record<string, string> = {};
  let kept = 0;
  for (const item of asArray(asNode(node)?.SimpleItem)) {
    const element = asNode(item);
    const name = element?.['@Name'];
    const value = element?.['@Value'];
    if (typeof name !== 'string' || name.length > 64 || Object.hasOwn(items, name) || kept >= MAX_SOURCE_ITEMS) continue;
    const text = typeof value === 'string' ? value : '';
    if (text.length > MAX_TEXT) continue;
    // Defined, not assigned: a camera naming an item `__proto__` must not reach the prototype.
    Object.defineProperty(items, name, { value: text, enumerable: true, writable: true, configurable: true });
    kept += 1;
  }
  return items;
}

function itemOf(items: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(items, name) ? items[name] : undefined;
}

function likelihoodText(node: unknown, max = MAX_TEXT): { text: string | null; likelihood: number | null } {
  const text = boundedText(textOf(Array.isArray(node) ? undefined : node), max);
  const raw = asNode(node)?.['@Likelihood'];
  const likelihood = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : Number.NaN;
  // ONVIF likelihoods are 0..1 (tt:LicensePlateInfo); anything else is no likelihood.
  return { text, likelihood: Number.isFinite(likelihood) && likelihood >= 0 && likelihood <= 1 ? likelihood : null };
}

/**
 * Decodes one wsnt:NotificationMessage; null when it carries no plate data. Never throws on any
 * parsed input; every text in the read is at most 256 characters (a plate at most 32, else the
 * plate is null: unread), a likelihood is within 0..1 or null.
 */
export function decodePlateNotification(notification: XmlNode): PlateRead | null {
  const topic = boundedText(textOf(notification.Topic)) ?? '';
  const message = asNode(asNode(notification.Message)?.Message);
  if (!message) return null;
  const data = asNode(message.Data);
  const element = asArray(data?.ElementItem)
    .map(asNode)
    .find((item) => item?.['@Name'] === 'LicensePlateInfo');
  const info = asNode(element?.LicensePlateInfo);
  const items = simpleItems(data);
  const plateItem = itemOf(items, 'PlateNumber');
  if (!info && plateItem === undefined) return null;
  const plate = info ? likelihoodText(info.PlateNumber, MAX_PLATE_TEXT) : { text: boundedText(plateItem, MAX_PLATE_TEXT), likelihood: null };
  const utcTime = message['@UtcTime'];
  return {
    topic,
    utcTime: typeof utcTime === 'string' ? boundedText(utcTime, 64) : null,
    plateNumber: plate.text,
    plateLikelihood: plate.likelihood,
    countryCode: info ? likelihoodText(info.CountryCode, 64).text : boundedText(itemOf(items, 'CountryCode'), 64),
    plateType: info ? likelihoodText(info.PlateType).text : boundedText(itemOf(items, 'PlateType')),
    issuingEntity: info ? likelihoodText(info.IssuingEntity).text : null,
    vehicleType: boundedText(itemOf(items, 'VehicleType')),
    imageRef: boundedText(itemOf(items, 'ImageRef') ?? itemOf(items, 'Image'), 1024),
    source: simpleItems(message.Source),
  };
}

export const PULL_MESSAGES_ACTION = 'http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest';

export type PullMessagesReply =
  | {
      ok: true;
      /** The plate reads among the first `limit` notifications, in order. */
      reads: PlateRead[];
      /** Notifications beyond the MessageLimit asked for: not decoded, counted. */
      ignored: number;
      /** The device's CurrentTime and TerminationTime, as it wrote them. */
      currentTime: string | null;
      terminationTime: string | null;
    }
  | { ok: false; error: SoapFault | GatewayError };

/**
 * Decodes the text of a PullMessages reply (bounded already in bytes by the exchange): plate reads,
 * or the typed error the reply amounts to (a SOAP fault, an unacceptable document). Never throws.
 */
export function decodePullMessagesReply(text: string, status: number, statusText: string, limit: number): PullMessagesReply {
  let body: XmlNode;
  try {
    body = parseSoapReply(text, status, statusText, PULL_MESSAGES_ACTION);
  } catch (error) {
    if (error instanceof SoapFault || error instanceof GatewayError) return { ok: false, error };
    return { ok: false, error: new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', `PullMessages: ${String(error)}`, { cause: error }) };
  }
  const response = asNode(body.PullMessagesResponse);
  if (!response) return { ok: false, error: new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', 'PullMessages: the reply has no PullMessagesResponse') };
  const notifications = asArray(response.NotificationMessage);
  const reads: PlateRead[] = [];
  for (const notification of notifications.slice(0, limit)) {
    const node = asNode(notification);
    const read = node ? decodePlateNotification(node) : null;
    if (read) reads.push(read);
  }
  return {
    ok: true,
    reads,
    ignored: Math.max(0, notifications.length - limit),
    currentTime: boundedText(textOf(response.CurrentTime), 64),
    terminationTime: boundedText(textOf(response.TerminationTime), 64),
  };
}
