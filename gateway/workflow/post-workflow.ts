/**
 * The post's lanes at work: one LaneWorkflow per lane, fed by the device readings (entry camera →
 * arrival, stable weight → weighing and risk, scanner → scan with its screening score, exit camera
 * or barrier loop → exit), by the registration system and the operators (lane API), and driving
 * the barriers (open on release, one vehicle per cycle, close once the loop is clear; a close
 * refused for safety is made again on the reading that shows the loop and the photocell clear).
 * Everything the lanes decide is emitted as catalogue events through the outbox, on the topic of
 * the lane it concerns.
 */
import { platesMatch } from '../../core/plates.js';
import type { Logger } from 'pino';
import type { LaneConfig, PostConfig } from '../../config/schema.js';
import type { Clock, ClockQualityProbe, TimerHandle } from '../../core/clock.js';
import { isGatewayError, type GatewayError } from '../../core/errors.js';
import { BarrierDriver, type BarrierInputs } from '../../drivers/barrier/barrier-driver.js';
import type { DriverHealth } from '../../drivers/driver.js';
import type { ModelSlot } from '../../edge-models/model-slot.js';
import type { XrayScreeningModel } from '../../edge-models/xray-screening.js';
import type { Gateway } from '../daemon.js';
import type { DeviceManager, DeviceReading } from '../devices/device-manager.js';
import { IMAGE_REF_PATTERN } from './lane-view.js';
import { EXIT_REREAD_MS, LaneWorkflow, plateUnreadMessage, WorkflowError, type Crossing, type Declaration, type DetectedBy, type ScanScreening, type WorkflowEvent } from './lane-workflow.js';
import type { RiskAssessor } from './risk-assessor.js';
import { toCatalogueEvents } from './workflow-events.js';
import type { Actor } from '../auth/roles.js';
import { isOutboxRefusal, type WithinCommit } from '../outbox/sqlite-outbox.js';
import type { LaneStore } from './lane-store.js';
import { readScanForScreening } from './scan-image.js';

/** Weights below this are an empty or settling platform, not a vehicle. */
const MIN_VEHICLE_KG = 400;

/** What each driver is to a lane (the workflow routes its readings, the console shows it). */
export const KIND_BY_DRIVER: Record<string, 'camera' | 'barrier' | 'weighbridge' | 'scanner'> = {
  onvif: 'camera',
  'anpr-http-push': 'camera',
  'modbus-tcp': 'barrier',
  'modbus-rtu': 'barrier',
  sma: 'weighbridge',
  toledo: 'weighbridge',
  pattern: 'weighbridge',
  'xray-http': 'scanner',
  'xray-folder': 'scanner',
};

/**
 * Where the gateway's barrier cycle is (one vehicle per opening):
 * - `idle`: closed, or opened by hand (no gateway cycle); the next released vehicle opens it;
 * - `open`: opened for one released vehicle that has not yet left the loop;
 * - `closing`: the vehicle left the loop; a close is in flight;
 * - `close-refused`: the driver refused to close on a vehicle or a blocked photocell
 *   (GW_ERR_BARRIER_UNSAFE); the close is tried again on the reading that shows both clear;
 * - `close-failed`: the close failed otherwise (not confirmed, no answer, malformed reply…);
 *   nothing is retried until the arm is closed by hand.
 * In every phase but `idle` the arm may be up: vehicles on the loop are counted.
 */
type CyclePhase = 'idle' | 'open' | 'closing' | 'close-refused' | 'close-failed';

interface BarrierCycle {
  phase: CyclePhase;
  /** Loop activations since the barrier opened. */
  vehicles: number;
  loopActive: boolean;
  /** Released vehicles waiting for the barrier. */
  waiting: number;
  /** The safety refusal being waited out: the input it named, since when (monotonic ms), close attempts made (the refused one included). */
  refusal: { input: BarrierInput; sinceMono: number; attempts: number } | null;
  /** Counts commands, so the outcome of one overtaken by a hand close is ignored. */
  command: number;
  /**
   * The last barrier alarm of this cycle that asks for something (not the news of a close made
   * after all): stored with the cycle, in that alarm's own transaction, so the console shows it
   * again after a restart (restoredAlarms). Whether it still stands is judged as for any alarm
   * (open-alarms.ts). Absent in cycles stored before it was kept.
   */
  alarm?: RestoredAlarm | null;
}

/** A lane alarm the console is to show again after a restart, as it was raised (no new event is sent). */
export interface RestoredAlarm {
  laneId: string;
  code: string;
  message: string;
  crossingId: string | null;
  atMs: number;
  severity: 'info' | 'warning' | 'critical';
  details: Record<string, unknown>;
}

/** What a close was refused on (the driver checks the loop first): an input, or a serial line out of step. */
type BarrierInput = 'loop' | 'photocell' | 'line';

