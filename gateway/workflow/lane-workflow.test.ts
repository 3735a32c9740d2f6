import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { EventDraft } from '../../contract/envelope.js';
import type { Actor } from '../auth/roles.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { platesMatch } from '../../core/plates.js';
import { LaneStore } from './lane-store.js';
import { LaneWorkflow, type WorkflowEvent } from './lane-workflow.js';
import { toCatalogueEvents } from './workflow-events.js';
import { rulesRisk } from './rules-risk.js';

const MINUTE = 60_000;
const declaration = (declaredWeightKg: number, aeo = false) => ({ direction: 'import' as const, declaredWeightKg, documents: ['SAD-1'], aeo });

function lane(options: { watchlist?: string[]; random?: number; abandonAfterMs?: number; maxUnregistered?: number; weightToleranceShare?: number } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 10, 26, 6, 0, 0));
  const events: WorkflowEvent[] = [];
  const workflow = new LaneWorkflow({
    laneId: 'lane-1',
    clock,
    clockQuality: () => ({ synchronised: true, offsetMs: 0.3 }),
    emit: (event) => events.push(event),
    assessRisk: (crossing) => rulesRisk(crossing, { watchlist: options.watchlist ?? [], weightToleranceShare: 0.1, randomXrayShare: 0.1, random: () => options.random ?? 0.5 }),
    abandonAfterMs: options.abandonAfterMs ?? 12 * 60 * MINUTE,
    ...(options.maxUnregistered === undefined ? {} : { maxUnregistered: options.maxUnregistered }),
    ...(options.weightToleranceShare === undefined ? {} : { weightToleranceShare: options.weightToleranceShare }),
  });
  const kinds = () => events.map((e) => (e.kind === 'milestone' ? e.milestone : e.kind === 'alarm' ? `alarm:${e.alarm}` : e.kind));
  const completed = () => events.filter((e): e is Extract<WorkflowEvent, { kind: 'completed' }> => e.kind === 'completed');
  return { clock, events, workflow, kinds, completed };
}

const op = (id: string): Actor => ({ id, role: 'operator' });
const supervisor = (id: string): Actor => ({ id, role: 'supervisor' });

