/**
 * Decoding ONVIF notification messages into plate reads. Plate data follows Profile M's
 * `tt:LicensePlateInfo` (PlateNumber, PlateType, CountryCode, IssuingEntity, each with a
 * Likelihood attribute), carried in a message Data ElementItem; the vehicle type and the image
 * reference come as Data SimpleItems. Vendors that predate Profile M send SimpleItems instead:
 * Hikvision's `tns1:RuleEngine/VehicleDetector/tnshik:Vehicle` carries PlateNumber, Likelihood
 * (0-100), Country (an English name), Nation (a region) and PictureUri (fixtures/SOURCES.md).
 * Which topics carry plates is discovered, not assumed: any topic whose message description
 * declares a LicensePlateInfo element or a PlateNumber item, with the namespace of every prefix
 * in its path as the camera declared it, vendor ones included.
 */
import { GatewayError } from '../../core/errors.js';
import { countryCode } from './country-code.js';
import { asArray, asNode, parseSoapReply, SoapFault, textOf, type XmlNode } from './soap-client.js';
import { escapeXml } from './ws-security.js';

export interface PlateRead {
  topic: string;
  utcTime: string | null;
  plateNumber: string | null;
  /** 0..1, whichever scale the camera wrote (see `normaliseLikelihood`); null without a plate. */
  plateLikelihood: number | null;
  /** ISO 3166-1 alpha-2 (see country-code.ts). */
  countryCode: string | null;
  plateType: string | null;
  issuingEntity: string | null;
  vehicleType: string | null;
  /** The picture the camera names (Profile M ImageRef, Hikvision PictureUri): a URI, maybe relative. */
  imageRef: string | null;
  /** The camera's own id of the event, when it sends one (EventId, UUID): what duplicates share. */
  eventId: string | null;
  source: Record<string, string>;
}

/** One topic of a camera's topic set (GetEventProperties), as a ConcreteSet topic expression. */
export interface EventTopic {
  /** The path as the camera wrote it, prefixes kept: `tns1:RuleEngine/VehicleDetector/tnshik:Vehicle`. */
  expression: string;
  /** The namespace of each prefix the expression uses, where the camera declared it (missing if it did not). */
  namespaces: Record<string, string>;
  /** Whether its message description declares plate data (a LicensePlateInfo element or a PlateNumber item). */
  plate: boolean;
}

/** Most topics read from one topic set; a real one has 20-60 (an Axis camera's 44, fixtures/). */
export const MAX_EVENT_TOPICS = 256;
/** Most plate topics put in one subscription filter. */
export const MAX_FILTER_TOPICS = 16;

const TOPIC_DESCRIPTIONS = new Set(['MessageDescription', 'MessageInstance']);

function localName(qualified: string): string {
  return qualified.slice(qualified.indexOf(':') + 1);
}

/**
 * Prefixes in scope at an element: its own declarations, the outer scope behind them (a
 * prototype chain, as deep as the nesting: MAX_XML_DEPTH). Copying every declaration in scope
 * into each element that declares one cost a camera's 3,000 declarations times 1,490 elements:
 * 9 s of the event loop for an 82 KB GetEventProperties reply (a helper's audit).
 */
export type Scope = Readonly<Record<string, string>>;

/** The scope of the document's root: nothing declared, and no prototype to inherit names from. */
export const EMPTY_SCOPE: Scope = Object.freeze(Object.create(null) as Scope);

/** The namespace declarations (`@xmlns:p`) of an element, in front of those in scope. Exported for its tests. */
export function scopeOf(element: XmlNode, outer: Scope): Scope {
  let scope: Record<string, string> | null = null;
  for (const [key, value] of Object.entries(element)) {
    if (!key.startsWith('@xmlns:') || typeof value !== 'string') continue;
    scope ??= Object.create(outer) as Record<string, string>;
    Object.defineProperty(scope, key.slice('@xmlns:'.length), { value, enumerable: true, writable: true, configurable: true });
  }
  return scope ?? outer;
}

/** The namespace `prefix` stands for in `scope`, or undefined when nothing in scope declares it. */
export function namespaceOf(scope: Scope, prefix: string): string | undefined {
  // Every object in the chain has a declaring element's own properties, down to EMPTY_SCOPE.
  return prefix in scope ? scope[prefix] : undefined;
}

