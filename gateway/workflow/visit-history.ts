/**
 * What the post remembers of a plate for the risk features: its arrivals in the last 30 days and
 * how many of its crossings left with a different plate at the exit camera, keyed by the
 * OCR-canonical plate. Held in memory for the features; stored by the lane store (lane-store.ts)
 * with the events that cause each change, and given back here on start (`restore`).
 */
import { canonicalPlate } from '../../core/plates.js';

const WINDOW_MS = 30 * 86_400_000;

export class VisitHistory {
  private readonly arrivals = new Map<string, number[]>();
  private readonly mismatches = new Map<string, number>();

  /** Takes back what the lane store kept across a restart. */
  restore(arrivals: Map<string, number[]>, mismatches: Map<string, number>): void {
    for (const [key, times] of arrivals) this.arrivals.set(key, times);
    for (const [key, count] of mismatches) this.mismatches.set(key, count);
  }

  /** Arrivals before `atMs` within 30 days. */
  visits(plate: string | null, atMs: number): number {
    if (plate === null) return 0;
    const times = this.arrivals.get(canonicalPlate(plate)) ?? [];
    return times.filter((t) => t < atMs && t >= atMs - WINDOW_MS).length;
  }

  mismatchesOf(plate: string | null): number {
    return plate === null ? 0 : (this.mismatches.get(canonicalPlate(plate)) ?? 0);
  }

  recordArrival(plate: string | null, atMs: number): void {
    if (plate === null) return;
    const key = canonicalPlate(plate);
    const times = (this.arrivals.get(key) ?? []).filter((t) => t >= atMs - WINDOW_MS);
    times.push(atMs);
    this.arrivals.set(key, times);
  }

  recordMismatch(plate: string | null): void {
    if (plate === null) return;
    const key = canonicalPlate(plate);
    this.mismatches.set(key, (this.mismatches.get(key) ?? 0) + 1);
  }
}
