/**
 * The peer benchmark's tables: per load, each peer's figures and the ratio gateway / Node-RED
 * measured in the same run; then what each lost with the broker killed.
 */
import type { KillFigures, PeerKind, RunFigures } from './runs.js';

export const fmt = (n: number, digits = 0): string => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }) : 'n/a');

/** A table row: the first `leftColumns` cells left-aligned, the others right-aligned. */
function tableRow(widths: number[], cells: string[], leftColumns: number): string {
  return `  ${cells.map((cell, i) => (i < leftColumns ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join(' ')}`;
}

/** One load level: the figures of the run reported for each peer, and every round's pushes/s. */
export interface LevelResult {
  inFlight: number;
  reported: Map<PeerKind, RunFigures>;
  roundsPushesPerSec: Map<PeerKind, number[]>;
}

export function printThroughput(levels: LevelResult[], requests: number): void {
  if (levels.length === 0) return;
  const widths = [10, 17, 9, 8, 8, 12, 12, 27, 14, 18, 18];
  const row = (cells: string[]): string => tableRow(widths, cells, 2);
  const cells = (f: RunFigures): string[] => [
    fmt(f.pushesPerSec),
    fmt(f.p50Ms, 2),
    fmt(f.p99Ms, 2),
    fmt(f.cpuMsPer1000),
    fmt(f.peakRssMb),
    fmt(f.lastArrivalAfterLastAnswerMs, 1),
    fmt(f.allArrivedSec, 2),
    fmt(f.arrivalP50Ms, 2),
    fmt(f.arrivalP99Ms, 2),
  ];
  // A ratio of two signed times means nothing: n/a unless both are positive.
  const ratio = (a: number, b: number): string => (a > 0 && b > 0 ? fmt(a / b, 2) : 'n/a');
  console.log('');
  // The last two: each answered push from its first byte to its message at the subscriber.
  console.log(row(['in flight', 'peer', 'pushes/s', 'p50 ms', 'p99 ms', 'CPU ms/1000', 'peak RSS MB', 'last msg after last 200 ms', 'all arrived s', 'push→msg p50 ms', 'push→msg p99 ms']));
  for (const level of levels) {
    const gateway = level.reported.get('gateway') as RunFigures;
    const nodeRed = level.reported.get('Node-RED') as RunFigures;
    console.log(row([String(level.inFlight), 'gateway', ...cells(gateway)]));
    console.log(row(['', 'Node-RED', ...cells(nodeRed)]));
    console.log(
      row([
        '',
        'gateway/Node-RED',
        ratio(gateway.pushesPerSec, nodeRed.pushesPerSec),
        ratio(gateway.p50Ms, nodeRed.p50Ms),
        ratio(gateway.p99Ms, nodeRed.p99Ms),
        ratio(gateway.cpuMsPer1000, nodeRed.cpuMsPer1000),
        ratio(gateway.peakRssMb, nodeRed.peakRssMb),
        ratio(gateway.lastArrivalAfterLastAnswerMs, nodeRed.lastArrivalAfterLastAnswerMs),
        ratio(gateway.allArrivedSec, nodeRed.allArrivedSec),
        ratio(gateway.arrivalP50Ms, nodeRed.arrivalP50Ms),
        ratio(gateway.arrivalP99Ms, nodeRed.arrivalP99Ms),
      ]),
    );
    for (const [kind, figures] of [['gateway', gateway], ['Node-RED', nodeRed]] as const) {
      const rounds = level.roundsPushesPerSec.get(kind) ?? [];
      const others = [...figures.others].map(([type, count]) => `${fmt(count)} ${type}`).join(', ');
      const notes = [
        rounds.length > 1 ? `pushes/s of the rounds ${rounds.map((r) => fmt(r)).join(', ')}` : '',
        figures.answered < requests ? `${fmt(requests - figures.answered)} pushes not answered 200` : '',
        figures.missing > 0 ? `${fmt(figures.missing)} answered 200 never arrived` : '',
        figures.repeats > 0 ? `${fmt(figures.repeats)} repeated messages` : '',
        others ? `also published ${others}` : '',
      ].filter((note) => note !== '');
      if (notes.length > 0) console.log(`  ${''.padEnd(widths[0] as number)} ${kind}: ${notes.join('; ')}`);
    }
  }
}

export function printKills(kills: Map<PeerKind, KillFigures>): void {
  const widths = [10, 13, 8, 8, 6, 25, 20, 8, 15, 21];
  const row = (cells: string[]): string => tableRow(widths, cells, 1);
  console.log(row(['peer', 'answered 200', 'refused', 'arrived', 'lost', 'lost after broker PUBACK', 'arrived without 200', 'repeats', 'broker down ms', 'reconnected after ms']));
  for (const [kind, k] of kills) {
    console.log(
      row([
        kind,
        fmt(k.answered),
        fmt(k.refused),
        fmt(k.arrived),
        fmt(k.lost),
        fmt(k.lostAfterBrokerAck),
        fmt(k.arrivedUnanswered),
        fmt(k.repeats),
        fmt(k.brokerDownMs),
        k.reconnectedAfterMs === null ? 'not reconnected' : fmt(k.reconnectedAfterMs),
      ]),
    );
  }
  for (const [kind, k] of kills) {
    if (k.lostSpan) console.log(`  ${kind}: the reads it lost itself (never acknowledged by the broker) are among pushes #${fmt(k.lostSpan[0])} to #${fmt(k.lostSpan[1])} of the run`);
  }
}
