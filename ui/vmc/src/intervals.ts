/**
 * The TRS interval width the dashboard may ask for, and the interval table's rows as it labels
 * them. The API takes whole minutes 1–999 (`/api/trs?interval=`, as the gateway's); its table has
 * at most 500 rows, the last one gathering every crossing past the others (`overMin`,
 * contract/trs-report.ts): that row is "over N min", not "up to" the longest crossing's bound.
 */
import type { TrsReport } from './api.js';

type IntervalRow = TrsReport['intervals'][number];

export const INTERVAL_MIN = 1;
export const INTERVAL_MAX = 999;

/** The interval field's text as the API takes it (whole minutes 1–999); null for anything else. */
export function intervalMinutes(text: string): number | null {
  if (!/^\s*\d+\s*$/.test(text)) return null;
  const minutes = Number(text);
  return minutes >= INTERVAL_MIN && minutes <= INTERVAL_MAX ? minutes : null;
}

/** The first column of a row: its upper bound, or "over N" for the row gathering the long tail. */
export function intervalLabel(row: IntervalRow): string {
  return row.overMin === undefined ? String(row.upToMin) : `over ${row.overMin}`;
}

/**
 * Where the distribution curve puts each row: at its upper bound, and the long tail's row one
 * interval past the one before it (at its real bound, years of minutes away, the curve would be
 * a wall); `tail` names that row for the chart's caption.
 */
export function intervalPoints(rows: readonly IntervalRow[]): { x: number[]; tail: IntervalRow | null } {
  const width = rows[0]?.upToMin ?? 0;
  const tail = rows.find((row) => row.overMin !== undefined) ?? null;
  return { x: rows.map((row) => (row.overMin === undefined ? row.upToMin : row.overMin + width)), tail };
}
