/**
 * The simulated camera's own XML: requests read namespace-aware, as a SOAP stack on a camera reads
 * them, and replies escaped. Written for the simulator from the specifications, not shared with the
 * driver (a driver and a device that share a parser test nothing; DESIGN.md, "Drivers").
 *
 * fast-xml-parser only tokenises; the namespace rules are applied here (Namespaces in XML 1.0,
 * W3C, third edition): every element and attribute prefix must be declared in scope (section 5,
 * "Namespace constraint: Prefix Declared"), `xmlns:p=""` is no declaration (section 3, "No Prefix
 * Undeclaring"), `xml` is bound from the start. A document that breaks them is not namespace
 * well-formed, and a camera refuses it (ONVIF Core Specification 25.12, 5.8.2.2 "Generic faults":
 * env:Sender ter:WellFormed).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** Namespace names the camera reads and writes (the ONVIF WSDLs' own prefixes beside them). */
export const NS = {
  env: 'http://www.w3.org/2003/05/soap-envelope',
  wsa: 'http://www.w3.org/2005/08/addressing',
  wsse: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd',
  wsu: 'http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd',
  tds: 'http://www.onvif.org/ver10/device/wsdl',
  trt: 'http://www.onvif.org/ver10/media/wsdl',
  tev: 'http://www.onvif.org/ver10/events/wsdl',
  tt: 'http://www.onvif.org/ver10/schema',
  ter: 'http://www.onvif.org/ver10/error',
  tns1: 'http://www.onvif.org/ver10/topics',
  wsnt: 'http://docs.oasis-open.org/wsn/b-2',
  wstop: 'http://docs.oasis-open.org/wsn/t-1',
  wsrfrw: 'http://docs.oasis-open.org/wsrf/rw-2',
  xs: 'http://www.w3.org/2001/XMLSchema',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const;

const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

/** One element, its name resolved to a namespace. */
export interface XmlElement {
  /** Namespace name, or null for an element in no namespace. */
  ns: string | null;
  local: string;
  /** Attributes by expanded name: `{namespace}local`, or `local` when unqualified; no namespace declarations. */
  attributes: ReadonlyMap<string, string>;
  /** Prefixes in scope here ('' is the default namespace), to resolve QName-valued content. */
  scope: ReadonlyMap<string, string>;
  children: XmlElement[];
  /** The element's own character data, concatenated, untrimmed. */
  text: string;
}

/** Why a request is no acceptable XML; `subcode` is the ONVIF generic fault it earns. */
export class XmlRefused extends Error {
  constructor(
    readonly subcode: 'ter:WellFormed',
    message: string,
  ) {
    super(message);
    this.name = 'XmlRefused';
  }
}

/** Most markup (`<`, `=`, `&`) accepted in one request; the camera's requests need a few dozen. */
export const MAX_REQUEST_MARKUP = 2000;
/** Deepest nesting accepted. */
export const MAX_REQUEST_DEPTH = 32;

const tokenizer = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  removeNSPrefix: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  maxNestedTags: MAX_REQUEST_DEPTH,
  processEntities: { enabled: true, maxEntityCount: 16, maxEntitySize: 256 },
});

type OrderedNode = Record<string, unknown>;

/**
 * Reads a request: refuses (ter:WellFormed) a document type declaration (SOAP 1.2 Part 1, 5: a
 * SOAP message has none), more than MAX_REQUEST_MARKUP markup, XML that is not well-formed or not
 * namespace well-formed. Returns the root element.
 */
