/**
 * A small SOAP 1.2 client for ONVIF: WS-Addressing headers (Action, MessageID, ReplyTo, To) and
 * WS-UsernameToken on every request (but GetSystemDateAndTime), signed with the camera's clock
 * when the caller gives its offset, the namespace prefixes stripped from the parsed reply (kept by
 * `parseXmlQualified` where they are data: topic sets), SOAP faults turned into errors that keep
 * their code and subcode. Every reply is bounded before it is parsed: in bytes and time by the
 * HTTP exchange, then in markup, nesting and well-formedness by `parseXml`, so no camera can make
 * the gateway parse for long, nor pass a reply cut short for a whole one (docs/integrators.md,
 * "Camera replies").
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import { GatewayError } from '../../core/errors.js';
import { httpExchange } from '../transport/http-exchange.js';
import { escapeXml, usernameTokenHeader } from './ws-security.js';
import { parseXmlTree, XmlTreeError, type XmlNode } from './xml-tree.js';

export const SOAP_ENV = 'http://www.w3.org/2003/05/soap-envelope';
export const WSA = 'http://www.w3.org/2005/08/addressing';

/**
 * Most tags, attributes and entity references a parsed document may hold. Parsing costs a few
 * microseconds for each (measured on a loaded 2-core test machine: 6,000 of the worst kind,
 * distinct tag names with an attribute each, parse in 25–65 ms; 1 MiB of them, unbounded, in
 * ~240 ms), so this, with the byte cap, keeps one parse short. Real replies hold far fewer: a
 * PullMessages with 10 plates ~300; an Axis event list of 44 event types (GetEventInstances,
 * 32 KB) ~1,100.
 */
export const MAX_XML_MARKUP = 6000;
/** Deepest element nesting accepted; ONVIF replies nest about 15 deep. */
export const MAX_XML_DEPTH = 64;

export type { XmlNode };

export class SoapFault extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly subcode: string | null,
    readonly httpStatus: number,
  ) {
    super(message);
    this.name = 'SoapFault';
  }
}

export interface SoapCredentials {
  username: string;
  password: string;
}

/**
 * Parses XML from a device. Refuses (GW_ERR_DEVICE_REPLY_INVALID) a document type declaration —
 * SOAP 1.2 Part 1, section 5 forbids one in a SOAP message, and it is what every entity-expansion
 * bomb needs — a document that is not well-formed, and nesting deeper than MAX_XML_DEPTH; refuses
 * (GW_ERR_DEVICE_REPLY_TOO_LARGE) more than `maxMarkup` tags, attributes and entity references,
 * counted before parsing starts. Well-formedness matters because a push or reply cut in half
 * must not read as a shorter, valid one (`<ANPR><licensePlate>AB12`); xml-tree.ts builds the
 * objects, with element and attribute names without their namespace prefix (what most of the
 * drivers read).
 */
export function parseXml(text: string, maxMarkup = MAX_XML_MARKUP): XmlNode {
  return boundedParse(text, maxMarkup, false);
}

/**
 * As `parseXml`, but element and attribute names keep their prefixes (`tns1:RuleEngine`,
 * `@xmlns:tnshik`), so the namespace a prefix stands for can be looked up where it is declared.
 */
export function parseXmlQualified(text: string, maxMarkup = MAX_XML_MARKUP): XmlNode {
  return boundedParse(text, maxMarkup, true);
}

function boundedParse(text: string, maxMarkup: number, keepPrefixes: boolean): XmlNode {
  if (/<!(?:DOCTYPE|ENTITY)/i.test(text)) {
    throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', 'the XML has a document type declaration; none is accepted from a device (SOAP 1.2 Part 1, 5)');
  }
  if (exceedsMarkup(text, maxMarkup)) {
    throw new GatewayError('GW_ERR_DEVICE_REPLY_TOO_LARGE', `the XML has more than ${maxMarkup} tags, attributes and entity references`, { details: { maxMarkup } });
  }
  try {
    return parseXmlTree(text, { maxDepth: MAX_XML_DEPTH, keepPrefixes });
  } catch (error) {
    if (!(error instanceof XmlTreeError)) throw error;
    const { at, message } = error;
    throw new GatewayError(
      'GW_ERR_DEVICE_REPLY_INVALID',
      at ? `the XML is not well-formed (line ${at.line}, column ${at.column}): ${clip(message, 200)}` : `unparsable XML: ${clip(message, 200)}`,
    );
  }
}

/** Counts `<`, `=` and `&` (an upper bound of tags, attributes and entity references) up to the limit. */
function exceedsMarkup(text: string, maxMarkup: number): boolean {
  let count = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if ((code === 60 || code === 61 || code === 38) && (count += 1) > maxMarkup) return true;
  }
  return false;
}

/** A SOAP 1.2 envelope with WS-Addressing headers, signed with a UsernameToken unless `credentials` is null. */
export function buildEnvelope(action: string, to: string, body: string, credentials: SoapCredentials | null, createdIso: string): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="${SOAP_ENV}" xmlns:a="${WSA}"><s:Header>` +
    `<a:Action s:mustUnderstand="1">${action}</a:Action>` +
    `<a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${WSA}/anonymous</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">${escapeXml(to)}</a:To>` +
    (credentials ? usernameTokenHeader(credentials.username, credentials.password, createdIso) : '') +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

