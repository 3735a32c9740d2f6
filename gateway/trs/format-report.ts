/** TRS report as an aligned text table, CSV (headline figures, then the interval table), or JSON. */
import type { TrsReport } from '../../contract/trs-report.js';

export function formatJson(report: TrsReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * CSV in two blocks separated by an empty line: the headline figures as `metric,value` rows
 * (vehicles, each direction, each channel share, X-ray share, registration and crossing times),
 * then the interval table. Both blocks keep a fixed order of rows and columns.
 */
export function formatCsv(report: TrsReport): string {
  const value = (x: number | null): string => (x === null ? '' : String(x));
  const headline: [string, number | null][] = [
    ['vehicles', report.vehicles],
    ...Object.entries(report.byDirection).map(([direction, n]): [string, number] => [`direction.${direction}`, n]),
    ...Object.entries(report.channels).map(([channel, share]): [string, number] => [`channelShare.${channel}`, share]),
    ['xrayShare', report.xrayShare],
    ['registration.avgMin', report.registration.avgMin],
    ['registration.medianMin', report.registration.medianMin],
    ['registration.p90Min', report.registration.p90Min],
    ['crossing.avgMin', report.crossing.avgMin],
    ['crossing.medianMin', report.crossing.medianMin],
    ['crossing.p90Min', report.crossing.p90Min],
  ];
  const rows = report.intervals.map((r) => [r.upToMin, r.vehicles, r.cumulative, r.cumulativePct, r.avgCrossingMin].join(','));
  return [
    'metric,value',
    ...headline.map(([metric, x]) => `${metric},${value(x)}`),
    '',
    'upToMin,vehicles,cumulative,cumulativePct,avgCrossingMin',
    ...rows,
  ].join('\n') + '\n';
}

export function formatTable(report: TrsReport): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const min = (x: number | null): string => (x === null ? '-' : x.toFixed(1));
  const lines = [
    `Vehicles: ${report.vehicles}`,
    `By direction: ${Object.entries(report.byDirection).map(([d, n]) => `${d} ${n}`).join(', ') || '-'}`,
    `Channels: ${Object.entries(report.channels).map(([c, s]) => `${c} ${pct(s)}`).join(', ') || '-'}`,
    `X-ray: ${pct(report.xrayShare)}`,
    `Registration time (min): avg ${min(report.registration.avgMin)}, median ${min(report.registration.medianMin)}, p90 ${min(report.registration.p90Min)}`,
    `Border-crossing time (min): avg ${min(report.crossing.avgMin)}, median ${min(report.crossing.medianMin)}, p90 ${min(report.crossing.p90Min)}`,
    '',
    `${'up to (min)'.padStart(12)} ${'vehicles'.padStart(9)} ${'cumulative'.padStart(11)} ${'cum. %'.padStart(8)} ${'avg crossing (min)'.padStart(19)}`,
    ...report.intervals.map(
      (r) => `${String(r.upToMin).padStart(12)} ${String(r.vehicles).padStart(9)} ${String(r.cumulative).padStart(11)} ${r.cumulativePct.toFixed(2).padStart(8)} ${r.avgCrossingMin.toFixed(2).padStart(19)}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}
