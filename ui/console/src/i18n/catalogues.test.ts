import { describe, expect, it } from 'vitest';
import { az } from './az.js';
import { en } from './en.js';
import { ru } from './ru.js';

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string).sort();

describe('console message catalogues', () => {
  for (const [name, catalogue] of Object.entries({ az, ru })) {
    it(`${name} has every English key, no other, each with the same placeholders`, () => {
      expect(Object.keys(catalogue).sort()).toEqual(Object.keys(en).sort());
      for (const [key, text] of Object.entries(en)) {
        const translated = (catalogue as Record<string, string>)[key] as string;
        expect(translated.trim(), `${name} ${key}`).not.toBe('');
        expect(placeholders(translated), `${name} ${key}`).toEqual(placeholders(text));
      }
    });
  }
});
