/**
 * A manual clock for runs with many timers: the same contract as test/helpers/manual-clock.ts
 * (time moves only in `runFor`, due timers run in time order, ties in the order they were set,
 * the event loop turns and work registered with `settleWith` finishes before each), with the
 * timers in a binary heap. The tests' clock
 * keeps them in an array and scans it on every timer run and every clearTimeout: at 64 lanes,
 * with ~2 400 timers pending on average, that scan was the fastest-growing cost in the lane scale profile
 * (docs/benchmarks.md, "Scale"), a cost of the harness that a real post (Node's timers) never has.
 * A cleared timer leaves the heap at once (each timer knows its position), as it would leave
 * Node's timer lists.
 */
import type { Clock, TimerHandle } from '../../core/clock.js';

interface Timer {
  at: number;
  /** Order of setting: the tie-break among timers due at the same moment. */
  order: number;
  fn: () => void;
  /** Position in the heap; -1 once run or cleared. */
  index: number;
}

export class HeapClock implements Clock {
  /** Wall time minus monotonic time, as in ManualClock: wall time is never a running sum of steps. */
  private wallOffset: number;
  private mono = 0;
  private readonly heap: Timer[] = [];
  private setCount = 0;
  private readonly settlers = new Set<() => Promise<boolean>>();

  constructor(startWallMs: number) {
    this.wallOffset = startWallMs;
  }

  now(): number {
    return this.wallOffset + this.mono;
  }

  monotonic(): number {
    return this.mono;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { at: this.mono + Math.max(0, ms), order: (this.setCount += 1), fn, index: this.heap.length };
    this.heap.push(timer);
    this.siftUp(timer.index);
    return { id: timer };
  }

  /**
   * Takes the timer out of the heap at once. Leaving it there marked (lazy deletion) kept every
   * re-armed 12-hour abandonment timer, and the crossing its closure holds, alive until its time:
   * at 64 lanes that was tens of thousands of dead timers and a heap that grew for 12 hours.
   */
  clearTimeout(handle: TimerHandle): void {
    const timer = handle.id as Timer;
    if (timer.index >= 0) this.removeAt(timer.index);
  }

  /** As ManualClock: the gateway registers the outbox's fsync, so time never outruns the disk. */
  settleWith(work: () => Promise<boolean>): () => void {
    this.settlers.add(work);
    return () => this.settlers.delete(work);
  }

  /** Moves both clocks forward by `ms`, running each timer that falls due with the loop idle before it. */
  async runFor(ms: number): Promise<void> {
    const target = this.mono + ms;
    for (;;) {
      await this.settle();
      const due = this.heap[0];
      if (!due || due.at > target) break;
      this.removeAt(0);
      this.moveTo(due.at);
      due.fn();
    }
    this.moveTo(target);
    await this.settle();
  }

  /** Turns the loop, then waits for the registered work, again while any of it had to wait. */
  private async settle(): Promise<void> {
    for (let round = 0; round < 1000; round += 1) {
      await turnLoop();
      const waited = await Promise.all([...this.settlers].map((work) => work()));
      if (!waited.includes(true)) return;
    }
    throw new Error('HeapClock: registered work never settled after 1000 rounds');
  }

  private moveTo(mono: number): void {
    this.mono = mono;
  }

  private removeAt(index: number): void {
    const heap = this.heap;
    const removed = heap[index] as Timer;
    removed.index = -1;
    const last = heap.pop() as Timer;
    if (last === removed) return;
    heap[index] = last;
    last.index = index;
    this.siftDown(index);
    this.siftUp(last.index);
  }

  private place(timer: Timer, index: number): void {
    this.heap[index] = timer;
    timer.index = index;
  }

  private siftUp(start: number): void {
    const heap = this.heap;
    const timer = heap[start] as Timer;
    let i = start;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(timer, heap[parent] as Timer)) break;
      this.place(heap[parent] as Timer, i);
      i = parent;
    }
    this.place(timer, i);
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const timer = heap[start] as Timer;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && earlier(heap[right] as Timer, heap[left] as Timer) ? right : left;
      if (!earlier(heap[child] as Timer, timer)) break;
      this.place(heap[child] as Timer, i);
      i = child;
    }
    this.place(timer, i);
  }

  /** Timers waiting (for tests). */
  get pendingTimers(): number {
    return this.heap.length;
  }
}

function earlier(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/** As the tests' clock: three turns, since a commit may schedule one more. */
async function turnLoop(): Promise<void> {
  for (let turn = 0; turn < 3; turn += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}
