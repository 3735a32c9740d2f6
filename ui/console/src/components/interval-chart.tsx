/**
 * The distribution of crossing times (uPlot): vehicles per interval as bars, the cumulative
 * percentage as the distribution curve on its own axis, as the central dashboards draw them.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useI18n } from '../i18n/index.js';
import { PALETTE } from '../palette.js';
import type { TrsReport } from '../types.js';

export function IntervalChart({ intervals, width }: { intervals: TrsReport['intervals']; width: number }) {
  const { t, number } = useI18n();
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = host.current;
    if (!element || intervals.length === 0) return;
    const data: uPlot.AlignedData = [intervals.map((row) => row.upToMin), intervals.map((row) => row.vehicles), intervals.map((row) => row.cumulativePct)];
    const bars = uPlot.paths.bars?.({ size: [0.8, 60], align: -1 });
    const plot = new uPlot(
      {
        width,
        height: 280,
        title: t('day.chartTitle'),
        scales: { x: { time: false }, pct: { range: [0, 100] } },
        axes: [
          { label: t('day.axisMinutes'), stroke: PALETTE.text },
          { label: t('day.axisVehicles'), stroke: PALETTE.text, values: (_u, ticks) => ticks.map((v) => number(v)) },
          { scale: 'pct', side: 1, label: t('day.axisCumulative'), stroke: PALETTE.text, grid: { show: false }, values: (_u, ticks) => ticks.map((v) => `${number(v)} %`) },
        ],
        series: [
          { label: t('day.colUpTo') },
          { label: t('day.colVehicles'), stroke: PALETTE.chartBars, fill: `${PALETTE.chartBars}99`, ...(bars ? { paths: bars } : {}), points: { show: false } },
          { label: t('day.colCumulativePct'), scale: 'pct', stroke: PALETTE.chartLine, width: 2, points: { show: true, size: 5 } },
        ],
        legend: { show: true, live: false },
      },
      data,
      element,
    );
    return () => plot.destroy();
  }, [intervals, width, t, number]);
  return <div ref={host} class="chart" data-testid="interval-chart" />;
}
