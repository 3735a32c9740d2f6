import { describe, expect, it } from 'vitest';
import { crossingRecord, MAX_INTERVAL_ROWS, trsReport, type CrossingRecord } from './trs-report.js';

const record = (id: string, crossingMin: number, extra: Partial<CrossingRecord> = {}): CrossingRecord => ({
  id,
  direction: 'import',
  channel: 'green',
  xray: false,
  registrationMin: crossingMin / 2,
  crossingMin,
  ...extra,
});

describe('TRS report', () => {
  it('computes the interval table by hand-checked numbers', () => {
    const report = trsReport([record('a', 5), record('b', 10), record('c', 12, { channel: 'red', xray: true }), record('d', 25, { direction: 'export' }), record('e', 0), record('a', 5)], 10);
    expect(report.vehicles).toBe(5); // 'a' twice counts once
    expect(report.byDirection).toEqual({ import: 4, export: 1, 'transit-entry': 0, 'transit-exit': 0, 'domestic-transit': 0 });
    expect(report.channels).toEqual({ green: 0.8, orange: 0, red: 0.2 });
    expect(report.xrayShare).toBe(0.2);
    expect(report.crossing).toEqual({ avgMin: 10.4, medianMin: 10, p90Min: 25 });
    expect(report.registration).toEqual({ avgMin: 5.2, medianMin: 5, p90Min: 12.5 });
    expect(report.intervals).toEqual([
      { upToMin: 10, vehicles: 3, cumulative: 3, cumulativePct: 60, avgCrossingMin: 5 },
      { upToMin: 20, vehicles: 1, cumulative: 4, cumulativePct: 80, avgCrossingMin: 6.75 },
      { upToMin: 30, vehicles: 1, cumulative: 5, cumulativePct: 100, avgCrossingMin: 10.4 },
    ]);
  });

  it('keeps empty intervals in the table and honours the width', () => {
    const report = trsReport([record('a', 3), record('b', 61)], 30);
    expect(report.intervals.map((r) => [r.upToMin, r.vehicles])).toEqual([
      [30, 1],
      [60, 0],
      [90, 1],
    ]);
    expect(trsReport([], 10)).toMatchObject({ vehicles: 0, intervals: [], crossing: { avgMin: null } });
    expect(() => trsReport([], 0)).toThrow('interval must be > 0');
  });

  it('reads durations from data.durations, else from the milestones; skips abandoned crossings', () => {
    const base = { id: 'x', type: 'crossing.completed', data: { direction: 'transit-entry', channel: 'orange', xray: true, outcome: 'completed' } };
    expect(crossingRecord({ ...base, data: { ...base.data, durations: { registrationSec: 600, crossingSec: 3000 } } })).toMatchObject({ registrationMin: 10, crossingMin: 50 });
    expect(
      crossingRecord({ ...base, data: { ...base.data, milestones: { arrived: '2026-11-26T06:00:00.000Z', registered: '2026-11-26T07:40:00.000Z', exited: '2026-11-26T08:15:00.000Z' } } }),
    ).toMatchObject({ registrationMin: 100, crossingMin: 135 });
    expect(crossingRecord({ ...base, data: { ...base.data, outcome: 'abandoned', durations: { crossingSec: 60 } } })).toBeNull();
    expect(crossingRecord({ id: 'y', type: 'vehicle.arrived', data: {} })).toBeNull();
  });

  it('lists directions and channels in the catalogue order, zeros included, whatever order the events came in', () => {
    const records = [record('a', 5, { direction: 'transit-exit', channel: 'red' }), record('b', 7, { direction: 'export', channel: 'orange' }), record('c', 9, { direction: 'zz-other', channel: 'blue' })];
    const forward = trsReport(records, 10);
    const backward = trsReport([...records].reverse(), 10);
    expect(Object.keys(forward.byDirection)).toEqual(['import', 'export', 'transit-entry', 'transit-exit', 'domestic-transit', 'zz-other']);
    expect(Object.keys(forward.channels)).toEqual(['green', 'orange', 'red', 'blue']);
    expect(JSON.stringify(backward)).toBe(JSON.stringify(forward));
    expect(trsReport([], 10).byDirection).toEqual({ import: 0, export: 0, 'transit-entry': 0, 'transit-exit': 0, 'domestic-transit': 0 });
  });

  it('bounds the interval table: a huge crossing time or a tiny interval gathers the tail in one last row', () => {
    // One stored crossing of ~190 years (crossingSec 1e10) at 1-minute intervals would be 1.7e8 rows.
    const huge = crossingRecord({ id: 'h', type: 'crossing.completed', data: { direction: 'import', channel: 'green', durations: { crossingSec: 1e10, registrationSec: 60 }, milestones: {} } });
    expect(huge).not.toBeNull();
    const report = trsReport([record('a', 0.5), record('b', 3), huge!], 1);
    expect(report.intervals).toHaveLength(MAX_INTERVAL_ROWS);
    expect(report.intervals[0]).toEqual({ upToMin: 1, vehicles: 1, cumulative: 1, cumulativePct: 33.33, avgCrossingMin: 0.5 });
    expect(report.intervals[2]).toEqual({ upToMin: 3, vehicles: 1, cumulative: 2, cumulativePct: 66.67, avgCrossingMin: 1.75 });
    expect(report.intervals.at(-2)).toMatchObject({ upToMin: MAX_INTERVAL_ROWS - 1, vehicles: 0, cumulative: 2 });
    expect(report.intervals.at(-1)).toEqual({ upToMin: Math.ceil(1e10 / 60), overMin: MAX_INTERVAL_ROWS - 1, vehicles: 1, cumulative: 3, cumulativePct: 100, avgCrossingMin: round2((0.5 + 3 + 1e10 / 60) / 3) });
    // What `GET /api/trs?interval=0.00001` asked of the function before the route refused it.
    const tiny = trsReport([record('a', 5), record('b', 25)], 0.00001);
    expect(tiny.intervals).toHaveLength(MAX_INTERVAL_ROWS);
    expect(tiny.intervals.at(-1)).toMatchObject({ overMin: (MAX_INTERVAL_ROWS - 1) * 0.00001, vehicles: 2, cumulative: 2, cumulativePct: 100 });
    // Under the bound nothing changes: no overMin anywhere.
    expect(trsReport([record('a', 4990)], 10).intervals.every((row) => !('overMin' in row))).toBe(true);
  });
});

const round2 = (value: number): number => Math.round(value * 100) / 100;
