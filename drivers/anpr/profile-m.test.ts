/**
 * Profile M notification decoding and PullMessages reply parsing on whatever a camera may send:
 * random text, random parsed trees, and structurally plausible SOAP with random values and random
 * breakage. Never a throw; always valid reads (bounded text, likelihoods within 0..1) or a typed
 * error. Plus the bounds of parseXml itself.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { decodePlateNotification, decodePullMessagesReply, EMPTY_SCOPE, eventTopics, namespaceOf, scopeOf, type PlateRead, type PullMessagesReply } from './profile-m.js';
import { MAX_XML_MARKUP, parseXml, parseXmlQualified, SoapFault, type XmlNode } from './soap-client.js';
import { escapeXml } from './ws-security.js';

const RUNS = 10_000;

function boundedText(value: unknown, max: number): boolean {
  return value === null || (typeof value === 'string' && value.length > 0 && value.length <= max && value === value.trim());
}

function isValidRead(read: PlateRead): boolean {
  const source = Object.entries(read.source);
  return (
    typeof read.topic === 'string' &&
    read.topic.length <= 256 &&
    boundedText(read.utcTime, 64) &&
    boundedText(read.plateNumber, 32) &&
    (read.plateLikelihood === null || (Number.isFinite(read.plateLikelihood) && read.plateLikelihood >= 0 && read.plateLikelihood <= 1)) &&
    boundedText(read.countryCode, 64) &&
    boundedText(read.plateType, 256) &&
    boundedText(read.issuingEntity, 256) &&
    boundedText(read.vehicleType, 256) &&
    boundedText(read.imageRef, 1024) &&
    Object.getPrototypeOf(read.source) === Object.prototype &&
    source.length <= 16 &&
    source.every(([name, value]) => name.length <= 64 && typeof value === 'string' && value.length <= 256)
  );
}

function isTypedOutcome(reply: PullMessagesReply, limit: number): boolean {
  if (!reply.ok) {
    return reply.error instanceof SoapFault || (reply.error instanceof GatewayError && /^GW_ERR_DEVICE_REPLY_(INVALID|TOO_LARGE)$/.test(reply.error.code));
  }
  return reply.reads.length <= limit && reply.reads.every(isValidRead) && reply.ignored >= 0 && boundedText(reply.currentTime, 64) && boundedText(reply.terminationTime, 64);
}

// --- Structurally plausible XML: the element and attribute names ONVIF uses, random values. ---

const NAMES = ['Envelope', 'Body', 'Header', 'Fault', 'Code', 'Subcode', 'Value', 'Reason', 'Text', 'PullMessagesResponse', 'CurrentTime', 'TerminationTime', 'NotificationMessage', 'Topic', 'Message', 'Source', 'Data', 'SimpleItem', 'ElementItem', 'LicensePlateInfo', 'PlateNumber', 'PlateType', 'CountryCode', 'IssuingEntity', '__proto__', 'constructor'];
const PREFIXES = ['', 'tt:', 'wsnt:', 'tev:', 'env:', 's:'];
const ATTRIBUTES = ['Name', 'Value', 'Likelihood', 'UtcTime', 'Dialect', '__proto__'];
const ITEM_NAMES = ['PlateNumber', 'VehicleType', 'ImageRef', 'Image', 'CountryCode', 'PlateType', 'VideoSourceConfigurationToken', '__proto__', 'toString', 'hasOwnProperty'];

const value = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 4, arbitrary: fc.constantFrom('GE-123-AB', 'AB123CD', 'unknown', 'Truck', 'GE', '', ' ', '2026-11-26T06:00:00Z', 'NaN', 'Infinity', '-0', '1e309') },
  { weight: 2, arbitrary: fc.double().map(String) },
  { weight: 2, arbitrary: fc.integer({ min: -200, max: 200 }).map((n) => String(n / 100)) },
  // Longer than any bound of a read (256, 1024 for an image reference).
  { weight: 1, arbitrary: fc.constantFrom('x'.repeat(257), 'y'.repeat(1025)) },
);
/** Escaped most of the time, raw now and then: raw text breaks the XML, which is the point. */
const textOf = fc.tuple(value, fc.integer({ min: 0, max: 99 })).map(([text, coin]) => (coin === 0 ? text : escapeXml(text)));
const attribute = fc.tuple(fc.constantFrom(...ATTRIBUTES), fc.oneof(fc.constantFrom(...ITEM_NAMES), value)).map(([name, text]) => ` ${name}="${escapeXml(text)}"`);