/** What a refused close waits for, and what cleared, in the alarms' words. */
const WAITING_FOR: Record<BarrierInput, { waits: string; cleared: string }> = {
  loop: { waits: 'the loop and the photocell are clear', cleared: 'the loop cleared' },
  photocell: { waits: 'the loop and the photocell are clear', cleared: 'the photocell cleared' },
  line: { waits: 'the serial line to the barrier answers in step again', cleared: 'the serial line answered in step again' },
};

interface Lane {
  config: LaneConfig;
  workflow: LaneWorkflow;
  barrierId: string | null;
  hasExitCamera: boolean;
  cycle: BarrierCycle;
  /**
   * Restored in `open` (the arm was commanded open for a released vehicle before a restart) and
   * not yet confirmed by a reading of the arm: see confirmRestoredOpen. `alarmed` once the
   * operator has been told; the timer raises it when no reading decides in time.
   */
  restoredOpen?: { timer: TimerHandle | null; alarmed: boolean } | null;
  /**
   * The weighbridge's queue-shift run last known stored (its `version`, queue-shift.ts): each event
   * of the lane carries the run until one that did is committed, so a refused `vehicle.weighed`
   * (the outbox keeps room for critical events only) does not leave the stored run behind.
   */
  queueShiftStored: number;
}

/**
 * How long (post clock) after a restart the arm of a cycle restored in `open` may go without a
 * reading that shows where it is (the barrier not yet connected, not answering, or stuck between its
 * limits) before the operator is told the open cannot be confirmed.
 */
export const RESTORED_OPEN_CONFIRM_MS = 30_000;

/** What the workflow needs of the device manager (a test drives the same listeners). */
export type DeviceFeed = Pick<DeviceManager, 'onReadings' | 'onHealthChanges' | 'driver'>;

export interface PostWorkflowOptions {
  config: PostConfig;
  gateway: Pick<Gateway, 'emit' | 'audit'>;
  devices: DeviceFeed;
  /** The clock of TRS stamps (the demo runs it fast). */
  clock: Clock;
  clockQuality: ClockQualityProbe;
  assessor: RiskAssessor;
  screening: ModelSlot<XrayScreeningModel>;
  logger: Logger;
  /** Where open crossings, barrier cycles and visits survive a restart; none: memory only (tests). */
  store?: LaneStore;
}

/** At module level, not an arrow per call (see lane-workflow.ts). */
const isArrived = (c: Crossing): boolean => c.state === 'arrived';

export class PostWorkflow {
  readonly lanes = new Map<string, Lane>();
  /** Counters for the demo's summary line and the tests. */
  readonly counts = { completed: 0, abandoned: 0, alarms: 0, notStored: 0 };
  /** operator.action commits not yet resolved (see actionsRecorded). */
  private readonly pendingRecords = new Set<Promise<unknown>>();
  /**
   * The alarms standing when the gateway stopped, as far as the restored lanes tell (an unread
   * plate of an open crossing, the barrier alarm of an unfinished cycle), for the console to show
   * again: its list of alarms is memory, and these ask the operator for an action nothing else repeats.
   */
  readonly restoredAlarms: RestoredAlarm[] = [];

  constructor(private readonly options: PostWorkflowOptions) {
    for (const config of options.config.lanes) {
      const kinds = config.devices.map((device) => ({ device, kind: KIND_BY_DRIVER[device.driver] }));
      const workflow = new LaneWorkflow({
        laneId: config.id,
        clock: options.clock,
        clockQuality: options.clockQuality,
        emit: (event) => this.onWorkflowEvent(config.id, event),
        assessRisk: (crossing) => options.assessor.assess(crossing, options.clock.now()),
        abandonAfterMs: options.config.workflow.abandonAfterMin * 60_000,
        maxUnregistered: options.config.workflow.maxUnregisteredPerLane,
        weightToleranceShare: options.config.workflow.weightToleranceShare,
      });
      this.lanes.set(config.id, {
        config,
        workflow,
        barrierId: kinds.find((k) => k.kind === 'barrier')?.device.id ?? null,
        hasExitCamera: kinds.some((k) => k.kind === 'camera' && k.device.role === 'exit'),
        cycle: { phase: 'idle', vehicles: 0, loopActive: false, waiting: 0, refusal: null, command: 0 },
        queueShiftStored: 0,
      });
    }
    if (options.store) this.restore(options.store);
    options.devices.onReadings((laneId, role, reading) => this.onReading(laneId, role, reading));
    options.devices.onHealthChanges((laneId, deviceId, health) => this.onHealth(laneId, deviceId, health));
  }

