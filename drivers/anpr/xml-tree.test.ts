import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { parseXmlTree, XmlTreeError } from './xml-tree.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');

// The parser the drivers were written against, with the options they used: the shape to keep.
const fxpOptions = { ignoreAttributes: false, attributeNamePrefix: '@', parseTagValue: false, trimValues: true };
const fxpLocal = new XMLParser({ ...fxpOptions, removeNSPrefix: true });
const fxpQualified = new XMLParser({ ...fxpOptions, removeNSPrefix: false });

const SHAPES = [
  '<?xml version="1.0" encoding="UTF-8"?><a>x</a>',
  '<a/>',
  '<a></a>',
  '<a> </a>',
  '<a x="1"/>',
  '<a x="1">t</a>',
  '<a><b>1</b><b>2</b></a>',
  '<a><b>1</b><c/><b x="y">2</b></a>',
  '<a>t1<b>1</b>t2</a>',
  '<a>&lt;&amp;&quot;&apos;&gt;</a>',
  '<a x="&lt;&amp;"/>',
  '<a><![CDATA[ <hi> ]]></a>',
  '<a>x<![CDATA[y]]>z</a>',
  '<s:E xmlns:s="u" xmlns="d" s:m="1"><s:B>v</s:B></s:E>',
  '<a><!-- c --><b>1</b></a>',
  '<a>  spaced  text  </a>',
  '<a><b></b><b/></a>',
  '<a><b x="1"/><b x="2"/></a>',
  '<a>1<b/>2<b/>3</a>',
  '<a><hasOwnProperty>x</hasOwnProperty><toString>y</toString></a>',
  '<r><a xmlns:p="u"><p:b>1</p:b><b>2</b></a></r>',
  '<a> t <b/> u </a>',
  '<a>x</a>  ',
  '<e:a xmlns:e="u" e:b="1" b="2"/>',
  '<a x="  sp  "/>',
  '<a x="1" y=\'2\'>\n  <b>\n  t\n  </b>\n</a>',
  '<?pi data?><a>1</a>',
  '<a><?pi x?>t</a>',
  '<a b="">x</a>',
  '<a x="1">t<b>2</b></a>',
  '<a>\r\nx\r\n</a>',
];

describe('parseXmlTree', () => {
  it.each(readdirSync(FIXTURES).filter((name) => name.endsWith('.xml')))('reads the captured %s as fast-xml-parser did, prefixes stripped and kept', (name) => {
    const text = readFileSync(join(FIXTURES, name), 'utf8');
    expect(parseXmlTree(text, { maxDepth: 64 })).toEqual(fxpLocal.parse(text));
    expect(parseXmlTree(text, { maxDepth: 64, keepPrefixes: true })).toEqual(fxpQualified.parse(text));
  });

  it('builds the same shapes as fast-xml-parser: text, attributes, repeats, mixed content, CDATA, namespaces, instructions', () => {
    for (const text of SHAPES) {
      expect(parseXmlTree(text, { maxDepth: 64 }), text).toEqual(fxpLocal.parse(text));
      expect(parseXmlTree(text, { maxDepth: 64, keepPrefixes: true }), text).toEqual(fxpQualified.parse(text));
    }
  });

  it('decodes character references and normalises newlines in attribute values, as XML 1.0 says', () => {
    expect(parseXmlTree('<a x="a&#10;b" y="c\nd">&#65;&#x42;</a>', { maxDepth: 64 })).toEqual({ a: { '#text': 'AB', '@x': 'a\nb', '@y': 'c d' } });
  });

  it('refuses what is not well-formed, nesting past the bound, and names that reach a prototype', () => {
    const refused = (text: string, maxDepth = 64): string => {
      try {
        parseXmlTree(text, { maxDepth });
      } catch (error) {
        expect(error).toBeInstanceOf(XmlTreeError);
        return (error as Error).message;
      }
      throw new Error(`accepted: ${text}`);
    };
    expect(refused('<ANPR><licensePlate>AB12')).toMatch(/unclosed|end/i); // cut short
    try {
      parseXmlTree('<a>\n<b></a>', { maxDepth: 64 });
    } catch (error) {
      expect((error as XmlTreeError).at).toEqual({ line: 2, column: 7 });
    }
    expect(refused('<a><b></a></b>')).toMatch(/unexpected close tag|mismatch/i);
    expect(refused('<a/><b/>')).toMatch(/root|text data outside/i);
    expect(refused('<a>&nbsp;</a>')).toMatch(/undefined entity/i);
    expect(refused('<a x="1" x="2"/>')).toMatch(/duplicate attribute/i);
    expect(refused('<a>1 < 2</a>')).toMatch(/disallowed character|unexpected/i);
    expect(refused('')).toMatch(/root/i);
    expect(refused(`${'<a>'.repeat(5)}${'</a>'.repeat(5)}`, 4)).toBe('elements nested deeper than 4');
    expect(parseXmlTree(`${'<a>'.repeat(4)}${'</a>'.repeat(4)}`, { maxDepth: 4 })).toEqual({ a: { a: { a: { a: '' } } } });
    expect(refused('<a><constructor>1</constructor></a>')).toMatch(/constructor/);
    expect(refused('<a><__proto__><polluted>1</polluted></__proto__></a>')).toMatch(/__proto__/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
