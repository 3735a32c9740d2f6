/**
 * Watches a lane's weighbridge for a queue shifted by one place. A stable weight belongs to the
 * vehicle registered first among those not yet weighed (lane-workflow.ts `weigh`): when a truck
 * leaves that queue unseen (turned back, parked, took another lane), every later weight goes to
 * the vehicle registered before the one on the platform, and the risk decisions are made on
 * another truck's weight without anyone noticing.
 *
 * The sign of it: the weight is off the weighed vehicle's declaration by more than the rules'
 * tolerance, and within it of the next registered vehicle's. One such weighing happens by chance
 * (an under-declared load that happens to match the next one's); two in a row on one lane is the
 * shift, and from the second on every such weighing is reported until a weight matches its own
 * vehicle again. The run is kept in memory: a restart begins a new one (an alarm one weighing later).
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

export class QueueShiftWatch {
  private run = 0;
  private last: ShiftedWeighing | null = null;

  /** @param toleranceShare how far a weight may be off a declaration and still match it (`workflow.weightToleranceShare`). */
  constructor(private readonly toleranceShare: number) {}

  /**
   * Judges one weight from the weighbridge, given to `weighed` while `next` was registered after
   * it (undefined when none was). Answers the shift when this weighing makes or continues one.
   */
  judge(weightKg: number, weighed: Crossing, next: Crossing | undefined): QueueShift | null {
    const weighing = next === undefined ? null : this.shifted(weightKg, weighed, next);
    if (weighing === null) {
      this.run = 0;
      this.last = null;
      return null;
    }
    const previous = this.last;
    this.run += 1;
    this.last = weighing;
    return previous !== null && this.run >= SHIFT_RUN ? { weighing, previous, run: this.run } : null;
  }

  private shifted(weightKg: number, weighed: Crossing, next: Crossing): ShiftedWeighing | null {
    const declared = weighed.declaration?.declaredWeightKg ?? null;
    const nextDeclared = next.declaration?.declaredWeightKg ?? null;
    if (declared === null || nextDeclared === null || declared <= 0 || nextDeclared <= 0) return null;
    const matchesOwn = Math.abs(weightKg - declared) / declared <= this.toleranceShare;
    const matchesNext = Math.abs(weightKg - nextDeclared) / nextDeclared <= this.toleranceShare;
    if (matchesOwn || !matchesNext) return null;
    return {
      crossingId: weighed.crossingId,
      plate: weighed.plate,
      weightKg,
      declaredWeightKg: declared,
      nextCrossingId: next.crossingId,
      nextPlate: next.plate,
      nextDeclaredWeightKg: nextDeclared,
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