  /**
   * Carries on from before a restart: each lane's open crossings (same ids, same arrival times,
   * abandonment counted from their last progress, the entry camera's re-reads of them still theirs),
   * its barrier cycle, the plates that left it in the last minutes (the exit camera's re-reads).
   * (The visit history is read from the store as vehicles are assessed: nothing of it to bring back.)
   */
  private restore(store: LaneStore): void {
    for (const [laneId, cycle] of store.restoreCycles()) {
      const lane = this.lanes.get(laneId);
      if (!lane) continue;
      const saved = cycle as BarrierCycle;
      lane.cycle = { ...saved, command: 0 };
      // A close in flight when the process died has no answer coming: wait for a clear reading
      // and close again, as after a refusal. The old process's monotonic times mean nothing here.
      if (saved.phase === 'closing' || saved.phase === 'close-refused') lane.cycle.phase = 'close-refused';
      if (lane.cycle.refusal || lane.cycle.phase === 'close-refused') lane.cycle.refusal = { input: saved.refusal?.input ?? 'loop', sinceMono: this.options.clock.monotonic(), attempts: saved.refusal?.attempts ?? 1 };
      // Opened for a released vehicle, as far as the store knows: the release was committed with
      // the cycle, but the OPEN may never have reached the barrier (killed in between). The arm's
      // first reading tells (confirmRestoredOpen); until then, or if none comes, nothing is opened.
      if (saved.phase === 'open' && lane.barrierId !== null) {
        const restoredOpen: NonNullable<Lane['restoredOpen']> = { timer: null, alarmed: false };
        restoredOpen.timer = this.options.clock.setTimeout(() => {
          restoredOpen.timer = null;
          if (lane.restoredOpen === restoredOpen) this.restoredOpenUnconfirmed(lane, null);
        }, RESTORED_OPEN_CONFIRM_MS);
        lane.restoredOpen = restoredOpen;
      }
    }
    let restored = 0;
    for (const [laneId, crossings] of store.restoreCrossings()) {
      const lane = this.lanes.get(laneId);
      if (!lane) {
        this.options.logger.warn({ laneId, crossings: crossings.length }, 'open crossings of a lane no longer configured are left stored');
        continue;
      }
      for (const { crossing, lastWrittenWallMs } of crossings) {
        lane.workflow.restore(crossing, lastWrittenWallMs);
        if (crossing.plate === null && crossing.state === 'arrived') {
          this.restoredAlarms.push({ laneId, code: 'WF_PLATE_UNREAD', message: plateUnreadMessage(laneId), crossingId: crossing.crossingId, atMs: crossing.wallMs.arrived ?? lastWrittenWallMs, severity: 'warning', details: {} });
        }
      }
      restored += crossings.length;
    }
    for (const lane of this.lanes.values()) if (lane.cycle.alarm) this.restoredAlarms.push(lane.cycle.alarm);
    this.restoredAlarms.sort((a, b) => a.atMs - b.atMs);
    if (restored > 0) this.options.logger.info({ crossings: restored }, 'open crossings restored after a restart');
    for (const [laneId, exits] of store.restoreRecentExits(EXIT_REREAD_MS)) this.lanes.get(laneId)?.workflow.restoreExits(exits);
    for (const [laneId, run] of store.restoreQueueShiftRuns()) this.lanes.get(laneId)?.workflow.restoreQueueShift(run);
  }

  lane(laneId: string): Lane {
    const lane = this.lanes.get(laneId);
    if (!lane) throw new WorkflowError(`no lane ${laneId}; lanes: ${[...this.lanes.keys()].join(', ')}`);
    return lane;
  }

  /**
   * The registration system (or the booth operator) registers a vehicle: the arrived crossing with
   * this id, else with this plate (OCR-tolerant), else the oldest arrived one. A vehicle the entry
   * camera never saw (camera down) arrives here, entered by the operator. The plate given here is
   * the document's: it replaces an unread one (recorded as an operator action).
   */
  register(laneId: string, request: { crossingId?: string | undefined; plate?: string | undefined; actor: Actor; vehicleType?: string | undefined; declaration: Declaration }): Crossing {
    const { workflow } = this.lane(laneId);
    const arrived = workflow.open().filter(isArrived);
    const plate = request.plate;
    // By id; else by plate (OCR-tolerant); else the oldest vehicle the camera could not read.
    let crossing = request.crossingId
      ? workflow.get(request.crossingId)
      : plate
        ? (arrived.find((c) => c.plate !== null && platesMatch(c.plate, plate)) ?? arrived.find((c) => c.plate === null))
        : arrived[0];
    if (!crossing) {
      if (!request.plate) throw new WorkflowError(`lane ${laneId} has no arrived vehicle to register; give the plate to register one the camera did not see`);
      crossing = this.arrive(laneId, request.plate, request.vehicleType ?? 'unknown', null, 'operator');
      this.onWorkflowEvent(laneId, { kind: 'operator', actor: request.actor, action: 'crossing.arrival', before: null, after: request.plate, reason: 'no camera arrival for this plate', crossingId: crossing.crossingId });
    }
    // Nothing of a crossing past registration is changed by a registration that is then refused
    // (its plate, by a caller that may not set plates; its vehicle type, unrecorded).
    if (crossing.state !== 'arrived') throw new WorkflowError(`crossing ${crossing.crossingId} is ${crossing.state}: only an arrived vehicle is registered`);
    if (crossing.plate === null && request.plate) workflow.setPlate(crossing.crossingId, request.plate, request.actor, 'plate entered at registration');
    if (request.vehicleType) crossing.vehicleType = request.vehicleType;
    workflow.register(crossing.crossingId, request.declaration);
    // A declaration moves the risk (weight, AEO, visit history): who made it is on record.
    const d = request.declaration;
    const declared = [d.direction, d.declaredWeightKg === null ? 'no declared weight' : `declared ${d.declaredWeightKg} kg`, `${d.documents.length} document(s)`, ...(d.aeo ? ['AEO'] : []), ...(d.previousVisits30d === null ? [] : [`${d.previousVisits30d} visits in 30 days`])];
    this.onWorkflowEvent(laneId, { kind: 'operator', actor: request.actor, action: 'crossing.register', before: null, after: declared.join(', '), reason: 'registration', crossingId: crossing.crossingId });
    return crossing;
  }

