import { describe, expect, it } from 'vitest';
import { dayYearAfter, instantYearBefore, yearBefore } from './year-before.js';

const at = (iso: string) => Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso);

describe('the same dates a year before', () => {
  it('keeps the date and the time of day', () => {
    expect(instantYearBefore(at('2026-11-29T12:41:07.250Z'))).toBe(at('2025-11-29T12:41:07.250Z'));
    expect(yearBefore({ fromMs: at('2026-01-01'), toMs: at('2026-11-29T12:41:00Z') })).toEqual({ fromMs: at('2025-01-01'), toMs: at('2025-11-29T12:41:00Z') });
    expect(instantYearBefore(at('2025-03-01'))).toBe(at('2024-03-01'));
  });

  it('moves 29 February to the end of 28 February, so the map never goes back and a range stays a range', () => {
    expect(instantYearBefore(at('2028-02-29T10:00:00Z'))).toBe(at('2027-03-01'));
    // Up to a leap day's noon: everything up to the end of 28 February a year before.
    expect(yearBefore({ fromMs: at('2028-01-01'), toMs: at('2028-02-29T12:00:00Z') })).toEqual({ fromMs: at('2027-01-01'), toMs: at('2027-03-01') });
    // The leap day itself has no same date.
    expect(yearBefore({ fromMs: at('2028-02-29'), toMs: at('2028-03-01') })).toEqual({ fromMs: at('2027-03-01'), toMs: at('2027-03-01') });
    let previous = -Infinity;
    for (let ms = at('2028-02-27'); ms < at('2028-03-03'); ms += 3_600_000) {
      expect(instantYearBefore(ms)).toBeGreaterThanOrEqual(previous);
      previous = instantYearBefore(ms);
    }
  });

  it('puts each day with the day whose year before holds it', () => {
    expect(dayYearAfter('2025-11-29')).toBe('2026-11-29');
    expect(dayYearAfter('2028-02-29')).toBe('2029-02-28');
    for (const day of ['2028-02-28', '2028-02-29', '2028-03-01']) {
      const start = at(dayYearAfter(day));
      const range = yearBefore({ fromMs: start, toMs: start + 86_400_000 });
      expect(at(day) >= range.fromMs && at(day) < range.toMs, day).toBe(true);
    }
  });
});
