import { describe, expect, it } from 'vitest';
import { BASE64_JSON_PATTERN, BASE64_PATTERN } from './base64.js';

/** The pattern as the JSON Schemas publish it; BASE64_PATTERN is a faster spelling of it. */
const PLAIN = new RegExp(BASE64_JSON_PATTERN);

describe('BASE64_PATTERN', () => {
  it('accepts what Node encodes, padded or not', () => {
    for (const length of [0, 1, 2, 3, 4, 5, 32 * 1024]) {
      const encoded = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + 11) & 255)).toString('base64');
      expect(BASE64_PATTERN.test(encoded)).toBe(true);
      expect(BASE64_PATTERN.test(encoded.replace(/=+$/, ''))).toBe(true);
    }
  });

  it('refuses what the plain class refuses, `_` (in \\w, not in base64) and a line break among them', () => {
    for (const text of ['ab_c', '_', 'abc=_', 'a\n_b', 'ab\ncd', 'abc\n', 'a=b', 'ab===', 'ab-c', 'äbc', 'ab c', 'abcd==\n']) {
      expect([text, BASE64_PATTERN.test(text)]).toEqual([text, false]);
      expect(PLAIN.test(text)).toBe(false);
    }
  });

  it('matches exactly the strings the plain class matches', () => {
    const alphabet = 'Aa0+/=_\n-é\u2028 z9Z';
    let state = 7;
    const random = (n: number): number => {
      state = (state * 1103515245 + 12345) & 0x7fffffff;
      return state % n;
    };
    for (let i = 0; i < 20_000; i += 1) {
      const text = Array.from({ length: random(9) }, () => alphabet[random(alphabet.length)]).join('');
      expect([text, BASE64_PATTERN.test(text)]).toEqual([text, PLAIN.test(text)]);
    }
  });
});