export interface SoapCall {
  /** Where to post; only an address the device address policy accepted. */
  url: URL;
  action: string;
  body: string;
  /** Who signs the request (WS-UsernameToken); null sends it unsigned (GetSystemDateAndTime). */
  credentials: SoapCredentials | null;
  clock: Clock;
  /**
   * The device's clock minus ours, in ms (see onvif-client.ts, `measureClock`): the token's
   * `Created` is our time plus this, so a camera whose clock is off still accepts it. Default 0.
   */
  clockOffsetMs?: number;
  /** Deadline of the whole exchange. */
  timeoutMs: number;
  /** Largest reply accepted, in bytes. */
  maxBytes: number;
  /** Names the device in errors. */
  deviceId: string;
}

/** The raw reply of one SOAP request, bounded in bytes and time (see http-exchange.ts). */
export async function soapExchange(call: SoapCall): Promise<{ text: string; status: number; statusText: string }> {
  const created = new Date(call.clock.now() + (call.clockOffsetMs ?? 0)).toISOString();
  const envelope = buildEnvelope(call.action, call.url.href, call.body, call.credentials, created);
  const reply = await httpExchange({
    url: call.url,
    method: 'POST',
    headers: { 'content-type': `application/soap+xml; charset=utf-8; action="${call.action}"` },
    body: envelope,
    maxBytes: call.maxBytes,
    timeoutMs: call.timeoutMs,
    clock: call.clock,
    what: `${call.deviceId} ${operationOf(call.action)}`,
  });
  return { text: reply.body.toString('utf8'), status: reply.status, statusText: reply.statusText };
}

/** Posts one SOAP request; resolves with the parsed Body, rejects with SoapFault, a GatewayError or a network error. */
export async function soapRequest(call: SoapCall): Promise<XmlNode> {
  const reply = await soapExchange(call);
  return parseSoapReply(reply.text, reply.status, reply.statusText, call.action);
}

/** The Body of a SOAP reply; throws SoapFault for a fault (or an HTTP error), GatewayError when it is no acceptable SOAP. */
export function parseSoapReply(text: string, status: number, statusText: string, action: string): XmlNode {
  const operation = operationOf(action);
  const ok = status >= 200 && status < 300;
  let parsed: XmlNode;
  try {
    parsed = parseXml(text);
  } catch (error) {
    if (!ok) throw new SoapFault(`${operation}: HTTP ${status} ${JSON.stringify(clip(statusText, 100))}`, `HTTP ${status}`, null, status);
    const cause = error as GatewayError;
    throw new GatewayError(cause.code, `${operation}: ${cause.message}`, { cause });
  }
  const bodyNode = asNode(asNode(parsed.Envelope)?.Body);
  const fault = asNode(bodyNode?.Fault);
  if (fault || !ok) {
    const code = clip(text1(fault?.Code, 'Value') ?? `HTTP ${status}`, 100);
    const subcode = clipOrNull(text1(asNode(fault?.Code)?.Subcode, 'Value'), 100);
    const reason = clip(text1(fault?.Reason, 'Text') ?? statusText, 200);
    // The device's words quoted: they read as what it said, never as the gateway's own.
    throw new SoapFault(`${operation}: ${JSON.stringify(reason)} (${JSON.stringify(subcode ?? code).slice(1, -1)})`, code, subcode, status);
  }
  if (!bodyNode) throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', `${operation}: the reply is not a SOAP envelope`);
  return bodyNode;
}

/**
 * Whether a device refused a request's credentials: a SOAP fault whose code or subcode is
 * `ter:NotAuthorized` (ONVIF Core Specification, 5.11.2.2) or `wsse:FailedAuthentication` /
 * `wsse:FailedCheck` (OASIS WSS SOAP Message Security 1.1, 12), or an HTTP 401. A camera answers
 * so both for a wrong password and for a token whose `Created` is outside its window: the caller
 * measures the camera's clock again and retries once (onvif-client.ts).
 */
export function isAuthenticationFault(error: unknown): error is SoapFault {
  if (!(error instanceof SoapFault)) return false;
  return error.httpStatus === 401 || /NotAuthori[sz]ed|FailedAuthentication|FailedCheck/i.test(`${error.code} ${error.subcode ?? ''}`);
}

/** `http://…/GetCapabilities` → `GetCapabilities`; `…/PullMessagesRequest` → `PullMessages`. */
export function operationOf(action: string): string {
  return (action.split('/').pop() ?? action).replace(/Request$/, '');
}

/** The value as an element node, or undefined when it is text, a list or missing. */
export function asNode(value: unknown): XmlNode | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as XmlNode) : undefined;
}

/** At most `max` characters of device text, for messages and health (a device can send megabytes). */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

function clipOrNull(text: string | null, max: number): string | null {
  return text === null ? null : clip(text, max);
}

/** The text of `node[key]` (which may carry attributes). */
export function text1(node: unknown, key: string): string | null {
  const value = (node as XmlNode | undefined)?.[key];
  return textOf(value);
}

export function textOf(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number') return String(value);
  const inner = (value as XmlNode)['#text'];
  return typeof inner === 'string' || typeof inner === 'number' ? String(inner) : null;
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
