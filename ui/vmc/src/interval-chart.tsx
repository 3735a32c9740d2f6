/**
 * The distribution of crossing times (uPlot): vehicles per interval as bars, the cumulative
 * percentage as the distribution curve on its own axis, as the central dashboards draw them. The
 * row gathering the long tail (`overMin`) is drawn one interval past the others and named under
 * the chart (intervals.ts).
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { TrsReport } from './api.js';
import { intervalPoints } from './intervals.js';
import { PALETTE } from './palette.js';

export function IntervalChart({ intervals }: { intervals: TrsReport['intervals'] }) {
  const host = useRef<HTMLDivElement>(null);
  const { tail } = intervalPoints(intervals);
  useEffect(() => {
    const element = host.current;
    if (!element || intervals.length === 0) return;
    const data: uPlot.AlignedData = [intervalPoints(intervals).x, intervals.map((row) => row.vehicles), intervals.map((row) => row.cumulativePct)];
    const bars = uPlot.paths.bars?.({ size: [0.8, 60], align: -1 });
    const plot = new uPlot(
      {
        width: Math.max(320, element.clientWidth || 480),
        height: 240,
        scales: { x: { time: false }, pct: { range: [0, 100] } },
        axes: [
          { label: 'crossing time, up to (min)' },
          { label: 'vehicles' },
          { scale: 'pct', side: 1, label: 'cumulative %', grid: { show: false } },
        ],
        series: [
          { label: 'up to (min)' },
          { label: 'vehicles', stroke: PALETTE.chartBars, fill: `${PALETTE.chartBars}99`, ...(bars ? { paths: bars } : {}), points: { show: false } },
          { label: 'cumulative %', scale: 'pct', stroke: PALETTE.chartLine, width: 2, points: { show: true, size: 5 } },
        ],
        legend: { show: true, live: false },
      },
      data,
      element,
    );
    return () => plot.destroy();
  }, [intervals]);
  return (
    <>
      <div ref={host} class="chart" data-testid="interval-chart" />
      {tail && (
        <p class="muted" data-testid="interval-tail">
          {`The last bar gathers every crossing over ${tail.overMin} min: ${tail.vehicles} vehicle(s), the longest up to ${tail.upToMin} min.`}
        </p>
      )}
    </>
  );
}
