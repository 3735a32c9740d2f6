import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { az } from './az.js';
import { en } from './en.js';
import { makeI18n } from './index.js';
import { ru } from './ru.js';

const placeholders = (text: string): string[] => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] as string).sort();

/**
 * Every code the gateway can put in a lane's alarms, as docs/events.md lists them (its "Lane
 * alarms" table: the workflow's WF_ codes, the barrier driver's errors, the model's): read from
 * the page rather than copied here, so a code documented there without a title here fails.
 */
function documentedLaneAlarms(): string[] {
  const page = readFileSync(new URL('../../../../docs/events.md', import.meta.url), 'utf8');
  const table = page.slice(page.indexOf('Lane alarms:'), page.indexOf('Post-wide alarms'));
  const codes = table
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .flatMap((line) => [...(line.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1] as string));
  return [...new Set(codes)];
}

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

  it('titles every alarm the gateway documents for a lane', () => {
    const codes = documentedLaneAlarms();
    // The page's table as it stands: the workflow's own, the barrier's errors and the model's.
    expect(codes).toEqual(expect.arrayContaining(['WF_PLATE_UNREAD', 'GW_ERR_BARRIER_NOT_CONFIRMED', 'GW_ERR_DEVICE_OFFLINE', 'GW_ERR_MODEL_INFERENCE']));
    expect(codes.filter((code) => !(`alarmCode.${code}` in en))).toEqual([]);
  });

  it('shows an alarm by its title in the chosen language, and an unknown code as itself', () => {
    const english = makeI18n('en', () => undefined);
    const azerbaijani = makeI18n('az', () => undefined);
    expect(english.alarmLabel('GW_ERR_BARRIER_NOT_CONFIRMED')).toBe('Barrier movement not confirmed');
    expect(azerbaijani.alarmLabel('GW_ERR_BARRIER_NOT_CONFIRMED')).toBe('Şlaqbaumun hərəkəti təsdiqlənmədi');
    expect(azerbaijani.alarmLabel('WF_PLATE_UNREAD')).toBe('Nömrə oxunmayıb');
    expect(azerbaijani.alarmLabel('GW_ERR_SOMETHING_NEW')).toBe('GW_ERR_SOMETHING_NEW');
  });
});
