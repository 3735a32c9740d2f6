/**
 * "The same dates a year before": the one rule of every year-over-year change, the API's
 * (`VmcStore.volumes`) and the dashboard's (ui/vmc/src/period.ts imports this file), so the two
 * never disagree. An instant moves to the same calendar date and time of day one year earlier.
 * 29 February has no such date: any instant of it moves to 1 March 00:00 (all of 28 February is
 * before it, nothing of March). The map never goes backwards, so a range maps to a range: a
 * range ending on a leap day is compared with everything up to the end of 28 February, and a
 * picked 29 February with nothing (no comparison). No imports: the browser bundle takes it as is.
 */

/** `fromMs` inclusive, `toMs` exclusive (UTC epoch ms). */
export interface TimeRange {
  fromMs: number;
  toMs: number;
}

/** The same date and time of day one year before (29 February: 1 March 00:00 of the year before). */
export function instantYearBefore(ms: number): number {
  if (!Number.isFinite(ms)) return ms;
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth();
  const date = d.getUTCDate();
  if (month === 1 && date === 29) return Date.UTC(year - 1, 2, 1);
  return Date.UTC(year - 1, month, date) + (ms - Date.UTC(year, month, date));
}

/** The same dates one year before (see the module comment for 29 February). */
export function yearBefore(range: TimeRange): TimeRange {
  return { fromMs: instantYearBefore(range.fromMs), toMs: instantYearBefore(range.toMs) };
}

/**
 * The UTC day (`YYYY-MM-DD`) one year after `day`: the day whose year before holds it. 29 February
 * goes with 28 February (whose year before runs up to 1 March 00:00, see the module comment).
 */
export function dayYearAfter(day: string): string {
  const year = Number(day.slice(0, 4)) + 1;
  const rest = day.slice(4) === '-02-29' ? '-02-28' : day.slice(4);
  return `${String(year).padStart(4, '0')}${rest}`;
}