describe('lane workflow', () => {
  it('takes a green vehicle from arrival to exit with monotonic durations', async () => {
    const { clock, workflow, kinds, completed } = lane();
    const crossing = workflow.arrive('GE-123-AB');
    clock.advance(100 * MINUTE);
    workflow.register(crossing.crossingId, declaration(24_000));
    clock.advance(5 * MINUTE);
    await workflow.weigh(24_500);
    clock.advance(20 * MINUTE);
    workflow.exit('GE123AB');
    expect(kinds()).toEqual(['arrived', 'registered', 'weighed', 'riskAssessed', 'released', 'exited', 'completed']);
    expect(completed()[0]).toMatchObject({ outcome: 'completed', durations: { registrationSec: 6000, crossingSec: 7500 } });
    expect(completed()[0]!.crossing.risk).toMatchObject({ channel: 'green', modelVersion: 'rules' });
    expect(workflow.open()).toEqual([]);
  });

  it('holds at most maxUnregistered vehicles waiting to register: the oldest is abandoned, once, with its event', () => {
    const { clock, workflow, completed } = lane({ maxUnregistered: 3 });
    const registered = workflow.arrive('GE-100-AA');
    workflow.register(registered.crossingId, declaration(20_000));
    // Passing traffic read by the entry camera, never registered.
    const passing = ['AB001CD', 'AB002CD', 'AB003CD', 'AB004CD', 'AB005CD'].map((plate) => {
      clock.advance(MINUTE);
      return workflow.arrive(plate).crossingId;
    });
    expect(completed().map((c) => [c.crossing.crossingId, c.outcome])).toEqual([
      [passing[0], 'abandoned'],
      [passing[1], 'abandoned'],
    ]);
    // The registered one does not count and stays; the three newest wait.
    expect(workflow.open().map((c) => c.crossingId)).toEqual([registered.crossingId, ...passing.slice(2)]);
  });

  it('keeps crossing times right when the wall clock steps (NTP correction)', async () => {
    const { clock, workflow, completed } = lane();
    const crossing = workflow.arrive('AB123CD');
    clock.advance(30 * MINUTE);
    clock.stepWall(-45 * MINUTE); // the clock jumps back 45 min mid-crossing
    workflow.register(crossing.crossingId, declaration(20_000));
    clock.advance(30 * MINUTE);
    await workflow.weigh(20_100);
    workflow.exit('AB123CD');
    const done = completed()[0]!;
    expect(done.durations).toEqual({ registrationSec: 1800, crossingSec: 3600 });
    // The wall milestones show the step; the durations do not.
    expect(done.crossing.wallMs.exited! - done.crossing.wallMs.arrived!).toBe(15 * MINUTE);
  });

  it('sends a weight mismatch to X-ray and a watchlisted plate to X-ray then inspection', async () => {
    const { workflow, kinds, events } = lane({ watchlist: ['GE-1O8-A8'] });
    const orange = workflow.arrive('XY111ZZ');
    workflow.register(orange.crossingId, declaration(10_000));
    await workflow.weigh(14_000);
    expect(orange.state).toBe('scanning');
    workflow.scanCompleted(orange.crossingId, 'clear');
    expect(orange.state).toBe('released');
    const red = workflow.arrive('GE108A8'); // OCR read of a watchlisted plate
    workflow.register(red.crossingId, declaration(20_000));
    await workflow.weigh(20_000);
    expect(red.risk).toMatchObject({ channel: 'red', reasons: ['watchlist match'] });
    workflow.scanCompleted(red.crossingId, 'clear');
    expect(red.state).toBe('inspecting');
    workflow.inspectionCompleted(red.crossingId, 'irregularity');
    expect(kinds().filter((k) => k === 'inspected')).toHaveLength(1);
    expect(events.filter((e) => e.kind === 'milestone' && e.milestone === 'scanned')).toHaveLength(2);
  });

  it('an unread plate raises an alarm and waits for the operator, whose action needs a reason', () => {
    const { workflow, events, kinds } = lane();
    const crossing = workflow.arrive(null);
    expect(kinds()).toContain('alarm:WF_PLATE_UNREAD');
    expect(() => workflow.register(crossing.crossingId, declaration(1000))).toThrow('has no plate yet');
    expect(() => workflow.setPlate(crossing.crossingId, 'GE555XX', op('op-3'), ' ')).toThrow('needs a reason');
    workflow.setPlate(crossing.crossingId, 'GE555XX', op('op-3'), 'read from the documents');
    expect(events.at(-1)).toEqual({ kind: 'operator', actor: op('op-3'), action: 'crossing.plate', before: null, after: 'GE555XX', reason: 'read from the documents', crossingId: crossing.crossingId });
    workflow.register(crossing.crossingId, declaration(1000));
    expect(crossing.state).toBe('registered');
  });

  it('raises an alarm when the exit plate differs from the entry plate, and for an unknown exit', async () => {
    const { workflow, kinds } = lane();
    const crossing = workflow.arrive('AA111AA');
    workflow.register(crossing.crossingId, declaration(5000, true));
    await workflow.weigh(5000);
    workflow.exit('ZZ999ZZ');
    expect(kinds()).toContain('alarm:WF_PLATE_MISMATCH');
    expect(kinds().at(-1)).toBe('completed');
    expect(workflow.exit('QQ000QQ')).toBeNull();
    expect(kinds().at(-1)).toBe('alarm:WF_EXIT_UNKNOWN');
  });

  it('gives an exit read to the only released vehicle only when the plate is no other vehicle’s: a re-read of one that left, or one not released', async () => {
    const { clock, workflow, kinds, completed, events } = lane();
    const first = workflow.arrive('GE-101-AA');
    workflow.register(first.crossingId, declaration(20_000));
    await workflow.weigh(20_000);
    const second = workflow.arrive('GE-202-BB');
    workflow.register(second.crossingId, declaration(20_000));
    await workflow.weigh(20_000);
    const third = workflow.arrive('GE-303-CC');
    workflow.register(third.crossingId, declaration(20_000));
    expect([first.state, second.state, third.state]).toEqual(['released', 'released', 'registered']);

    clock.advance(MINUTE);
    workflow.exit('GE101AA');
    // The exit camera reads the same truck again seconds later: the second one is still at the barrier.
    clock.advance(3_000);
    expect(workflow.exit('GE101AA')).toBeNull();
    expect(second.state).toBe('released');
    expect(completed().map((c) => c.crossing.crossingId)).toEqual([first.crossingId]);
    expect(kinds().filter((k) => k.startsWith('alarm:'))).toEqual([]);

    // A vehicle not released drives out: it is reported, and not taken for the released one.
    clock.advance(MINUTE);
    expect(workflow.exit('GE303CC')).toBeNull();
    expect(second.state).toBe('released');
    expect(events.at(-1)).toMatchObject({ kind: 'alarm', alarm: 'WF_EXIT_UNKNOWN', crossingId: third.crossingId, details: { plate: 'GE303CC', state: 'registered' } });
    expect(completed()).toHaveLength(1);

    // A plate that is nobody's is still a misread of the only released vehicle.
    clock.advance(MINUTE);
    workflow.exit('ZZ999ZZ');
    expect(completed().map((c) => c.crossing.crossingId)).toEqual([first.crossingId, second.crossingId]);
    expect(kinds().at(-3)).toBe('alarm:WF_PLATE_MISMATCH');
  });

  it('closes a vehicle that left the queue as abandoned, after the timeout without progress', () => {
    const { clock, workflow, completed } = lane({ abandonAfterMs: 60 * MINUTE });
    const crossing = workflow.arrive('BB222BB');
    clock.advance(59 * MINUTE);
    workflow.register(crossing.crossingId, declaration(1000)); // progress re-arms the timer
    clock.advance(59 * MINUTE);
    expect(completed()).toHaveLength(0);
    clock.advance(MINUTE);
    expect(completed()[0]).toMatchObject({ outcome: 'abandoned', durations: { crossingSec: 7140, registrationSec: 3540 } });
    expect(workflow.open()).toEqual([]);
  });

  it('lets an operator release past a device that is down, recorded with the reason; refuses illegal steps', async () => {
    const { workflow, events } = lane({ random: 0 }); // random X-ray selection
    const crossing = workflow.arrive('CC333CC');
    await expect(workflow.weigh(1000)).rejects.toThrow('no registered vehicle');
    expect(events.at(-1)).toMatchObject({ kind: 'alarm', alarm: 'WF_WEIGHT_UNMATCHED' });
    workflow.register(crossing.crossingId, declaration(1000));
    await workflow.weigh(1000);
    expect(crossing.state).toBe('scanning');
    expect(() => workflow.inspectionCompleted(crossing.crossingId, 'cleared')).toThrow('not inspecting');
    workflow.forceRelease(crossing.crossingId, supervisor('sup-1'), 'scanner down, supervisor released');
    expect(crossing.state).toBe('released');
    expect(events.at(-2)).toMatchObject({ kind: 'operator', actor: supervisor('sup-1'), action: 'crossing.release', before: 'scanning', after: 'released', reason: 'scanner down, supervisor released' });
  });

  it('lets an operator override the channel with a reason, routing the vehicle again, recorded as an operator action', async () => {
    const { workflow, events } = lane();
    const crossing = workflow.arrive('GE-555-XY');
    workflow.register(crossing.crossingId, declaration(20_000));
    await workflow.weigh(20_100);
    expect(crossing.state).toBe('released');
    // Released vehicles are past overriding; a second one is caught before release by an override.
    expect(() => workflow.overrideChannel(crossing.crossingId, 'red', supervisor('sup-1'), 'tip-off')).toThrow(/only after the risk assessment and before release/);

    const second = lane({ random: 0.01 });
    const tipped = second.workflow.arrive('GE-556-XY');
    second.workflow.register(tipped.crossingId, declaration(20_000));
    await second.workflow.weigh(20_000);
    expect(tipped.state).toBe('scanning'); // random X-ray selection
    expect(() => second.workflow.overrideChannel(tipped.crossingId, 'red', supervisor('sup-2'), '  ')).toThrow('an operator action needs a reason');
    second.workflow.overrideChannel(tipped.crossingId, 'red', supervisor('sup-2'), 'intelligence tip-off');
    expect(tipped.state).toBe('inspecting');
    // The channel it already has, routed where it already is: refused, nothing recorded.
    expect(() => second.workflow.overrideChannel(tipped.crossingId, 'red', supervisor('sup-2'), 'again')).toThrow(/already on the red channel \(inspecting\)/);
    expect(tipped.risk?.channel).toBe('red');
    expect(tipped.risk?.reasons.at(-1)).toBe('supervisor sup-2 override: intelligence tip-off');
    expect(second.events.filter((e) => e.kind === 'operator')).toEqual([{ kind: 'operator', actor: supervisor('sup-2'), action: 'crossing.channel', before: 'green', after: 'red', reason: 'intelligence tip-off', crossingId: tipped.crossingId }]);
    second.workflow.overrideChannel(tipped.crossingId, 'green', supervisor('sup-3'), 'inspection waived by the chief');
    expect(tipped.state).toBe('released');
    expect(events.some((e) => e.kind === 'operator')).toBe(false);

    // The same channel with another route is an override: a green vehicle picked at random for the
    // scanner, released without its scan.
    const third = lane({ random: 0.01 });
    const picked = third.workflow.arrive('GE-557-XY');
    third.workflow.register(picked.crossingId, declaration(20_000));
    await third.workflow.weigh(20_000);
    expect(picked).toMatchObject({ state: 'scanning', risk: { channel: 'green' } });
    third.workflow.overrideChannel(picked.crossingId, 'green', supervisor('sup-1'), 'scanner queue too long');
    expect(picked.state).toBe('released');
    expect(third.events.filter((e) => e.kind === 'operator')).toMatchObject([{ action: 'crossing.channel', before: 'green', after: 'green' }]);
  });

  it('completes, once, a crossing restored with its exit stored but not its completion', async () => {
    const db = new Database(':memory:');
    const before = new ManualClock(Date.UTC(2026, 10, 26, 6, 0, 0));
    const beforeStore = new LaneStore(db, before);
    const options = { laneId: 'lane-1', clockQuality: () => ({ synchronised: true, offsetMs: 0.3 }), abandonAfterMs: 12 * 60 * MINUTE, assessRisk: () => ({ channel: 'green' as const, score: 0.1, modelVersion: 'rules', reasons: [], xrayRequested: false }) };
    // Each event is committed with the crossing as it is then (lane-store.ts); the process dies
    // after the exit's commit, before the completion's.
    const first = new LaneWorkflow({ ...options, clock: before, emit: (event) => event.kind === 'milestone' && beforeStore.within(event.crossing)({} as EventDraft, db) });
    const crossing = first.arrive('GE-123-AB');
    before.advance(30 * MINUTE);
    first.register(crossing.crossingId, declaration(20_000));
    await first.weigh(20_000);
    before.advance(10 * MINUTE);
    first.exit('GE123AB');

    const after = new ManualClock(before.now() + 5 * MINUTE);
    const events: WorkflowEvent[] = [];
    const restarted = new LaneWorkflow({ ...options, clock: after, emit: (event) => events.push(event) });
    for (const { crossing: open, lastWrittenWallMs } of new LaneStore(db, after).restoreCrossings().get('lane-1') ?? []) restarted.restore(open, lastWrittenWallMs);
    expect(events).toMatchObject([{ kind: 'completed', outcome: 'completed', crossing: { crossingId: crossing.crossingId, state: 'exited' }, durations: { registrationSec: 1800, crossingSec: 2400 } }]);
    expect(restarted.open()).toEqual([]);
    after.advance(13 * 60 * MINUTE);
    expect(events).toHaveLength(1);
  });

  it("takes the entry camera's re-read of a restored crossing for it while its arrival is under 5 minutes old, not one that arrived earlier", () => {
    const db = new Database(':memory:');
    const before = new ManualClock(Date.UTC(2026, 10, 26, 6, 0, 0));
    const beforeStore = new LaneStore(db, before);
    const options = { laneId: 'lane-1', clockQuality: () => ({ synchronised: true, offsetMs: 0.3 }), abandonAfterMs: 12 * 60 * MINUTE, assessRisk: () => ({ channel: 'green' as const, score: 0.1, modelVersion: 'rules', reasons: [], xrayRequested: false }) };
    const first = new LaneWorkflow({ ...options, clock: before, emit: (event) => event.kind === 'milestone' && beforeStore.within(event.crossing)({} as EventDraft, db) });
    const early = first.arrive('GE-100-AA');
    before.advance(6 * MINUTE);
    const recent = first.arrive('GE-200-BB');
    const unread = first.arrive(null);
    before.advance(MINUTE);

    const after = new ManualClock(before.now() + MINUTE);
    const events: WorkflowEvent[] = [];
    const restarted = new LaneWorkflow({ ...options, clock: after, emit: (event) => events.push(event) });
    for (const { crossing: open, lastWrittenWallMs } of new LaneStore(db, after).restoreCrossings().get('lane-1') ?? []) restarted.restore(open, lastWrittenWallMs);
    // Two minutes after its arrival, across the restart: the same vehicle.
    expect(restarted.arrive('GE2OO8B').crossingId).toBe(recent.crossingId);
    // Eight minutes after its arrival: another visit, as without a restart.
    expect(restarted.arrive('GE-100-AA').crossingId).not.toBe(early.crossingId);
    after.advance(3 * MINUTE + 1);
    expect(restarted.arrive('GE-200-BB').crossingId).not.toBe(recent.crossingId);
    expect(restarted.open().map((c) => c.crossingId)).toEqual([early.crossingId, recent.crossingId, unread.crossingId, expect.any(String), expect.any(String)]);
    restarted.stop();
  });

  it('keeps the latest overrides in the record of a vehicle whose channel is flipped again and again, so its completion stays storable', async () => {
    const { workflow, completed } = lane({ random: 0.01 });
    const crossing = workflow.arrive('GE-558-XY');
    workflow.register(crossing.crossingId, declaration(20_000));
    await workflow.weigh(20_000);
    const decided = [...(crossing.risk?.reasons ?? [])];
    for (let i = 1; i <= 300; i += 1) workflow.overrideChannel(crossing.crossingId, i % 2 === 1 ? 'red' : 'orange', supervisor('sup-1'), `${i}: ${'x'.repeat(490)}`);
    workflow.forceRelease(crossing.crossingId, supervisor('sup-1'), 'done');
    workflow.exit('GE558XY');
    const record = toCatalogueEvents('p1', 'lane-1', completed()[0]!)[0]!;
    expect(record.data).toMatchObject({ channel: 'orange' });
    const reasons = (record.data as { risk: { reasons: string[] } }).risk.reasons;
    expect(reasons.slice(0, decided.length)).toEqual(decided);
    expect(reasons.slice(decided.length).map((r) => r.slice(0, 26))).toEqual([296, 297, 298, 299, 300].map((i) => `supervisor sup-1 override: ${i}:`.slice(0, 26)));
    // Far under uplink.maxEventBytes (64 KiB by default).
    expect(JSON.stringify(record).length).toBeLessThan(8 * 1024);
  });

  it('matches plates tolerant of OCR confusions', () => {
    expect(platesMatch('GE-108-AB', 'ge1o8a8')).toBe(true);
    expect(platesMatch('55 SIS 01', '55515O1')).toBe(true);
    expect(platesMatch('AB123CD', 'AB123CE')).toBe(false);
  });
});

