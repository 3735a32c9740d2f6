/**
 * A synthetic source of realistic crossings for the demo, until the simulated devices and the lane
 * workflow take over. Vehicles arrive per lane as a Poisson process; each gets a direction its lane
 * handles, a channel (green ~78%, orange ~11%, red ~11%), X-ray in ~27% of crossings, and
 * milestone times whose averages are of the order the VMC dashboards show (registration ~100 min,
 * border crossing ~135 min). Everything runs on the injected clock, so `--speed` compresses a day.
 */
import type { LaneConfig } from '../../config/schema.js';
import type { Clock, ClockQualityProbe } from '../../core/clock.js';
import { TimerGroup } from '../../core/timer-group.js';
import type { EventData, EventType, Milestone } from '../../contract/catalogue.js';

export type EmitFn = <T extends EventType>(type: T, laneId: string, data: EventData<T>, subject?: string) => Promise<unknown>;

export interface SyntheticTrafficOptions {
  postId: string;
  lanes: LaneConfig[];
  clock: Clock;
  clockQuality: ClockQualityProbe;
  emit: EmitFn;
  /** Mean arrivals per lane per hour of clock time. */
  vehiclesPerHourPerLane: number;
  random?: () => number;
  /** Called when an emit fails (the event was not stored); the demo logs it. */
  onEmitError?: (error: unknown) => void;
}

const CHANNEL_SHARES = [
  ['green', 0.78],
  ['orange', 0.11],
  ['red', 0.11],
] as const;
/** P(X-ray | channel), chosen so that the overall share is ~27%. */
const XRAY_BY_CHANNEL = { green: 0.135, orange: 0.6, red: 0.9 } as const;
const VEHICLE_TYPES = [
  ['tractor-trailer', 0.6],
  ['truck', 0.3],
  ['van', 0.1],
] as const;

interface PlannedCrossing {
  crossingId: string;
  laneId: string;
  plate: string;
  vehicleType: 'tractor-trailer' | 'truck' | 'van';
  direction: LaneConfig['directions'][number];
  channel: 'green' | 'orange' | 'red';
  xray: boolean;
  declaredWeightKg: number;
  weightKg: number;
  aeo: boolean;
  /** Minutes after arrival of each milestone reached. */
  offsetsMin: Partial<Record<Milestone, number>>;
}

export class SyntheticTraffic {
  private readonly options: SyntheticTrafficOptions;
  private readonly random: () => number;
  private readonly timers: TimerGroup;
  private counter = 0;
  /** Crossings started and completed, for the demo's summary line. */
  started = 0;
  completed = 0;

  constructor(options: SyntheticTrafficOptions) {
    this.options = options;
    this.random = options.random ?? Math.random;
    this.timers = new TimerGroup(options.clock);
  }

  start(): void {
    this.timers.open();
    for (const lane of this.options.lanes) this.scheduleArrival(lane);
  }

  stop(): void {
    this.timers.clear();
  }

  private later(fn: () => void, ms: number): void {
    this.timers.after(ms, fn);
  }

  private scheduleArrival(lane: LaneConfig): void {
    const meanGapMs = 3_600_000 / this.options.vehiclesPerHourPerLane;
    this.later(() => {
      this.runCrossing(this.plan(lane));
      this.scheduleArrival(lane);
    }, -Math.log(1 - this.random()) * meanGapMs);
  }