  stop(): void {
    for (const lane of this.lanes.values()) {
      lane.workflow.stop();
      if (lane.restoredOpen?.timer) this.options.clock.clearTimeout(lane.restoredOpen.timer);
      lane.restoredOpen = null;
    }
  }

  private arrive(laneId: string, plate: string | null, vehicleType: string, confidence: number | null, detectedBy: DetectedBy, entryPicture: string | null = null): Crossing {
    return this.lane(laneId).workflow.arrive(plate, vehicleType, confidence, detectedBy, entryPicture);
  }

  private onReading(laneId: string, role: 'entry' | 'exit' | 'lane', reading: DeviceReading): void {
    const lane = this.lane(laneId);
    switch (reading.type) {
      case 'plate.read':
        if (role === 'exit') {
          lane.workflow.exit(reading.plate?.text ?? null);
          return;
        }
        this.arrive(
          laneId,
          reading.plate?.text ?? null,
          vehicleTypeOf(reading.vehicleType),
          reading.plate?.confidence ?? null,
          'anpr',
          reading.imageRef !== null && IMAGE_REF_PATTERN.test(reading.imageRef) ? reading.imageRef : null,
        );
        return;
      case 'weight.stable':
        if (reading.weightKg < MIN_VEHICLE_KG) return;
        // A weight nobody registered is alarmed by the workflow; nothing more to do here.
        lane.workflow.weigh(reading.weightKg).catch((error: unknown) => this.refused(error));
        return;
      case 'scan':
        void this.onScan(laneId, reading);
        return;
      case 'inputs.changed': {
        // Stored only when the reading changed the cycle: each store is a commit of its own.
        const before = this.options.store ? JSON.stringify(lane.cycle) : '';
        if (lane.restoredOpen) this.confirmRestoredOpen(lane, reading);
        this.onBarrierInputs(lane, reading);
        if (this.options.store && JSON.stringify(lane.cycle) !== before) this.options.store.saveCycle(laneId, lane.cycle);
        return;
      }
      case 'status.changed':
        return;
    }
  }

  /** A scan belongs to the vehicle waiting at the scanner with its plate, on any lane. */
  private async onScan(laneId: string, reading: Extract<DeviceReading, { type: 'scan' }>): Promise<void> {
    if (reading.status !== 'completed' && reading.status !== 'decided') return;
    const crossing = this.scanningCrossing(laneId, reading.plate);
    if (!crossing) {
      if (reading.status === 'completed') this.alarm(laneId, 'WF_SCAN_UNMATCHED', `scan ${reading.scanId} (${reading.plate ?? 'no plate'}) matches no vehicle waiting for X-ray`, null, { scanId: reading.scanId });
      if (reading.status === 'decided' && reading.decision?.result === 'suspect') this.suspectAfterScan(laneId, reading);
      return;
    }
    const workflow = this.lane(crossing.laneId).workflow;
    if (reading.status === 'decided') {
      if (reading.decision) workflow.scanCompleted(crossing.crossingId, reading.decision.result, reading.scannerId, reading.imageRef);
      return;
    }
    const screening = await this.screen(crossing.laneId, reading.imageRef);
    // The crossing may have moved on (operator release) while the image was screened.
    if (crossing.state !== 'scanning') return;
    if (screening === null && !reading.decision) return; // no model: the analyst's decision completes the scan
    const result = reading.decision?.result ?? (screening && screening.suspect ? 'suspect' : 'clear');
    workflow.scanCompleted(crossing.crossingId, result, reading.scannerId, reading.imageRef, screening && { score: screening.score, modelVersion: screening.modelVersion, regions: screening.regions });
  }

  /**
   * An analyst found a scan suspect after its vehicle left the scanner (the screening model had
   * cleared it, or an operator released it): nothing in the lane can take the decision back, so
   * the people at the post are told at once, naming the vehicle where one of its plate is still on
   * a lane (released, waiting at the barrier), and saying so where none is (it may have left).
   */
  private suspectAfterScan(laneId: string, reading: Extract<DeviceReading, { type: 'scan' }>): void {
    const plate = reading.plate;
    const open = plate === null ? undefined : [...this.lanes.values()].flatMap((lane) => lane.workflow.open()).find((c) => c.plate !== null && platesMatch(c.plate, plate));
    const where = open ? `vehicle ${open.plate ?? plate ?? ''} is ${open.state} on ${open.laneId}: stop it` : `no vehicle with plate ${plate ?? '(none named)'} is on a lane any more`;
    this.alarm(
      open?.laneId ?? laneId,
      'WF_SCAN_SUSPECT_LATE',
      `analyst ${reading.decision?.analyst ?? ''} found scan ${reading.scanId} suspect after its vehicle left the scanner; ${where}`,
      open?.crossingId ?? null,
      { scanId: reading.scanId, plate, analyst: reading.decision?.analyst ?? null, state: open?.state ?? null },
      'critical',
    );
  }