export function readXml(text: string): XmlElement {
  if (/<!(?:DOCTYPE|ENTITY)/i.test(text)) throw new XmlRefused('ter:WellFormed', 'a SOAP message has no document type declaration (SOAP 1.2 Part 1, 5)');
  let markup = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if ((code === 60 || code === 61 || code === 38) && (markup += 1) > MAX_REQUEST_MARKUP) throw new XmlRefused('ter:WellFormed', `more than ${MAX_REQUEST_MARKUP} tags, attributes and entity references`);
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) throw new XmlRefused('ter:WellFormed', `not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  let nodes: OrderedNode[];
  try {
    nodes = tokenizer.parse(text) as OrderedNode[];
  } catch (error) {
    throw new XmlRefused('ter:WellFormed', `not well-formed XML: ${(error as Error).message.slice(0, 200)}`);
  }
  const roots = nodes.filter((node) => elementName(node) !== null);
  if (roots.length !== 1) throw new XmlRefused('ter:WellFormed', `a document has one root element, this one has ${roots.length}`);
  return toElement(roots[0] as OrderedNode, new Map([['xml', NS.xml]]));
}

function elementName(node: OrderedNode): string | null {
  return Object.keys(node).find((key) => key !== ':@' && key !== '#text' && key !== '#comment') ?? null;
}

function toElement(node: OrderedNode, parentScope: ReadonlyMap<string, string>): XmlElement {
  const qname = elementName(node) as string;
  const raw = (node[':@'] ?? {}) as Record<string, string>;
  const scope = new Map(parentScope);
  for (const [name, value] of Object.entries(raw)) {
    if (name === 'xmlns') {
      if (value === XMLNS_NS || value === NS.xml) throw new XmlRefused('ter:WellFormed', `the default namespace cannot be ${value} (Namespaces in XML 1.0, 3)`);
      if (value === '') scope.delete('');
      else scope.set('', value);
    } else if (name.startsWith('xmlns:')) {
      const prefix = name.slice(6);
      if (value === '') throw new XmlRefused('ter:WellFormed', `xmlns:${prefix}="" undeclares a prefix, which XML 1.0 namespaces do not allow (Namespaces in XML 1.0, 3)`);
      if (prefix === 'xmlns' || (prefix === 'xml') !== (value === NS.xml)) throw new XmlRefused('ter:WellFormed', `prefix ${prefix} cannot be bound to ${value}`);
      scope.set(prefix, value);
    }
  }
  const name = splitQName(qname);
  if (!name) throw new XmlRefused('ter:WellFormed', `"${qname.slice(0, 64)}" is no qualified name`);
  const ns = name.prefix === null ? (scope.get('') ?? null) : scope.get(name.prefix);
  if (ns === undefined) throw new XmlRefused('ter:WellFormed', `element <${qname.slice(0, 64)}> uses the undeclared prefix "${name.prefix}" (Namespaces in XML 1.0, 5)`);
  const attributes = new Map<string, string>();
  for (const [attributeName, value] of Object.entries(raw)) {
    if (attributeName === 'xmlns' || attributeName.startsWith('xmlns:')) continue;
    const split = splitQName(attributeName);
    if (!split) throw new XmlRefused('ter:WellFormed', `"${attributeName.slice(0, 64)}" is no qualified name`);
    if (split.prefix === null) {
      attributes.set(split.local, value);
      continue;
    }
    const attributeNs = scope.get(split.prefix);
    if (attributeNs === undefined) throw new XmlRefused('ter:WellFormed', `attribute ${attributeName.slice(0, 64)} uses the undeclared prefix "${split.prefix}" (Namespaces in XML 1.0, 5)`);
    const key = `{${attributeNs}}${split.local}`;
    if (attributes.has(key)) throw new XmlRefused('ter:WellFormed', `attribute ${key} appears twice (Namespaces in XML 1.0, 6.3)`);
    attributes.set(key, value);
  }
  const children: XmlElement[] = [];
  let text = '';
  for (const child of (node[qname] ?? []) as OrderedNode[]) {
    if ('#text' in child) text += String(child['#text']);
    else if (elementName(child) !== null) children.push(toElement(child, scope));
  }
  return { ns, local: name.local, attributes, scope, children, text };
}

const NCNAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** `p:local` → {prefix: 'p', local}; `local` → {prefix: null, local}; null when it is no QName (ASCII NCNames only). */
export function splitQName(qname: string): { prefix: string | null; local: string } | null {
  const parts = qname.split(':');
  if (parts.length === 1 && NCNAME.test(qname)) return { prefix: null, local: qname };
  if (parts.length === 2 && NCNAME.test(parts[0] as string) && NCNAME.test(parts[1] as string)) return { prefix: parts[0] as string, local: parts[1] as string };
  return null;
}

/**
 * A QName in content (an attribute value or text, as in a topic expression) resolved with the
 * element's in-scope prefixes (Namespaces in XML 1.0, 6; XML Schema's QName type: an unprefixed
 * name takes the default namespace). Null when the prefix is not declared or it is no QName.
 */
export function resolveQName(qname: string, scope: ReadonlyMap<string, string>): { ns: string | null; local: string } | null {
  const split = splitQName(qname.trim());
  if (!split) return null;
  if (split.prefix === null) return { ns: scope.get('') ?? null, local: split.local };
  const ns = scope.get(split.prefix);
  return ns === undefined ? null : { ns, local: split.local };
}

/** The first child with this namespace and local name. */
export function childOf(element: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return element?.children.find((child) => child.ns === ns && child.local === local);
}

/** The trimmed text of the first such child, or null. */
export function childText(element: XmlElement | undefined, ns: string, local: string): string | null {
  const child = childOf(element, ns, local);
  return child ? child.text.trim() : null;
}

/** Escapes text for element content and double-quoted attribute values (XML 1.0, 2.4 and 3.3.3). */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
