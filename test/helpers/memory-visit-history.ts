/**
 * A visit history in memory, for the risk assessor where no gateway database runs: the simulated
 * month of model training (arrivals recorded as its trucks come) and unit tests. A post reads its
 * history from the database (gateway/workflow/lane-store.ts), which bounds and keeps it.
 */
import { canonicalPlate } from '../../core/plates.js';
import { VISITS_WINDOW_MS } from '../../gateway/workflow/lane-store.js';
import type { VisitHistory } from '../../gateway/workflow/risk-assessor.js';

export class MemoryVisitHistory implements VisitHistory {
  private readonly arrivals = new Map<string, number[]>();
  private readonly mismatches = new Map<string, number>();

  visits(plate: string | null, atMs: number): number {
    if (plate === null) return 0;
    return (this.arrivals.get(canonicalPlate(plate)) ?? []).filter((t) => t < atMs && t >= atMs - VISITS_WINDOW_MS).length;
  }

  mismatchesOf(plate: string | null): number {
    return plate === null ? 0 : (this.mismatches.get(canonicalPlate(plate)) ?? 0);
  }

  recordArrival(plate: string, atMs: number): void {
    const key = canonicalPlate(plate);
    this.arrivals.set(key, [...(this.arrivals.get(key) ?? []), atMs]);
  }

  recordMismatch(plate: string): void {
    const key = canonicalPlate(plate);
    this.mismatches.set(key, (this.mismatches.get(key) ?? 0) + 1);
  }
}