  /**
   * The vehicle a scan is of: the one waiting at the scanner with its plate (OCR-tolerant), this
   * lane's first; a scan without a plate is the oldest waiting's. A scan with a plate that matches
   * no vehicle waiting is another vehicle's: none (WF_SCAN_UNMATCHED), never the oldest waiting,
   * which that scan's result would release unscanned.
   */
  private scanningCrossing(laneId: string, plate: string | null): Crossing | undefined {
    const lanes = [this.lane(laneId), ...[...this.lanes.values()].filter((lane) => lane.config.id !== laneId)];
    return lanes.map((lane) => lane.workflow.scanning(plate)).find((c) => c !== undefined);
  }

  private async screen(laneId: string, imageRef: string | null): Promise<(ScanScreening & { suspect: boolean }) | null> {
    if (!imageRef) return null;
    return this.options.screening.use(async (model) => {
      if (!model) return null;
      try {
        const result = await model.screen(readScanForScreening(imageRef));
        return { score: Math.round(result.score * 10_000) / 10_000, modelVersion: model.version, regions: result.regions, suspect: result.suspect };
      } catch (error) {
        this.options.logger.error({ err: error, imageRef }, 'X-ray screening failed; the analyst decides');
        this.alarm(laneId, 'WF_SCREENING_FAILED', `X-ray screening of ${imageRef} failed: ${(error as Error).message}`, null, { imageRef });
        return null;
      }
    });
  }

  /**
   * Barrier cycle: open for one released vehicle, count loop activations, close when it has passed.
   * A close refused for safety is tried again on the first reading that shows the loop and the
   * photocell clear; the cycle ends (and the next released vehicle gets the barrier) once the
   * arm is confirmed closed.
   */
  private onBarrierInputs(lane: Lane, inputs: BarrierInputs): void {
    const { cycle } = lane;
    const rising = inputs.vehiclePresent && !cycle.loopActive;
    const falling = !inputs.vehiclePresent && cycle.loopActive;
    cycle.loopActive = inputs.vehiclePresent;
    if (cycle.phase === 'idle') {
      // The arm is up with no cycle of the gateway's: opened by hand, as an open that failed asks.
      // On a lane without an exit camera the loop is the only witness of the released vehicle
      // going through (else it would stay released, and the next vehicle's exit be taken for it).
      if (falling && !lane.hasExitCamera && cycle.waiting > 0 && inputs.position !== 'closed' && lane.workflow.exitByLoop()) cycle.waiting -= 1;
      return;
    }
    if (rising) {
      cycle.vehicles += 1;
      if (cycle.vehicles === 2) lane.workflow.tailgating(null);
    }
    if (falling) {
      if (!lane.hasExitCamera) lane.workflow.exitByLoop();
      cycle.waiting = Math.max(0, cycle.waiting - 1);
      if (cycle.phase === 'open') {
        this.closeBarrier(lane);
        return;
      }
    }
    if (cycle.phase !== 'close-refused' && cycle.phase !== 'close-failed') return;
    if (inputs.position === 'closed' && !inputs.vehiclePresent) {
      // Closed by hand at the barrier (or by its own controller): the cycle is over.
      this.options.logger.info({ laneId: lane.config.id, barrierId: lane.barrierId, phase: cycle.phase }, 'barrier found closed; cycle ended');
      this.endCycle(lane);
    } else if (cycle.phase === 'close-refused' && !inputs.vehiclePresent && !inputs.photocellBlocked) {
      this.closeBarrier(lane);
    }
  }

  /**
   * The first reading of an arm whose cycle was restored in `open`. Open: the OPEN reached it before
   * the restart, and the cycle goes on (closed behind the vehicle). Travelling: the next reading
   * decides (or RESTORED_OPEN_CONFIRM_MS). Anything else: the open never reached it, or the arm was
   * closed since; the released vehicle may be waiting at a closed arm, or may have passed during
   * the outage. Sending OPEN again could let the next vehicle through behind it unchecked, so the
   * gateway fails safe: the cycle ends as after a failed open, and the operator is told to open by
   * hand (restoredOpenUnconfirmed).
   */
  private confirmRestoredOpen(lane: Lane, inputs: BarrierInputs): void {
    const restoredOpen = lane.restoredOpen;
    if (!restoredOpen || inputs.position === 'moving') return;
    if (restoredOpen.timer) this.options.clock.clearTimeout(restoredOpen.timer);
    lane.restoredOpen = null;
    if (inputs.position === 'open') {
      // Told it could not be confirmed (no reading in time), and it is open after all: the cycle
      // goes on, unless another began meanwhile.
      if (restoredOpen.alarmed && lane.cycle.phase === 'idle') lane.cycle.phase = 'open';
      return;
    }
    if (!restoredOpen.alarmed) this.restoredOpenUnconfirmed(lane, inputs.position);
  }