/** `arbitrary` one time in eight, else null. */
function rarely<T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

type Tree = string;
const { element } = fc.letrec<{ element: Tree; content: Tree }>((tie) => ({
  element: fc
    .tuple(fc.constantFrom(...PREFIXES), fc.constantFrom(...NAMES), fc.array(attribute, { maxLength: 3 }), tie('content'), fc.integer({ min: 0, max: 19 }))
    .map(([prefix, name, attributes, content, coin]) => {
      const open = `<${prefix}${name}${attributes.join('')}`;
      if (coin === 0) return `${open}/>`;
      if (coin === 1) return `${open}>${content}`; // never closed
      return `${open}>${content}</${prefix}${name}>`;
    }),
  content: fc.oneof({ depthSize: 'small', withCrossShrink: true }, textOf, fc.array(tie('element'), { maxLength: 4 }).map((children) => children.join(''))),
}));

const notification = fc
  .record({
    topic: textOf,
    utc: fc.option(textOf),
    plate: fc.option(textOf),
    likelihood: fc.option(value),
    country: fc.option(textOf),
    items: fc.array(fc.tuple(fc.constantFrom(...ITEM_NAMES), value), { maxLength: 20 }),
    sourceItems: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...ITEM_NAMES), fc.string({ maxLength: 80 })), value), { maxLength: 20 }),
    asElement: fc.boolean(),
    extra: rarely(element),
  })
  .map(({ topic, utc, plate, likelihood, country, items, sourceItems, asElement, extra }) => {
    const simple = (pairs: [string, string][]) => pairs.map(([name, text]) => `<tt:SimpleItem Name="${escapeXml(name)}" Value="${escapeXml(text)}"/>`).join('');
    const info =
      asElement && plate !== null
        ? `<tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo><tt:PlateNumber${likelihood === null ? '' : ` Likelihood="${escapeXml(likelihood)}"`}>${plate}</tt:PlateNumber>${country === null ? '' : `<tt:CountryCode>${country}</tt:CountryCode>`}</tt:LicensePlateInfo></tt:ElementItem>`
        : '';
    return (
      `<wsnt:NotificationMessage><wsnt:Topic>${topic}</wsnt:Topic><wsnt:Message><tt:Message${utc === null ? '' : ` UtcTime="${escapeXml(utc)}"`}>` +
      `<tt:Source>${simple(sourceItems)}</tt:Source><tt:Data>${info}${simple(items)}${extra ?? ''}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`
    );
  });

const fault = fc.tuple(textOf, textOf, textOf).map(([code, subcode, reason]) => `<env:Fault><env:Code><env:Value>${code}</env:Value><env:Subcode><env:Value>${subcode}</env:Value></env:Subcode></env:Code><env:Reason><env:Text>${reason}</env:Text></env:Reason></env:Fault>`);

const plausibleReply = fc
  .record({
    notifications: fc.array(notification, { maxLength: 11 }),
    times: fc.tuple(fc.option(textOf), fc.option(textOf)),
    fault: rarely(fault),
    wrapper: fc.constantFrom('env:Envelope', 'env:Envelope', 'env:Envelope', 'Envelope', 'Body', 'x:Envelope'),
    // Cut short somewhere (a reply the connection lost), sometimes.
    cut: rarely(fc.nat()),
  })
  .map(({ notifications, times: [current, termination], fault: faultXml, wrapper, cut }) => {
    const body =
      faultXml ??
      `<tev:PullMessagesResponse>${current === null ? '' : `<tev:CurrentTime>${current}</tev:CurrentTime>`}${termination === null ? '' : `<tev:TerminationTime>${termination}</tev:TerminationTime>`}${notifications.join('')}</tev:PullMessagesResponse>`;
    const xml = `<?xml version="1.0" encoding="UTF-8"?><${wrapper} xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body>${body}</env:Body></${wrapper}>`;
    return cut === null ? xml : xml.slice(0, cut % (xml.length + 1));
  });

