import { describe, expect, it } from 'vitest';
import { elapsed, endLabel, periodRange, rangeLabel, stamp, yearBefore } from './period.js';

const at = (iso: string) => Date.parse(iso.length === 10 ? `${iso}T00:00:00Z` : iso);

describe('the period picker', () => {
  it('narrows a year to a month to a day, as UTC ranges with an exclusive end', () => {
    expect(periodRange({ year: '', month: '', day: '' })).toBeNull();
    expect(periodRange({ year: '2025', month: '', day: '' })).toEqual({ fromMs: at('2025-01-01'), toMs: at('2026-01-01') });
    expect(periodRange({ year: '2025', month: '12', day: '' })).toEqual({ fromMs: at('2025-12-01'), toMs: at('2026-01-01') });
    expect(periodRange({ year: '2024', month: '02', day: '29' })).toEqual({ fromMs: at('2024-02-29'), toMs: at('2024-03-01') });
  });

  it('compares a period not yet over up to now with the same dates and time a year before', () => {
    const now = at('2026-11-28T16:00:00Z');
    const year = elapsed(periodRange({ year: '2026', month: '', day: '' })!, now);
    expect(year).toEqual({ fromMs: at('2026-01-01'), toMs: now });
    expect(rangeLabel(year)).toBe('2026-01-01 – 2026-11-28 16:00 UTC');
    expect(rangeLabel(yearBefore(year))).toBe('2025-01-01 – 2025-11-28 16:00 UTC');
    expect(endLabel(year)).toBe('2026-11-28 16:00 UTC');
    expect(elapsed(periodRange({ year: '2025', month: '', day: '' })!, now)).toEqual({ fromMs: at('2025-01-01'), toMs: at('2026-01-01') });
    expect(rangeLabel(periodRange({ year: '2025', month: '', day: '' })!)).toBe('2025-01-01 – 2025-12-31');
    expect(rangeLabel(periodRange({ year: '2025', month: '03', day: '07' })!)).toBe('2025-03-07');
  });

  it('compares today so far with the same hours of that day a year before, not with the whole day', () => {
    const now = at('2026-11-29T12:41:00Z');
    const today = elapsed(periodRange({ year: '2026', month: '11', day: '29' })!, now);
    expect(today).toEqual({ fromMs: at('2026-11-29'), toMs: now });
    expect(yearBefore(today)).toEqual({ fromMs: at('2025-11-29'), toMs: at('2025-11-29T12:41:00Z') });
    expect(rangeLabel(yearBefore(today))).toBe('2025-11-29 until 12:41 UTC');
    // And the API is asked for exactly that: the time, not the day it falls in.
    expect([stamp(today.fromMs), stamp(today.toMs)]).toEqual(['2026-11-29', '2026-11-29T12:41:00.000Z']);
    // A period that has not begun has nothing to compare.
    const tomorrow = elapsed(periodRange({ year: '2026', month: '11', day: '30' })!, now);
    expect(tomorrow.toMs).toBe(tomorrow.fromMs);
  });

  it('has no same date a year before for 29 February (the API’s rule: contract/year-before.ts)', () => {
    expect(yearBefore(periodRange({ year: '2024', month: '02', day: '29' })!)).toEqual({ fromMs: at('2023-03-01'), toMs: at('2023-03-01') });
    expect(yearBefore(periodRange({ year: '2024', month: '02', day: '' })!)).toEqual({ fromMs: at('2023-02-01'), toMs: at('2023-03-01') });
  });
});
