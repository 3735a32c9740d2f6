import { describe, expect, it } from 'vitest';
import { onWatchlist, riskFeatures, RISK_FEATURES, type RiskInput } from './risk-features.js';

// The spellings themselves are covered in core/plates.test.ts; this checks the watchlist feature uses them.
describe('onWatchlist', () => {
  const watchlist = ['XY-808-ZZ', 'AB-123-CD'];

  it.each([
    ['Cyrillic look-alikes', '\u0410\u0412-123-\u0421D'],
    ['full-width Latin', '\uFF21\uFF22\uFF11\uFF12\uFF13\uFF23\uFF24'],
    ['zero-width characters inside', 'A\u200BB1\u200D23CD'],
    ['underscores', 'AB_123_CD'],
    ['an OCR confusion', 'A8-I23-CD'],
  ])('finds a listed plate spelled with %s', (_, plate) => {
    expect(onWatchlist(plate, watchlist)).toBe(true);
  });

  it('finds a read against an entry written with look-alikes', () => {
    expect(onWatchlist('AB123CD', ['\u0410\u0412 123 \u0421D'])).toBe(true);
  });

  it('finds neither another plate, nor an unread one, nor anything on an empty list', () => {
    expect(onWatchlist('AB-123-CE', watchlist)).toBe(false);
    expect(onWatchlist(null, watchlist)).toBe(false);
    expect(onWatchlist('', ['', '-'])).toBe(false);
    expect(onWatchlist('AB-123-CD', [])).toBe(false);
  });

  it('sets the watchlistMatch feature', () => {
    const input: RiskInput = {
      plate: '\u0430\u0432\u00A0123\u00A0\u0441d',
      plateConfidence: 0.9,
      declaredWeightKg: null,
      measuredWeightKg: null,
      direction: 'import',
      vehicleType: 'truck',
      aeo: false,
      arrivedMs: 0,
      utcOffsetMin: 0,
      visits30d: 0,
      plateMismatches: 0,
      watchlist,
    };
    expect(riskFeatures(input)[RISK_FEATURES.indexOf('watchlistMatch')]).toBe(1);
  });
});
