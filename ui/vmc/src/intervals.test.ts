import { describe, expect, it } from 'vitest';
import { MAX_INTERVAL_ROWS, trsReport, type CrossingRecord } from '../../../contract/trs-report.js';
import { intervalLabel, intervalMinutes, intervalPoints } from './intervals.js';

const record = (id: string, crossingMin: number): CrossingRecord => ({ id, direction: 'import', channel: 'green', xray: false, registrationMin: null, crossingMin });

describe('the interval width and table', () => {
  it('takes only what the API takes: whole minutes 1–999', () => {
    expect(['1', '10', ' 999 '].map(intervalMinutes)).toEqual([1, 10, 999]);
    expect(['0', '1000', '1440', '2.5', '1e2', '-5', '', 'ten'].map(intervalMinutes)).toEqual(Array(8).fill(null));
  });

  it('labels the row gathering the long tail "over N", and draws it one interval past the others', () => {
    const report = trsReport([record('a', 0.5), record('b', 3), record('c', 1437)], 1);
    expect(report.intervals).toHaveLength(MAX_INTERVAL_ROWS);
    const rows = report.intervals;
    expect(rows.map(intervalLabel).slice(0, 3)).toEqual(['1', '2', '3']);
    expect(intervalLabel(rows.at(-1)!)).toBe('over 499');
    const { x, tail } = intervalPoints(rows);
    expect(x.slice(-2)).toEqual([499, 500]);
    expect(tail).toMatchObject({ overMin: 499, upToMin: 1437, vehicles: 1 });
    // An ordinary table has no tail and stays at its bounds.
    const short = trsReport([record('a', 12), record('b', 25)], 10).intervals;
    expect(intervalPoints(short)).toEqual({ x: [10, 20, 30], tail: null });
    expect(short.map(intervalLabel)).toEqual(['10', '20', '30']);
  });
});