function isTopicNode(element: XmlNode): boolean {
  return Object.entries(element).some(([key, value]) => (key === '@topic' || key.endsWith(':topic')) && value === 'true') || Object.keys(element).some((key) => TOPIC_DESCRIPTIONS.has(localName(key)));
}

function describesPlate(element: XmlNode): boolean {
  return Object.entries(element).some(([key, value]) => TOPIC_DESCRIPTIONS.has(localName(key)) && /LicensePlateInfo|PlateNumber/.test(JSON.stringify(value)));
}

/**
 * Every topic of the topic set in `document` (a GetEventProperties reply parsed with
 * `parseXmlQualified`, or a TopicSet element), at most MAX_EVENT_TOPICS. A topic is an element
 * marked `wstop:topic="true"` or holding a message description; its expression is the path of
 * element names from the TopicSet down, prefixes as written.
 */
export function eventTopics(document: XmlNode): EventTopic[] {
  const found: EventTopic[] = [];
  const walkTopics = (node: XmlNode, path: string[], scope: Scope): void => {
    for (const [key, value] of Object.entries(node)) {
      if (key.startsWith('@') || key === '#text' || TOPIC_DESCRIPTIONS.has(localName(key))) continue;
      for (const child of asArray(value)) {
        if (found.length >= MAX_EVENT_TOPICS) return;
        const element = asNode(child) ?? {};
        const childScope = scopeOf(element, scope);
        const childPath = [...path, key];
        if (isTopicNode(element)) {
          const namespaces: Record<string, string> = {};
          for (const segment of childPath) {
            const prefix = segment.includes(':') ? segment.slice(0, segment.indexOf(':')) : null;
            const uri = prefix === null ? undefined : namespaceOf(childScope, prefix);
            if (prefix !== null && uri !== undefined) Object.defineProperty(namespaces, prefix, { value: uri, enumerable: true, writable: true, configurable: true });
          }
          found.push({ expression: childPath.join('/'), namespaces, plate: describesPlate(element) });
        }
        walkTopics(element, childPath, childScope);
      }
    }
  };
  const findTopicSet = (node: XmlNode, scope: Scope): boolean => {
    for (const [key, value] of Object.entries(node)) {
      if (key.startsWith('@') || key === '#text') continue;
      for (const child of asArray(value)) {
        const element = asNode(child);
        if (!element) continue;
        const childScope = scopeOf(element, scope);
        if (localName(key) === 'TopicSet') {
          walkTopics(element, [], childScope);
          return true;
        }
        if (findTopicSet(element, childScope)) return true;
      }
    }
    return false;
  };
  findTopicSet(document, scopeOf(document, EMPTY_SCOPE));
  return found;
}

/** The topics of `document` that carry plates (see `eventTopics`). */
export function plateTopics(document: XmlNode): EventTopic[] {
  return eventTopics(document).filter((topic) => topic.plate);
}

const PREFIX = /^[A-Za-z_][\w.-]{0,63}$/;
const SEGMENT = /^[^\s/|:]{1,128}$/;
/** Prefixes a filter may not redeclare: its own element's, and XML's reserved ones. */
const RESERVED_PREFIXES = new Set(['wsnt', 'xml', 'xmlns']);

/**
 * The `Filter` of a CreatePullPointSubscription for `topics` (ONVIF Core Specification 9.6.3,
 * ConcreteSet dialect): their expressions joined by `|`, with every prefix they use declared on
 * the TopicExpression, so a camera resolves `tnshik:Vehicle` to Hikvision's namespace and not to
 * nothing. Null when the topics cannot be expressed faithfully (a prefix the camera never
 * declared, one prefix bound to two namespaces, a name that is no topic name): the caller then
 * subscribes without a filter and keeps only plate notifications, rather than filter everything out.
 */