const status = fc.constantFrom(200, 200, 200, 202, 400, 401, 500, 0);
const limit = fc.integer({ min: 1, max: 12 });

/** An arbitrary parsed tree, as the parser could hand one over (and worse). */
const { node } = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 40 }),
    fc.constant(undefined),
    fc.constant(null),
    fc.double(),
    fc.array(tie('node'), { maxLength: 3 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...NAMES, ...ATTRIBUTES.map((a) => `@${a}`), '#text'), fc.string({ maxLength: 8 })), tie('node'), { maxKeys: 5 }),
  ),
}));

describe('PullMessages replies and Profile M notifications on any input', () => {
  it('never throw on random text: valid reads or a typed error', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: fc.constantFrom('<', '>', '/', '=', '"', '&', ';', '!', 'a', ' ', '?', '[', ']'), maxLength: 200 })), status, limit, (text, code, max) => {
        return isTypedOutcome(decodePullMessagesReply(text, code, 'status', max), max);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throw on random element trees: valid reads or a typed error', () => {
    fc.assert(
      fc.property(element, status, limit, (xml, code, max) => isTypedOutcome(decodePullMessagesReply(`<env:Envelope><env:Body>${xml}</env:Body></env:Envelope>`, code, 'status', max), max)),
      { numRuns: RUNS },
    );
  });

  it('never throw on plausible replies with random values and breakage: valid reads or a typed error', () => {
    fc.assert(
      fc.property(plausibleReply, status, limit, (xml, code, max) => isTypedOutcome(decodePullMessagesReply(xml, code, 'status', max), max)),
      { numRuns: RUNS },
    );
  });

  it('decoding a notification never throws on any parsed tree, and yields a valid read or none', () => {
    fc.assert(
      fc.property(node, (tree) => {
        const read = decodePlateNotification(typeof tree === 'object' && tree !== null && !Array.isArray(tree) ? (tree as XmlNode) : { Message: tree });
        return read === null || isValidRead(read);
      }),
      { numRuns: RUNS },
    );
  });

  it('reads well-formed plates, keeps at most MessageLimit notifications, and drops what is out of bounds', () => {
    const plate = (text: string, likelihood: string) =>
      `<wsnt:NotificationMessage><wsnt:Topic>tns1:RuleEngine/LicensePlateRecognition/Plate</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2026-11-26T06:00:00Z"><tt:Data><tt:ElementItem Name="LicensePlateInfo"><tt:LicensePlateInfo><tt:PlateNumber Likelihood="${likelihood}">${text}</tt:PlateNumber></tt:LicensePlateInfo></tt:ElementItem><tt:SimpleItem Name="__proto__" Value="x"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`;
    const reply = `<env:Envelope><env:Body><tev:PullMessagesResponse><tev:CurrentTime>2026-11-26T06:00:00Z</tev:CurrentTime>${plate('GE 123 AB', '0.87')}${plate('X'.repeat(33), '87')}${plate('AB123CD', '0.5')}</tev:PullMessagesResponse></env:Body></env:Envelope>`;
    const decoded = decodePullMessagesReply(reply, 200, 'OK', 2);
    expect(decoded).toMatchObject({ ok: true, ignored: 1, currentTime: '2026-11-26T06:00:00Z', terminationTime: null });
    expect(decoded.ok && decoded.reads.map((r) => [r.plateNumber, r.plateLikelihood])).toEqual([
      ['GE 123 AB', 0.87],
      [null, null],
    ]);
    expect(decodePullMessagesReply('<html>Bad gateway</html>', 502, 'Bad Gateway', 10)).toMatchObject({ ok: false, error: { name: 'SoapFault', httpStatus: 502 } });
    expect(decodePullMessagesReply('<env:Envelope><env:Body/></env:Envelope>', 200, 'OK', 10)).toMatchObject({ ok: false, error: { code: 'GW_ERR_DEVICE_REPLY_INVALID' } });
  });
});

