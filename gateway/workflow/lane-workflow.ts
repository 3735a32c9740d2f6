/**
 * The lane workflow (first part of the lane-workflow issue): device readings and operator input
 * become one crossing per vehicle, `arrived → registered → weighed → risk-assessed → [scanning] →
 * [inspecting] → released → exited`, each step allowed only from the states the table below
 * names. Every milestone is stamped with wall time (UTC ms) and the monotonic clock; durations come
 * from the monotonic clock only, so a wall-clock step never corrupts a crossing time.
 *
 * The risk decision is asked of `assessRisk` (the ONNX model with its rules, see risk-assessor.ts);
 * the post workflow (post-workflow.ts) feeds device readings in and turns releases into barrier
 * commands.
 */
import type { Actor } from '../auth/roles.js';
import type { Clock, ClockQuality, ClockQualityProbe, TimerHandle } from '../../core/clock.js';
import type { EventData, Milestone } from '../../contract/catalogue.js';
import { platesMatch } from '../../core/plates.js';
import { RecentPlates } from './recent-plates.js';
import { QueueShiftWatch, queueShiftAlarm, type QueueShiftRun } from './queue-shift.js';

export type LaneState = 'arrived' | 'registered' | 'weighed' | 'risk-assessed' | 'scanning' | 'inspecting' | 'released' | 'exited' | 'abandoned';
export type Direction = 'import' | 'export' | 'transit-entry' | 'transit-exit' | 'domestic-transit';
export type Channel = 'green' | 'orange' | 'red';
/** What detected an arriving vehicle (`vehicle.arrived` `detectedBy`). */
export type DetectedBy = EventData<'vehicle.arrived'>['detectedBy'];

const ALLOWED: Record<LaneState, readonly LaneState[]> = {
  arrived: ['registered', 'abandoned'],
  registered: ['weighed', 'abandoned'],
  weighed: ['risk-assessed', 'abandoned'],
  'risk-assessed': ['scanning', 'inspecting', 'released', 'abandoned'],
  scanning: ['inspecting', 'released', 'abandoned'],
  inspecting: ['released', 'abandoned'],
  released: ['exited', 'abandoned'],
  exited: [],
  abandoned: [],
};

export interface Declaration {
  direction: Direction;
  declaredWeightKg: number | null;
  documents: string[];
  aeo: boolean;
  /** The carrier's crossings in the last 30 days as the national registration system knows them. */
  previousVisits30d?: number | null;
}

export interface RiskDecision {
  channel: Channel;
  score: number;
  modelVersion: string;
  reasons: string[];
  xrayRequested: boolean;
  /**
   * The risk model's inputs as computed for this decision, by name (edge-models/risk-features.ts),
   * also when the rules decided: `risk.assessed` carries them, so a model trained from exported
   * crossings learns from exactly what a decision sees.
   */
  features?: Record<string, number>;
}

/** The X-ray screening model's view of a scan, joined to the crossing. */
export interface ScanScreening {
  score: number;
  modelVersion: string;
  regions: { x: number; y: number; width: number; height: number; density: number }[];
}

export interface Crossing {
  crossingId: string;
  laneId: string;
  state: LaneState;
  plate: string | null;
  /** Entry camera confidence; null when unread or entered by an operator. */
  plateConfidence: number | null;
  vehicleType: string;
  /** The entry camera (`anpr`, also when it could not read the plate), or the booth (`operator`). */
  detectedBy: DetectedBy;
  /**
   * The entry camera's picture of this vehicle (`sha256:…`), when its read had one. Kept with the
   * crossing, so the console finds it after a restart by its digest, also when another crossing
   * stored the same bytes first (a camera's "no picture" frame).
   */
  entryPicture?: string;
  declaration: Declaration | null;
  weightKg: number | null;
  risk: RiskDecision | null;
  xray: boolean;
  inspectionOutcome: 'cleared' | 'irregularity' | 'refused' | null;
  scan: { scannerId: string; result: 'clear' | 'suspect'; imageRef: string | null; screening: ScanScreening | null } | null;
  /** Wall ms of each milestone reached. */
  wallMs: Partial<Record<Milestone, number>>;
  /** Monotonic ms of each milestone reached. */
  monoMs: Partial<Record<Milestone, number>>;
  clock: ClockQuality;
  /** Channel overrides made (the latest MAX_OVERRIDE_REASONS of them end `risk.reasons`). */
  overrides?: number;
  /**
   * Restored after a gateway restart: the monotonic clock restarted with the process, so the time
   * across the outage comes from the wall clock (lane-store.ts), and the completed event says so.
   */
  durationsAcrossRestart?: boolean;
}

