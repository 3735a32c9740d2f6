/**
 * How the dashboard words its figures and their changes against the year before. A change needs
 * both sides: against nothing (no vehicles, no average) there is no change to show, and a share's
 * change is in percentage points (a relative change of a share reads wrong).
 */

export type Tone = 'up' | 'down' | 'same';

export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
/**
 * A figure at `decimals`, or '–' where there is none. The API's JSON has null where the report
 * computed no finite number: the contract's rounding of a mean of crossings of 1e306 minutes (a
 * post may send any duration ≥ 0) overflows, and JSON writes Infinity as null, even in fields
 * typed as numbers (an interval row's `avgCrossingMin`).
 */
export const fixed = (x: number | null | undefined, decimals: number): string => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(decimals));
export const min = (x: number | null): string => fixed(x, 1);
/** A signed number at one decimal; what rounds to zero has no sign (a tiny fall is not "-0.0"). */
const signed = (x: number): string => {
  const shown = x.toFixed(1);
  return Number(shown) === 0 ? '0.0' : `${x > 0 ? '+' : ''}${shown}`;
};
export const change = (x: number | null): string => (x === null ? '–' : `${signed(x * 100)}%`);
export const tone = (x: number | null): Tone => (x === null || Math.abs(x) < 0.0005 ? 'same' : x > 0 ? 'up' : 'down');

/** The relative change; null without a figure a year before (or it is 0). */
export const ratio = (now: number | null | undefined, before: number | null | undefined): number | null =>
  now == null || before == null || before === 0 ? null : (now - before) / before;

/** A share of vehicles with how many it is a share of (`/api/trs`'s `vehicles` and `xrayShare`). */
export interface Share {
  vehicles: number;
  share: number;
}

/**
 * The change of a share in percentage points; null when either side has no vehicles: a share of
 * no vehicles is 0 only by convention (`/api/trs` answers 0), not a figure to compare with.
 */
export function sharePoints(now: Share, before: Share): number | null {
  return now.vehicles === 0 || before.vehicles === 0 ? null : (now.share - before.share) * 100;
}

/** "+1.2 pp" / "-0.4 pp" / "0.0 pp". */
export const points = (pp: number): string => `${signed(pp)} pp`;

/**
 * A count in few characters for a chart (a bar's value, an axis tick), at three significant
 * digits so that neighbouring bars still read apart: 12,581 and 13,178 are 12.6k and 13.2k.
 */
export function compact(n: number): string {
  if (Math.abs(n) < 1000) return String(Math.round(n * 10) / 10);
  // 999,950 rounds to 1000k at three digits: it is 1M.
  const [unit, scale] = Math.abs(n) >= 999_500 ? ['M', 1e6] : ['k', 1e3];
  return `${Number((n / scale).toPrecision(3))}${unit}`;
}
