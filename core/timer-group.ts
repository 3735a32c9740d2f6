/**
 * Timers that are cancelled together: a traffic generator schedules many, and stopping it must
 * cancel every one, including those scheduled by timers already run.
 */
import type { Clock, TimerHandle } from './clock.js';

export class TimerGroup {
  private readonly timers = new Set<TimerHandle>();
  private active = true;

  constructor(private readonly clock: Clock) {}

  /** Runs `fn` after `ms` of the clock, unless the group was cleared first. */
  after(ms: number, fn: () => void): void {
    if (!this.active) return;
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      if (this.active) fn();
    }, ms);
    this.timers.add(handle);
  }

  /** (Re)opens the group for scheduling. */
  open(): void {
    this.active = true;
  }

  /** Cancels every pending timer; later `after` calls do nothing until `open()`. */
  clear(): void {
    this.active = false;
    for (const timer of this.timers) this.clock.clearTimeout(timer);
    this.timers.clear();
  }
}