  /** A cycle restored in `open` whose arm is not seen open (`position` null: no reading in time). */
  private restoredOpenUnconfirmed(lane: Lane, position: BarrierInputs['position'] | null): void {
    const { cycle } = lane;
    if (lane.restoredOpen) lane.restoredOpen.alarmed = true;
    if (position !== null) lane.restoredOpen = null;
    if (cycle.phase !== 'open') return; // a hand action or a new cycle overtook it
    cycle.phase = 'idle';
    cycle.command += 1;
    const seen = position === null ? `no reading of the arm within ${RESTORED_OPEN_CONFIRM_MS / 1000} s of the restart` : `the arm ${position}`;
    this.barrierAlarm(
      lane,
      'WF_BARRIER_OPEN_UNCONFIRMED',
      'warning',
      `after a restart the barrier was to be open for a released vehicle, but ${seen}: the open may never have reached it. If the vehicle is waiting, open it by hand; the gateway does not (the vehicle may have passed during the outage)`,
      { command: 'open', position, waiting: cycle.waiting },
    );
  }

  private openForNext(lane: Lane): void {
    const { cycle } = lane;
    if (cycle.phase !== 'idle') return;
    // `waiting` counts releases; a released vehicle that never came through (abandoned, or gone
    // under an arm the gateway did not open) is no longer on the lane: the arm is not opened for it.
    let released = 0;
    for (const crossing of lane.workflow.open()) if (crossing.state === 'released') released += 1;
    if (cycle.waiting > released) cycle.waiting = released;
    if (cycle.waiting === 0) return;
    const driver = this.barrierDriver(lane);
    if (!driver) return;
    cycle.phase = 'open';
    cycle.vehicles = 0;
    cycle.alarm = null;
    const command = (cycle.command += 1);
    driver.open().catch((error: unknown) => {
      if (cycle.command !== command || cycle.phase !== 'open') return;
      cycle.phase = 'idle';
      this.barrierAlarm(lane, error, 'warning', `barrier open failed (${(error as Error).message}); open it by hand`, { command: 'open' });
    });
  }

  private closeBarrier(lane: Lane): void {
    const { cycle } = lane;
    const driver = this.barrierDriver(lane);
    if (!driver) return;
    cycle.phase = 'closing';
    if (cycle.refusal) cycle.refusal.attempts += 1;
    const command = (cycle.command += 1);
    const current = (): boolean => cycle.command === command && cycle.phase === 'closing';
    driver.close().then(
      () => {
        if (!current()) return;
        const { refusal } = cycle;
        if (refusal) {
          const waitedSec = Math.round((this.options.clock.monotonic() - refusal.sinceMono) / 100) / 10;
          this.barrierAlarm(lane, 'WF_BARRIER_CLOSED_AFTER_RETRY', 'info', `barrier closed once ${WAITING_FOR[refusal.input].cleared} (${waitedSec} s after it was refused, close attempt ${refusal.attempts})`, {
            command: 'close',
            refusedFor: refusal.input,
            attempts: refusal.attempts,
            waitedSec,
          });
        }
        this.endCycle(lane);
      },
      (error: unknown) => {
        if (current()) this.closeFailed(lane, error);
      },
    );
  }

  /** A close failed: a safety refusal is waited out (alarmed once per cycle), anything else is for an operator. */
  private closeFailed(lane: Lane, error: unknown): void {
    const { cycle } = lane;
    const message = (error as Error).message;
    if (isGatewayError(error, 'GW_ERR_BARRIER_UNSAFE')) {
      cycle.phase = 'close-refused';
      const input = refusedInput(error);
      if (cycle.refusal) {
        this.options.logger.info({ laneId: lane.config.id, barrierId: lane.barrierId, input, attempts: cycle.refusal.attempts }, `barrier close refused again; closing once ${WAITING_FOR[input].waits}`);
        return;
      }
      cycle.refusal = { input, sinceMono: this.options.clock.monotonic(), attempts: 1 };
      this.barrierAlarm(lane, error, 'warning', `${message}; closing once ${WAITING_FOR[input].waits}`, { command: 'close', input });
      return;
    }
    const refusal = cycle.refusal;
    cycle.phase = 'close-failed';
    cycle.refusal = null;
    this.barrierAlarm(lane, error, 'critical', `barrier close failed (${message}); the arm may be open: close it by hand`, {
      command: 'close',
      ...(refusal ? { refusedFor: refusal.input, attempts: refusal.attempts } : {}),
    });
  }

  /** The arm is closed: the cycle is over and the next released vehicle gets the barrier. */
  private endCycle(lane: Lane): void {
    lane.cycle.phase = 'idle';
    lane.cycle.refusal = null;
    this.openForNext(lane);
  }

