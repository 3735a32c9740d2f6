/**
 * A device's XML as plain objects, built from saxes' events (a strict XML 1.0 parser: a document
 * that is not well-formed is an error, so a reply cut short never reads as a shorter valid one).
 *
 * The shape is the one the drivers were written against (fast-xml-parser's, with
 * `ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: true`):
 * an element with neither attributes nor children is its trimmed text ('' when empty); otherwise
 * an object of its children by name (an array when a name repeats), `#text` for its text (each
 * text run trimmed, CDATA kept as written, all concatenated) and `@name` for each attribute
 * (trimmed). Comments are left out; processing instructions appear as `?target` (the XML
 * declaration with its pseudo-attributes). Without `keepPrefixes`, namespace prefixes are stripped
 * from element and attribute names and `xmlns` declarations left out, a later attribute winning
 * over an earlier one of the same local name. Unlike fast-xml-parser, character references
 * (`&#65;`) are decoded, and attribute values are normalised as XML 1.0 says (a newline in one
 * reads as a space).
 *
 * Why not fast-xml-parser: its well-formedness check and its parse took ≈ 100 + 400 µs for a
 * 2.9 KB camera push on the test machine, a quarter of the gateway's CPU per plate read in
 * `npm run bench -- peers`; saxes checks and parses it in ≈ 80 µs.
 */
import { SaxesParser, type SaxesTagPlain } from 'saxes';

export type XmlNode = Record<string, unknown>;

/** Names that would reach an object's prototype: refused, as fast-xml-parser refuses them. */
const CRITICAL_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
/** Names of Object.prototype's methods: prefixed with `__`, so no node shadows them. */
const SHADOWING_NAMES = new Set(['hasOwnProperty', 'toString', 'valueOf', '__defineGetter__', '__defineSetter__', '__lookupGetter__', '__lookupSetter__']);

export interface XmlTreeOptions {
  /** Keep `prefix:` on names and the `xmlns` declarations (default false). */
  keepPrefixes?: boolean;
  /** Deepest element nesting accepted. */
  maxDepth: number;
}

/**
 * Thrown for a document that is not well-formed (`at` says where saxes found it) or that breaks a
 * bound or names a prototype's member (`at` null).
 */
export class XmlTreeError extends Error {
  override name = 'XmlTreeError';
  constructor(
    message: string,
    readonly at: { line: number; column: number } | null = null,
  ) {
    super(message);
  }
}

interface Frame {
  name: string;
  children: Map<string, unknown[]>;
  text: string;
  attributes: Array<[string, string]>;
}

export function parseXmlTree(text: string, options: XmlTreeOptions): XmlNode {
  const keepPrefixes = options.keepPrefixes ?? false;
  const parser = new SaxesParser({ position: true, xmlns: false });
  const document: Frame = { name: '', children: new Map(), text: '', attributes: [] };
  const stack: Frame[] = [document];
  const top = (): Frame => stack[stack.length - 1] as Frame;
  const addChild = (frame: Frame, name: string, value: unknown): void => {
    const values = frame.children.get(name);
    if (values) values.push(value);
    else frame.children.set(name, [value]);
  };
  // The first error ends the parse: thrown from the handler, it leaves `write` at once.
  parser.on('error', (error) => {
    // saxes prefixes its message with "file:line:column: "; the position is kept apart.
    throw new XmlTreeError(error.message.replace(/^[^:]*:\d+:\d+: /, ''), { line: parser.line, column: parser.column });
  });
  parser.on('xmldecl', (declaration) => {
    const attributes: Array<[string, string]> = [];
    if (declaration.version !== undefined) attributes.push(['version', declaration.version]);
    if (declaration.encoding !== undefined) attributes.push(['encoding', declaration.encoding]);
    if (declaration.standalone !== undefined) attributes.push(['standalone', declaration.standalone]);
    addChild(document, '?xml', nodeValue({ name: '?xml', children: new Map(), text: '', attributes }));
  });
  parser.on('processinginstruction', ({ target }) => addChild(top(), `?${target}`, ''));
  parser.on('opentag', (tag: SaxesTagPlain) => {
    if (stack.length > options.maxDepth) throw new XmlTreeError(`elements nested deeper than ${options.maxDepth}`);
    const attributes: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(tag.attributes)) {
      if (keepPrefixes) attributes.push([name, value.trim()]);
      else if (name !== 'xmlns' && !name.startsWith('xmlns:')) attributes.push([localName(name), value.trim()]);
    }
    stack.push({ name: safeName(keepPrefixes ? tag.name : localName(tag.name)), children: new Map(), text: '', attributes });
  });
  parser.on('closetag', () => {
    if (stack.length <= 1) return;
    const frame = stack.pop() as Frame;
    addChild(top(), frame.name, nodeValue(frame));
  });
  parser.on('text', (run) => {
    top().text += run.trim();
  });
  parser.on('cdata', (run) => {
    top().text += run;
  });

  parser.write(text).close();
  return objectOf(document);
}

function nodeValue(frame: Frame): unknown {
  if (frame.children.size === 0 && frame.attributes.length === 0) return frame.text;
  const node = objectOf(frame);
  if (frame.text !== '') node['#text'] = frame.text;
  for (const [name, value] of frame.attributes) node[`@${name}`] = value;
  return node;
}

function objectOf(frame: Frame): XmlNode {
  const node: XmlNode = {};
  for (const [name, values] of frame.children) node[name] = values.length === 1 ? values[0] : values;
  return node;
}

function localName(name: string): string {
  const colon = name.indexOf(':');
  return colon === -1 ? name : name.slice(colon + 1);
}

function safeName(name: string): string {
  if (CRITICAL_NAMES.has(name)) throw new XmlTreeError(`the element name "${name}" is refused (it would reach an object's prototype)`);
  return SHADOWING_NAMES.has(name) ? `__${name}` : name;
}
