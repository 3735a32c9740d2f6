/**
 * Coalesces a repeating alarm: the first occurrence is raised at once, later ones within
 * `intervalMs` are only counted, and one summary (the last occurrence's details plus how many
 * were withheld) is raised when the interval ends. A producer stuck in a loop therefore costs
 * the outbox one alarm a minute, never one alarm per attempt.
 */
import type { Clock, TimerHandle } from '../core/clock.js';

export interface ThrottledAlarm {
  details: Record<string, unknown>;
  /** Occurrences withheld since the previous alarm (0 for the first one). */
  withheld: number;
}

export class AlarmThrottle {
  private lastRaisedMono = Number.NEGATIVE_INFINITY;
  private withheld = 0;
  private lastDetails: Record<string, unknown> | null = null;
  private timer: TimerHandle | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly raise: (alarm: ThrottledAlarm) => void,
  ) {}

  /** Records one occurrence; raises now, or counts it for the summary at the interval's end. */
  record(details: Record<string, unknown>): void {
    const wait = this.lastRaisedMono + this.intervalMs - this.clock.monotonic();
    if (wait <= 0) {
      this.fire(details, 0);
      return;
    }
    this.withheld += 1;
    this.lastDetails = details;
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = null;
      if (this.lastDetails) this.fire(this.lastDetails, this.withheld);
    }, wait);
  }

  /** Cancels a pending summary (on stop). */
  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private fire(details: Record<string, unknown>, withheld: number): void {
    this.lastRaisedMono = this.clock.monotonic();
    this.withheld = 0;
    this.lastDetails = null;
    this.raise({ details, withheld });
  }
}
