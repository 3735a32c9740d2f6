/**
 * Trucks ride out a gateway restart: while the lane API refuses connections the traffic retries
 * (with backoff, on the device clock) instead of dropping the truck, and a registration whose
 * answer was lost is found on the gateway instead of sent again, so every truck is registered
 * exactly once. The lane API is an in-process stand-in that matches registrations the way the
 * gateway's workflow does (by plate among arrived vehicles, else an unread one, else a new
 * crossing), so a blind second POST would show as a second crossing. Time is a manual clock.
 */
import { describe, expect, it } from 'vitest';
import { platesMatch } from '../core/plates.js';
import { ManualClock } from '../test/helpers/manual-clock.js';
import type { CrossingView, LaneDesk, OpenCrossingView } from './gateway-client.js';
import { TrafficGenerator, type SimulatedLane } from './traffic.js';
import { seededRandom } from './truck-profiles.js';

const MIN = 60_000;

interface StandInCrossing extends OpenCrossingView {
  laneId: string;
  /** Plates this crossing was registered under (once, if all is well). */
  registrations: number;
}

/** A gateway that is down during `outages` (monotonic ms) and loses the answer of every `loseEvery`-th POST. */
class RestartingGateway implements LaneDesk {
  readonly crossings: StandInCrossing[] = [];
  refused = 0;
  lostAnswers = 0;
  private posts = 0;
  private nextId = 1;

  constructor(
    private readonly clock: ManualClock,
    private readonly outages: [from: number, to: number][],
    private readonly loseEvery: number,
  ) {}

  private isDown(): boolean {
    const now = this.clock.monotonic();
    return this.outages.some(([from, to]) => now >= from && now < to);
  }

  /** As fetch fails when nothing listens on the port. */
  private gate(): void {
    if (!this.isDown()) return;
    this.refused += 1;
    throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:18080'), { code: 'ECONNREFUSED' }) });
  }

  /** After the work is done, the connection breaks before the answer (the gateway killed mid-request). */
  private answer<T>(value: T): T {
    this.posts += 1;
    if (this.posts % this.loseEvery === 0) {
      this.lostAnswers += 1;
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    }
    return value;
  }

  /** The entry camera's read reaches the gateway only while it runs. */
  arrive(laneId: string, plate: string | null): void {
    if (this.isDown()) return;
    this.crossings.push({ crossingId: `c-${this.nextId++}`, laneId, state: 'arrived', channel: null, plate, direction: null, declaredWeightKg: null, registrations: 0 });
  }

  private view(c: StandInCrossing): CrossingView {
    return { crossingId: c.crossingId, state: c.state, channel: c.channel };
  }

  register(laneId: string, request: Record<string, unknown>): Promise<CrossingView> {
    this.gate();
    const plate = request.plate as string;
    const arrived = this.crossings.filter((c) => c.laneId === laneId && c.state === 'arrived');
    let crossing = arrived.find((c) => c.plate !== null && platesMatch(c.plate, plate)) ?? arrived.find((c) => c.plate === null);
    if (!crossing) {
      crossing = { crossingId: `c-${this.nextId++}`, laneId, state: 'arrived', channel: null, plate, direction: null, declaredWeightKg: null, registrations: 0 };
      this.crossings.push(crossing);
    }
    crossing.plate ??= plate;
    crossing.state = 'registered';
    crossing.direction = request.direction as string;
    crossing.declaredWeightKg = request.declaredWeightKg as number;
    crossing.registrations += 1;
    // Every third registered vehicle goes to the inspection bay, the others are released.
    crossing.channel = Number(crossing.crossingId.slice(2)) % 3 === 0 ? 'red' : 'green';
    return Promise.resolve(this.answer(this.view(crossing)));
  }

  crossing(laneId: string, crossingId: string): Promise<CrossingView | null> {
    this.gate();
    const crossing = this.crossings.find((c) => c.crossingId === crossingId);
    if (!crossing) return Promise.resolve(null);
    // Weighed and assessed at once: the channel decides.
    if (crossing.state === 'registered' || crossing.state === 'weighed') crossing.state = crossing.channel === 'red' ? 'inspecting' : 'released';
    return Promise.resolve(this.view(crossing));
  }

  inspection(_laneId: string, crossingId: string): Promise<void> {
    this.gate();
    const crossing = this.crossings.find((c) => c.crossingId === crossingId);
    // As the workflow refuses a step out of order (409): a blind retry of a done inspection fails here.
    if (crossing?.state !== 'inspecting') return Promise.reject(new Error(`409 crossing ${crossingId} is not inspecting`));
    crossing.state = 'released';
    return Promise.resolve(this.answer(undefined));
  }

  release(): Promise<void> {
    return Promise.reject(new Error('no release expected: every lane here has no scanner channel'));
  }

