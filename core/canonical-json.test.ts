import { describe, expect, it } from 'vitest';
import { canonicalJson, jsonDepth } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('gives the same text whatever order the keys were written in, and leaves undefined members out', () => {
    expect(canonicalJson(JSON.parse('{"version":2,"kind":"k"}'))).toBe(canonicalJson({ kind: 'k', version: 2, extra: undefined }));
  });

  it('escapes strings as JSON does (a key or value cannot forge structure)', () => {
    expect(canonicalJson({ 'a"b': 'c"}' })).toBe('{"a\\"b":"c\\"}"}');
  });
});

describe('jsonDepth', () => {
  it('counts nesting outside strings and stops past the limit', () => {
    expect(jsonDepth('{"a":[1,{"b":"[[[["}]}', 10)).toBe(3);
    expect(jsonDepth('['.repeat(1000), 5)).toBe(6);
    expect(jsonDepth('"\\"["', 5)).toBe(0);
  });
});
