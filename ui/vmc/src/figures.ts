/**
 * How the dashboard words its figures and their changes against the year before. A change needs
 * both sides: against nothing (no vehicles, no average) there is no change to show, and a share's
 * change is in percentage points (a relative change of a share reads wrong).
 */

export type Tone = 'up' | 'down' | 'same';

export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
export const min = (x: number | null): string => (x === null ? '–' : x.toFixed(1));
export const change = (x: number | null): string => (x === null ? '–' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`);
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

/** "+1.2 pp" / "-0.4 pp". */
export const points = (pp: number): string => `${pp >= 0 ? '+' : ''}${pp.toFixed(1)} pp`;
