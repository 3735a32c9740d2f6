import { describe, expect, it } from 'vitest';
import { elapsed, periodRange, rangeLabel, yearBefore } from './period.js';

const at = (iso: string) => Date.parse(`${iso}T00:00:00Z`);

describe('the period picker', () => {
  it('narrows a year to a month to a day, as UTC ranges with an exclusive end', () => {
    expect(periodRange({ year: '', month: '', day: '' })).toBeNull();
    expect(periodRange({ year: '2025', month: '', day: '' })).toEqual({ fromMs: at('2025-01-01'), toMs: at('2026-01-01') });
    expect(periodRange({ year: '2025', month: '12', day: '' })).toEqual({ fromMs: at('2025-12-01'), toMs: at('2026-01-01') });
    expect(periodRange({ year: '2024', month: '02', day: '29' })).toEqual({ fromMs: at('2024-02-29'), toMs: at('2024-03-01') });
  });

  it('compares a period not yet over up to today with the same dates a year before', () => {
    const year = elapsed(periodRange({ year: '2026', month: '', day: '' })!, Date.parse('2026-11-28T16:00:00Z'));
    expect(rangeLabel(year)).toBe('2026-01-01 – 2026-11-28');
    expect(rangeLabel(yearBefore(year))).toBe('2025-01-01 – 2025-11-28');
    expect(yearBefore(periodRange({ year: '2024', month: '02', day: '29' })!)).toEqual({ fromMs: at('2023-02-28'), toMs: at('2023-03-01') });
    expect(elapsed(periodRange({ year: '2025', month: '', day: '' })!, Date.parse('2026-11-28T16:00:00Z'))).toEqual({ fromMs: at('2025-01-01'), toMs: at('2026-01-01') });
  });
});