  /** Emits each milestone at its time, then `crossing.completed` at exit. */
  private runCrossing(crossing: PlannedCrossing): void {
    this.started += 1;
    const { clock } = this.options;
    const arrivedMono = clock.monotonic();
    const stamps: Partial<Record<Milestone, string>> = {};
    const emit = <T extends EventType>(type: T, data: EventData<T>): void => {
      this.options.emit(type, crossing.laneId, data, crossing.crossingId).catch((error: unknown) => this.options.onEmitError?.(error));
    };
    const base = (): { crossingId: string; clock: ReturnType<ClockQualityProbe>; sinceArrivalSec: number } => ({
      crossingId: crossing.crossingId,
      clock: this.options.clockQuality(),
      sinceArrivalSec: round((clock.monotonic() - arrivedMono) / 1000),
    });
    const at = (milestone: Milestone, fn: () => void): void => {
      const offset = crossing.offsetsMin[milestone];
      if (offset === undefined) return;
      this.later(() => {
        stamps[milestone] = new Date(clock.now()).toISOString();
        fn();
      }, offset * 60_000);
    };
    stamps.arrived = new Date(clock.now()).toISOString();
    const plateRead = { text: crossing.plate, raw: crossing.plate.replace('-', ' '), confidence: round(0.85 + this.random() * 0.15, 3) };
    emit('vehicle.arrived', { ...base(), plate: plateRead, vehicleType: crossing.vehicleType, detectedBy: 'synthetic' });
    at('registered', () =>
      emit('vehicle.registered', {
        ...base(),
        direction: crossing.direction,
        declaredWeightKg: crossing.declaredWeightKg,
        documents: [`SAD-${crossing.crossingId.slice(-6)}`],
        aeo: crossing.aeo,
      }),
    );
    at('weighed', () => emit('vehicle.weighed', { ...base(), weightKg: crossing.weightKg, deviceId: null }));
    const score = crossing.channel === 'green' ? 0.1 + this.random() * 0.3 : crossing.channel === 'orange' ? 0.5 + this.random() * 0.2 : 0.75 + this.random() * 0.25;
    const reasons = crossing.channel === 'green' ? ['low risk profile'] : ['declared vs measured weight', 'visit frequency'];
    at('riskAssessed', () =>
      emit('risk.assessed', { ...base(), channel: crossing.channel, score: round(score, 3), modelVersion: 'synthetic', reasons, xrayRequested: crossing.xray }),
    );
    at('scanned', () => emit('xray.scanned', { ...base(), scannerId: `${crossing.laneId}-xray`, result: crossing.channel === 'red' ? 'suspect' : 'clear', imageRef: null, screening: null }));
    at('inspected', () => emit('inspection.completed', { ...base(), outcome: this.random() < 0.2 ? 'irregularity' : 'cleared' }));
    at('released', () => emit('vehicle.released', { ...base() }));
    at('exited', () => {
      const crossingSec = round((clock.monotonic() - arrivedMono) / 1000);
      emit('vehicle.exited', { ...base(), plate: plateRead });
      emit('crossing.completed', {
        crossingId: crossing.crossingId,
        postId: this.options.postId,
        laneId: crossing.laneId,
        direction: crossing.direction,
        plate: crossing.plate,
        vehicleType: crossing.vehicleType,
        channel: crossing.channel,
        xray: crossing.xray,
        milestones: { ...stamps },
        durations: { registrationSec: round((crossing.offsetsMin.registered ?? 0) * 60), crossingSec },
        weightKg: crossing.weightKg,
        risk: { score: round(score, 3), modelVersion: 'synthetic', reasons },
        xrayScreening: null,
        clock: this.options.clockQuality(),
        outcome: 'completed',
      });
      this.completed += 1;
    });
  }

  private plan(lane: LaneConfig): PlannedCrossing {
    this.counter += 1;
    const channel = pick(CHANNEL_SHARES, this.random);
    const xray = this.random() < XRAY_BY_CHANNEL[channel];
    const declaredWeightKg = Math.round(8_000 + this.random() * 32_000);
    // Registration dominates the crossing time (document checks, queue): lognormal around 100 min.
    const registered = 100 * Math.exp(0.45 * gaussian(this.random) - 0.1);
    const weighed = registered + 3 + this.random() * 6;
    const riskAssessed = weighed + 0.5 + this.random();
    const scanned = xray ? riskAssessed + 10 + this.random() * 20 : undefined;
    const inspected = channel === 'red' ? (scanned ?? riskAssessed) + 30 + this.random() * 60 : undefined;
    const released = (inspected ?? scanned ?? riskAssessed) + 2 + this.random() * 8;
    const exited = released + 3 + this.random() * 10;
    return {
      crossingId: `${this.options.postId}-${lane.id}-${Date.now().toString(36)}-${this.counter}`,
      laneId: lane.id,
      plate: randomPlate(this.random),
      vehicleType: pick(VEHICLE_TYPES, this.random),
      direction: lane.directions[Math.floor(this.random() * lane.directions.length)] ?? 'import',
      channel,
      xray,
      declaredWeightKg,
      weightKg: Math.round(declaredWeightKg * (0.97 + this.random() * 0.08)),
      aeo: this.random() < 0.15,
      offsetsMin: { registered, weighed, riskAssessed, scanned, inspected, released, exited },
    };
  }
}

function pick<T extends string>(table: readonly (readonly [T, number])[], random: () => number): T {
  let roll = random();
  for (const [value, share] of table) {
    roll -= share;
    if (roll < 0) return value;
  }
  return (table[table.length - 1] as readonly [T, number])[0];
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function randomPlate(random: () => number): string {
  const letter = (): string => String.fromCharCode(65 + Math.floor(random() * 26));
  const digits = String(Math.floor(random() * 1000)).padStart(3, '0');
  return `${letter()}${letter()}-${digits}-${letter()}${letter()}`;
}

function round(value: number, decimals = 1): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor;
}