export function topicFilter(topics: readonly EventTopic[]): string | null {
  if (topics.length === 0 || topics.length > MAX_FILTER_TOPICS) return null;
  const declared = new Map<string, string>();
  for (const topic of topics) {
    for (const segment of topic.expression.split('/')) {
      const colon = segment.indexOf(':');
      const name = colon < 0 ? segment : segment.slice(colon + 1);
      if (!SEGMENT.test(name)) return null;
      if (colon < 0) continue;
      const prefix = segment.slice(0, colon);
      const uri = Object.hasOwn(topic.namespaces, prefix) ? topic.namespaces[prefix] : undefined;
      if (!PREFIX.test(prefix) || RESERVED_PREFIXES.has(prefix) || uri === undefined || uri === '' || uri.length > 512) return null;
      if ((declared.get(prefix) ?? uri) !== uri) return null;
      declared.set(prefix, uri);
    }
  }
  const declarations = [...declared].map(([prefix, uri]) => ` xmlns:${prefix}="${escapeXml(uri)}"`).join('');
  return (
    `<Filter><wsnt:TopicExpression Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"${declarations}>` +
    `${escapeXml(topics.map((topic) => topic.expression).join('|'))}</wsnt:TopicExpression></Filter>`
  );
}

/**
 * A likelihood as 0..1, from either scale cameras use: Profile M's `Likelihood` attribute is 0..1
 * (`written: 'unit'`), Hikvision's `Likelihood` item 0-100 (`'percent'`); a value above 1 is read
 * as a percentage on either, and an integer (`0`, `1`) as a percentage where the camera writes
 * percentages. Anything else (negative, above 100, not a plain decimal number) is no likelihood.
 */
export function normaliseLikelihood(raw: unknown, written: 'unit' | 'percent'): number | null {
  if (typeof raw !== 'string' && typeof raw !== 'number') return null;
  const text = String(raw).trim();
  // Up to 20 decimals: a float written in full (0.8734523456789012, 16) is a likelihood too.
  if (!/^\d{1,3}(?:\.\d{1,20})?$/.test(text)) return null;
  const value = Number(text);
  if (!Number.isFinite(value) || value > 100) return null;
  if (value > 1 || (written === 'percent' && !text.includes('.'))) return value / 100;
  return value;
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
  return { text, likelihood: normaliseLikelihood(asNode(node)?.['@Likelihood'], 'unit') };
}

/** The first of `names` among the items (vendors name the same thing differently). */
function firstItem(items: Record<string, string>, names: readonly string[]): string | undefined {
  for (const name of names) {
    const value = itemOf(items, name);
    if (value !== undefined) return value;
  }
  return undefined;
}

/** Data items naming the event's picture: Profile M's, then vendors' (Hikvision: PictureUri). */
const IMAGE_ITEMS = ['ImageRef', 'Image', 'ImageUri', 'PictureUri', 'PictureURI', 'PictureUrl'];
/** Data or Source items carrying the camera's id of the event. */
const EVENT_ID_ITEMS = ['EventId', 'EventID', 'UUID'];

/**
 * Decodes one wsnt:NotificationMessage; null when it carries no plate data. Never throws on any
 * parsed input; every text in the read is at most 256 characters (a plate at most 32, else the
 * plate is null: unread), a likelihood is within 0..1 or null, a country an alpha-2 code or null.
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
  const sourceItems = simpleItems(message.Source);
  const plateItem = itemOf(items, 'PlateNumber');
  if (!info && plateItem === undefined) return null;
  const plate = info
    ? likelihoodText(info.PlateNumber, MAX_PLATE_TEXT)
    : { text: boundedText(plateItem, MAX_PLATE_TEXT), likelihood: normaliseLikelihood(firstItem(items, ['Likelihood', 'PlateLikelihood', 'Confidence']), 'percent') };
  const utcTime = message['@UtcTime'];
  return {
    topic,
    utcTime: typeof utcTime === 'string' ? boundedText(utcTime, 64) : null,
    plateNumber: plate.text,
    plateLikelihood: plate.text === null ? null : plate.likelihood,
    countryCode: countryCode(info ? likelihoodText(info.CountryCode, 64).text : firstItem(items, ['CountryCode', 'Country'])),
    plateType: info ? likelihoodText(info.PlateType).text : boundedText(itemOf(items, 'PlateType')),
    issuingEntity: info ? likelihoodText(info.IssuingEntity).text : null,
    vehicleType: boundedText(itemOf(items, 'VehicleType')),
    imageRef: boundedText(firstItem(items, IMAGE_ITEMS), 1024),
    eventId: boundedText(firstItem(items, EVENT_ID_ITEMS) ?? firstItem(sourceItems, EVENT_ID_ITEMS), 128),
    source: sourceItems,
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