  /** A barrier outcome, raised on the lane with the error's stable code (or `code` itself). */
  private barrierAlarm(lane: Lane, codeOrError: unknown, severity: 'info' | 'warning' | 'critical', message: string, details: Record<string, unknown>): void {
    const code = typeof codeOrError === 'string' ? codeOrError : isGatewayError(codeOrError) ? codeOrError.code : 'WF_BARRIER_COMMAND';
    const raised = { laneId: lane.config.id, code, message: `lane ${lane.config.id}: ${message}`, crossingId: null, atMs: this.options.clock.now(), severity, details: { barrierId: lane.barrierId, ...details } };
    // Kept with the cycle before the alarm's event stores the cycle (persist).
    if (code !== 'WF_BARRIER_CLOSED_AFTER_RETRY') lane.cycle.alarm = raised;
    this.alarm(raised.laneId, code, raised.message, null, raised.details, severity);
  }

  private barrierDriver(lane: Lane): BarrierDriver | null {
    const driver = lane.barrierId ? this.options.devices.driver(lane.barrierId) : undefined;
    return driver instanceof BarrierDriver ? driver : null;
  }

  /**
   * A supervisor opens or closes the barrier by hand (recorded, with reason). The driver's own
   * safety holds: a close with a vehicle on the loop or the photocell blocked is refused, and the
   * refusal is the answer. Resolves with the position the barrier confirmed.
   */
  async operateBarrier(laneId: string, command: 'open' | 'close', actor: Actor, reason: string): Promise<string> {
    const lane = this.lane(laneId);
    const driver = this.barrierDriver(lane);
    if (!driver) throw new WorkflowError(`lane ${laneId} has no barrier the gateway drives`);
    const before = driver.lastInputs()?.position ?? 'unknown';
    try {
      await driver[command]();
    } catch (error) {
      throw new WorkflowError(`barrier ${command} refused: ${(error as Error).message}`);
    }
    const after = command === 'open' ? 'open' : 'closed';
    this.onWorkflowEvent(laneId, { kind: 'operator', actor, action: 'barrier.manual', before, after, reason, crossingId: null });
    // A hand close ends the gateway's cycle, and so does a hand open after its close failed or was
    // refused: the supervisor keeps the arm up, the gateway does not close it when the lane clears.
    // A hand open while a released vehicle is on its way changes nothing: the cycle goes on.
    const { cycle } = lane;
    if (command === 'close' || cycle.phase === 'close-refused' || cycle.phase === 'close-failed') {
      cycle.command += 1; // a close or retry of the gateway's own still in flight is overtaken
      cycle.phase = 'idle';
      cycle.refusal = null;
      cycle.alarm = null;
    }
    return after;
  }

  private onHealth(laneId: string, deviceId: string, health: DriverHealth): void {
    if (health.state !== 'down') return;
    this.alarm(laneId, 'WF_DEVICE_DOWN', `lane ${laneId}: ${deviceId} is down (${health.lastError ?? 'no answer'}); the lane runs degraded, operators can enter what it would have read`, null, { deviceId });
  }

  private onWorkflowEvent(laneId: string, event: WorkflowEvent): void {
    if (event.kind === 'milestone' && event.milestone === 'released') {
      const lane = this.lane(laneId);
      lane.cycle.waiting += 1;
      this.openForNext(lane);
    }
    if (event.kind === 'completed') {
      if (event.outcome === 'completed') this.counts.completed += 1;
      else this.counts.abandoned += 1;
    }
    if (event.kind === 'alarm') {
      this.counts.alarms += 1;
      // In the journal too, as the gateway's own alarms are (Gateway.raiseAlarm): an integrator
      // reading it sees a barrier that failed to close, not only the console and the VMC.
      const severity = event.severity ?? 'warning';
      this.options.logger[severity === 'critical' ? 'error' : 'warn']({ laneId, alarm: event.alarm, severity, crossingId: event.crossingId }, event.message);
    }
    // An operator's step is written to the audit log in the same commit as its operator.action.
    const audit =
      event.kind === 'operator'
        ? this.options.gateway.audit.within({ actor: event.actor, action: event.action, laneId, crossingId: event.crossingId, before: event.before, after: event.after, reason: event.reason })
        : undefined;
    const lane = this.lanes.get(laneId);
    const queueShift = this.options.store ? this.queueShiftToStore(lane) : undefined;
    const within = this.options.store ? this.persist(this.options.store, laneId, event, queueShift, audit) : audit;
    for (const catalogueEvent of toCatalogueEvents(this.options.config.post.id, laneId, event)) {
      const stored = this.options.gateway.emit(catalogueEvent.type, catalogueEvent.laneId, catalogueEvent.data, catalogueEvent.subject, within);
      if (event.kind === 'operator') this.pendingRecords.add(stored);
      if (lane && queueShift) void stored.then(() => (lane.queueShiftStored = Math.max(lane.queueShiftStored, queueShift.version)), () => undefined);
      stored
        .catch((error: unknown) => {
          // The outbox has raised its own alarm (disk full, bound reached); count what was not stored.
          this.counts.notStored += 1;
          // The outbox logs its refusals once a minute with counts: no stack trace per event here.
          if (isOutboxRefusal(error)) this.options.logger.debug({ code: error.code, type: catalogueEvent.type }, 'workflow event not stored');
          else this.options.logger.error({ err: error, type: catalogueEvent.type }, 'workflow event not stored');
        })
        .finally(() => this.pendingRecords.delete(stored));
    }
  }

