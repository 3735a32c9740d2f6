/**
 * What the post remembers of a plate for the risk features: its arrivals in the last 30 days and
 * how many of its crossings left with a different plate at the exit camera, keyed by the
 * OCR-canonical plate. Held in memory for the features; stored by the lane store (lane-store.ts)
 * with the events that cause each change, and given back here on start (`restore`).
 *
 * Bounded as the lane store bounds its rows, so a gateway that runs for months holds what a
 * restarted one would: a plate is forgotten once its last arrival is older than the window, and
 * at most VISITS_MAX_ROWS arrivals are held (the plates seen longest ago go first). The map is
 * kept in order of each plate's last arrival, so both bounds are checked at its front only.
 * A plate seen once costs ≈ 115 bytes of heap: ≈ 10 MB for a post of 3,000 trucks a day, 29 MB
 * at the VISITS_MAX_ROWS bound.
 */
import { canonicalPlate } from '../../core/plates.js';
import { VISITS_MAX_ROWS, VISITS_WINDOW_MS } from './lane-store.js';

/** Plates with a mismatch remembered at most (≈ 100 bytes each); the longest unchanged go first. */
export const MISMATCH_PLATES_MAX = 50_000;

export interface VisitHistoryLimits {
  windowMs: number;
  maxArrivals: number;
  maxMismatchPlates: number;
}

export class VisitHistory {
  /** Canonical plate → its arrival times (oldest first), in order of each plate's last arrival. */
  private readonly arrivals = new Map<string, number[]>();
  private readonly mismatches = new Map<string, number>();
  /** Arrival times held in `arrivals`, all plates together. */
  private held = 0;
  private readonly limits: VisitHistoryLimits;

  constructor(limits: Partial<VisitHistoryLimits> = {}) {
    this.limits = { windowMs: VISITS_WINDOW_MS, maxArrivals: VISITS_MAX_ROWS, maxMismatchPlates: MISMATCH_PLATES_MAX, ...limits };
  }

  /** Takes back what the lane store kept across a restart. */
  restore(arrivals: Map<string, number[]>, mismatches: Map<string, number>): void {
    const byLastArrival = [...arrivals].filter(([, times]) => times.length > 0).sort((a, b) => (a[1].at(-1) as number) - (b[1].at(-1) as number));
    for (const [key, times] of byLastArrival) this.setArrivals(key, [...times]);
    for (const [key, count] of mismatches) this.setMismatches(key, count);
    this.forgetOld(byLastArrival.at(-1)?.[1].at(-1) ?? 0);
  }

  /** Arrivals before `atMs` within 30 days. */
  visits(plate: string | null, atMs: number): number {
    if (plate === null) return 0;
    const times = this.arrivals.get(canonicalPlate(plate)) ?? [];
    return times.filter((t) => t < atMs && t >= atMs - this.limits.windowMs).length;
  }

  mismatchesOf(plate: string | null): number {
    return plate === null ? 0 : (this.mismatches.get(canonicalPlate(plate)) ?? 0);
  }

  recordArrival(plate: string | null, atMs: number): void {
    if (plate === null) return;
    const key = canonicalPlate(plate);
    // concat, not push: an array grown by push reserves room for 16 more times, which made a
    // plate seen once cost ≈ 245 bytes of heap instead of ≈ 115 (measured, 100,000 plates).
    const times = (this.arrivals.get(key) ?? []).filter((t) => t >= atMs - this.limits.windowMs).concat(atMs);
    this.setArrivals(key, times);
    this.forgetOld(atMs);
  }

  recordMismatch(plate: string | null): void {
    if (plate === null) return;
    const key = canonicalPlate(plate);
    this.setMismatches(key, (this.mismatches.get(key) ?? 0) + 1);
  }

  /** Plates remembered (with an arrival in the window) and arrival times held, for tests and metrics. */
  get size(): { plates: number; arrivals: number; mismatchPlates: number } {
    return { plates: this.arrivals.size, arrivals: this.held, mismatchPlates: this.mismatches.size };
  }

  /** Replaces a plate's arrivals and moves it to the end (the most recent). */
  private setArrivals(key: string, times: number[]): void {
    this.held -= this.arrivals.get(key)?.length ?? 0;
    this.arrivals.delete(key);
    this.arrivals.set(key, times);
    this.held += times.length;
  }

  private setMismatches(key: string, count: number): void {
    this.mismatches.delete(key);
    this.mismatches.set(key, count);
    if (this.mismatches.size > this.limits.maxMismatchPlates) this.mismatches.delete(this.mismatches.keys().next().value as string);
  }

  /**
   * Forgets, from the front (the plates whose last arrival is oldest), every plate last seen
   * before the window, then more while over `maxArrivals`.
   */
  private forgetOld(nowMs: number): void {
    const horizon = nowMs - this.limits.windowMs;
    for (const [key, times] of this.arrivals) {
      if ((times.at(-1) as number) >= horizon && this.held <= this.limits.maxArrivals) break;
      this.arrivals.delete(key);
      this.held -= times.length;
    }
  }
}
