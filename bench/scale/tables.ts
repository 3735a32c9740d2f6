/**
 * The scale points as Markdown tables for docs/benchmarks.md, each figure beside its ratio to the
 * smallest point of the same run (the ratios travel between machines; the absolute figures less).
 */
import type { BacklogDrain, BacklogFill, LanePoint } from './measures.js';

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** CPU ms per completed vehicle: the cost the lane curve is about. */
export const cpuPerVehicle = (p: LanePoint): number => p.cpuMs / p.vehicles;

/**
 * CPU ms per vehicle added since the previous point: (ΔCPU ÷ Δvehicles). The post's own periodic
 * work (clock checks, status, timers that do not depend on traffic) is spread over few vehicles at
 * one lane; this difference leaves it out, so it stays flat unless something costs O(lanes) per event.
 */
export const marginalCpuPerVehicle = (p: LanePoint, previous: LanePoint): number => (p.cpuMs - previous.cpuMs) / (p.vehicles - previous.vehicles);

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

export function lanesTable(points: readonly LanePoint[]): string {
  const base = points[0];
  if (!base) return '';
  return table(
    ['lanes', 'vehicles', 'events', 'CPU ms / vehicle', '× 1st row', 'marginal CPU ms / vehicle', 'events / s (wall)', 'events / CPU s', 'commit p50 / p99 ms', 'heap after GC MB', 'heap peak MB', 'peak RSS MB'],
    points.map((p, i) => [
      fmt(p.lanes),
      fmt(p.vehicles),
      fmt(p.events),
      fmt(cpuPerVehicle(p), 2),
      fmt(cpuPerVehicle(p) / cpuPerVehicle(base), 2),
      i === 0 ? '' : fmt(marginalCpuPerVehicle(p, points[i - 1] as LanePoint), 2),
      fmt(p.events / p.wallSec),
      fmt(p.events / (p.cpuMs / 1000)),
      `${fmt(p.commitP50Ms, 1)} / ${fmt(p.commitP99Ms, 1)}`,
      fmt(p.heapUsedMb, 1),
      fmt(p.heapPeakMb),
      fmt(p.peakRssMb),
    ]),
  );
}

export interface BacklogPoint {
  fill: BacklogFill;
  drain: BacklogDrain;
}

export function backlogTable(points: readonly BacklogPoint[], rawRate: number): string {
  return table(
    [
      'events stored',
      'append events/s (first → last tenth)',
      'group commit p50 / p99 ms',
      'CPU µs / append',
      'bytes on disk / event',
      'drain events/s',
      '× raw MQTT.js',
      'CPU µs / event drained',
      'peak RSS fill / drain MB',
    ],
    points.map(({ fill, drain }) => [
      fmt(fill.backlog),
      `${fmt(fill.appendRate)} (${fmt(fill.firstTenthRate)} → ${fmt(fill.lastTenthRate)})`,
      `${fmt(fill.groupCommitP50Ms, 1)} / ${fmt(fill.groupCommitP99Ms, 1)}`,
      fmt(fill.cpuUsPerEvent, 1),
      fmt(fill.dbBytes / fill.backlog),
      fmt(drain.drainRate),
      fmt(drain.drainRate / rawRate, 2),
      fmt(drain.cpuUsPerEvent, 1),
      `${fmt(fill.peakRssMb)} / ${fmt(drain.peakRssMb)}`,
    ]),
  );
}
