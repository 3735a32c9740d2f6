/**
 * The dashboard's one period picker, year → month → day, as the UTC ranges the API takes
 * (`from` inclusive, `to` exclusive), and the same range one year before for the
 * year-over-year comparisons. A range not yet over is compared up to today with the same dates
 * a year before (year-to-date against year-to-date), never a part-year against a whole one.
 */
export interface Period {
  /** `YYYY` or '' (all time). */
  year: string;
  /** `01`…`12` or '' (the whole year); only with a year. */
  month: string;
  /** `01`…`31` or '' (the whole month); only with a month. */
  day: string;
}

export interface Range {
  fromMs: number;
  toMs: number;
}

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

/** The range cut at the end of today (UTC): what of it has happened. */
export function elapsed(range: Range, nowMs: number): Range {
  const endOfToday = Math.floor(nowMs / DAY_MS) * DAY_MS + DAY_MS;
  return { fromMs: range.fromMs, toMs: Math.min(range.toMs, Math.max(range.fromMs + DAY_MS, endOfToday)) };
}

function shiftYears(ms: number, years: number): number {
  const d = new Date(ms);
  const month = d.getUTCMonth();
  const shifted = new Date(Date.UTC(d.getUTCFullYear() + years, month, d.getUTCDate()));
  // 29 February a year before is 28 February: stay in the month.
  return shifted.getUTCMonth() === month ? shifted.getTime() : Date.UTC(d.getUTCFullYear() + years, month + 1, 0);
}

/** The same dates one year before. */
export function yearBefore(range: Range): Range {
  return { fromMs: shiftYears(range.fromMs, -1), toMs: shiftYears(range.toMs, -1) };
}

/** `2026`, `2026-03`, `2026-03-07`: what the period's labels say. */
export function periodLabel(period: Period): string {
  return [period.year, period.month, period.day].filter(Boolean).join('-');
}

/** "2025-01-01 – 2025-11-28" (inclusive end), how a compared range is printed. */
export function rangeLabel(range: Range): string {
  const last = day(range.toMs - DAY_MS);
  const first = day(range.fromMs);
  return first === last ? first : `${first} – ${last}`;
}