/** What the workflow asks the gateway to publish; the gateway maps these to catalogue events. */
export type WorkflowEvent =
  | { kind: 'milestone'; milestone: Milestone; crossing: Crossing }
  | { kind: 'completed'; crossing: Crossing; outcome: 'completed' | 'abandoned'; durations: { registrationSec: number | null; crossingSec: number } }
  | { kind: 'alarm'; alarm: string; message: string; crossingId: string | null; details: Record<string, unknown>; severity?: 'info' | 'warning' | 'critical' }
  | OperatorEvent;

/** An operator's step, as the audit log and `operator.action` record it. */
export interface OperatorEvent {
  kind: 'operator';
  /** The authenticated caller (never a body field). */
  actor: Actor;
  /** Permission-style name, e.g. `crossing.channel`. */
  action: string;
  /** What it was and what it became, as text (e.g. the channel before and after). */
  before: string | null;
  after: string | null;
  reason: string;
  crossingId: string | null;
}

export class WorkflowError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkflowError';
  }
}

export interface LaneWorkflowOptions {
  laneId: string;
  clock: Clock;
  clockQuality: ClockQualityProbe;
  emit: (event: WorkflowEvent) => void;
  /** Decides the channel after weighing (the model may answer asynchronously; it never rejects). */
  assessRisk: (crossing: Crossing) => RiskDecision | Promise<RiskDecision>;
  /** A crossing without progress this long is closed as abandoned. */
  abandonAfterMs: number;
  /** Arrived, not yet registered, at most this many: the oldest beyond it is abandoned. */
  maxUnregistered?: number;
  /**
   * How far a weight may be off a declaration and still match it (`workflow.weightToleranceShare`):
   * with it, weights matching the next vehicle's declaration raise WF_WEIGHT_QUEUE_SHIFT (queue-shift.ts).
   */
  weightToleranceShare?: number;
  newId?: () => string;
}

/*
 * The state tests of the lane's lookups, at module level rather than arrows in each call: V8
 * keeps a function's optimised code only while one of its closures lives, so an arrow made per
 * call is optimised again after each collection (docs/benchmarks.md, "Optimised again and again").
 */
const isRegistered = (c: Crossing): boolean => c.state === 'registered';
const isScanning = (c: Crossing): boolean => c.state === 'scanning';
const isReleased = (c: Crossing): boolean => c.state === 'released';

/** How long a plate the entry camera reads again is taken for the vehicle it read (see readAgain). */
export const ENTRY_REREAD_MS = 5 * 60_000;
/** The latest arrivals a lane remembers for readAgain: a camera reading passing traffic must not grow it. */
const RECENT_ARRIVALS_MAX = 256;

/** Operators' channel overrides whose reasons a crossing's record keeps: the latest. */
export const MAX_OVERRIDE_REASONS = 5;

/**
 * How long the exit camera's read of a vehicle that has left is taken for that vehicle read again
 * (a camera that reads a truck twice as it passes or stops under it), and how many such plates a
 * lane remembers: a lane exits far fewer vehicles in that time.
 */
export const EXIT_REREAD_MS = 5 * 60_000;
const RECENT_EXITS_MAX = 32;

export class LaneWorkflow {
  private readonly crossings = new Map<string, Crossing>();
  private readonly timers = new Map<string, TimerHandle>();
  /**
   * The latest arrivals' plates, with their crossings: see readAgain. An arrival costs one lookup,
   * not a canonical plate of every open crossing (400 per push with 200 waiting to register: 1.4×
   * the CPU per push against Node-RED's flow).
   */
  private readonly recentArrivals: RecentPlates<string>;
  /** Plates that left this lane lately: see exit(). */
  private readonly recentExits: RecentPlates<true>;
  private counter = 0;
  private readonly queueShift: QueueShiftWatch | null;