describe('parseXml bounds', () => {
  it('refuses any document type declaration, so no entity is ever expanded', () => {
    const bomb = '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>';
    expect(() => parseXml(bomb)).toThrow(expect.objectContaining({ code: 'GW_ERR_DEVICE_REPLY_INVALID' }) as Error);
    expect(() => parseXml('<!doctype r><r/>')).toThrow(/document type declaration/);
    expect(() => parseXml('<r><!ENTITY x "y"></r>')).toThrow(/document type declaration/);
    // The five predefined entities still read as text.
    expect(parseXml('<r>a &amp; b &lt;c&gt;</r>')).toEqual({ r: 'a & b <c>' });
  });

  it('refuses nesting much deeper than an ONVIF reply and more markup than MAX_XML_MARKUP, before parsing', () => {
    // MAX_XML_DEPTH (64) elements nested pass, one more does not.
    expect(() => parseXml(`${'<a>'.repeat(65)}${'</a>'.repeat(65)}`)).toThrow(expect.objectContaining({ code: 'GW_ERR_DEVICE_REPLY_INVALID' }) as Error);
    expect(() => parseXml(`${'<a>'.repeat(64)}${'</a>'.repeat(64)}`)).not.toThrow();
    expect(() => parseXml(`<r>${'<a/>'.repeat(MAX_XML_MARKUP)}</r>`)).toThrow(expect.objectContaining({ code: 'GW_ERR_DEVICE_REPLY_TOO_LARGE' }) as Error);
    expect(() => parseXml(`<r>${'&amp;'.repeat(MAX_XML_MARKUP)}</r>`)).toThrow(expect.objectContaining({ code: 'GW_ERR_DEVICE_REPLY_TOO_LARGE' }) as Error);
    expect(() => parseXml(`<r>${'<a/>'.repeat(MAX_XML_MARKUP / 2 - 10)}</r>`)).not.toThrow();
  });
});

describe('topic namespaces in scope', () => {
  const envelope = (declarations: string, topicSet: string): string =>
    `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wstop="http://docs.oasis-open.org/wsn/t-1"${declarations}><env:Body><GetEventPropertiesResponse><wstop:TopicSet>${topicSet}</wstop:TopicSet></GetEventPropertiesResponse></env:Body></env:Envelope>`;

  it('takes each prefix from the nearest element declaring it, never from a sibling or from Object.prototype', () => {
    const xml = envelope(
      ' xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:v="outer"',
      '<tns1:RuleEngine><v:A xmlns:v="inner" wstop:topic="true"/><v:B wstop:topic="true"/>' +
        '<constructor:C wstop:topic="true"/><toString:D wstop:topic="true"/></tns1:RuleEngine>',
    );
    expect(eventTopics(parseXmlQualified(xml))).toEqual([
      { expression: 'tns1:RuleEngine/v:A', namespaces: { tns1: 'http://www.onvif.org/ver10/topics', v: 'inner' }, plate: false },
      { expression: 'tns1:RuleEngine/v:B', namespaces: { tns1: 'http://www.onvif.org/ver10/topics', v: 'outer' }, plate: false },
      { expression: 'tns1:RuleEngine/constructor:C', namespaces: { tns1: 'http://www.onvif.org/ver10/topics' }, plate: false },
      { expression: 'tns1:RuleEngine/toString:D', namespaces: { tns1: 'http://www.onvif.org/ver10/topics' }, plate: false },
    ]);
  });

  it('keeps in each element\'s scope its own declarations only, the outer ones behind them: never a copy of all in scope', () => {
    // Copying every declaration in scope into each element that declares one made a reply with
    // 3,000 prefixes on its envelope and one on each of 1,490 topics hold the event loop 9 s
    // (a helper's audit): 4.5 million properties defined. Counted, not timed.
    const outer = scopeOf(Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`@xmlns:p${i}`, `urn:p${i}`])), EMPTY_SCOPE);
    const inner = scopeOf({ '@xmlns:q': 'urn:q', '@topic': 'true' }, outer);
    expect(Object.keys(inner)).toEqual(['q']);
    expect([namespaceOf(inner, 'q'), namespaceOf(inner, 'p2999'), namespaceOf(inner, 'r'), namespaceOf(inner, 'hasOwnProperty')]).toEqual(['urn:q', 'urn:p2999', undefined, undefined]);
    expect(scopeOf({ '@topic': 'true' }, inner)).toBe(inner);
  });
});
