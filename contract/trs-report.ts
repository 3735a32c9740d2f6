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
 *
 * trsReport is a fold over TrsAccumulator, which the VMC feeds a page of its store at a time
 * (VmcStore.trsReport, vmc/store/vmc-store.ts): both print the same figures, to the last digit.
 */
import { DIRECTIONS } from '../config/schema.js';
import { CHANNELS } from './catalogue.js';
import { SortedDoubles } from './sorted-doubles.js';

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

/** Average, median and p90 (nearest-rank) of values sorted ascending; summed in that order. */
function summary(sorted: Float64Array): Summary {
  if (sorted.length === 0) return { avgMin: null, medianMin: null, p90Min: null };
  let sum = 0;
  for (const value of sorted) sum += value;
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
  return { avgMin: round(sum / sorted.length), medianMin: round(rank(0.5)), p90Min: round(rank(0.9)) };
}

/** Zero counts for `known` in their order, then for the unknown values seen, sorted. */
function inFixedOrder(known: readonly string[], seen: Iterable<string>): Record<string, number> {
  const extra = [...new Set(seen)].filter((value) => !known.includes(value)).sort();
  return Object.fromEntries([...known, ...extra].map((key) => [key, 0]));
}

/** The counts of `counted` over zeros for every value of `known` (inFixedOrder). */
function countsInFixedOrder(known: readonly string[], counted: ReadonlyMap<string, number>): Record<string, number> {
  const counts = inFixedOrder(known, counted.keys());
  for (const [key, count] of counted) counts[key] = (counts[key] ?? 0) + count;
  return counts;
}

/**
 * A TRS report folded one record at a time: what trsReport is built on, and what the VMC feeds a
 * page of its store at a time so a year of a country never sits in memory as records. Per
 * crossing it keeps two doubles (its crossing and registration minutes, in typed arrays sorted
 * as they come: sorted-doubles.ts), because the median, the p90 and the sums in ascending order
 * (below) need every value: some 16–40 bytes a crossing with the arrays' spare capacity, where
 * reading every record at once took some 500 (docs/benchmarks.md). Beside them, a count per
 * direction and per channel seen: as many entries as distinct values (the catalogue's where the
 * events were validated, as at the VMC).
 * The figures do not depend on the order the records come in.
 *
 * It counts every record it is given: dropping a repeated event id is the caller's (trsReport
 * does; the VMC's crossings are keyed by event id).
 */
export class TrsAccumulator {
  private vehicles = 0;
  private xray = 0;
  private readonly directions = new Map<string, number>();
  private readonly channels = new Map<string, number>();
  private readonly crossingMin = new SortedDoubles();
  private readonly registrationMin = new SortedDoubles();

  /** @param intervalMin width of the interval table's rows in minutes (> 0; default 10). */
  constructor(readonly intervalMin = 10) {
    if (!(intervalMin > 0)) throw new RangeError(`interval must be > 0 minutes, got ${intervalMin}`);
  }

  /** Counts one crossing. */
  add(record: CrossingRecord): void {
    this.vehicles += 1;
    this.directions.set(record.direction, (this.directions.get(record.direction) ?? 0) + 1);
    this.channels.set(record.channel, (this.channels.get(record.channel) ?? 0) + 1);
    if (record.xray) this.xray += 1;
    // `+ 0` makes a -0 (JSON can carry one) a 0: the same figures whatever the order, and the same JSON.
    this.crossingMin.push(record.crossingMin + 0);
    if (record.registrationMin !== null) this.registrationMin.push(record.registrationMin + 0);
  }

  /** The report of the crossings counted so far; more may be added after it. */
  report(): TrsReport {
    const all = this.vehicles;
    const share = (count: number): number => (all === 0 ? 0 : round(count / all, 4));
    const channelCounts = countsInFixedOrder(CHANNELS, this.channels);
    const times = this.crossingMin.ascending();
    return {
      vehicles: all,
      byDirection: countsInFixedOrder(DIRECTIONS, this.directions),
      channels: Object.fromEntries(Object.entries(channelCounts).map(([channel, count]) => [channel, share(count)])),
      xrayShare: share(this.xray),
      registration: summary(this.registrationMin.ascending()),
      crossing: summary(times),
      intervals: this.intervals(times),
    };
  }

  /**
   * The interval table from the crossing times sorted ascending: a row's vehicles are a run of
   * them, summed in ascending order, so the same events give the same floating-point figures
   * whatever order they were read in (a recording and the VMC's store must agree to the last digit).
   */
  private intervals(times: Float64Array): IntervalRow[] {
    const bucketOf = (minutes: number): number => Math.max(1, Math.ceil(minutes / this.intervalMin - 1e-9));
    // bucketOf never decreases as the minutes grow: the longest crossing has the last bucket.
    const lastBucket = times.length === 0 ? 0 : bucketOf(times[times.length - 1] as number);
    const capped = lastBucket > MAX_INTERVAL_ROWS;
    const rows = capped ? MAX_INTERVAL_ROWS : lastBucket;
    const intervals: IntervalRow[] = [];
    let next = 0;
    let cumulative = 0;
    let cumulativeSum = 0;
    for (let row = 1; row <= rows; row += 1) {
      const tail = capped && row === rows;
      let vehicles = 0;
      let sum = 0;
      for (; next < times.length && (tail || bucketOf(times[next] as number) <= row); next += 1) {
        vehicles += 1;
        sum += times[next] as number;
      }
      cumulative += vehicles;
      cumulativeSum += sum;
      intervals.push({
        upToMin: (tail ? lastBucket : row) * this.intervalMin,
        ...(tail ? { overMin: (row - 1) * this.intervalMin } : {}),
        vehicles,
        cumulative,
        cumulativePct: round((cumulative / this.vehicles) * 100),
        avgCrossingMin: cumulative === 0 ? 0 : round(cumulativeSum / cumulative),
      });
    }
    return intervals;
  }
}

/** Computes the report; records with the same event id count once (the first of them). */
export function trsReport(records: Iterable<CrossingRecord>, intervalMin = 10): TrsReport {
  const accumulator = new TrsAccumulator(intervalMin);
  const add = onceEach(accumulator);
  for (const record of records) add(record);
  return accumulator.report();
}

/**
 * trsReport over records read as they come (a file, a database): the figures of trsReport, with
 * one record in memory at a time beside the accumulator and the event ids seen.
 */
export async function trsReportOf(records: AsyncIterable<CrossingRecord> | Iterable<CrossingRecord>, intervalMin = 10): Promise<TrsReport> {
  const accumulator = new TrsAccumulator(intervalMin);
  const add = onceEach(accumulator);
  for await (const record of records) add(record);
  return accumulator.report();
}

/** Adds to `accumulator` each record whose event id it has not been given yet (a replayed event counts once). */
function onceEach(accumulator: TrsAccumulator): (record: CrossingRecord) => void {
  const seen = new Set<string>();
  return (record) => {
    if (seen.has(record.id)) return;
    seen.add(record.id);
    accumulator.add(record);
  };
}
