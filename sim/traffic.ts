/**
 * The simulator's traffic: trucks arrive at each lane (a Poisson process on the traffic clock),
 * are read by the entry camera (sometimes misread or unreadable), queue for registration (the
 * registration system posts their declaration to the gateway's lane API), cross the weighbridge,
 * follow the channel the gateway gives them — the scanner (a concealed object in the image when the
 * load is irregular), the inspection bay (the inspector reports the outcome) — and leave through the
 * barrier past the exit camera once the gateway has opened it.
 *
 * Two clocks: waiting (queues, inspections) runs on the traffic clock, which the demo runs fast;
 * what a device must see in real time (a load settling on the platform, a vehicle on the loop)
 * runs on the device clock. The durations are chosen so that registration averages ≈ 100 min and
 * the whole crossing ≈ 135 min, as the VMC dashboards show.
 *
 * Trucks ride out a gateway restart as a real registration system and real inspectors do: a lane
 * API that does not answer (connection refused, lost answer, 5xx) is retried with capped backoff
 * and jitter on the device clock, for up to `deskPatienceMs`; a request whose answer was lost is
 * first looked up (did it take effect?) so a registration is never made twice.
 *
 * They also ride out a restart of the simulator beside the gateway (the demo started again on its
 * data): the lanes carry their open crossings over, and at start the traffic sends a truck for
 * each, from the crossing's step on (`adoptOpenCrossings`). Without one, nothing moved those
 * crossings on, and the registered ones among them took the new trucks' weights (a lane weighs the
 * vehicle registered first), each later truck then weighed with the next one's.
 */
import { backoffDelay, type BackoffPolicy } from '../core/backoff.js';
import type { Clock } from '../core/clock.js';
import { platesMatch } from '../core/plates.js';
import type { SimulatedCamera } from './anpr/simulated-camera.js';
import type { SimulatedBarrier } from './barrier/simulated-barrier.js';
import { deskUnavailable, type CrossingView, type LaneDesk, type OpenCrossingView } from './gateway-client.js';
import { randomTruck, type SimDirection, type TruckProfile } from './truck-profiles.js';
import type { SimulatedIndicator } from './weighbridge/simulated-indicator.js';
import type { SimulatedScanner } from './xray/simulated-scanner.js';

/** A lane's devices as the traffic uses them (the simulated devices, or a test's stand-ins). */
export interface SimulatedLane {
  id: string;
  directions: readonly SimDirection[];
  camera?: Pick<SimulatedCamera, 'showPlate'>;
  exitCamera?: Pick<SimulatedCamera, 'showPlate'>;
  indicator?: Pick<SimulatedIndicator, 'setLoad'>;
  barrier?: SimulatedBarrier;
  scanner?: Pick<SimulatedScanner, 'started' | 'completed'>;
}

export interface TrafficOptions {
  /** Clock of arrivals and waiting times. */
  clock: Clock;
  /** Clock of what devices must see in real time. */
  deviceClock: Clock;
  /** Mean seconds (traffic clock) between trucks on a lane. */
  intervalSec: number;
  /** The gateway's lane API; without one, trucks only pass the devices. */
  desk: LaneDesk | null;
  /** The day's trucks: arrivals, profiles, durations, misreads. */
  random?: () => number;
  /**
   * The jitter of lane API retries, kept apart from `random` so that an outage changes when the
   * trucks it caught retry, not which trucks come after it. Default: `random`.
   */
  retryRandom?: () => number;
  misreadShare?: number;
  unreadableShare?: number;
  watchlist?: readonly string[];
  /** Scan image size (the screening model was calibrated on 256×128). */
  image?: { width: number; height: number };
  /** How long (device clock) a truck keeps retrying a lane API that does not answer; default 3 min. */
  deskPatienceMs?: number;
  onError?: (error: Error) => void;
}

/** Retries of the lane API: from ½ s, doubling, at most 8 s apart (jittered, see core/backoff). */
const DESK_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 8000 };
const DESK_PATIENCE_MS = 3 * 60_000;

const CONFUSIONS: Record<string, string> = { '0': 'O', O: '0', '1': 'I', I: '1', '8': 'B', B: '8', '5': 'S', S: '5' };
const MIN = 60_000;
const CLOSED = 'closed';
/** States in which the truck waits for the gateway (its weight taken, its channel being chosen). */
const WITH_THE_GATEWAY = new Set(['registered', 'weighed', 'risk-assessed']);
/** States past registration a carried-over crossing is picked up from. */
const ADOPTED_STATES = new Set([...WITH_THE_GATEWAY, 'scanning', 'inspecting', 'released']);

