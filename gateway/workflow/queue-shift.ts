/**
 * Watches a lane's weighbridge for a queue shifted by one place. A stable weight belongs to the
 * vehicle registered first among those not yet weighed (lane-workflow.ts `weigh`): when a truck
 * leaves that queue unseen (turned back, parked, took another lane), every later weight goes to
 * the vehicle registered before the one on the platform, and the risk decisions are made on
 * another truck's weight without anyone noticing.
 *
 * The sign of it: the weight is off the weighed vehicle's declaration by more than the rules'
 * tolerance, and within it of the next registered vehicle's. One such weighing happens by chance
 * (an under-declared load that happens to match the next one's); two in a row on one queue is the
 * shift, and from the second on every such weighing is reported until a weight matches its own
 * vehicle again (or matches neither: an irregular load says nothing of a shift). "In a row"
 * means each weighing is of the vehicle the one before named as next: a vehicle weighed by hand
 * or abandoned between them ends the run (the queue was put right, or changed). A weighing that
 * cannot tell — the weight matches both declarations, one is missing, no vehicle is registered
 * after it — neither counts nor ends the run. The run is stored with each weighing's event
 * (lane-store.ts) and taken back after a restart, so a shift across a power cut is raised on the
 * same weighing as without one.
 */
import type { Crossing, WorkflowEvent } from './lane-workflow.js';

/** Weighings in a row, each matching the next vehicle's declaration, that make a shift. */
export const SHIFT_RUN = 2;

/** One weighing that matched the next registered vehicle's declaration rather than its own. */
export interface ShiftedWeighing {
  crossingId: string;
  plate: string | null;
  weightKg: number;
  declaredWeightKg: number;
  /** The vehicle registered after it, whose declaration the weight matched. */
  nextCrossingId: string;
  nextPlate: string | null;
  nextDeclaredWeightKg: number;
}

/** What the alarm reports: the weighing just made, the one before it in the run, and the run's length. */
export interface QueueShift {
  weighing: ShiftedWeighing;
  previous: ShiftedWeighing;
  run: number;
}

/**
 * What one weighing says of the queue: shifted (it matched the next declaration, not its own),
 * nothing of a shift (it matched its own, or neither: an irregular load), or nothing either way.
 */
type Verdict = { shifted: ShiftedWeighing } | 'no-shift' | 'undecided';

/** A watch's run as stored across a restart (lane-store.ts): what `judge` goes on from. */
export interface QueueShiftRun {
  run: number;
  lastShifted: ShiftedWeighing | null;
  expected: string | null;
}

export class QueueShiftWatch {
  /** Weighings judged so far: a run stored with a lower number is behind this one (post-workflow.ts). */
  private judged = 0;
  /**
   * The run going on, replaced whole at each weighing: its length, its latest weighing that
   * matched the next vehicle's declaration, and the vehicle whose weighing continues it (the one
   * registered after the last weighed). Null when there is none.
   */
  private going: QueueShiftRun | null = null;

  /** @param toleranceShare how far a weight may be off a declaration and still match it (`workflow.weightToleranceShare`). */
  constructor(private readonly toleranceShare: number) {}

  /**
   * The run so far, to store, with the number of weighings judged by then (`version`); `run` null
   * when there is none to go on from.
   */
  current(): { version: number; run: QueueShiftRun | null } {
    const going = this.going;
    return { version: this.judged, run: going === null ? null : { ...going, lastShifted: going.lastShifted === null ? null : { ...going.lastShifted } } };
  }

  /** Goes on from a run stored before a restart (`current`). */
  resume(stored: QueueShiftRun): void {
    this.going = { ...stored };
  }

  /**
   * Judges one weight from the weighbridge, given to `weighed` while `next` was registered after
   * it (undefined when none was). Answers the shift when this weighing makes or continues one.
   */
  judge(weightKg: number, weighed: Crossing, next: Crossing | undefined): QueueShift | null {
    this.judged += 1;
    const before = weighed.crossingId === this.going?.expected ? this.going : null;
    const verdict = this.verdict(weightKg, weighed, next);
    if (verdict === 'no-shift') {
      this.going = null;
      return null;
    }
    const expected = next?.crossingId ?? null;
    if (verdict === 'undecided') {
      const run = before?.run ?? 0;
      this.going = run === 0 && expected === null ? null : { run, lastShifted: before?.lastShifted ?? null, expected };
      return null;
    }
    const run = (before?.run ?? 0) + 1;
    const previous = before?.lastShifted ?? null;
    this.going = { run, lastShifted: verdict.shifted, expected };
    return previous !== null && run >= SHIFT_RUN ? { weighing: verdict.shifted, previous, run } : null;
  }

  private verdict(weightKg: number, weighed: Crossing, next: Crossing | undefined): Verdict {
    const declared = weighed.declaration?.declaredWeightKg ?? null;
    const nextDeclared = next?.declaration?.declaredWeightKg ?? null;
    if (next === undefined || declared === null || nextDeclared === null || declared <= 0 || nextDeclared <= 0) return 'undecided';
    const matchesOwn = Math.abs(weightKg - declared) / declared <= this.toleranceShare;
    const matchesNext = Math.abs(weightKg - nextDeclared) / nextDeclared <= this.toleranceShare;
    if (matchesOwn && matchesNext) return 'undecided';
    if (!matchesNext) return 'no-shift';
    return {
      shifted: {
        crossingId: weighed.crossingId,
        plate: weighed.plate,
        weightKg,
        declaredWeightKg: declared,
        nextCrossingId: next.crossingId,
        nextPlate: next.plate,
        nextDeclaredWeightKg: nextDeclared,
      },
    };
  }
}

/**
 * WF_WEIGHT_QUEUE_SHIFT for a lane: on the crossing just weighed, naming the vehicles whose weights
 * matched the next one's declaration. News (no console step undoes a weighing): the operator checks
 * the queue at the platform and overrides the channels the shifted weights decided.
 */
export function queueShiftAlarm(laneId: string, shift: QueueShift): Extract<WorkflowEvent, { kind: 'alarm' }> {
  const { weighing, previous, run } = shift;
  const name = (plate: string | null, crossingId: string): string => plate ?? crossingId;
  return {
    kind: 'alarm',
    alarm: 'WF_WEIGHT_QUEUE_SHIFT',
    message:
      `lane ${laneId}: ${run} weights in a row matched the next registered vehicle's declaration, not their own ` +
      `(${name(weighing.plate, weighing.crossingId)} weighed ${weighing.weightKg} kg, declared ${weighing.declaredWeightKg} kg; ` +
      `${name(weighing.nextPlate, weighing.nextCrossingId)} declared ${weighing.nextDeclaredWeightKg} kg): ` +
      'a vehicle may have left the weighbridge queue; check the queue and the channels of the vehicles weighed since',
    crossingId: weighing.crossingId,
    details: { run, weighing: { ...weighing }, previous: { ...previous } },
  };
}
