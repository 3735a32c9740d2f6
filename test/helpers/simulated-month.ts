/**
 * A month (or any number of days) of one post's crossings, made in seconds: the simulator's
 * trucks (sim/truck-profiles.ts: who they are, what they declare and carry, and the hidden truth of
 * whether the load is irregular) go through the gateway's own lane workflow and risk assessor (the
 * model in the given slot, the rules behind it) on a manual clock, and every workflow event is
 * mapped to the contract's events by the gateway's own builder (workflow-events.ts), as the
 * outbox would send them to the VMC.
 *
 * What it leaves out, to stay fast: the device drivers, the lane API and the outbox (the 4-lane day
 * test runs those, a day in ~15 s; a month of them would take minutes). The devices' readings
 * are handed to the workflow directly: the entry camera's plate and confidence (3 % unread, entered
 * by the officer), the platform's weight, the scanner's result, the inspector's outcome.
 *
 * The outcomes come from the simulator's hidden truth: a concealed object shows on the X-ray image
 * for 80 % of irregular loads (and dense honest goods make 10 % of the rest look suspect), and the
 * inspection finds every irregular load it is sent. So a model trained on these crossings learns
 * the simulator's formula, through what a post would see of it.
 */
import { DIRECTIONS } from '../../config/schema.js';
import { createEventFactory, type CloudEvent } from '../../contract/envelope.js';
import type { ModelSlot } from '../../edge-models/model-slot.js';
import type { RiskModel } from '../../edge-models/risk-model.js';
import { createLogger } from '../../gateway/logger.js';
import { LaneWorkflow, type Crossing, type RiskDecision, type WorkflowEvent } from '../../gateway/workflow/lane-workflow.js';
import { RiskAssessor } from '../../gateway/workflow/risk-assessor.js';
import { MemoryVisitHistory } from './memory-visit-history.js';
import { toCatalogueEvents } from '../../gateway/workflow/workflow-events.js';
import { randomTruck, seededRandom, type TruckProfile } from '../../sim/truck-profiles.js';
import { ManualClock } from './manual-clock.js';

const MIN = 60_000;
const OFFICER = { id: 'officer-1', role: 'operator' as const };

export interface MonthOptions {
  postId: string;
  /** First arrival not before this (UTC ms). */
  startMs: number;
  days: number;
  /** Mean trucks a day over the whole post. */
  perDay: number;
  lanes?: number;
  seed: number;
  /** The model that decides (an empty slot: the rules decide). */
  riskSlot: ModelSlot<RiskModel>;
  watchlist: string[];
  randomXrayShare: number;
  utcOffsetMin?: number;
  /** Told of every decision as it is made. */
  onDecision?: (crossingId: string, decision: RiskDecision) => void;
}

export interface MonthResult {
  /** Every event, in the order the gateway would have sent them, each with its seq. */
  events: CloudEvent[];
  trucks: number;
  irregular: number;
  completed: number;
}

/** A time-ordered queue of the steps still to happen (stable for steps at the same time). */
class Agenda {
  private readonly steps: { atMs: number; order: number; run: () => Promise<void> | void }[] = [];
  private order = 0;

  add(atMs: number, run: () => Promise<void> | void): void {
    const step = { atMs, order: (this.order += 1), run };
    let i = this.steps.length;
    while (i > 0 && (this.steps[i - 1] as { atMs: number }).atMs > atMs) i -= 1;
    this.steps.splice(i, 0, step);
  }

  next(): { atMs: number; run: () => Promise<void> | void } | undefined {
    return this.steps.shift();
  }
}