  constructor(private readonly options: LaneWorkflowOptions) {
    this.recentArrivals = new RecentPlates(options.clock, ENTRY_REREAD_MS, RECENT_ARRIVALS_MAX);
    this.recentExits = new RecentPlates(options.clock, EXIT_REREAD_MS, RECENT_EXITS_MAX);
    this.queueShift = options.weightToleranceShare === undefined ? null : new QueueShiftWatch(options.weightToleranceShare);
  }

  /** Crossings not yet exited or abandoned, oldest first. */
  open(): Crossing[] {
    return [...this.crossings.values()];
  }

  get(crossingId: string): Crossing {
    const crossing = this.crossings.get(crossingId);
    if (!crossing) throw new WorkflowError(`no open crossing ${crossingId} on lane ${this.options.laneId}`);
    return crossing;
  }

  /**
   * A vehicle arrived, seen by `detectedBy` (the entry camera unless said otherwise); `plate` null
   * when unread (the operator enters it).
   */
  arrive(plate: string | null, vehicleType = 'truck', plateConfidence: number | null = null, detectedBy: DetectedBy = 'anpr', entryPicture: string | null = null): Crossing {
    const again = plate !== null && detectedBy === 'anpr' ? this.readAgain(plate) : undefined;
    if (again) return again;
    this.counter += 1;
    const crossingId = this.options.newId?.() ?? `${this.options.laneId}-${this.options.clock.now().toString(36)}-${this.counter}`;
    const crossing: Crossing = {
      crossingId,
      laneId: this.options.laneId,
      state: 'arrived',
      plate,
      plateConfidence: plate === null ? null : plateConfidence,
      vehicleType,
      detectedBy,
      declaration: null,
      weightKg: null,
      risk: null,
      xray: false,
      inspectionOutcome: null,
      scan: null,
      wallMs: {},
      monoMs: {},
      clock: this.options.clockQuality(),
      ...(entryPicture !== null ? { entryPicture } : {}),
    };
    this.crossings.set(crossingId, crossing);
    this.stamp(crossing, 'arrived');
    if (plate !== null) this.recentArrivals.remember(plate, crossingId, crossing.monoMs.arrived);
    if (plate === null) {
      this.options.emit({ kind: 'alarm', alarm: 'WF_PLATE_UNREAD', message: plateUnreadMessage(this.options.laneId), crossingId, details: {} });
    }
    this.abandonOldestUnregistered();
    return crossing;
  }

  /**
   * The open crossing of this plate that arrived within ENTRY_REREAD_MS: a camera reads a truck
   * again as it stops and starts under it, and a second crossing would wait until abandoned,
   * count as a second visit in the risk model's history, and push a real vehicle out of
   * `maxUnregistered`. (A second truck with the same plate read meanwhile is entered at
   * registration, as one the camera did not see.)
   */
  private readAgain(plate: string): Crossing | undefined {
    const crossingId = this.recentArrivals.get(plate);
    // Still open, and still of this plate (an operator may have corrected a misread since).
    const crossing = crossingId === undefined ? undefined : this.crossings.get(crossingId);
    return crossing?.plate != null && platesMatch(crossing.plate, plate) ? crossing : undefined;
  }

  /**
   * Keeps the vehicles waiting to register within `maxUnregistered`: a camera that also reads
   * passing traffic (or a registration system that is down for a day) must not hold a crossing
   * per read for the whole abandonment time. The oldest goes first, as abandoned, with its event.
   */
  private abandonOldestUnregistered(): void {
    const limit = this.options.maxUnregistered ?? Number.POSITIVE_INFINITY;
    // Those waiting are among the open crossings: no count needed while these are within the limit.
    if (this.crossings.size <= limit) return;
    let waiting = 0;
    for (const c of this.crossings.values()) if (c.state === 'arrived') waiting += 1;
    for (const c of this.crossings.values()) {
      if (waiting <= limit) return;
      if (c.state !== 'arrived') continue;
      c.state = 'abandoned';
      this.complete(c, 'abandoned');
      waiting -= 1;
    }
  }

