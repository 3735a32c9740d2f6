/**
 * A clock the test drives: time moves only when `advance` is called, and due timers run in time
 * order. Nothing sleeps.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

interface Timer {
  at: number;
  fn: () => void;
  handle: TimerHandle;
}

export class ManualClock implements Clock {
  /** Wall time minus monotonic time: the wall clock is always `wallOffset + mono`, never a running sum (its rounding would depend on how many steps time took). */
  private wallOffset: number;
  private mono = 0;
  private timers: Timer[] = [];
  private nextId = 0;
  private readonly settlers = new Set<() => Promise<boolean>>();

  constructor(startWallMs = Date.UTC(2026, 10, 26, 6, 0, 0)) {
    this.wallOffset = startWallMs;
  }

  now(): number {
    return this.wallOffset + this.mono;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = { id: (this.nextId += 1) };
    this.timers.push({ at: this.mono + Math.max(0, ms), fn, handle });
    return handle;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers = this.timers.filter((timer) => timer.handle !== handle);
  }

  settleWith(work: () => Promise<boolean>): () => void {
    this.settlers.add(work);
    return () => this.settlers.delete(work);
  }

  /** Steps the wall clock only (as NTP does); monotonic time does not move. */
  stepWall(deltaMs: number): void {
    this.wallOffset += deltaMs;
  }

  /** Moves both clocks forward by `ms`, running every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.mono + ms;
    while (this.runNextDue(target));
    this.moveTo(target);
  }

  /** Runs the earliest timer due by `target` (moving the clocks to it); false when none is. */
  private runNextDue(target: number): boolean {
    const due = this.nextDue(target);
    if (!due) return false;
    this.timers = this.timers.filter((timer) => timer !== due);
    this.moveTo(due.at);
    due.fn();
    return true;
  }

  /** The earliest timer due by `target`; the first scheduled of those due at the same moment. */
  private nextDue(target: number): Timer | undefined {
    let earliest: Timer | undefined;
    for (const timer of this.timers) if (timer.at <= target && (!earliest || timer.at < earliest.at)) earliest = timer;
    return earliest;
  }

  private moveTo(mono: number): void {
    this.mono = mono;
  }

  /**
   * Like `advance`, for code that awaits between timers (HTTP handlers, commits): after each timer
   * the event loop turns until it is idle, so the next timer sees everything the last one caused.
   * `beforeEach` is awaited with the wall time of each timer about to run (and of the target at
   * the end): a second clock kept in step with this one (another process's) catches up there.
   * Work in flight to that process must be registered with `settleWith`: what its answers set
   * off may schedule a timer earlier than the one `beforeEach` has already moved the other clock to.
   */
  async runFor(ms: number, beforeEach?: (wallMs: number) => Promise<void>): Promise<void> {
    const target = this.mono + ms;
    for (;;) {
      await this.settle();
      const due = this.nextDue(target);
      if (!due) break;
      if (beforeEach) {
        await beforeEach(this.wallOffset + due.at);
        // Waiting may have scheduled an earlier timer: that one runs first.
        if (this.nextDue(target) !== due) continue;
      }
      this.timers = this.timers.filter((timer) => timer !== due);
      this.moveTo(due.at);
      due.fn();
    }
    await beforeEach?.(this.wallOffset + target);
    this.moveTo(target);
    await this.settle();
  }

  /**
   * Turns the loop, then waits for the work registered with `settleWith` (an fsync in the thread
   * pool) and turns it again while any of it had to wait: what finished may have started more.
   */
  private async settle(): Promise<void> {
    for (let round = 0; round < 1000; round += 1) {
      await turnLoop();
      const waited = await Promise.all([...this.settlers].map((work) => work()));
      if (!waited.includes(true)) return;
    }
    throw new Error('ManualClock: registered work never settled after 1000 rounds');
  }

  get pendingTimers(): number {
    return this.timers.length;
  }

  /** How much work is registered with `settleWith` now. */
  get settling(): number {
    return this.settlers.size;
  }
}

/** Lets queued promise callbacks and immediates run (two turns: a commit may schedule one more). */
async function turnLoop(): Promise<void> {
  for (let turn = 0; turn < 3; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