export async function simulateMonth(options: MonthOptions): Promise<MonthResult> {
  const random = seededRandom(options.seed);
  const ruleRandom = seededRandom(options.seed + 1);
  const clock = new ManualClock(options.startMs);
  const factory = createEventFactory(options.postId, clock);
  const events: CloudEvent[] = [];
  let seq = 0;
  const emitOn = (laneId: string) => (event: WorkflowEvent): void => {
    for (const mapped of toCatalogueEvents(options.postId, laneId, event)) {
      // A copy as the outbox would store it: the crossing object goes on changing.
      const data = structuredClone(mapped.data);
      events.push({ ...factory.create(mapped.type, mapped.laneId, data, mapped.subject), seq: (seq += 1) });
    }
  };
  const history = new MemoryVisitHistory();
  const assessor = new RiskAssessor({
    slot: options.riskSlot,
    rules: { watchlist: options.watchlist, weightToleranceShare: 0.1, randomXrayShare: options.randomXrayShare, random: ruleRandom },
    history,
    utcOffsetMin: options.utcOffsetMin ?? 0,
    logger: createLogger('silent'),
    onModelFailure: () => undefined,
  });
  const lanes = Array.from(
    { length: options.lanes ?? 4 },
    (_, i) =>
      new LaneWorkflow({
        laneId: `lane-${i + 1}`,
        clock,
        clockQuality: () => ({ synchronised: true, offsetMs: 0.3 }),
        emit: emitOn(`lane-${i + 1}`),
        assessRisk: async (crossing) => {
          const decision = await assessor.assess(crossing, clock.now());
          options.onDecision?.(crossing.crossingId, decision);
          return decision;
        },
        abandonAfterMs: 12 * 60 * MIN,
      }),
  );
  // Capped at 5 means: an uncapped tail would now and then keep a truck waiting past the workflow's 12 h abandonment.
  const exponential = (meanMin: number): number => Math.min(5, -Math.log(1 - random())) * meanMin * MIN;
  const agenda = new Agenda();
  const result = { trucks: 0, irregular: 0, completed: 0 };

  const truck = (profile: TruckProfile, lane: LaneWorkflow): void => {
    const unread = random() < 0.03;
    const crossing = unread ? lane.arrive(null, profile.vehicleType, null) : lane.arrive(profile.plate, profile.vehicleType, profile.plateConfidence);
    if (!unread) history.recordArrival(profile.plate, clock.now());
    // Queue and paperwork; the weighbridge 3 minutes after the booth, so weights keep the booth's order.
    agenda.add(clock.now() + 20 * MIN + exponential(80), () => {
      if (unread) {
        lane.setPlate(crossing.crossingId, profile.plate, OFFICER, 'plate read at the booth');
        history.recordArrival(profile.plate, crossing.wallMs.arrived ?? clock.now());
      }
      crossing.vehicleType = profile.vehicleType;
      lane.register(crossing.crossingId, {
        direction: profile.direction,
        declaredWeightKg: profile.declaredWeightKg,
        documents: [`SAD-${crossing.crossingId}`],
        aeo: profile.aeo,
        previousVisits30d: profile.visits30d,
      });
      agenda.add(clock.now() + 3 * MIN, async () => {
        await lane.weigh(profile.actualWeightKg);
        afterDecision(profile, lane, crossing);
      });
    });
  };

  const afterDecision = (profile: TruckProfile, lane: LaneWorkflow, crossing: Crossing): void => {
    if (crossing.state === 'scanning') {
      agenda.add(clock.now() + 15 * MIN + exponential(20), () => {
        const concealed = profile.irregular && random() < 0.8;
        lane.scanCompleted(crossing.crossingId, concealed || random() < 0.1 ? 'suspect' : 'clear', 'scanner-1');
        afterDecision(profile, lane, crossing);
      });
    } else if (crossing.state === 'inspecting') {
      agenda.add(clock.now() + 40 * MIN + exponential(30), () => {
        lane.inspectionCompleted(crossing.crossingId, profile.irregular ? 'irregularity' : 'cleared');
        afterDecision(profile, lane, crossing);
      });
    } else if (crossing.state === 'released') {
      agenda.add(clock.now() + 5 * MIN + exponential(10), () => {
        if (lane.exit(profile.plate)) result.completed += 1;
      });
    }
  };

  const endMs = options.startMs + options.days * 86_400_000;
  const meanGapMin = (24 * 60) / options.perDay;
  // Arrivals are a Poisson process; each schedules the next, so the agenda holds only what is pending.
  const arrive = (): void => {
    const profile = randomTruck({ random, directions: DIRECTIONS, arrivalWallMs: clock.now(), watchlist: options.watchlist });
    result.trucks += 1;
    if (profile.irregular) result.irregular += 1;
    truck(profile, lanes[result.trucks % lanes.length] as LaneWorkflow);
    const nextMs = clock.now() + exponential(meanGapMin);
    if (nextMs < endMs) agenda.add(nextMs, arrive);
  };
  agenda.add(options.startMs + exponential(meanGapMin), arrive);
  for (let step = agenda.next(); step; step = agenda.next()) {
    clock.advance(Math.max(0, Math.round(step.atMs) - clock.now()));
    await step.run();
  }
  for (const lane of lanes) lane.stop();
  return { events, ...result };
}