  /** The operator enters or corrects a plate; recorded as an operator action with its reason. */
  setPlate(crossingId: string, plate: string, actor: Actor, reason: string): void {
    requireReason(reason);
    const crossing = this.get(crossingId);
    const previous = crossing.plate;
    crossing.plate = plate;
    crossing.plateConfidence = null;
    // A camera reading it again soon after its arrival is this vehicle, as with a plate read at arrival.
    this.recentArrivals.remember(plate, crossingId, crossing.monoMs.arrived);
    this.options.emit({ kind: 'operator', actor, action: 'crossing.plate', before: previous, after: plate, reason, crossingId });
  }

  register(crossingId: string, declaration: Declaration): void {
    const crossing = this.get(crossingId);
    if (crossing.plate === null) throw new WorkflowError(`crossing ${crossingId} has no plate yet: enter it before registering`);
    crossing.declaration = declaration;
    this.move(crossing, 'registered');
    this.stamp(crossing, 'registered');
  }

  /**
   * A stable weight: it belongs to the vehicle registered first among those not yet weighed —
   * trucks queue for the platform in the order they leave the registration booth, which is not
   * the order they arrived in.
   */
  async weigh(weightKg: number): Promise<Crossing> {
    const [crossing, next] = this.open()
      .filter(isRegistered)
      .sort((a, b) => (a.monoMs.registered ?? 0) - (b.monoMs.registered ?? 0));
    if (!crossing) {
      this.options.emit({ kind: 'alarm', alarm: 'WF_WEIGHT_UNMATCHED', message: `lane ${this.options.laneId}: a weight with no registered vehicle`, crossingId: null, details: { weightKg } });
      throw new WorkflowError(`no registered vehicle to weigh on lane ${this.options.laneId}`);
    }
    const shift = this.queueShift?.judge(weightKg, crossing, next) ?? null;
    this.recordWeight(crossing, weightKg);
    if (shift) this.options.emit(queueShiftAlarm(this.options.laneId, shift));
    return this.assessAndRoute(crossing);
  }

  /** The weighbridge is down: the operator enters the weight read elsewhere (recorded, with reason). */
  async weighManually(crossingId: string, weightKg: number, actor: Actor, reason: string): Promise<Crossing> {
    requireReason(reason);
    const crossing = this.get(crossingId);
    if (crossing.state !== 'registered') throw new WorkflowError(`crossing ${crossingId} is ${crossing.state}, not registered`);
    this.options.emit({ kind: 'operator', actor, action: 'crossing.weight', before: null, after: `${weightKg} kg`, reason, crossingId });
    return this.weighCrossing(crossing, weightKg);
  }

  private async weighCrossing(crossing: Crossing, weightKg: number): Promise<Crossing> {
    this.recordWeight(crossing, weightKg);
    return this.assessAndRoute(crossing);
  }

  private recordWeight(crossing: Crossing, weightKg: number): void {
    crossing.weightKg = weightKg;
    this.move(crossing, 'weighed');
    this.stamp(crossing, 'weighed');
  }

  private async assessAndRoute(crossing: Crossing): Promise<Crossing> {
    const risk = await this.options.assessRisk(crossing);
    // The crossing may have been abandoned or force-released while the model ran.
    if (crossing.state !== 'weighed') return crossing;
    crossing.risk = risk;
    crossing.xray = risk.xrayRequested;
    this.move(crossing, 'risk-assessed');
    this.stamp(crossing, 'riskAssessed');
    this.route(crossing);
    return crossing;
  }

  private route(crossing: Crossing): void {
    const risk = crossing.risk as RiskDecision;
    if (risk.xrayRequested) this.move(crossing, 'scanning');
    else if (risk.channel === 'red') this.move(crossing, 'inspecting');
    else this.release(crossing);
  }

