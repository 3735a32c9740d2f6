/**
 * Time Release Study indicators from `crossing.completed` events, as the VMC dashboards show them:
 * vehicles by direction, channel shares, X-ray involvement, registration and border-crossing
 * time (average, median, p90), and the distribution of crossing times in intervals (default 10
 * minutes). A vehicle with crossing time t falls in the interval whose upper bound is the first
 * multiple of the width ≥ t (a zero time falls in the first interval). Percentiles are
 * nearest-rank. Durations come from `data.durations`, else from the milestones.
 *
 * The table has at most MAX_INTERVAL_ROWS rows, whatever the interval and the longest crossing
 * (one stored crossing of years, or a tiny interval, must not build millions of rows): past it,
 * the last row gathers every vehicle over `(MAX_INTERVAL_ROWS - 1) × interval` minutes. That row
 * carries `overMin` (the bound it starts above) and, as `upToMin`, the upper bound of the longest
 * crossing's interval; every other row is as before.
 *
 * `byDirection` and `channels` always list every direction and channel of the catalogue, in the
 * catalogue's order, zeros included (then any value the catalogue does not know, sorted): two
 * reports of the same events print the same lines and columns, whatever order the events came in.
 */
import { DIRECTIONS } from '../config/schema.js';
import { CHANNELS } from './catalogue.js';

export interface CrossingRecord {
  id: string;
  direction: string;
  channel: string;
  xray: boolean;
  registrationMin: number | null;
  crossingMin: number;
}

export interface Summary {
  avgMin: number | null;
  medianMin: number | null;
  p90Min: number | null;
}

/** Most rows of the interval table; the last one gathers the rest (see the module comment). */
export const MAX_INTERVAL_ROWS = 500;

export interface IntervalRow {
  upToMin: number;
  /** Only on a last row that gathers the long tail: its vehicles took more than this many minutes. */
  overMin?: number;
  vehicles: number;
  cumulative: number;
  cumulativePct: number;
  avgCrossingMin: number;
}

export interface TrsReport {
  vehicles: number;
  byDirection: Record<string, number>;
  channels: Record<string, number>;
  xrayShare: number;
  registration: Summary;
  crossing: Summary;
  intervals: IntervalRow[];
}

type Json = Record<string, unknown>;

/** Turns a `crossing.completed` event into a record; null for other events or abandoned crossings. */
export function crossingRecord(event: Json): CrossingRecord | null {
  if (event.type !== 'crossing.completed') return null;
  const data = event.data as Json | undefined;
  if (!data || (data.outcome !== undefined && data.outcome !== 'completed')) return null;
  const durations = data.durations as { registrationSec?: number | null; crossingSec?: number } | undefined;
  const milestones = (data.milestones ?? {}) as Record<string, string>;
  const between = (from: string, to: string): number | null => {
    const start = Date.parse(milestones[from] ?? '');
    const end = Date.parse(milestones[to] ?? '');
    return Number.isFinite(start) && Number.isFinite(end) ? (end - start) / 60_000 : null;
  };
  const crossingMin = typeof durations?.crossingSec === 'number' ? durations.crossingSec / 60 : between('arrived', 'exited');
  if (crossingMin === null || crossingMin < 0) return null;
  const registrationMin = typeof durations?.registrationSec === 'number' ? durations.registrationSec / 60 : between('arrived', 'registered');
  return {
    id: typeof event.id === 'string' ? event.id : JSON.stringify(event.id),
    direction: typeof data.direction === 'string' ? data.direction : 'unknown',
    channel: typeof data.channel === 'string' ? data.channel : 'unknown',
    xray: data.xray === true,
    registrationMin,
    crossingMin,
  };
}

const round = (value: number, decimals = 2): number => Math.round(value * 10 ** decimals) / 10 ** decimals;

function summary(values: number[]): Summary {
  if (values.length === 0) return { avgMin: null, medianMin: null, p90Min: null };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
  return { avgMin: round(sorted.reduce((a, b) => a + b, 0) / sorted.length), medianMin: round(rank(0.5)), p90Min: round(rank(0.9)) };
}

/** Zero counts for `known` in their order, then for the unknown values seen, sorted. */
function inFixedOrder(known: readonly string[], seen: string[]): Record<string, number> {
  const extra = [...new Set(seen.filter((value) => !known.includes(value)))].sort();
  return Object.fromEntries([...known, ...extra].map((key) => [key, 0]));
}

/** Computes the report; records with the same event id count once. */
export function trsReport(records: Iterable<CrossingRecord>, intervalMin = 10): TrsReport {
  if (!(intervalMin > 0)) throw new RangeError(`interval must be > 0 minutes, got ${intervalMin}`);
  const unique = new Map<string, CrossingRecord>();
  for (const record of records) if (!unique.has(record.id)) unique.set(record.id, record);
  const all = [...unique.values()];
  const byDirection = inFixedOrder(DIRECTIONS, all.map((r) => r.direction));
  const channelCounts = inFixedOrder(CHANNELS, all.map((r) => r.channel));
  for (const record of all) {
    byDirection[record.direction] = (byDirection[record.direction] ?? 0) + 1;
    channelCounts[record.channel] = (channelCounts[record.channel] ?? 0) + 1;
  }
  const share = (count: number): number => (all.length === 0 ? 0 : round(count / all.length, 4));
  const bucketOf = (minutes: number): number => Math.max(1, Math.ceil(minutes / intervalMin - 1e-9));
  const buckets = new Map<number, number[]>();
  for (const record of all) {
    const bucket = bucketOf(record.crossingMin);
    const times = buckets.get(bucket);
    if (times) times.push(record.crossingMin);
    else buckets.set(bucket, [record.crossingMin]);
  }
  // Summed in ascending order, so the same events give the same floating-point figures whatever
  // order they were read in (a recording and the VMC's store must agree to the last digit).
  for (const times of buckets.values()) times.sort((a, b) => a - b);
  // A loop, not Math.max(...keys): a spread of many keys overflows the argument limit.
  let lastBucket = 0;
  for (const bucket of buckets.keys()) if (bucket > lastBucket) lastBucket = bucket;
  const capped = lastBucket > MAX_INTERVAL_ROWS;
  const rows = capped ? MAX_INTERVAL_ROWS : lastBucket;
  const intervals: IntervalRow[] = [];
  let cumulative = 0;
  let cumulativeSum = 0;
  for (let row = 1; row <= rows; row += 1) {
    const tail = capped && row === rows;
    const times = tail ? [...buckets.entries()].filter(([bucket]) => bucket >= row).flatMap(([, t]) => t).sort((a, b) => a - b) : (buckets.get(row) ?? []);
    cumulative += times.length;
    cumulativeSum += times.reduce((a, b) => a + b, 0);
    intervals.push({
      upToMin: (tail ? lastBucket : row) * intervalMin,
      ...(tail ? { overMin: (row - 1) * intervalMin } : {}),
      vehicles: times.length,
      cumulative,
      cumulativePct: round((cumulative / all.length) * 100),
      avgCrossingMin: cumulative === 0 ? 0 : round(cumulativeSum / cumulative),
    });
  }
  return {
    vehicles: all.length,
    byDirection,
    channels: Object.fromEntries(Object.entries(channelCounts).map(([channel, count]) => [channel, share(count)])),
    xrayShare: share(all.filter((r) => r.xray).length),
    registration: summary(all.map((r) => r.registrationMin).filter((m): m is number => m !== null)),
    crossing: summary(all.map((r) => r.crossingMin)),
    intervals,
  };
}
