/**
 * The dashboard's one period picker, year → month → day, as the UTC ranges the API takes
 * (`from` inclusive, `to` exclusive), and the same range one year before for the
 * year-over-year comparisons. A range not yet over is compared up to now with the same dates
 * and time a year before (year-to-date against year-to-date, today so far against the same hours
 * of that day), never a part against a whole. "The same dates a year before" is the API's own
 * rule (contract/year-before.ts), so the dashboard's changes and the API's agree.
 */
import { yearBefore, type TimeRange } from '../../../contract/year-before.js';

export { yearBefore };

export interface Period {
  /** `YYYY` or '' (all time). */
  year: string;
  /** `01`…`12` or '' (the whole year); only with a year. */
  month: string;
  /** `01`…`31` or '' (the whole month); only with a month. */
  day: string;
}

export type Range = TimeRange;

const DAY_MS = 86_400_000;

export const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

/** The range a picked period covers; null for all time. */
export function periodRange(period: Period): Range | null {
  if (!period.year) return null;
  const y = Number(period.year);
  if (!period.month) return { fromMs: Date.UTC(y, 0, 1), toMs: Date.UTC(y + 1, 0, 1) };
  const m = Number(period.month) - 1;
  if (!period.day) return { fromMs: Date.UTC(y, m, 1), toMs: Date.UTC(y, m + 1, 1) };
  const d = Number(period.day);
  return { fromMs: Date.UTC(y, m, d), toMs: Date.UTC(y, m, d + 1) };
}

/** The range cut at `nowMs`: what of it has happened (empty when it has not begun). */
export function elapsed(range: Range, nowMs: number): Range {
  return { fromMs: range.fromMs, toMs: Math.min(range.toMs, Math.max(range.fromMs, nowMs)) };
}

/** A range's bound as the API's `from`/`to` take it: the date at midnight, else the time. */
export function stamp(ms: number): string {
  return ms % DAY_MS === 0 ? day(ms) : new Date(ms).toISOString();
}

/** `2026`, `2026-03`, `2026-03-07`: what the period's labels say. */
export function periodLabel(period: Period): string {
  return [period.year, period.month, period.day].filter(Boolean).join('-');
}

/** Where a range ends, inclusive: its last day ("2025-11-28"), or the time it was cut at ("2025-11-29 12:41 UTC"). */
export function endLabel(range: Range): string {
  return range.toMs % DAY_MS === 0 ? day(range.toMs - 1) : `${day(range.toMs)} ${new Date(range.toMs).toISOString().slice(11, 16)} UTC`;
}

/**
 * "2025-01-01 – 2025-11-28" (inclusive end), how a compared range is printed; a range cut during
 * a day says until when: "2025-01-01 – 2025-11-29 12:41 UTC", "2025-11-29 until 12:41 UTC".
 */
export function rangeLabel(range: Range): string {
  const first = day(range.fromMs);
  const end = endLabel(range);
  if (end === first) return first;
  return end.startsWith(`${first} `) ? `${first} until ${end.slice(first.length + 1)}` : `${first} – ${end}`;
}
