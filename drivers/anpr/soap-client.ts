/**
 * A small SOAP 1.2 client for ONVIF: WS-Addressing headers (Action, MessageID, ReplyTo, To) and
 * WS-UsernameToken on every request, the namespace prefixes stripped from the parsed reply,
 * SOAP faults turned into errors that keep their code and subcode.
 */
import { randomUUID } from 'node:crypto';
import { XMLParser } from 'fast-xml-parser';
import type { Clock } from '../../core/clock.js';
import { usernameTokenHeader } from './ws-security.js';

export const SOAP_ENV = 'http://www.w3.org/2003/05/soap-envelope';
export const WSA = 'http://www.w3.org/2005/08/addressing';

const parser = new XMLParser({ removeNSPrefix: true, ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: true });

export type XmlNode = Record<string, unknown>;

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

export function parseXml(text: string): XmlNode {
  return parser.parse(text) as XmlNode;
}

export function buildEnvelope(action: string, to: string, body: string, credentials: SoapCredentials, createdIso: string, extraNs = ''): string {
  return (
    `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="${SOAP_ENV}" xmlns:a="${WSA}"${extraNs}><s:Header>` +
    `<a:Action s:mustUnderstand="1">${action}</a:Action>` +
    `<a:MessageID>urn:uuid:${randomUUID()}</a:MessageID>` +
    `<a:ReplyTo><a:Address>${WSA}/anonymous</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">${to}</a:To>` +
    usernameTokenHeader(credentials.username, credentials.password, createdIso) +
    `</s:Header><s:Body>${body}</s:Body></s:Envelope>`
  );
}

/** Posts one SOAP request; resolves with the parsed Body, rejects with SoapFault or a network error. */
export async function soapRequest(
  url: string,
  action: string,
  body: string,
  credentials: SoapCredentials,
  clock: Clock,
  timeoutMs: number,
): Promise<XmlNode> {
  const envelope = buildEnvelope(action, url, body, credentials, new Date(clock.now()).toISOString());
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': `application/soap+xml; charset=utf-8; action="${action}"` },
    body: envelope,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  const parsed = parseXml(text);
  const bodyNode = (parsed.Envelope as XmlNode | undefined)?.Body as XmlNode | undefined;
  const fault = bodyNode?.Fault as XmlNode | undefined;
  if (fault || !response.ok) {
    const code = text1(fault?.Code, 'Value') ?? `HTTP ${response.status}`;
    const subcode = text1((fault?.Code as XmlNode | undefined)?.Subcode, 'Value');
    const reason = text1(fault?.Reason, 'Text') ?? response.statusText;
    throw new SoapFault(`${action.split('/').pop() ?? action}: ${reason} (${subcode ?? code})`, code, subcode, response.status);
  }
  if (!bodyNode) throw new Error(`${url}: reply is not a SOAP envelope`);
  return bodyNode;
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
