/**
 * Plates a lane saw lately, by canonical plate (core/plates.ts: separators dropped, OCR
 * look-alikes folded), each with what it was seen as: the latest `max`, none older than `windowMs`
 * on the monotonic clock. A lookup is one canonical plate and one map read, however many are
 * remembered: the entry camera's and the exit camera's re-reads (lane-workflow.ts) ask on a push.
 */
import type { Clock } from '../../core/clock.js';
import { canonicalPlate } from '../../core/plates.js';

export class RecentPlates<T> {
  /** Oldest first: a plate seen again moves to the end. */
  private readonly seen = new Map<string, { value: T; atMono: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly max: number,
  ) {}

  /**
   * Remembers `plate` as seen at `atMono` (default now); a plate of no letter or digit is not
   * remembered, nor one seen longer ago than the window (a crossing restored hours after its arrival).
   */
  remember(plate: string, value: T, atMono = this.clock.monotonic()): void {
    const key = canonicalPlate(plate);
    const since = this.clock.monotonic() - this.windowMs;
    if (key === '' || atMono < since) return;
    this.seen.delete(key);
    this.seen.set(key, { value, atMono });
    for (const [oldest, entry] of this.seen) {
      if (this.seen.size <= this.max && entry.atMono >= since) break;
      this.seen.delete(oldest);
    }
  }

  /** What `plate` was last seen as within the window, if it was. */
  get(plate: string): T | undefined {
    const key = canonicalPlate(plate);
    const entry = key === '' ? undefined : this.seen.get(key);
    return entry && entry.atMono >= this.clock.monotonic() - this.windowMs ? entry.value : undefined;
  }

  /**
   * The plates seen within the window, oldest first, as canonical plates (which `remember` takes
   * back unchanged) with how long ago each was seen: what the lane store keeps across a restart.
   */
  recent(): { plate: string; agoMs: number }[] {
    const now = this.clock.monotonic();
    const list: { plate: string; agoMs: number }[] = [];
    for (const [plate, entry] of this.seen) if (entry.atMono >= now - this.windowMs) list.push({ plate, agoMs: Math.max(0, now - entry.atMono) });
    return list;
  }
}