  /**
   * The operator changes the channel the model chose (reason required, recorded): the crossing is
   * routed again from its new channel — red to inspection, orange to the scanner, green released.
   */
  overrideChannel(crossingId: string, channel: Channel, actor: Actor, reason: string): void {
    requireReason(reason);
    const crossing = this.get(crossingId);
    if (!['risk-assessed', 'scanning', 'inspecting'].includes(crossing.state) || !crossing.risk) {
      throw new WorkflowError(`crossing ${crossingId} is ${crossing.state}: a channel can be overridden only after the risk assessment and before release`);
    }
    // An override that changes nothing would still be audited and sent as one (before = after). A
    // same channel that routes the vehicle elsewhere (orange after a suspect scan sent it to
    // inspection: scan it again) does change something, and stays allowed.
    const routedTo: LaneState = channel === 'orange' ? 'scanning' : channel === 'red' ? 'inspecting' : 'released';
    if (channel === crossing.risk.channel && routedTo === crossing.state) {
      throw new WorkflowError(`crossing ${crossingId} is already on the ${channel} channel (${crossing.state}): an override must change the channel or the route`);
    }
    this.options.emit({ kind: 'operator', actor, action: 'crossing.channel', before: crossing.risk.channel, after: channel, reason, crossingId });
    // The record keeps the decision's reasons and the latest overrides' (each is in the audit log and
    // an operator.action): a channel flipped again and again must not grow the crossing.completed
    // past uplink.maxEventBytes, which would refuse it and lose the crossing.
    const held = Math.min(crossing.overrides ?? 0, MAX_OVERRIDE_REASONS);
    const reasons = crossing.risk.reasons;
    const kept = [...reasons.slice(reasons.length - held), `${actor.role} ${actor.id} override: ${reason}`].slice(-MAX_OVERRIDE_REASONS);
    crossing.overrides = (crossing.overrides ?? 0) + 1;
    crossing.risk = { ...crossing.risk, channel, reasons: [...reasons.slice(0, reasons.length - held), ...kept], xrayRequested: channel === 'orange' };
    crossing.xray = crossing.xray || channel === 'orange';
    // Routing again from the new channel is the override itself, outside the transition table.
    crossing.state = 'risk-assessed';
    if (routedTo === 'released') this.release(crossing);
    else crossing.state = routedTo;
  }

  /** The crossing waiting at the scanner with this plate (OCR-tolerant); with null, the oldest waiting. */
  scanning(plate: string | null): Crossing | undefined {
    const waiting = this.open().filter(isScanning);
    return plate === null ? waiting[0] : waiting.find((c) => c.plate !== null && platesMatch(c.plate, plate));
  }

  scanCompleted(crossingId: string, result: 'clear' | 'suspect', scannerId = 'unknown', imageRef: string | null = null, screening: ScanScreening | null = null): void {
    const crossing = this.get(crossingId);
    if (crossing.state !== 'scanning') throw new WorkflowError(`crossing ${crossingId} is ${crossing.state}, not scanning`);
    crossing.scan = { scannerId, result, imageRef, screening };
    this.stamp(crossing, 'scanned');
    if (result === 'suspect' || crossing.risk?.channel === 'red') this.move(crossing, 'inspecting');
    else this.release(crossing);
  }

  /** The inspection bay's outcome; with `actor`, recorded as that operator's action. */
  inspectionCompleted(crossingId: string, outcome: 'cleared' | 'irregularity' | 'refused', actor?: Actor, reason?: string): void {
    const crossing = this.get(crossingId);
    if (crossing.state !== 'inspecting') throw new WorkflowError(`crossing ${crossingId} is ${crossing.state}, not inspecting`);
    if (actor) this.options.emit({ kind: 'operator', actor, action: 'crossing.inspection', before: null, after: outcome, reason: reason ?? 'inspection outcome', crossingId });
    crossing.inspectionOutcome = outcome;
    this.stamp(crossing, 'inspected');
    this.release(crossing);
  }

  /**
   * The operator releases a vehicle whatever its state (a device is down, a scan cannot be made):
   * the one step outside the transition table, so it needs a reason and is recorded.
   */
  forceRelease(crossingId: string, actor: Actor, reason: string): void {
    requireReason(reason);
    const crossing = this.get(crossingId);
    if (crossing.state === 'released') return;
    this.options.emit({ kind: 'operator', actor, action: 'crossing.release', before: crossing.state, after: 'released', reason, crossingId });
    crossing.state = 'released';
    this.stamp(crossing, 'released');
  }

