/**
 * Property: the accumulator (TrsAccumulator), fed the distinct records in any order and in pages
 * of any sizes, reports exactly what trsReport reports at once, and what the report computed
 * before the accumulator existed reports (its code is kept below, as it was, as the oracle):
 * deep-equal and the same JSON text (key order included), for record sets with repeated ids,
 * ties, values on the interval bounds, missing registration times, unknown directions and
 * channels, the empty set, one crossing, and intervals that cap the table.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIRECTIONS } from '../config/schema.js';
import { CHANNELS } from './catalogue.js';
import { MAX_INTERVAL_ROWS, TrsAccumulator, trsReport, type CrossingRecord, type IntervalRow, type Summary, type TrsReport } from './trs-report.js';

// The report as computed before TrsAccumulator (contract/trs-report.ts at 3523cac), word for word.
const round = (value: number, decimals = 2): number => Math.round(value * 10 ** decimals) / 10 ** decimals;

function summary(values: number[]): Summary {
  if (values.length === 0) return { avgMin: null, medianMin: null, p90Min: null };
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number): number => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
  return { avgMin: round(sorted.reduce((a, b) => a + b, 0) / sorted.length), medianMin: round(rank(0.5)), p90Min: round(rank(0.9)) };
}

function inFixedOrder(known: readonly string[], seen: string[]): Record<string, number> {
  const extra = [...new Set(seen.filter((value) => !known.includes(value)))].sort();
  return Object.fromEntries([...known, ...extra].map((key) => [key, 0]));
}

function referenceTrsReport(records: Iterable<CrossingRecord>, intervalMin = 10): TrsReport {
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
  for (const times of buckets.values()) times.sort((a, b) => a - b);
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

// Minutes that sit on interval bounds (ties and `bucketOf`'s edge), long tails that cap the table, and any others.
const minutes = fc.oneof(
  // 1e16 next to small values: a sum in another order than ascending comes out different.
  fc.constantFrom(0, 0.5, 1, 5, 9.999999999, 10, 10.000000001, 20, 30, 59.99, 60, 61, 4990, 5000, 1e10, 1e16, 1.7e308 / 60),
  fc.double({ min: 0, max: 10_000, noNaN: true }).map((m) => m + 0),
  fc.integer({ min: 0, max: 600 }),
);
const crossingRecord = fc.record({
  // A small pool of ids, so repeats are common; the first of an id is the one that counts.
  id: fc.oneof(fc.integer({ min: 0, max: 30 }).map((n) => `e${n}`), fc.uuid()),
  direction: fc.constantFrom(...DIRECTIONS, 'unknown', 'zz-other', 'constructor', '0'),
  channel: fc.constantFrom(...CHANNELS, 'unknown', 'amber'),
  xray: fc.boolean(),
  registrationMin: fc.oneof(fc.constant(null), minutes, fc.double({ min: -100, max: 0, noNaN: true }).map((m) => m + 0)),
  crossingMin: minutes,
});
const interval = fc.oneof(fc.constantFrom(1, 5, 10, 15, 60, 999, 0.5, 0.00001), fc.double({ min: 0.001, max: 1000, noNaN: true }));

/** The first record of each id, then in an order a seed chooses (a store returns its own order). */
function distinctShuffled(records: CrossingRecord[], seed: number): CrossingRecord[] {
  const first = [...new Map(records.map((r) => [r.id, r] as const).reverse()).values()].reverse();
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t ^= t + Math.imul(t ^ (t >>> 7), 61 | t);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  for (let i = first.length - 1; i > 0; i -= 1) {
    const j = Math.floor(next() * (i + 1));
    [first[i], first[j]] = [first[j]!, first[i]!];
  }
  return first;
}

/** Both the deep value and the JSON text (deep equality ignores the order of keys). */
const expectSame = (actual: TrsReport, expected: TrsReport): void => {
  expect(actual).toStrictEqual(expected);
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
};

describe('TRS accumulator', () => {
  it('folds any distinct records in any order and any pages into exactly the report trsReport made before it', () => {
    fc.assert(
      fc.property(fc.array(crossingRecord, { maxLength: 200 }), interval, fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 8 }), fc.integer(), (records, intervalMin, pageSizes, seed) => {
        const expected = referenceTrsReport(records, intervalMin);
        expectSame(trsReport(records, intervalMin), expected);
        const rows = distinctShuffled(records, seed);
        const accumulator = new TrsAccumulator(intervalMin);
        let read = 0;
        for (let page = 0; read < rows.length; page += 1) {
          const size = pageSizes[page % pageSizes.length]!;
          for (const record of rows.slice(read, read + size)) accumulator.add(record);
          read += size;
          // A report between pages is that of the pages so far, and leaves the fold to go on.
          if (page === 0) expectSame(accumulator.report(), referenceTrsReport(rows.slice(0, read), intervalMin));
        }
        expectSame(accumulator.report(), expected);
      }),
      {
        seed: 20_261_201,
        numRuns: 400,
        examples: [
          [[], 10, [1], 0],
          [[{ id: 'a', direction: 'import', channel: 'green', xray: false, registrationMin: null, crossingMin: 0 }], 10, [1], 0],
          [[{ id: 'a', direction: 'zz-other', channel: 'amber', xray: true, registrationMin: 3, crossingMin: 1e10 }, { id: 'a', direction: 'import', channel: 'red', xray: false, registrationMin: 1, crossingMin: 5 }], 1, [1], 7],
        ],
      },
    );
  });

  it('refuses an interval that is not > 0, as trsReport does', () => {
    for (const bad of [0, -1, Number.NaN]) expect(() => new TrsAccumulator(bad)).toThrow('interval must be > 0 minutes');
  });

  it('reads a -0 as 0 (the same JSON as the report before it, whatever the order)', () => {
    const record = (id: string, crossingMin: number): CrossingRecord => ({ id, direction: 'import', channel: 'green', xray: false, registrationMin: crossingMin, crossingMin });
    const report = trsReport([record('a', -0), record('b', 0), record('c', -0)], 10);
    expect(Object.is(report.crossing.medianMin, 0)).toBe(true);
    expect(JSON.stringify(report)).toBe(JSON.stringify(referenceTrsReport([record('a', -0), record('b', 0), record('c', -0)], 10)));
  });
});