  /**
   * Resolves once every operator action taken so far is stored with its audit entry; rejects
   * (with the outbox's error) when one of them could not be: the lane API answers only then, so an
   * operator never sees "done" for an action the audit log does not hold.
   */
  async actionsRecorded(): Promise<void> {
    await Promise.all([...this.pendingRecords]);
  }

  /**
   * What an event changes of the lane, written in its transaction: the crossing as it is now (or
   * its row removed when it closed), the lane's barrier cycle, an arrival for the visit history,
   * a plate mismatch, the plates that left the lane lately (with an exit the exit camera read), the
   * weighbridge's queue-shift run (`queueShift`: after a weighing, until an event carrying it is stored).
   */
  private persist(store: LaneStore, laneId: string, event: WorkflowEvent, queueShift: QueueShiftToStore | undefined, next: WithinCommit | undefined): WithinCommit {
    const lane = this.lanes.get(laneId);
    const crossingId = event.kind === 'milestone' || event.kind === 'completed' ? event.crossing.crossingId : event.kind === 'alarm' || event.kind === 'operator' ? event.crossingId : null;
    const crossing = event.kind === 'milestone' || event.kind === 'completed' ? event.crossing : (lane?.workflow.open().find((c) => c.crossingId === crossingId) ?? null);
    const entryPlate = event.kind === 'alarm' && event.alarm === 'WF_PLATE_MISMATCH' ? event.details.entryPlate : undefined;
    const arrivedPlate = event.kind === 'milestone' && event.milestone === 'arrived' ? event.crossing.plate : null;
    // Only a lane with an exit camera has re-reads to ignore (a loop exit leaves no plate).
    const exits = event.kind === 'milestone' && event.milestone === 'exited' && lane?.hasExitCamera ? lane.workflow.recentExitPlates() : null;
    return store.within(
      crossing,
      {
        closed: event.kind === 'completed',
        ...(lane ? { cycle: { laneId, cycle: lane.cycle } } : {}),
        ...(arrivedPlate !== null && crossing ? { visit: { plate: arrivedPlate, atMs: crossing.wallMs.arrived ?? this.options.clock.now() } } : {}),
        ...(typeof entryPlate === 'string' ? { mismatch: entryPlate } : {}),
        ...(exits ? { exits: { laneId, plates: exits } } : {}),
        ...(queueShift ? { queueShift: { laneId, run: queueShift.run } } : {}),
      },
      next,
    );
  }

  /**
   * The lane's queue-shift run when a weighing has changed it since the last one stored (judged
   * before its weight was recorded, LaneWorkflow.weigh, so `vehicle.weighed` is the first to carry it).
   */
  private queueShiftToStore(lane: Lane | undefined): QueueShiftToStore | undefined {
    const current = lane?.workflow.queueShiftRun();
    return current !== undefined && current.version > (lane?.queueShiftStored ?? 0) ? current : undefined;
  }

  /** An alarm of a lane (every device is on one): published on that lane's topic. */
  private alarm(laneId: string, alarm: string, message: string, crossingId: string | null, details: Record<string, unknown>, severity: 'info' | 'warning' | 'critical' = 'warning'): void {
    this.onWorkflowEvent(laneId, { kind: 'alarm', alarm, message, crossingId, details, severity });
  }

  private refused(error: unknown): void {
    if (error instanceof WorkflowError) this.options.logger.warn({ err: error }, 'reading not applied to a crossing');
    else this.options.logger.error({ err: error }, 'reading failed in the lane workflow');
  }
}

/** A lane's queue-shift run to store with an event, and the weighings judged by then. */
type QueueShiftToStore = NonNullable<ReturnType<LaneWorkflow['queueShiftRun']>>;

/**
 * What a GW_ERR_BARRIER_UNSAFE refusal waits for, as the driver named it from the inputs it decided
 * on (`details.input`); the loop when it names none, as the driver counts a doubtful reading.
 */
function refusedInput(error: GatewayError): BarrierInput {
  const named = error.details?.input;
  return named === 'photocell' || named === 'line' ? named : 'loop';
}

const CAMERA_TYPES: Record<string, string> = { truck: 'truck', bus: 'bus', car: 'car', van: 'van', trailer: 'tractor-trailer', 'tractor-trailer': 'tractor-trailer' };
function vehicleTypeOf(cameraType: string | null): string {
  return (cameraType && CAMERA_TYPES[cameraType.toLowerCase()]) ?? 'unknown';
}