  /**
   * Exit camera: completes the released crossing whose plate matches (OCR-tolerant). A plate that
   * matches none, or a second vehicle while one barrier cycle is open, raises an alarm.
   *
   * A read plate that matches no released crossing is given to the lane's only released one (a
   * misread, WF_PLATE_MISMATCH) only when it is no other vehicle's: a plate that left this lane
   * within EXIT_REREAD_MS is the same vehicle read again (nothing happens), and a plate of a
   * crossing on this lane that is not released is that vehicle leaving without release
   * (WF_EXIT_UNKNOWN, naming it). Either way the released vehicle is still waiting at the barrier.
   */
  exit(plate: string | null): Crossing | null {
    const released = this.open().filter(isReleased);
    const match = plate === null ? undefined : released.find((c) => c.plate !== null && platesMatch(c.plate, plate));
    if (!match && plate !== null) {
      if (this.recentExits.get(plate)) return null;
      const unreleased = this.open().find((c) => c.state !== 'released' && c.plate !== null && platesMatch(c.plate, plate));
      if (unreleased) {
        this.options.emit({
          kind: 'alarm',
          alarm: 'WF_EXIT_UNKNOWN',
          message: `lane ${this.options.laneId}: vehicle ${plate} left without release (its crossing ${unreleased.crossingId} is ${unreleased.state})`,
          crossingId: unreleased.crossingId,
          details: { plate, state: unreleased.state },
        });
        return null;
      }
    }
    const crossing = match ?? (released.length === 1 ? released[0] : undefined);
    if (!crossing) {
      this.options.emit({ kind: 'alarm', alarm: 'WF_EXIT_UNKNOWN', message: `lane ${this.options.laneId}: vehicle ${plate ?? '(unread)'} left without a released crossing`, crossingId: null, details: { plate } });
      return null;
    }
    if (!match) {
      this.options.emit({
        kind: 'alarm',
        alarm: 'WF_PLATE_MISMATCH',
        message: `lane ${this.options.laneId}: exit plate ${plate ?? '(unread)'} differs from entry plate ${crossing.plate}`,
        crossingId: crossing.crossingId,
        details: { entryPlate: crossing.plate, exitPlate: plate },
      });
    }
    this.move(crossing, 'exited');
    // As the exit camera read it, and its crossing's plate (a misread's other spelling); before the
    // stamp, so the exit's event stores them with it (recentExitPlates) and a restart keeps them.
    for (const left of [plate, crossing.plate]) if (left !== null) this.recentExits.remember(left, true);
    this.stamp(crossing, 'exited');
    this.complete(crossing, 'completed');
    return crossing;
  }

  /**
   * The plates that left this lane within EXIT_REREAD_MS (exit()), as canonical plates with how
   * long ago each left: stored with each exit's event (lane-store.ts), taken back after a restart
   * by restoreExits, so the exit camera reading a truck that left just before a power cut again
   * neither completes the next released vehicle nor raises WF_EXIT_UNKNOWN.
   */
  recentExitPlates(): { plate: string; agoMs: number }[] {
    return this.recentExits.recent();
  }

  /**
   * The weighbridge's queue-shift run as it stands (queue-shift.ts), with the weighings judged by
   * then, to store (post-workflow.ts); undefined when the lane watches for none (no tolerance
   * given), `run` null when no run stands.
   */
  queueShiftRun(): { version: number; run: QueueShiftRun | null } | undefined {
    return this.queueShift?.current();
  }

  /** Goes on from the queue-shift run stored before a restart (queueShiftRun). */
  restoreQueueShift(run: QueueShiftRun): void {
    this.queueShift?.resume(run);
  }

  /** Takes back the plates that left this lane before a restart (recentExitPlates, aged since by the store). */
  restoreExits(plates: readonly { plate: string; agoMs: number }[]): void {
    const now = this.options.clock.monotonic();
    for (const { plate, agoMs } of plates) this.recentExits.remember(plate, true, now - agoMs);
  }

  /**
   * No exit camera on this lane: the barrier loop saw a vehicle leave, which is the oldest
   * released one (the barrier opens for one released vehicle at a time).
   */
  exitByLoop(): Crossing | null {
    const crossing = this.open().find(isReleased);
    if (!crossing) {
      this.options.emit({ kind: 'alarm', alarm: 'WF_EXIT_UNKNOWN', message: `lane ${this.options.laneId}: a vehicle crossed the exit loop without a released crossing`, crossingId: null, details: {} });
      return null;
    }
    this.move(crossing, 'exited');
    this.stamp(crossing, 'exited');
    this.complete(crossing, 'completed');
    return crossing;
  }

