/** The two scale figures (lanes, backlog) as svg-plot.ts figures, from the measured points. */
import type { LanePoint } from './measures.js';
import { formatNumber, type Figure } from './svg-plot.js';
import { cpuPerVehicle, marginalCpuPerVehicle, type BacklogPoint } from './tables.js';

export interface RunFacts {
  /** e.g. "2026-05-14, 2 cores (shared)" */
  when: string;
  perLane: string;
  /** The unit's NODE_OPTIONS the points ran with (absent in points stored before it was kept). */
  nodeFlags?: string;
}

const withFlags = (facts: RunFacts): string => (facts.nodeFlags ? ` with the unit's ${facts.nodeFlags}` : '');

const events = (value: number): string => (value >= 1e6 ? `${value / 1e6} M` : `${value / 1e3} k`);

export function lanesFigure(points: readonly LanePoint[], facts: RunFacts): Figure {
  const lanes = points.map((p) => p.lanes);
  const at = (y: (p: LanePoint) => number): [number, number][] => points.map((p) => [p.lanes, y(p)]);
  const x = { label: 'lanes (log scale)', log: true, ticks: lanes, min: Math.min(...lanes) };
  return {
    title: 'Lane workflow: cost as lanes grow',
    subtitle: `${facts.perLane}; each point a fresh process${withFlags(facts)}; ${facts.when}`,
    columns: 2,
    panels: [
      {
        title: 'CPU per vehicle',
        x,
        y: { label: 'CPU ms per vehicle' },
        series: [
          { name: 'all CPU ÷ vehicles', points: at(cpuPerVehicle) },
          { name: 'marginal: ΔCPU ÷ Δvehicles', points: points.slice(1).map((p, i) => [p.lanes, marginalCpuPerVehicle(p, points[i] as LanePoint)] as [number, number]) },
        ],
      },
      {
        title: 'Throughput',
        x,
        y: { label: 'events per second' },
        series: [
          { name: 'per CPU second', points: at((p) => p.events / (p.cpuMs / 1000)) },
          { name: 'per wall second (shared machine)', points: at((p) => p.events / p.wallSec) },
        ],
      },
      {
        title: 'Memory',
        x,
        y: { label: 'MB' },
        series: [
          { name: 'peak RSS', points: at((p) => p.peakRssMb) },
          { name: 'heap peak', points: at((p) => p.heapPeakMb) },
          { name: 'heap after GC', points: at((p) => p.heapUsedMb) },
        ],
      },
      {
        title: 'Commit latency (append → durable)',
        x,
        y: { label: 'ms' },
        series: [
          { name: 'p50', points: at((p) => p.commitP50Ms) },
          { name: 'p99', points: at((p) => p.commitP99Ms) },
        ],
      },
    ],
  };
}

export function backlogFigure(points: readonly BacklogPoint[], rawRate: number, facts: RunFacts): Figure {
  const sizes = points.map((p) => p.fill.backlog);
  const at = (y: (p: BacklogPoint) => number): [number, number][] => points.map((p) => [p.fill.backlog, y(p)]);
  const x = { label: 'events stored (log scale)', log: true, ticks: sizes, min: Math.min(...sizes), format: events };
  return {
    title: 'Outbox: cost as the backlog grows',
    subtitle: `fill and drain each in a fresh process${withFlags(facts)}; drain to a local Mosquitto, QoS 1, window 256; ${facts.when}`,
    columns: 2,
    panels: [
      {
        title: 'Rates',
        x,
        y: { label: 'events per second' },
        series: [
          { name: 'append', points: at((p) => p.fill.appendRate) },
          { name: 'drain', points: at((p) => p.drain.drainRate) },
          { name: 'raw MQTT.js publish', points: at(() => rawRate), dashed: true },
        ],
      },
      {
        title: 'CPU per event',
        x,
        y: { label: 'CPU µs per event' },
        series: [
          { name: 'append', points: at((p) => p.fill.cpuUsPerEvent) },
          { name: 'drain', points: at((p) => p.drain.cpuUsPerEvent) },
        ],
      },
      {
        title: 'Peak RSS',
        x,
        y: { label: 'MB' },
        series: [
          { name: 'fill', points: at((p) => p.fill.peakRssMb) },
          { name: 'drain', points: at((p) => p.drain.peakRssMb) },
        ],
      },
      {
        title: 'Group commit of 1 000 appends',
        x,
        y: { label: 'ms', format: formatNumber },
        series: [
          { name: 'p50', points: at((p) => p.fill.groupCommitP50Ms) },
          { name: 'p99', points: at((p) => p.fill.groupCommitP99Ms) },
        ],
      },
    ],
  };
}
