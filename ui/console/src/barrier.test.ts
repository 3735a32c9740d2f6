import { describe, expect, it } from 'vitest';
import { armPosition } from './barrier.js';
import { LANGUAGES, translate } from './i18n/index.js';

describe('barrier arm position', () => {
  it('shows a fault as a fault, and only a missing or unheard-of position as unknown', () => {
    expect(armPosition('fault')).toBe('fault');
    expect(armPosition('open')).toBe('open');
    expect(armPosition('closed')).toBe('closed');
    expect(armPosition('moving')).toBe('moving');
    expect(armPosition(null)).toBe('unknown');
    expect(armPosition(undefined)).toBe('unknown');
    expect(armPosition('sideways')).toBe('unknown');
  });

  it('names a fault in every language, not as unknown', () => {
    for (const language of LANGUAGES) {
      const fault = translate(language, `barrier.position.${armPosition('fault')}`);
      expect(fault, language).not.toBe(translate(language, 'barrier.position.unknown'));
    }
    expect(translate('en', 'barrier.position.fault')).toBe('fault — check the limit switches');
  });
});