  /** Two vehicles through one barrier cycle (loop stayed occupied across two exits). */
  tailgating(crossingId: string | null): void {
    this.options.emit({ kind: 'alarm', alarm: 'WF_TWO_VEHICLES_ONE_CYCLE', message: `lane ${this.options.laneId}: two vehicles in one barrier cycle`, crossingId, details: {} });
  }

  stop(): void {
    for (const timer of this.timers.values()) this.options.clock.clearTimeout(timer);
    this.timers.clear();
  }

  private release(crossing: Crossing): void {
    this.move(crossing, 'released');
    this.stamp(crossing, 'released');
  }

  private move(crossing: Crossing, next: LaneState): void {
    if (!ALLOWED[crossing.state].includes(next)) {
      throw new WorkflowError(`crossing ${crossing.crossingId}: ${crossing.state} → ${next} is not allowed`);
    }
    crossing.state = next;
  }

  private stamp(crossing: Crossing, milestone: Milestone): void {
    crossing.wallMs[milestone] = this.options.clock.now();
    crossing.monoMs[milestone] = this.options.clock.monotonic();
    crossing.clock = this.options.clockQuality();
    this.options.emit({ kind: 'milestone', milestone, crossing });
    this.armAbandon(crossing);
  }

  /**
   * Takes back a crossing open before a restart (lane-store.ts), under its own id and with its
   * stamps; abandonment counts from its last progress, `lastProgressWallMs`, not from now. Call it
   * in the order the crossings arrived (the store's row order), as they were remembered.
   */
  restore(crossing: Crossing, lastProgressWallMs: number): void {
    this.crossings.set(crossing.crossingId, crossing);
    // The entry camera reading it again is this vehicle, across the restart as before it (readAgain):
    // its arrival stamp is on this process's clock, its age measured across the outage (lane-store.ts).
    const arrivedMono = crossing.monoMs.arrived;
    if (crossing.plate !== null && arrivedMono !== undefined && crossing.state !== 'exited') this.recentArrivals.remember(crossing.plate, crossing.crossingId, arrivedMono);
    // Its exit was stored but not its completion (the process died between the two commits, or
    // the completion was refused): it has left, and completes now, once. Left open, it would be
    // neither completed nor abandoned (exited crossings have no abandonment timer), for ever.
    if (crossing.state === 'exited') {
      this.complete(crossing, 'completed');
      return;
    }
    const idle = Math.max(0, this.options.clock.now() - lastProgressWallMs);
    this.armAbandon(crossing, Math.max(0, this.options.abandonAfterMs - idle));
    // Weighed but not yet assessed: the model's answer died with the process; ask again.
    if (crossing.state === 'weighed') void this.assessAndRoute(crossing);
  }

  private armAbandon(crossing: Crossing, afterMs = this.options.abandonAfterMs): void {
    const previous = this.timers.get(crossing.crossingId);
    if (previous) this.options.clock.clearTimeout(previous);
    if (crossing.state === 'exited') return;
    this.timers.set(
      crossing.crossingId,
      this.options.clock.setTimeout(() => {
        if (!this.crossings.has(crossing.crossingId)) return;
        crossing.state = 'abandoned';
        this.complete(crossing, 'abandoned');
      }, afterMs),
    );
  }

  private complete(crossing: Crossing, outcome: 'completed' | 'abandoned'): void {
    const timer = this.timers.get(crossing.crossingId);
    if (timer) this.options.clock.clearTimeout(timer);
    this.timers.delete(crossing.crossingId);
    this.crossings.delete(crossing.crossingId);
    const start = crossing.monoMs.arrived ?? this.options.clock.monotonic();
    const end = outcome === 'completed' ? (crossing.monoMs.exited ?? this.options.clock.monotonic()) : this.options.clock.monotonic();
    const registered = crossing.monoMs.registered;
    this.options.emit({
      kind: 'completed',
      crossing,
      outcome,
      durations: { registrationSec: registered === undefined ? null : round((registered - start) / 1000), crossingSec: round((end - start) / 1000) },
    });
  }
}

/** The WF_PLATE_UNREAD alarm's message (also as the console shows it again after a restart). */
export function plateUnreadMessage(laneId: string): string {
  return `lane ${laneId}: plate unread, operator must enter it`;
}

function requireReason(reason: string): void {
  if (reason.trim() === '') throw new WorkflowError('an operator action needs a reason');
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