class Stopped extends Error {}

/** A queue of one: the weighbridge platform and the barrier take one truck at a time. */
class Resource {
  private tail: Promise<void> = Promise.resolve();
  use<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

export class TrafficGenerator {
  trucks = 0;
  registered = 0;
  exited = 0;
  failed = 0;
  /** Lane API calls retried because the gateway did not answer. */
  deskRetries = 0;
  /** Registrations whose answer was lost, found on the gateway instead of sent again. */
  registrationsRecovered = 0;
  /** Trucks sent at start for crossings the gateway carried over a restart. */
  adopted = 0;
  /**
   * Per lane, the plates this traffic's own trucks showed before the lane's open crossings were
   * listed (null once listed): a gateway that came up after the simulator lists their arrivals
   * too, and those have their trucks already.
   */
  private readonly ownPlates = new Map<string, string[] | null>();
  private stopped = true;
  /** Crossings registered by a truck still at the post: a lost registration is never matched to one of them. */
  private readonly claimed = new Set<string>();
  private arriving = false;
  private readonly pending = new Set<{ cancel: () => void }>();
  private readonly platforms = new Map<string, Resource>();
  private readonly barriers = new Map<string, Resource>();
  private readonly tailgate = new Set<string>();

  constructor(
    private readonly lanes: SimulatedLane[],
    private readonly options: TrafficOptions,
  ) {
    for (const lane of lanes) {
      this.platforms.set(lane.id, new Resource());
      this.barriers.set(lane.id, new Resource());
    }
  }

  start(): void {
    this.stopped = false;
    this.arriving = true;
    for (const lane of this.lanes) {
      void this.adoptOpenCrossings(lane);
      void this.arrivals(lane);
    }
  }

  /** No more arrivals; trucks already at the post carry on. */
  stopArrivals(): void {
    this.arriving = false;
  }

  stop(): void {
    this.stopped = true;
    for (const waiter of this.pending) waiter.cancel();
    this.pending.clear();
  }

  /** The next truck through this lane's barrier brings a second vehicle in the same cycle. */
  tailgateNext(laneId: string): void {
    this.tailgate.add(laneId);
  }

  private random(): number {
    return (this.options.random ?? Math.random)();
  }

  /** Waits `ms` on a clock; rejects with Stopped when the traffic stops. */
  private wait(clock: Clock, ms: number): Promise<void> {
    if (this.stopped) return Promise.reject(new Stopped());
    return new Promise((resolve, reject) => {
      const waiter = {
        cancel: () => {
          clock.clearTimeout(timer);
          reject(new Stopped());
        },
      };
      const timer = clock.setTimeout(() => {
        this.pending.delete(waiter);
        resolve();
      }, ms);
      this.pending.add(waiter);
    });
  }

  private exponentialMs(meanMin: number): number {
    return -Math.log(1 - this.random()) * meanMin * MIN;
  }

  private async arrivals(lane: SimulatedLane): Promise<void> {
    try {
      for (;;) {
        await this.wait(this.options.clock, Math.max(1000, -Math.log(1 - this.random()) * this.options.intervalSec * 1000));
        if (!this.arriving) return;
        void this.truck(lane);
      }
    } catch (error) {
      if (!(error instanceof Stopped)) this.options.onError?.(error as Error);
    }
  }

  /** One truck, from the entry camera to the exit camera. */
  async truck(lane: SimulatedLane): Promise<void> {
    this.trucks += 1;
    const profile = this.drawTruck(lane);
    this.ownPlates.get(lane.id)?.push(profile.plate);
    try {
      this.showEntry(lane, profile);
    } catch (error) {
      this.failed += 1;
      this.options.onError?.(error as Error);
      return;
    }
    await this.journey(lane, profile, null);
  }

  /** The next truck on `lane`, arriving now; `plate` when it is a vehicle the gateway already knows. */
  private drawTruck(lane: SimulatedLane, plate?: string): TruckProfile {
    return randomTruck({ random: () => this.random(), directions: lane.directions, arrivalWallMs: this.options.clock.now(), watchlist: this.options.watchlist ?? [], ...(plate === undefined ? {} : { plate }) });
  }