  openCrossings(laneId: string): Promise<OpenCrossingView[]> {
    this.gate();
    return Promise.resolve(this.crossings.filter((c) => c.laneId === laneId).map(({ crossingId, state, channel, plate, direction, declaredWeightKg, registeredAt }) => ({ crossingId, state, channel, plate, direction, declaredWeightKg, registeredAt })));
  }
}

function lanes(gateway: RestartingGateway): SimulatedLane[] {
  return ['lane-1', 'lane-2'].map((id) => ({
    id,
    directions: ['import', 'export'],
    camera: { showPlate: (event) => gateway.arrive(id, event.plate === '' ? null : event.plate) },
  }));
}

describe('traffic through gateway restarts', () => {
  it('sends a truck for each crossing carried over a restart, from its step on, and weighs the registered ones first, in their order, with their own weights', async () => {
    const clock = new ManualClock();
    const gateway = new RestartingGateway(clock, [], 1_000_000);
    const carried: Omit<StandInCrossing, 'crossingId' | 'laneId'>[] = [
      { state: 'arrived', plate: 'AA-101-AA', channel: null, direction: null, declaredWeightKg: null, registrations: 0 },
      { state: 'arrived', plate: null, channel: null, direction: null, declaredWeightKg: null, registrations: 0 },
      { state: 'registered', plate: 'BB-202-BB', channel: 'green', direction: 'import', declaredWeightKg: 31_070, registrations: 1, registeredAt: '2026-12-01T10:05:00.000Z' },
      { state: 'registered', plate: 'FF-606-FF', channel: 'green', direction: 'export', declaredWeightKg: 22_050, registrations: 1, registeredAt: '2026-12-01T10:02:00.000Z' },
      { state: 'weighed', plate: 'CC-303-CC', channel: 'green', direction: 'export', declaredWeightKg: 12_040, registrations: 1 },
      { state: 'inspecting', plate: 'DD-404-DD', channel: 'red', direction: 'import', declaredWeightKg: 18_010, registrations: 1 },
      { state: 'released', plate: 'EE-505-EE', channel: 'green', direction: 'import', declaredWeightKg: 9_030, registrations: 1 },
    ];
    gateway.crossings.push(...carried.map((c, i) => ({ ...c, crossingId: `carried-${i}`, laneId: 'lane-1' })));
    const stableLoads: number[] = [];
    const exits: string[] = [];
    const lane: SimulatedLane = {
      id: 'lane-1',
      directions: ['import', 'export'],
      camera: { showPlate: (event) => gateway.arrive('lane-1', event.plate === '' ? null : event.plate) },
      indicator: { setLoad: (kg, motion) => (motion || kg === 0 ? undefined : stableLoads.push(kg)) },
      exitCamera: { showPlate: (event) => exits.push(event.plate) },
    };
    const errors: Error[] = [];
    const traffic = new TrafficGenerator([lane], { clock, deviceClock: clock, intervalSec: 600, desk: gateway, random: seededRandom(5), onError: (error) => errors.push(error) });
    traffic.start();
    await clock.runFor(3 * 60 * MIN);
    traffic.stopArrivals();
    await clock.runFor(12 * 60 * MIN);

    expect(errors).toEqual([]);
    // One truck for each carried-over crossing with a plate; the unread arrival is the next unread truck's.
    expect(traffic.adopted).toBe(6);
    expect(traffic.trucks).toBeGreaterThan(traffic.adopted + 5);
    expect(traffic.failed).toBe(0);
    expect(traffic.exited).toBe(traffic.trucks);
    // The registered ones are on the platform before any new truck, in the order they registered
    // (the order the lane weighs in, not the list's), each weighed with its own weight.
    expect(stableLoads.slice(0, 2)).toEqual([22_050, 31_070]);
    // Each left past the exit camera; the one that had only arrived registered once, under its plate.
    for (const plate of ['AA-101-AA', 'BB-202-BB', 'CC-303-CC', 'DD-404-DD', 'EE-505-EE', 'FF-606-FF']) expect(exits, plate).toContain(plate);
    expect(gateway.crossings.find((c) => c.crossingId === 'carried-0')).toMatchObject({ state: 'released', registrations: 1, direction: expect.any(String) as unknown });
    expect(gateway.crossings.find((c) => c.plate === 'DD-404-DD')?.state).toBe('released');
    // No crossing registered twice: every new truck has one of its own, beside the six carried over.
    const registered = gateway.crossings.filter((c) => c.registrations > 0);
    expect(registered.every((c) => c.registrations === 1)).toBe(true);
    expect(registered).toHaveLength(traffic.trucks - traffic.adopted + 6);
  });

  it('retries a lane API that refuses connections and registers every truck exactly once, also when answers are lost', async () => {
    const clock = new ManualClock();
    // The gateway restarts every half hour and takes 90 s to come back; every 4th POST's answer is lost.
    const outages = Array.from({ length: 16 }, (_, i): [number, number] => [(i + 1) * 30 * MIN, (i + 1) * 30 * MIN + 90_000]);
    const gateway = new RestartingGateway(clock, outages, 4);
    const errors: Error[] = [];
    const traffic = new TrafficGenerator(lanes(gateway), {
      clock,
      deviceClock: clock,
      intervalSec: 600,
      desk: gateway,
      random: seededRandom(9),
      onError: (error) => errors.push(error),
    });
    traffic.start();
    await clock.runFor(4 * 60 * MIN);
    traffic.stopArrivals();
    await clock.runFor(12 * 60 * MIN);

    expect(errors).toEqual([]);
    expect(traffic.trucks).toBeGreaterThan(30);
    expect(traffic.failed).toBe(0);
    expect(traffic.exited).toBe(traffic.trucks);
    expect(traffic.registered).toBe(traffic.trucks);
    // The outages and the lost answers did happen, and were ridden out.
    expect(gateway.refused).toBeGreaterThan(0);
    expect(gateway.lostAnswers).toBeGreaterThan(5);
    expect(traffic.deskRetries).toBeGreaterThan(0);
    expect(traffic.registrationsRecovered).toBeGreaterThan(0);
    // Exactly one registration per truck: no crossing registered twice, no truck with two crossings.
    const registered = gateway.crossings.filter((c) => c.registrations > 0);
    expect(registered.every((c) => c.registrations === 1)).toBe(true);
    expect(registered).toHaveLength(traffic.trucks);
    expect(registered.every((c) => c.state === 'released')).toBe(true);
    expect(new Set(registered.map((c) => c.plate)).size).toBe(traffic.trucks);
  });

  it("adopts none of its own trucks' crossings when the lane API answers only after they arrived", async () => {
    const clock = new ManualClock();
    const gateway = new RestartingGateway(clock, [], 1_000_000);
    // The gateway reads the cameras from the start but its lane API answers only after 2 minutes
    // (a `run` started after the `sim`): the list it then gives holds this traffic's own arrivals.
    const list = gateway.openCrossings.bind(gateway);
    gateway.openCrossings = (laneId) => (clock.monotonic() < 2 * MIN ? Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })) : list(laneId));
    const errors: Error[] = [];
    const traffic = new TrafficGenerator(lanes(gateway), { clock, deviceClock: clock, intervalSec: 10, desk: gateway, random: seededRandom(11), onError: (error) => errors.push(error) });
    traffic.start();
    await clock.runFor(3 * MIN);
    // Trucks arrived before the list came, and none of them was taken for a carried-over crossing.
    expect(gateway.crossings.length).toBeGreaterThan(4);
    expect(traffic.adopted).toBe(0);
    traffic.stopArrivals();
    await clock.runFor(12 * 60 * MIN);
    expect(errors).toEqual([]);
    expect(traffic.exited).toBe(traffic.trucks);
    const registered = gateway.crossings.filter((c) => c.registrations > 0);
    expect(registered.every((c) => c.registrations === 1)).toBe(true);
    expect(registered).toHaveLength(traffic.trucks);
  });

  it('gives up on a truck when the lane API stays down longer than its patience, and says so', async () => {
    const clock = new ManualClock();
    const gateway = new RestartingGateway(clock, [[0, Number.MAX_SAFE_INTEGER]], 1_000_000);
    const errors: Error[] = [];
    const [lane] = lanes(gateway) as [SimulatedLane];
    const traffic = new TrafficGenerator([lane], { clock, deviceClock: clock, intervalSec: 1e9, desk: gateway, random: seededRandom(3), deskPatienceMs: 60_000, onError: (error) => errors.push(error) });
    traffic.start();
    const truck = traffic.truck(lane);
    await clock.runFor(10 * 60 * MIN);
    await truck;
    expect(traffic.failed).toBe(1);
    // The start's look for carried-over crossings gave up too, and said so; it is no truck.
    expect(errors.map((e) => e.message).sort()).toEqual([
      expect.stringMatching(/^open crossings of lane-1: the lane API did not answer for 60 s \(fetch failed: connect ECONNREFUSED/),
      expect.stringMatching(/^registration of .* on lane-1: the lane API did not answer for 60 s \(fetch failed: connect ECONNREFUSED/),
    ]);
    // Each of the two retried with backoff (½ s doubling to 8 s) for its minute, not hammered.
    expect(gateway.refused).toBeGreaterThan(2 * 5);
    expect(gateway.refused).toBeLessThan(2 * 20);
    traffic.stop();
  });
});