/** A lane watching for a shifted weighbridge queue (or not: null), and trucks registered one a minute. */
function shiftLane(weightToleranceShare: number | null = 0.1) {
  const { clock, events, workflow } = lane(weightToleranceShare === null ? {} : { weightToleranceShare });
  const register = (trucks: [plate: string, declaredWeightKg: number | null][]): string[] =>
    trucks.map(([plate, declaredWeightKg]) => {
      clock.advance(MINUTE);
      const crossing = workflow.arrive(plate);
      workflow.register(crossing.crossingId, { direction: 'import', declaredWeightKg, documents: ['SAD-1'], aeo: false });
      return crossing.crossingId;
    });
  const shiftAlarms = () => events.filter((e): e is Extract<WorkflowEvent, { kind: 'alarm' }> => e.kind === 'alarm' && e.alarm === 'WF_WEIGHT_QUEUE_SHIFT');
  return { clock, workflow, events, register, shiftAlarms };
}

describe('a weighbridge queue shifted by one place', () => {
  it('is reported from the second weight in a row that matched the next vehicle, on every one after, naming both', async () => {
    const { workflow, register, shiftAlarms, events } = shiftLane();
    const [first, second, third, fourth] = register([
      ['GE100AA', 12_000],
      ['GE200BB', 24_000],
      ['GE300CC', 36_000],
      ['GE400DD', 18_000],
      ['GE500EE', 30_000],
    ]);
    // GE100AA turned back unseen: the platform weighs the others, each exactly as declared.
    await workflow.weigh(24_000);
    expect(shiftAlarms()).toEqual([]);
    await workflow.weigh(36_000);
    expect(shiftAlarms()).toHaveLength(1);
    expect(shiftAlarms()[0]).toMatchObject({
      crossingId: second,
      details: {
        run: 2,
        weighing: { crossingId: second, plate: 'GE200BB', weightKg: 36_000, declaredWeightKg: 24_000, nextCrossingId: third, nextPlate: 'GE300CC', nextDeclaredWeightKg: 36_000 },
        previous: { crossingId: first, plate: 'GE100AA', weightKg: 24_000, declaredWeightKg: 12_000, nextCrossingId: second, nextDeclaredWeightKg: 24_000 },
      },
    });
    expect(shiftAlarms()[0]!.message).toBe(
      "lane lane-1: 2 weights in a row matched the next registered vehicle's declaration, not their own (GE200BB weighed 36000 kg, declared 24000 kg; GE300CC declared 36000 kg): a vehicle may have left the weighbridge queue; check the queue and the channels of the vehicles weighed since",
    );
    // Raised after the weight was recorded on the crossing it names.
    const alarmAt = events.indexOf(shiftAlarms()[0]!);
    expect(events.slice(0, alarmAt).some((e) => e.kind === 'milestone' && e.milestone === 'weighed' && e.crossing.crossingId === second)).toBe(true);
    await workflow.weigh(18_000);
    expect(shiftAlarms().map((a) => [a.crossingId, a.details.run])).toEqual([
      [second, 2],
      [third, 3],
    ]);
    // The operator sent the last one's truck round again: its own weight, and the run is over.
    await workflow.weigh(18_000);
    expect(shiftAlarms()).toHaveLength(2);
    expect(workflow.get(fourth as string).weightKg).toBe(18_000);
  });

  it('is not a single weight that matches the next declaration (an under-declared load), nor two apart', async () => {
    const { workflow, register, shiftAlarms } = shiftLane();
    register([
      ['GE100AA', 12_000],
      ['GE200BB', 24_000],
      ['GE300CC', 30_000],
      ['GE400DD', 16_000],
      ['GE500EE', 20_000],
    ]);
    await workflow.weigh(24_100); // GE100AA's load is twice its declaration: by chance GE200BB's
    await workflow.weigh(24_200); // GE200BB as declared: the run is broken
    await workflow.weigh(16_050); // GE300CC matches GE400DD's declaration: one again
    await workflow.weigh(15_900); // GE400DD as declared
    expect(shiftAlarms()).toEqual([]);
  });

  it('carries the run over a weighing that cannot tell (a declaration missing, or the weight matching both)', async () => {
    const { workflow, register, shiftAlarms } = shiftLane();
    const [first, , , fourth] = register([
      ['GE100AA', 12_000],
      ['GE200BB', 24_000],
      ['GE300CC', null],
      ['GE400DD', 40_000],
      ['GE500EE', 30_000],
      ['GE600FF', 30_500],
      ['GE700GG', 16_000],
    ]);
    // GE100AA left: each weight goes to the vehicle registered before the one weighed.
    await workflow.weigh(24_000); // GE100AA, matches GE200BB's: one
    await workflow.weigh(31_000); // GE200BB, GE300CC declared no weight: nothing to judge by
    await workflow.weigh(40_000); // GE300CC declared none either
    await workflow.weigh(30_000); // GE400DD, matches GE500EE's: two
    expect(shiftAlarms().map((a) => [a.crossingId, a.details.run, (a.details.previous as { crossingId: string }).crossingId])).toEqual([[fourth, 2, first]]);
    await workflow.weigh(30_500); // GE500EE: its own declaration and GE600FF's alike
    await workflow.weigh(16_000); // GE600FF, matches GE700GG's: three
    expect(shiftAlarms().map((a) => a.details.run)).toEqual([2, 3]);
  });

  it('ends the run when a vehicle is weighed by hand or abandoned between two weights (the queue was put right)', async () => {
    const byHand = shiftLane();
    const [, second] = byHand.register([
      ['GE100AA', 12_000],
      ['GE200BB', 24_000],
      ['GE300CC', 36_000],
      ['GE400DD', 18_000],
      ['GE500EE', 30_000],
    ]);
    await byHand.workflow.weigh(24_000); // GE100AA matches GE200BB's by chance
    await byHand.workflow.weighManually(second as string, 24_100, { id: 'op-1', role: 'operator' }, 'sent back onto the platform');
    await byHand.workflow.weigh(36_000); // GE300CC as declared
    await byHand.workflow.weigh(30_000); // GE400DD matches GE500EE's by chance: one, not two
    expect(byHand.shiftAlarms()).toEqual([]);

    const abandoned = shiftLane();
    abandoned.register([
      ['GE100AA', 12_000],
      ['GE200BB', 24_000],
    ]);
    await abandoned.workflow.weigh(24_000); // GE100AA matches GE200BB's by chance
    abandoned.clock.advance(12 * 60 * MINUTE); // GE200BB never comes: abandoned
    expect(abandoned.workflow.open()).toEqual([]);
    abandoned.register([
      ['GE300CC', 18_000],
      ['GE400DD', 30_000],
    ]);
    await abandoned.workflow.weigh(30_000); // GE300CC matches GE400DD's by chance: one, not two
    expect(abandoned.shiftAlarms()).toEqual([]);
  });

  it('is not watched without a tolerance (a lane workflow built without the post configuration)', async () => {
    const { workflow, register, shiftAlarms } = shiftLane(null);
    register([
      ['GE100AA', 12_000],
      ['GE200BB', 24_000],
      ['GE300CC', 36_000],
    ]);
    await workflow.weigh(24_000);
    await workflow.weigh(36_000);
    expect(shiftAlarms()).toEqual([]);
  });
});