  /**
   * A truck for each crossing the gateway holds open on `lane` at start (carried over a restart;
   * none on a first start), from its crossing's step on: one that arrived registers, one that
   * registered is weighed at its declared weight, one being assessed, scanned or inspected waits
   * for the gateway or is scanned or inspected, and a released one drives to the barrier. The
   * registered ones drive onto the platform before any new truck can (a new one queues for 20
   * minutes of traffic time first), so each is weighed with its own weight. A crossing without a
   * plate that has not registered gets none: the next registration on the lane takes it, as at a
   * real post.
   */
  async adoptOpenCrossings(lane: SimulatedLane): Promise<void> {
    const desk = this.options.desk;
    const list = desk?.openCrossings?.bind(desk);
    if (!desk || !list) return;
    this.ownPlates.set(lane.id, []);
    let listed: OpenCrossingView[];
    let own: string[] = [];
    try {
      listed = await this.withDesk(`open crossings of ${lane.id}`, () => list(lane.id));
    } catch (error) {
      if (!(error instanceof Stopped)) this.options.onError?.(error as Error);
      return;
    } finally {
      own = this.ownPlates.get(lane.id) ?? [];
      this.ownPlates.set(lane.id, null);
    }
    // Not the arrivals of trucks this traffic sent meanwhile (OCR-tolerant, as the gateway matches).
    const open = listed.filter((c) => c.plate === null || !own.some((plate) => platesMatch(plate, c.plate as string)));
    // The lane weighs the vehicle registered first: the registered ones drive onto the platform in that order.
    const toWeigh = open.filter((c) => c.state === 'registered').sort((a, b) => Date.parse(a.registeredAt ?? '') - Date.parse(b.registeredAt ?? '') || 0);
    for (const crossing of [...toWeigh, ...open.filter((c) => c.state !== 'registered')]) {
      if (crossing.plate === null || (crossing.state !== 'arrived' && !ADOPTED_STATES.has(crossing.state))) continue;
      const drawn = this.drawTruck(lane, crossing.plate);
      const direction = lane.directions.find((d) => d === crossing.direction) ?? drawn.direction;
      const declaredWeightKg = crossing.declaredWeightKg ?? drawn.declaredWeightKg;
      const profile: TruckProfile = { ...drawn, direction, declaredWeightKg, actualWeightKg: crossing.declaredWeightKg ?? drawn.actualWeightKg };
      this.trucks += 1;
      this.adopted += 1;
      if (crossing.state === 'arrived') {
        void this.journey(lane, profile, null);
      } else {
        this.claimed.add(crossing.crossingId);
        void this.journey(lane, profile, crossing);
      }
    }
  }

  /**
   * A truck's way through the post from the queue for registration, or from the step of
   * `registeredAs` (a crossing carried over a restart) on.
   */
  private async journey(lane: SimulatedLane, profile: TruckProfile, registeredAs: CrossingView | null): Promise<void> {
    let crossing = registeredAs;
    const fromTheQueue = registeredAs === null;
    try {
      const desk = this.options.desk;
      if (fromTheQueue) {
        // Queue, paperwork and the registration booth.
        await this.wait(this.options.clock, 20 * MIN + this.exponentialMs(80));
        crossing = desk ? await this.register(desk, lane, profile) : null;
      }
      if (fromTheQueue || crossing?.state === 'registered') {
        await this.wait(this.options.clock, 3 * MIN);
        await this.weigh(lane, profile, crossing);
      }
      if (!desk || !crossing) return;
      let view = crossing;
      if (fromTheQueue || WITH_THE_GATEWAY.has(view.state)) view = await this.until(desk, lane, crossing, (state) => !WITH_THE_GATEWAY.has(state));
      if (view.state === 'scanning') {
        await this.wait(this.options.clock, 15 * MIN + this.exponentialMs(20));
        await this.scan(desk, lane, profile, crossing);
        view = await this.until(desk, lane, crossing, (state) => state !== 'scanning');
      }
      if (view.state === 'inspecting') {
        const { crossingId } = crossing;
        await this.wait(this.options.clock, 40 * MIN + this.exponentialMs(30));
        await this.withDesk(
          `inspection of ${crossingId}`,
          () => desk.inspection(lane.id, crossingId, profile.irregular ? 'irregularity' : 'cleared'),
          () => this.movedOn(desk, lane.id, crossingId, 'inspecting'),
        );
        view = await this.until(desk, lane, crossing, (state) => state !== 'inspecting');
      }
      await this.wait(this.options.clock, 5 * MIN + this.exponentialMs(10));
      await this.leave(lane, profile);
    } catch (error) {
      if (error instanceof Stopped) return;
      this.failed += 1;
      this.options.onError?.(error as Error);
    } finally {
      if (crossing) this.claimed.delete(crossing.crossingId);
    }
  }

  /**
   * A lane API call that rides out a gateway restart: a call the gateway could not answer
   * (`deskUnavailable`) is retried with capped, jittered backoff on the device clock, for up to
   * `deskPatienceMs`; any other failure is the gateway's refusal and ends the call. Once an answer
   * may have been lost, `settled` is asked before each retry whether the call took effect after
   * all; its `{ value }` ends the call with that value.
   */
  private async withDesk<T>(what: string, call: () => Promise<T>, settled?: () => Promise<{ value: T } | null>): Promise<T> {
    const clock = this.options.deviceClock;
    const patienceMs = this.options.deskPatienceMs ?? DESK_PATIENCE_MS;
    const started = clock.monotonic();
    let maybeApplied = false;
    for (let attempt = 0; ; attempt += 1) {
      try {
        if (maybeApplied && settled) {
          const done = await settled();
          if (done) return done.value;
        }
        return await call();
      } catch (error) {
        const unavailable = deskUnavailable(error);
        if (!unavailable) throw error;
        maybeApplied ||= unavailable.maybeApplied;
        if (clock.monotonic() - started >= patienceMs) {
          throw new Error(`${what}: the lane API did not answer for ${Math.round(patienceMs / 1000)} s (${unavailable.message})`, { cause: error });
        }
        this.deskRetries += 1;
        await this.wait(clock, backoffDelay(attempt, DESK_BACKOFF, this.options.retryRandom ?? (() => this.random())));
      }
    }
  }

  /** `{ value: undefined }` once the crossing has left `state` (the step was done), else null. */
  private async movedOn(desk: LaneDesk, laneId: string, crossingId: string, state: string): Promise<{ value: undefined } | null> {
    const view = await desk.crossing(laneId, crossingId);
    return view === null || view.state !== state ? { value: undefined } : null;
  }

  private showEntry(lane: SimulatedLane, profile: TruckProfile): void {
    if (!lane.camera) return;
    const roll = this.random();
    const unreadable = this.options.unreadableShare ?? 0.03;
    const misread = this.options.misreadShare ?? 0.05;
    const vehicleType = profile.vehicleType === 'van' ? 'Van' : 'Truck';
    if (roll < unreadable) lane.camera.showPlate({ plate: '', likelihood: 0.1, country: 'GE', vehicleType });
    else if (roll < unreadable + misread) lane.camera.showPlate({ plate: this.misread(profile.plate), likelihood: 0.62, country: 'GE', vehicleType });
    else lane.camera.showPlate({ plate: profile.plate, likelihood: profile.plateConfidence, country: 'GE', vehicleType });
  }

  /**
   * The registration system posts the declaration, retried while the gateway does not answer. A
   * POST whose answer was lost may have registered the truck: the gateway matches a registration
   * by plate among *arrived* vehicles only, so sending it again would register another vehicle or
   * open a second crossing. Before such a retry the lane's open crossings are searched for this
   * truck's registration (same plate, OCR-tolerant as the gateway matches, same declaration,
   * past `arrived`, not another truck's).
   */
  private async register(desk: LaneDesk, lane: SimulatedLane, profile: TruckProfile): Promise<CrossingView> {
    const request = {
      plate: profile.plate,
      vehicleType: profile.vehicleType,
      direction: profile.direction,
      declaredWeightKg: profile.declaredWeightKg,
      documents: [`SAD-${this.trucks}`],
      aeo: profile.aeo,
      previousVisits30d: profile.visits30d,
    };
    const lookUp = desk.openCrossings?.bind(desk);
    const found = lookUp
      ? async (): Promise<{ value: CrossingView } | null> => {
          const mine = (await lookUp(lane.id)).find(
            (c) =>
              c.state !== 'arrived' &&
              !this.claimed.has(c.crossingId) &&
              c.plate !== null &&
              platesMatch(c.plate, profile.plate) &&
              c.direction === profile.direction &&
              c.declaredWeightKg === profile.declaredWeightKg,
          );
          if (!mine) return null;
          this.registrationsRecovered += 1;
          return { value: mine };
        }
      : undefined;
    const view = await this.withDesk(`registration of ${profile.plate} on ${lane.id}`, () => desk.register(lane.id, request), found);
    this.claimed.add(view.crossingId);
    this.registered += 1;
    return view;
  }

  /** The truck drives onto the platform, settles until the gateway has its weight, and drives off. */
  private weigh(lane: SimulatedLane, profile: TruckProfile, crossing: CrossingView | null): Promise<void> {
    const indicator = lane.indicator;
    if (!indicator) return Promise.resolve();
    return (this.platforms.get(lane.id) as Resource).use(async () => {
      const device = this.options.deviceClock;
      indicator.setLoad(Math.round(profile.actualWeightKg * 0.6), true);
      await this.wait(device, 300);
      indicator.setLoad(profile.actualWeightKg, false);
      // Until the gateway has taken the weight (at most 8 s); unregistered, 3 s on the platform.
      const desk = this.options.desk;
      const limitMs = crossing && desk ? 8000 : 3250;
      for (let waited = 0; waited < limitMs; waited += 250) {
        await this.wait(device, 250);
        if (!crossing || !desk) continue;
        const view = await this.withDesk(`crossing ${crossing.crossingId}`, () => desk.crossing(lane.id, crossing.crossingId));
        if (!view || view.state !== 'registered') break;
      }
      indicator.setLoad(0, false);
      await this.wait(device, 300);
    });
  }

  private async scan(desk: LaneDesk, lane: SimulatedLane, profile: TruckProfile, crossing: CrossingView): Promise<void> {
    const scanner = lane.scanner ?? this.lanes.find((l) => l.scanner)?.scanner;
    if (!scanner) {
      const { crossingId } = crossing;
      await this.withDesk(
        `release of ${crossingId}`,
        () => desk.release(lane.id, crossingId, 'no scanner at this post: released by the officer'),
        () => this.movedOn(desk, lane.id, crossingId, 'scanning'),
      );
      return;
    }
    const scanId = `scan-${crossing.crossingId}`;
    scanner.started(scanId, profile.plate);
    await this.wait(this.options.deviceClock, 500);
    const size = this.options.image ?? { width: 256, height: 128 };
    // Most, not all, irregular loads hide something the image shows.
    scanner.completed(scanId, profile.plate, { ...size, concealed: profile.irregular && this.random() < 0.8 });
  }

  /** Polls the crossing until `done(state)`, at most once a traffic minute and at least every 2 s. */
  private async until(desk: LaneDesk, lane: SimulatedLane, crossing: CrossingView, done: (state: string) => boolean): Promise<CrossingView> {
    for (;;) {
      const view = (await this.withDesk(`crossing ${crossing.crossingId}`, () => desk.crossing(lane.id, crossing.crossingId))) ?? { ...crossing, state: CLOSED };
      if (done(view.state)) return view;
      await this.wait(this.options.deviceClock, 250);
    }
  }

  /** Waits for the barrier the gateway opened, crosses the loop past the exit camera. */
  private leave(lane: SimulatedLane, profile: TruckProfile): Promise<void> {
    const barrier = lane.barrier;
    if (!barrier) {
      lane.exitCamera?.showPlate({ plate: profile.plate, likelihood: 0.95, country: 'GE' });
      this.exited += 1;
      return Promise.resolve();
    }
    return (this.barriers.get(lane.id) as Resource).use(async () => {
      const device = this.options.deviceClock;
      for (let waited = 0; barrier.armPosition !== 'open' && waited < 20_000; waited += 100) await this.wait(device, 100);
      const tailgate = this.tailgate.delete(lane.id);
      for (const [index, plate] of (tailgate ? [profile.plate, `TG-${this.trucks}`] : [profile.plate]).entries()) {
        barrier.vehiclePresent = true;
        await this.wait(device, 500);
        if (index === 0) lane.exitCamera?.showPlate({ plate, likelihood: 0.95, country: 'GE' });
        await this.wait(device, 700);
        barrier.vehiclePresent = false;
        await this.wait(device, 300);
      }
      this.exited += 1;
      for (let waited = 0; barrier.armPosition !== 'closed' && waited < 5000; waited += 100) await this.wait(device, 100);
    });
  }

  /** An OCR confusion (0/O, 1/I, 8/B, 5/S) where the plate has a confusable character. */
  private misread(plate: string): string {
    const index = [...plate].findIndex((c) => c in CONFUSIONS);
    return index < 0 ? plate.replace('-', '') : plate.slice(0, index) + CONFUSIONS[plate[index] as string] + plate.slice(index + 1);
  }
}
