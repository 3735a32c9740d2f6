/**
 * The post workflow on the manual clock: the barrier cycle (a close refused for safety is retried
 * on the reading that shows the loop and the photocell clear; every outcome is a lane alarm with
 * its own code), the lane of every alarm and operator action, and what detected each arrival.
 *
 * The barrier is a stand-in with the driver's contract (a close reads the inputs fresh, emits
 * them when they changed, refuses on a vehicle or a blocked photocell, and otherwise waits for
 * the test to confirm or fail it); test/barrier-retry.test.ts runs the real driver against
 * pymodbus.
 */
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../config/load-config.js';
import type { BarrierConfig } from '../../config/schema.js';
import { GatewayError } from '../../core/errors.js';
import { BarrierDriver, type BarrierInputs, type BarrierReading } from '../../drivers/barrier/barrier-driver.js';
import type { DriverHealth } from '../../drivers/driver.js';
import type { ModelSlot } from '../../edge-models/model-slot.js';
import type { XrayScreeningModel } from '../../edge-models/xray-screening.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import type { Actor } from '../auth/roles.js';
import type { DeviceReading, HealthListener, ReadingListener } from '../devices/device-manager.js';
import type { PostWorkflowOptions } from './post-workflow.js';
import { PostWorkflow, RESTORED_OPEN_CONFIRM_MS } from './post-workflow.js';
import type { RiskAssessor } from './risk-assessor.js';
import type { EventDraft } from '../../contract/envelope.js';
import { LaneStore } from './lane-store.js';
import { LaneConsole } from './lane-console.js';

const config = parseConfigText(`
version: 1
post: { id: p1 }
lanes:
  - id: lane-1
    devices:
      - { id: bar-1, driver: modbus-tcp, connection: { host: 127.0.0.1, port: 1 } }
  - id: lane-2
    devices:
      - { id: cam-2, driver: onvif, role: entry, connection: { url: "http://127.0.0.1:1/onvif", username: a, password: b } }
      - { id: scale-2, driver: sma, connection: { host: 127.0.0.1, port: 1 } }
uplink: { brokers: ["mqtt://127.0.0.1:1"] }
`);

const SUPERVISOR: Actor = { id: 'sup-1', role: 'supervisor' };
const DECLARATION = { direction: 'import' as const, declaredWeightKg: 20_000, documents: ['SAD-1'], aeo: false };
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Emitted {
  type: string;
  laneId: string;
  subject: string | undefined;
  data: Record<string, unknown>;
}

/** The device manager's listeners, fed by the test (and by the stand-in barrier's own reads). */
class Feed {
  readonly readings: ReadingListener[] = [];
  readonly healthListeners: HealthListener[] = [];
  barrier: StandInBarrier | null = null;
  onReadings(listener: ReadingListener): void {
    this.readings.push(listener);
  }
  onHealthChanges(listener: HealthListener): void {
    this.healthListeners.push(listener);
  }
  driver(id: string): BarrierDriver | undefined {
    return this.barrier?.id === id ? this.barrier : undefined;
  }
  read(laneId: string, role: 'entry' | 'exit' | 'lane', reading: DeviceReading): void {
    for (const listener of this.readings) listener(laneId, role, reading);
  }
}

/**
 * The barrier driver's contract without a transport. `set` changes the inputs and emits them, as
 * a poll would; a close reads them fresh (`beforeCloseRead` moves them first, as the world may)
 * and refuses like the driver; open and accepted closes wait in `pending` for the test.
 */
class StandInBarrier extends BarrierDriver {
  state: BarrierInputs = { position: 'closed', vehiclePresent: false, photocellBlocked: false };
  readonly pending: { command: 'open' | 'close'; confirm: () => void; fail: (error: Error) => void }[] = [];
  beforeCloseRead: Partial<BarrierInputs> | null = null;
  /** A serial line that missed a reply lately: the driver refuses a close until it answers in step. */
  lineOutOfStep = false;
  closes = 0;

  constructor(
    private readonly feed: Feed,
    private readonly clock: ManualClock,
  ) {
    super(config.lanes[0]!.devices[0] as BarrierConfig, { clock, logger: pino({ level: 'silent' }) });
  }

  override lastInputs(): BarrierInputs {
    return { ...this.state };
  }

  /** The inputs change and a poll reads them. */
  set(change: Partial<BarrierInputs>): void {
    this.state = { ...this.state, ...change };
    this.feed.read('lane-1', 'lane', { type: 'inputs.changed', deviceId: this.id, atMs: this.clock.now(), ...this.state } satisfies BarrierReading);
  }

  override open(): Promise<void> {
    // Like the driver: an arm already there is confirmed by its limit switch.
    return this.state.position === 'open' ? Promise.resolve() : this.awaitTest('open');
  }

  override async close(): Promise<void> {
    this.closes += 1;
    await Promise.resolve(); // the fresh read is a Modbus request: its answer comes later
    if (this.beforeCloseRead) {
      this.set(this.beforeCloseRead);
      this.beforeCloseRead = null;
    }
    if (this.state.position === 'closed') return;
    if (this.lineOutOfStep && !this.state.vehiclePresent && !this.state.photocellBlocked) {
      throw new GatewayError('GW_ERR_BARRIER_UNSAFE', `${this.id}: refusing to close: the serial line missed a reply lately (1 of 3 replies in a row since), so a late reply may still be taken for a fresh one`, { details: { input: 'line' } });
    }
    if (this.state.vehiclePresent || this.state.photocellBlocked) {
      // As the driver: the message says why, `details.input` what the refusal waits for.
      const input = this.state.vehiclePresent ? 'loop' : 'photocell';
      throw new GatewayError('GW_ERR_BARRIER_UNSAFE', `${this.id}: refusing to close: ${input === 'loop' ? 'a vehicle is on the loop' : 'the safety photocell is blocked'}`, { details: { input } });
    }
    return this.awaitTest('close');
  }

  /** Confirms a pending command (the oldest by default): the arm reaches its limit switch. */
  async confirm(command: 'open' | 'close', index = 0): Promise<void> {
    const [next] = this.pending.splice(index, 1);
    expect(next?.command).toBe(command);
    this.set({ position: command === 'open' ? 'open' : 'closed' });
    next!.confirm();
    await flush();
  }

  async fail(command: 'open' | 'close', error: Error, index = 0): Promise<void> {
    const [next] = this.pending.splice(index, 1);
    expect(next?.command).toBe(command);
    next!.fail(error);
    await flush();
  }

  private awaitTest(command: 'open' | 'close'): Promise<void> {
    return new Promise((resolve, reject) => this.pending.push({ command, confirm: resolve, fail: reject }));
  }
}

describe('post workflow', () => {
  let clock: ManualClock;
  let feed: Feed;
  let barrier: StandInBarrier;
  let post: PostWorkflow;
  let emitted: Emitted[];
  /** What the post workflow logged at warn and above. */
  let logLines: Record<string, unknown>[];
  let audited: { laneId: string; action: string }[];
  let options: PostWorkflowOptions;

  beforeEach(() => {
    clock = new ManualClock();
    feed = new Feed();
    barrier = new StandInBarrier(feed, clock);
    feed.barrier = barrier;
    emitted = [];
    logLines = [];
    audited = [];
    options = {
      config,
      gateway: {
        emit: (type, laneId, data, subject) => {
          emitted.push({ type, laneId, subject, data });
          return Promise.resolve({ seq: emitted.length, id: String(emitted.length) });
        },
        audit: {
          within: (draft: { laneId: string; action: string }) => {
            audited.push({ laneId: draft.laneId, action: draft.action });
            return (event: unknown) => event;
          },
        } as unknown as PostWorkflowOptions['gateway']['audit'],
      },
      devices: feed,
      clock,
      clockQuality: () => ({ synchronised: true, offsetMs: 0.2 }),
      assessor: {} as RiskAssessor,
      screening: { use: (fn: (model: null) => Promise<unknown>) => fn(null) } as unknown as ModelSlot<XrayScreeningModel>,
      logger: pino({ level: 'warn' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) }),
    };
    post = new PostWorkflow(options);
  });

  const alarms = (): Emitted[] => emitted.filter((e) => e.type === 'alarm.raised');
  const codes = (): unknown[] => alarms().map((a) => a.data.alarm);

  /** A vehicle the booth registers and a supervisor releases on lane 1; resolves once the barrier is open for it. */
  async function release(plate: string): Promise<string> {
    const crossing = post.register('lane-1', { plate, actor: SUPERVISOR, declaration: DECLARATION });
    post.lane('lane-1').workflow.forceRelease(crossing.crossingId, SUPERVISOR, 'released for the test');
    await barrier.confirm('open');
    return crossing.crossingId;
  }

  describe('barrier cycle', () => {
    it('retries a close refused on the photocell once the loop and the photocell are clear, and the next vehicle gets its own cycle', async () => {
      await release('GE-101-AA');
      barrier.set({ vehiclePresent: true, photocellBlocked: true });
      barrier.set({ vehiclePresent: false }); // the tractor leaves the loop; the trailer is under the arm
      await flush();
      expect(barrier.closes).toBe(1);
      expect(alarms()).toEqual([
        {
          type: 'alarm.raised',
          laneId: 'lane-1',
          subject: undefined,
          data: {
            alarm: 'GW_ERR_BARRIER_UNSAFE',
            severity: 'warning',
            message: 'lane lane-1: bar-1: refusing to close: the safety photocell is blocked; closing once the loop and the photocell are clear',
            details: { barrierId: 'bar-1', command: 'close', input: 'photocell', crossingId: null },
          },
        },
      ]);
      expect(post.lane('lane-1').cycle).toMatchObject({ phase: 'close-refused', refusal: { input: 'photocell', attempts: 1 } });

      // No timer retries: nothing happens while the photocell stays blocked.
      await clock.runFor(30_000);
      expect(barrier.closes).toBe(1);
      barrier.set({ photocellBlocked: false });
      await flush();
      expect(barrier.closes).toBe(2);
      await barrier.confirm('close');
      expect(alarms().at(-1)).toMatchObject({
        laneId: 'lane-1',
        data: { alarm: 'WF_BARRIER_CLOSED_AFTER_RETRY', severity: 'info', details: { barrierId: 'bar-1', command: 'close', refusedFor: 'photocell', attempts: 2, waitedSec: 30 } },
      });
      expect(post.lane('lane-1').cycle).toMatchObject({ phase: 'idle', refusal: null });

      const second = await release('GE-202-BB');
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      await barrier.confirm('close');
      expect(codes()).toEqual(['GW_ERR_BARRIER_UNSAFE', 'WF_BARRIER_CLOSED_AFTER_RETRY']);
      expect(emitted.some((e) => e.type === 'crossing.completed' && e.subject === second)).toBe(true);
    });

    it('says a close refused on a serial line out of step waits for the line, not for a vehicle, and closes once it answers in step', async () => {
      await release('GE-101-AA');
      barrier.lineOutOfStep = true;
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      expect(barrier.closes).toBe(1);
      expect(alarms().at(-1)?.data).toMatchObject({
        alarm: 'GW_ERR_BARRIER_UNSAFE',
        message: 'lane lane-1: bar-1: refusing to close: the serial line missed a reply lately (1 of 3 replies in a row since), so a late reply may still be taken for a fresh one; closing once the serial line to the barrier answers in step again',
        details: { input: 'line' },
      });
      // Back in step, the driver publishes the inputs again, unchanged: the close is tried again.
      barrier.lineOutOfStep = false;
      barrier.set({});
      await flush();
      expect(barrier.closes).toBe(2);
      await barrier.confirm('close');
      expect(alarms().at(-1)?.data).toMatchObject({
        alarm: 'WF_BARRIER_CLOSED_AFTER_RETRY',
        message: expect.stringContaining('barrier closed once the serial line answered in step again') as unknown,
        details: { refusedFor: 'line', attempts: 2 },
      });
    });

    it('names the loop when a vehicle is back on it, counts it, and alarms a retry refused again only once', async () => {
      await release('GE-101-AA');
      barrier.set({ vehiclePresent: true });
      barrier.beforeCloseRead = { vehiclePresent: true, photocellBlocked: true }; // a second vehicle, right behind
      barrier.set({ vehiclePresent: false });
      await flush();
      expect(codes()).toEqual(['WF_TWO_VEHICLES_ONE_CYCLE', 'GW_ERR_BARRIER_UNSAFE']);
      expect(alarms()[1]?.data.details).toMatchObject({ input: 'loop' });

      // It leaves the loop (nothing was released for it), still under the photocell: no retry yet.
      barrier.set({ vehiclePresent: false });
      await flush();
      expect(barrier.closes).toBe(1);
      expect(codes()).toEqual(['WF_TWO_VEHICLES_ONE_CYCLE', 'GW_ERR_BARRIER_UNSAFE', 'WF_EXIT_UNKNOWN']);
      // A retry whose own read finds the photocell blocked again (a swinging trailer): refused, not alarmed again.
      barrier.beforeCloseRead = { photocellBlocked: true };
      barrier.set({ photocellBlocked: false });
      await flush();
      expect(barrier.closes).toBe(2);
      expect(codes()).toHaveLength(3);
      barrier.set({ photocellBlocked: false });
      await flush();
      await barrier.confirm('close');
      expect(alarms().at(-1)?.data).toMatchObject({ alarm: 'WF_BARRIER_CLOSED_AFTER_RETRY', details: { refusedFor: 'loop', attempts: 3 } });
    });

    it('raises a close that fails otherwise as a critical lane alarm with its code, retries nothing, and ends the cycle once the arm is found closed', async () => {
      await release('GE-101-AA');
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      await barrier.fail('close', new GatewayError('GW_ERR_BARRIER_NOT_CONFIRMED', 'bar-1: not closed after 10000 ms (arm open)'));
      expect(alarms()).toEqual([
        expect.objectContaining({
          laneId: 'lane-1',
          data: {
            alarm: 'GW_ERR_BARRIER_NOT_CONFIRMED',
            severity: 'critical',
            message: 'lane lane-1: barrier close failed (bar-1: not closed after 10000 ms (arm open)); the arm may be open: close it by hand',
            details: { barrierId: 'bar-1', command: 'close', crossingId: null },
          },
        }),
      ]);
      // In the log too, at error for a critical alarm.
      expect(logLines).toContainEqual(expect.objectContaining({ level: 50, laneId: 'lane-1', alarm: 'GW_ERR_BARRIER_NOT_CONFIRMED', severity: 'critical', msg: expect.stringMatching(/^lane lane-1: barrier close failed/) as unknown }));

      // The next vehicle waits: the arm is not the gateway's to open until it is closed.
      const crossing = post.register('lane-1', { plate: 'GE-202-BB', actor: SUPERVISOR, declaration: DECLARATION });
      post.lane('lane-1').workflow.forceRelease(crossing.crossingId, SUPERVISOR, 'released for the test');
      barrier.set({ photocellBlocked: true });
      barrier.set({ photocellBlocked: false });
      await flush();
      expect(barrier.closes).toBe(1);
      expect(barrier.pending).toEqual([]);
      // Closed at the barrier's own panel: the cycle ends and the barrier opens for the next.
      barrier.set({ position: 'closed' });
      expect(barrier.pending.map((p) => p.command)).toEqual(['open']);
      await barrier.confirm('open');
      expect(codes()).toEqual(['GW_ERR_BARRIER_NOT_CONFIRMED']);
    });

    it('raises a close refused on a malformed reply during a retry with that code, naming the refusal it followed', async () => {
      await release('GE-101-AA');
      barrier.set({ vehiclePresent: true, photocellBlocked: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      barrier.set({ photocellBlocked: false });
      await flush();
      await barrier.fail('close', new GatewayError('GW_ERR_BARRIER_MALFORMED_REPLY', 'bar-1 write coil 1: malformed reply: the reply echoes coil 0 on'));
      expect(alarms().at(-1)).toMatchObject({
        laneId: 'lane-1',
        data: { alarm: 'GW_ERR_BARRIER_MALFORMED_REPLY', severity: 'critical', details: { command: 'close', refusedFor: 'photocell', attempts: 2 } },
      });
      expect(post.lane('lane-1').cycle.phase).toBe('close-failed');
    });

    it('drops a waiting retry when a supervisor opens the barrier by hand', async () => {
      await release('GE-101-AA');
      barrier.set({ vehiclePresent: true, photocellBlocked: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      await expect(post.operateBarrier('lane-1', 'open', SUPERVISOR, 'ambulance')).resolves.toBe('open');
      barrier.set({ photocellBlocked: false });
      await flush();
      expect(barrier.closes).toBe(1); // the arm stays up for the supervisor
      expect(post.lane('lane-1').cycle).toMatchObject({ phase: 'idle', refusal: null });
      expect(emitted.find((e) => e.type === 'operator.action')).toBeDefined();
    });

    it('opens the arm for no vehicle that was released and abandoned: the next cycle ends closed', async () => {
      const turnedBack = await release('GE-101-AA');
      // The truck turns back instead of driving through; 12 hours on, its crossing is abandoned.
      await clock.runFor(13 * 3_600_000);
      expect(emitted.find((e) => e.type === 'crossing.completed')).toMatchObject({ subject: turnedBack, data: { outcome: 'abandoned' } });
      const byHand = post.operateBarrier('lane-1', 'close', SUPERVISOR, 'arm left up');
      await flush();
      await barrier.confirm('close');
      await byHand;

      const next = await release('GE-202-BB');
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      await barrier.confirm('close');
      expect(emitted.find((e) => e.type === 'crossing.completed' && e.subject === next)).toMatchObject({ data: { outcome: 'completed' } });
      // Nobody is released: the arm stays down.
      expect(post.lane('lane-1').workflow.open()).toEqual([]);
      expect(barrier.pending).toEqual([]);
      expect(post.lane('lane-1').cycle).toMatchObject({ phase: 'idle', waiting: 0 });
    });

    it('records the exit of a released vehicle through an arm opened by hand after the open failed', async () => {
      const first = post.register('lane-1', { plate: 'GE-101-AA', actor: SUPERVISOR, declaration: DECLARATION });
      post.lane('lane-1').workflow.forceRelease(first.crossingId, SUPERVISOR, 'released for the test');
      await barrier.fail('open', new GatewayError('GW_ERR_BARRIER_NOT_CONFIRMED', 'bar-1: not open after 10000 ms (arm closed)'));
      // Before that, the truck rolls onto the loop and backs off in front of the closed arm: no exit.
      expect(barrier.state.position).toBe('closed');
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      expect(emitted.filter((e) => e.type === 'crossing.completed')).toEqual([]);
      expect(first.state).toBe('released');
      // As the alarm asks: the supervisor opens it by hand, and the truck drives through.
      barrier.state = { ...barrier.state, position: 'open' };
      await post.operateBarrier('lane-1', 'open', SUPERVISOR, 'the open failed');
      clock.advance(20_000);
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      const exited = emitted.find((e) => e.type === 'crossing.completed' && e.subject === first.crossingId);
      expect(exited).toMatchObject({ data: { outcome: 'completed', durations: { crossingSec: 20 } } });
      const byHand = post.operateBarrier('lane-1', 'close', SUPERVISOR, 'it went through');
      await flush();
      await barrier.confirm('close');
      await byHand;

      // The next vehicle's exit is its own, and the arm is not opened again after it.
      const second = await release('GE-202-BB');
      clock.advance(60_000);
      barrier.set({ vehiclePresent: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      await barrier.confirm('close');
      expect(emitted.filter((e) => e.type === 'crossing.completed').map((e) => e.subject)).toEqual([first.crossingId, second]);
      expect(barrier.pending).toEqual([]);
      expect(post.lane('lane-1').workflow.open()).toEqual([]);
    });

    it('raises an open that fails without a stable code as WF_BARRIER_COMMAND on the lane', async () => {
      const crossing = post.register('lane-1', { plate: 'GE-101-AA', actor: SUPERVISOR, declaration: DECLARATION });
      post.lane('lane-1').workflow.forceRelease(crossing.crossingId, SUPERVISOR, 'released for the test');
      await barrier.fail('open', new Error('bar-1 read inputs 0-3: Timed out (1 of 3 in a row)'));
      expect(alarms()).toEqual([
        expect.objectContaining({ laneId: 'lane-1', data: expect.objectContaining({ alarm: 'WF_BARRIER_COMMAND', severity: 'warning', details: { barrierId: 'bar-1', command: 'open', crossingId: null } }) as unknown }),
      ]);
      expect(post.lane('lane-1').cycle.phase).toBe('idle');
    });

    it('lets a supervisor close by hand: a retry still in flight is overtaken, the action is the lane’s', async () => {
      await release('GE-101-AA');
      barrier.set({ vehiclePresent: true, photocellBlocked: true });
      barrier.set({ vehiclePresent: false });
      await flush();
      barrier.set({ photocellBlocked: false });
      await flush(); // the retry waits for its confirmation
      const byHand = post.operateBarrier('lane-1', 'close', SUPERVISOR, 'arm stuck half-way');
      await flush();
      expect(barrier.pending.map((p) => p.command)).toEqual(['close', 'close']);
      await barrier.confirm('close', 1); // the supervisor's
      await expect(byHand).resolves.toBe('closed');
      expect(post.lane('lane-1').cycle).toMatchObject({ phase: 'idle', refusal: null });
      // The retry's outcome comes after the hand close: it is no news, and raises nothing.
      await barrier.fail('close', new GatewayError('GW_ERR_BARRIER_NOT_CONFIRMED', 'bar-1: not closed after 10000 ms (arm moving)'));
      expect(codes()).toEqual(['GW_ERR_BARRIER_UNSAFE']);
      expect(post.lane('lane-1').cycle.phase).toBe('idle');
      const action = emitted.find((e) => e.type === 'operator.action' && e.data.action === 'barrier.manual');
      expect(action).toMatchObject({ laneId: 'lane-1', data: { operatorId: 'sup-1', after: 'closed', reason: 'arm stuck half-way' } });
      expect(audited).toContainEqual({ laneId: 'lane-1', action: 'barrier.manual' });
    });
  });

  describe('lanes of alarms and operator actions, and what detected each arrival', () => {
    it('puts a camera arrival on its lane as detected by ANPR, and its unread plate alarm with the crossing as subject', () => {
      feed.read('lane-2', 'entry', { type: 'plate.read', deviceId: 'cam-2', plate: null, plateType: null, vehicleType: 'truck', imageRef: null, cameraTime: null, atMs: clock.now() });
      const arrived = emitted.find((e) => e.type === 'vehicle.arrived');
      expect(arrived).toMatchObject({ laneId: 'lane-2', data: { detectedBy: 'anpr', plate: null } });
      expect(alarms()).toEqual([expect.objectContaining({ laneId: 'lane-2', subject: arrived?.subject, data: expect.objectContaining({ alarm: 'WF_PLATE_UNREAD' }) as unknown })]);
    });

    it("keeps the entry camera's picture digest with the crossing it starts, and nothing that is not a digest", () => {
      const digest = `sha256:${'5e'.repeat(32)}`;
      feed.read('lane-2', 'entry', { type: 'plate.read', deviceId: 'cam-2', plate: { text: 'GE-404-DD', raw: 'GE404DD', confidence: 0.9, country: null, formatValid: null }, plateType: null, vehicleType: 'truck', imageRef: digest, cameraTime: null, atMs: clock.now() });
      expect(post.lane('lane-2').workflow.open().at(-1)).toMatchObject({ plate: 'GE-404-DD', entryPicture: digest });
      feed.read('lane-2', 'entry', { type: 'plate.read', deviceId: 'cam-2', plate: { text: 'GE-405-DD', raw: 'GE405DD', confidence: 0.9, country: null, formatValid: null }, plateType: null, vehicleType: 'truck', imageRef: '../../etc/passwd', cameraTime: null, atMs: clock.now() });
      expect(post.lane('lane-2').workflow.open().at(-1)).toMatchObject({ plate: 'GE-405-DD' });
      expect(post.lane('lane-2').workflow.open().at(-1)).not.toHaveProperty('entryPicture');
    });

    it('takes the entry camera reading a plate again within minutes for the vehicle it read, not a second arrival', () => {
      const read = (text: string): void =>
        feed.read('lane-2', 'entry', { type: 'plate.read', deviceId: 'cam-2', plate: { text, raw: text, confidence: 0.9, country: null, formatValid: null }, plateType: null, vehicleType: 'truck', imageRef: null, cameraTime: null, atMs: clock.now() });
      read('GE-606-FF');
      clock.advance(4_000);
      read('GE-606-FF'); // the truck stopped and moved on under the camera
      const [crossing] = post.lane('lane-2').workflow.open();
      post.register('lane-2', { plate: 'GE-606-FF', actor: SUPERVISOR, declaration: DECLARATION });
      clock.advance(60_000);
      read('GE6O6FF'); // read once more as it leaves the booth, with an OCR confusion
      expect(post.lane('lane-2').workflow.open().map((c) => [c.crossingId, c.state])).toEqual([[crossing!.crossingId, 'registered']]);
      expect(emitted.filter((e) => e.type === 'vehicle.arrived')).toHaveLength(1);

      // The same plate much later is another visit, with a crossing of its own.
      clock.advance(10 * 60_000);
      read('GE-606-FF');
      expect(post.lane('lane-2').workflow.open()).toHaveLength(2);
    });

    it("takes a read for a vehicle's again only while the plate is still that vehicle's, among any number of arrivals", () => {
      const read = (text: string): void =>
        feed.read('lane-2', 'entry', { type: 'plate.read', deviceId: 'cam-2', plate: { text, raw: text, confidence: 0.9, country: null, formatValid: null }, plateType: null, vehicleType: 'truck', imageRef: null, cameraTime: null, atMs: clock.now() });
      read('GE-111-AA'); // a misread of the truck that is really GE-999-ZZ
      const [misread] = post.lane('lane-2').workflow.open();
      post.lane('lane-2').workflow.setPlate(misread!.crossingId, 'GE-999-ZZ', SUPERVISOR, 'read from the trailer');
      // The truck really GE-111-AA comes a minute later: a vehicle of its own, not the corrected one.
      clock.advance(60_000);
      read('GE-111-AA');
      expect(post.lane('lane-2').workflow.open().map((c) => c.plate)).toEqual(['GE-999-ZZ', 'GE-111-AA']);
      // The corrected plate read again is the corrected vehicle.
      read('GE-999-ZZ');
      expect(post.lane('lane-2').workflow.open()).toHaveLength(2);
      // 150 other trucks later (each a crossing), the first truck read again is still itself.
      for (let n = 0; n < 150; n += 1) read(`GE-${String(n).padStart(3, '0')}-XX`);
      read('GE-111-AA');
      expect(post.lane('lane-2').workflow.open()).toHaveLength(152);
    });

    it('changes nothing of a crossing past registration when a registration names it', () => {
      feed.read('lane-2', 'entry', { type: 'plate.read', deviceId: 'cam-2', plate: null, plateType: null, vehicleType: 'truck', imageRef: null, cameraTime: null, atMs: clock.now() });
      const [unread] = post.lane('lane-2').workflow.open();
      post.lane('lane-2').workflow.forceRelease(unread!.crossingId, SUPERVISOR, 'camera could not read it, waved through');
      const before = emitted.length;
      const registration = { actor: { id: 'reg-system', role: 'registration' as const }, vehicleType: 'car', declaration: DECLARATION };
      expect(() => post.register('lane-2', { ...registration, crossingId: unread!.crossingId, plate: 'GE-707-GG' })).toThrow(/released/);
      expect(unread).toMatchObject({ state: 'released', plate: null, vehicleType: 'truck' });
      expect(emitted.slice(before)).toEqual([]);
    });

    it('puts an arrival entered at registration on its lane as detected by the operator, with its actions and their audit entries', () => {
      const crossing = post.register('lane-2', { plate: 'GE-303-CC', actor: SUPERVISOR, declaration: DECLARATION });
      expect(emitted.find((e) => e.type === 'vehicle.arrived')).toMatchObject({ laneId: 'lane-2', data: { detectedBy: 'operator', plate: { text: 'GE-303-CC' } } });
      const actions = emitted.filter((e) => e.type === 'operator.action');
      expect(actions.map((a) => [a.laneId, a.subject, a.data.action])).toEqual([
        ['lane-2', crossing.crossingId, 'crossing.arrival'],
        ['lane-2', crossing.crossingId, 'crossing.register'],
      ]);
      expect(audited).toEqual([
        { laneId: 'lane-2', action: 'crossing.arrival' },
        { laneId: 'lane-2', action: 'crossing.register' },
      ]);
    });

    it('gives a scan whose plate matches no vehicle at the scanner to none of them, not to the oldest waiting', async () => {
      const xray = { channel: 'orange' as const, score: 0.6, modelVersion: 'rules', reasons: ['weight deviation'], xrayRequested: true };
      const scanFeed = new Feed();
      const scanPost = new PostWorkflow({ ...options, devices: scanFeed, assessor: { assess: () => xray } as unknown as RiskAssessor });
      const waiting = scanPost.register('lane-2', { plate: 'GE-808-HH', actor: SUPERVISOR, declaration: DECLARATION });
      await scanPost.lane('lane-2').workflow.weigh(20_000);
      expect(waiting.state).toBe('scanning');
      const scan = (plate: string | null, scanId: string): void =>
        scanFeed.read('lane-2', 'lane', { type: 'scan', deviceId: 'xray-1', status: 'completed', scanId, scannerId: 'xray-1', plate, container: null, scannerTime: new Date(clock.now()).toISOString(), imageRef: null, image: null, metadataRef: null, decision: { analyst: 'an-1', result: 'clear' }, atMs: clock.now() });
      // Another vehicle's scan, cleared: the one waiting is not released on it.
      scan('ZZ-999-ZZ', 's-1');
      await flush();
      expect(waiting.state).toBe('scanning');
      expect(alarms().map((a) => [a.laneId, a.data.alarm, a.data.details])).toEqual([['lane-2', 'WF_SCAN_UNMATCHED', { scanId: 's-1', crossingId: null }]]);
      // Its own scan, by its plate as the scanner read it (an OCR confusion).
      scan('GE8O8HH', 's-2');
      await flush();
      expect(waiting).toMatchObject({ state: 'released', scan: { result: 'clear' } });
      scanPost.stop();
    });

    it("raises a critical alarm when an analyst finds a scan suspect after its vehicle was released on a cleared one", async () => {
      const xray = { channel: 'orange' as const, score: 0.6, modelVersion: 'rules', reasons: ['weight deviation'], xrayRequested: true };
      const scanFeed = new Feed();
      const scanPost = new PostWorkflow({ ...options, devices: scanFeed, assessor: { assess: () => xray } as unknown as RiskAssessor });
      const waiting = scanPost.register('lane-2', { plate: 'GE-909-JJ', actor: SUPERVISOR, declaration: DECLARATION });
      await scanPost.lane('lane-2').workflow.weigh(20_000);
      const scan = (status: 'completed' | 'decided', plate: string, result: 'clear' | 'suspect'): void =>
        scanFeed.read('lane-1', 'lane', { type: 'scan', deviceId: 'xray-1', status, scanId: 's-9', scannerId: 'xray-1', plate, container: null, scannerTime: new Date(clock.now()).toISOString(), imageRef: null, image: null, metadataRef: null, decision: { analyst: 'an-7', result }, atMs: clock.now() });
      scan('completed', 'GE-909-JJ', 'clear');
      await flush();
      expect(waiting.state).toBe('released');
      // The analyst looks again and finds it suspect: the vehicle is at the barrier, to be stopped.
      scan('decided', 'GE-909-JJ', 'suspect');
      await flush();
      const late = alarms().filter((a) => a.data.alarm === 'WF_SCAN_SUSPECT_LATE');
      expect(late.map((a) => [a.laneId, a.subject, a.data.severity, a.data.details])).toEqual([
        ['lane-2', waiting.crossingId, 'critical', { scanId: 's-9', plate: 'GE-909-JJ', analyst: 'an-7', state: 'released', crossingId: waiting.crossingId }],
      ]);
      expect(late[0]?.data.message).toBe(`analyst an-7 found scan s-9 suspect after its vehicle left the scanner; vehicle GE-909-JJ is released on lane-2: stop it`);
      // A cleared decision after release changes nothing; one for a plate no lane holds still says so.
      scan('decided', 'GE-909-JJ', 'clear');
      scan('decided', 'ZZ-111-ZZ', 'suspect');
      await flush();
      expect(alarms().filter((a) => a.data.alarm === 'WF_SCAN_SUSPECT_LATE').map((a) => [a.laneId, a.subject ?? null, a.data.message])).toEqual([
        ['lane-2', waiting.crossingId, expect.any(String)],
        ['lane-1', null, 'analyst an-7 found scan s-9 suspect after its vehicle left the scanner; no vehicle with plate ZZ-111-ZZ is on a lane any more'],
      ]);
      scanPost.stop();
    });

    it("raises a weighbridge queue shifted by one place on the lane, with the crossing weighed as subject, by the post's tolerance", async () => {
      const green = { channel: 'green' as const, score: 0.1, modelVersion: 'rules', reasons: [], xrayRequested: false };
      const shiftPost = new PostWorkflow({ ...options, devices: new Feed(), assessor: { assess: () => green } as unknown as RiskAssessor });
      const [first, second] = [12_000, 24_000, 36_000].map((declaredWeightKg, i) =>
        shiftPost.register('lane-2', { plate: `GE-10${i}-KK`, actor: SUPERVISOR, declaration: { ...DECLARATION, declaredWeightKg } }),
      );
      // The first truck left the queue: the platform weighs the second and the third, each 5% over
      // its declaration (within workflow.weightToleranceShare, 0.1 by default).
      await shiftPost.lane('lane-2').workflow.weigh(25_200);
      await shiftPost.lane('lane-2').workflow.weigh(37_800);
      const shift = alarms().filter((a) => a.data.alarm === 'WF_WEIGHT_QUEUE_SHIFT');
      expect(shift.map((a) => [a.laneId, a.subject, a.data.severity, (a.data.details as { previous: { crossingId: string } }).previous.crossingId])).toEqual([
        ['lane-2', second?.crossingId, 'warning', first?.crossingId],
      ]);
      shiftPost.stop();
    });

    it('raises device and scan alarms on the lane of the device', async () => {
      const down: DriverHealth = { state: 'down', lastError: 'connection refused', sinceMs: clock.now() };
      for (const listener of feed.healthListeners) listener('lane-2', 'scale-2', down);
      feed.read('lane-1', 'lane', { type: 'scan', deviceId: 'xray-1', status: 'completed', scanId: 's-1', scannerId: 'xray-1', plate: 'ZZ-999-ZZ', container: null, scannerTime: new Date(clock.now()).toISOString(), imageRef: null, image: null, metadataRef: null, decision: null, atMs: clock.now() });
      await flush();
      expect(alarms().map((a) => [a.laneId, a.data.alarm])).toEqual([
        ['lane-2', 'WF_DEVICE_DOWN'],
        ['lane-1', 'WF_SCAN_UNMATCHED'],
      ]);
      expect(emitted.filter((e) => e.laneId === 'post')).toEqual([]);
    });
  });
});

/**
 * The lanes' re-read windows across a kill: each post below commits what its events change into
 * one database (as the outbox's transaction would), and a second post on a new process's clock
 * (monotonic from zero) takes over from it.
 */
describe('post workflow across a restart', () => {
  const twoCameras = parseConfigText(`
version: 1
post: { id: p1 }
lanes:
  - id: lane-1
    devices:
      - { id: cam-in, driver: onvif, role: entry, connection: { url: "http://127.0.0.1:1/onvif", username: a, password: b } }
      - { id: cam-out, driver: onvif, role: exit, connection: { url: "http://127.0.0.1:1/onvif", username: a, password: b } }
uplink: { brokers: ["mqtt://127.0.0.1:1"] }
`);

  /** A post on `clock` storing into `db`; `emitted` gets every event it stores. */
  function postOn(
    db: Database.Database,
    clock: ManualClock,
    emitted: Emitted[],
    on: { config: typeof twoCameras; feed: Feed; onEvent?: (event: EventDraft) => void; assessor?: RiskAssessor; refuse?: (type: string) => boolean } = { config: twoCameras, feed: new Feed() },
  ): { post: PostWorkflow; feed: Feed } {
    const { feed } = on;
    const post = new PostWorkflow({
      config: on.config,
      gateway: {
        emit: (type, laneId, data, subject, within) => {
          // Refused as the outbox refuses an operational event when only critical ones have room: nothing written.
          if (on.refuse?.(type)) return Promise.reject(new GatewayError('GW_ERR_OUTBOX_FULL', `${type} refused for the test`));
          db.transaction(() => within?.({ type, data } as unknown as EventDraft, db))();
          emitted.push({ type, laneId, subject, data });
          on.onEvent?.({ specversion: '1.0', id: String(emitted.length), source: `/border/p1/${laneId}`, type, time: new Date(clock.now()).toISOString(), ...(subject ? { subject } : {}), datacontenttype: 'application/json', data });
          return Promise.resolve({ seq: emitted.length, id: String(emitted.length) });
        },
        audit: { within: () => (event: unknown) => event } as unknown as PostWorkflowOptions['gateway']['audit'],
      },
      devices: feed,
      clock,
      clockQuality: () => ({ synchronised: true, offsetMs: 0.2 }),
      assessor: on.assessor ?? ({} as RiskAssessor),
      screening: { use: (fn: (model: null) => Promise<unknown>) => fn(null) } as unknown as ModelSlot<XrayScreeningModel>,
      logger: pino({ level: 'silent' }),
      store: new LaneStore(db, clock),
    });
    return { post, feed };
  }

  const plateRead = (clock: ManualClock, deviceId: string, text: string | null): DeviceReading => ({
    type: 'plate.read',
    deviceId,
    plate: text === null ? null : { text, raw: text, confidence: 0.9, country: null, formatValid: null },
    plateType: null,
    vehicleType: 'truck',
    imageRef: null,
    cameraTime: null,
    atMs: clock.now(),
  });
  const types = (emitted: Emitted[]): string[] => emitted.map((e) => (e.type === 'alarm.raised' ? `alarm:${String(e.data.alarm)}` : e.type));

  it("takes the entry camera's re-read after a kill for the vehicle it read before, within 5 minutes of its arrival", () => {
    const db = new Database(':memory:');
    const before = new ManualClock();
    before.advance(3 * 3_600_000); // the process had run for hours
    const first = postOn(db, before, []);
    first.feed.read('lane-1', 'entry', plateRead(before, 'cam-in', 'GE-606-FF'));
    const [arrived] = first.post.lane('lane-1').workflow.open();
    before.advance(60_000);
    first.post.stop(); // killed a minute after the arrival

    // Back 30 s later, the truck still under the camera, which reads it again.
    const after = new ManualClock(before.now() + 30_000);
    const emitted: Emitted[] = [];
    const second = postOn(db, after, emitted);
    second.feed.read('lane-1', 'entry', plateRead(after, 'cam-in', 'GE6O6FF'));
    expect(second.post.lane('lane-1').workflow.open().map((c) => c.crossingId)).toEqual([arrived!.crossingId]);
    expect(emitted).toEqual([]);
    // Five minutes after its arrival the same plate is another visit again, restart or not.
    after.advance(4 * 60_000);
    second.feed.read('lane-1', 'entry', plateRead(after, 'cam-in', 'GE-606-FF'));
    expect(types(emitted)).toEqual(['vehicle.arrived']);
    expect(second.post.lane('lane-1').workflow.open()).toHaveLength(2);
    second.post.stop();
  });

  it('forgets an arrival within 5 minutes of the restart when the wall clock stepped back across it', () => {
    const db = new Database(':memory:');
    const before = new ManualClock();
    const first = postOn(db, before, []);
    first.feed.read('lane-1', 'entry', plateRead(before, 'cam-in', 'GE-606-FF'));
    first.post.stop();
    // The new process's wall clock is a day behind (a dead RTC before NTP): the outage counts as none.
    const after = new ManualClock(before.now() - 86_400_000);
    const emitted: Emitted[] = [];
    const second = postOn(db, after, emitted);
    after.advance(4 * 60_000);
    second.feed.read('lane-1', 'entry', plateRead(after, 'cam-in', 'GE-606-FF'));
    expect(emitted).toEqual([]);
    after.advance(61_000);
    second.feed.read('lane-1', 'entry', plateRead(after, 'cam-in', 'GE-606-FF'));
    expect(types(emitted)).toEqual(['vehicle.arrived']);
    second.post.stop();
  });

  it("ignores the exit camera's re-read after a kill of a truck that left before it, and gives the next released vehicle its own exit", () => {
    const db = new Database(':memory:');
    const before = new ManualClock();
    const firstEmitted: Emitted[] = [];
    const first = postOn(db, before, firstEmitted);
    const left = first.post.register('lane-1', { plate: 'GE-111-AA', actor: SUPERVISOR, declaration: DECLARATION });
    first.post.lane('lane-1').workflow.forceRelease(left.crossingId, SUPERVISOR, 'released for the test');
    first.feed.read('lane-1', 'exit', plateRead(before, 'cam-out', 'GE-111-AA'));
    expect(firstEmitted.filter((e) => e.type === 'crossing.completed').map((e) => e.data.crossingId)).toEqual([left.crossingId]);
    before.advance(20_000);
    first.post.stop();

    const after = new ManualClock(before.now() + 40_000);
    const emitted: Emitted[] = [];
    const second = postOn(db, after, emitted);
    const next = second.post.register('lane-1', { plate: 'GE-222-BB', actor: SUPERVISOR, declaration: DECLARATION });
    second.post.lane('lane-1').workflow.forceRelease(next.crossingId, SUPERVISOR, 'released for the test');
    emitted.length = 0;
    // The truck that left stopped just past the barrier: the exit camera reads it again.
    second.feed.read('lane-1', 'exit', plateRead(after, 'cam-out', 'GE-III-AA'));
    expect(types(emitted)).toEqual([]);
    expect(next.state).toBe('released');
    second.feed.read('lane-1', 'exit', plateRead(after, 'cam-out', 'GE-222-BB'));
    expect(types(emitted)).toEqual(['vehicle.exited', 'crossing.completed']);
    expect(emitted[1]?.data.crossingId).toBe(next.crossingId);
    second.post.stop();
  });

  it('forgets a plate that left more than 5 minutes before the restart, and one whose clock stepped back within 5 minutes of it', () => {
    const db = new Database(':memory:');
    const before = new ManualClock();
    const first = postOn(db, before, []);
    const left = first.post.register('lane-1', { plate: 'GE-111-AA', actor: SUPERVISOR, declaration: DECLARATION });
    first.post.lane('lane-1').workflow.forceRelease(left.crossingId, SUPERVISOR, 'released for the test');
    first.feed.read('lane-1', 'exit', plateRead(before, 'cam-out', 'GE-111-AA'));
    before.advance(60_000);
    first.post.stop();

    // Stepped back a day: the exit is as old as when its row was written (at the exit), never
    // younger, and is forgotten 5 minutes after the restart at the latest.
    const stepped = new ManualClock(before.now() - 86_400_000);
    const second = postOn(db, stepped, []);
    expect(second.post.lane('lane-1').workflow.recentExitPlates()).toEqual([{ plate: 'GE111AA', agoMs: 0 }]);
    stepped.advance(5 * 60_000);
    expect(second.post.lane('lane-1').workflow.recentExitPlates()).toHaveLength(1);
    stepped.advance(1);
    expect(second.post.lane('lane-1').workflow.recentExitPlates()).toEqual([]);
    second.post.stop();

    // Back 5 minutes after the exit (4 after the kill): forgotten at once; 4 minutes after it, kept for one more.
    const soon = postOn(db, new ManualClock(before.now() + 3 * 60_000), []);
    expect(soon.post.lane('lane-1').workflow.recentExitPlates()).toEqual([{ plate: 'GE111AA', agoMs: 4 * 60_000 }]);
    soon.post.stop();
    const late = postOn(db, new ManualClock(before.now() + 4 * 60_000), []);
    expect(late.post.lane('lane-1').workflow.recentExitPlates()).toEqual([]);
    late.post.stop();
  });

  describe('a weighbridge queue-shift run', () => {
    const green = { assess: () => ({ channel: 'green' as const, score: 0.1, modelVersion: 'rules', reasons: [], xrayRequested: false }) } as unknown as RiskAssessor;
    /** Registers a truck per declared weight on lane 1, in order: the weighbridge's queue. */
    const queue = (post: PostWorkflow, declared: number[]) =>
      declared.map((declaredWeightKg, i) => post.register('lane-1', { plate: `GE-30${i}-QS`, actor: SUPERVISOR, declaration: { ...DECLARATION, declaredWeightKg } }));
    const shifts = (emitted: Emitted[]) => emitted.filter((e) => e.data.alarm === 'WF_WEIGHT_QUEUE_SHIFT');
    const runsStored = (db: Database.Database) => db.prepare('SELECT lane_id, run FROM queue_shift_runs').all() as { lane_id: string; run: string }[];

    it('goes on after a kill: the second shifted weight, the first after the restart, raises the alarm naming the one before it', async () => {
      const db = new Database(':memory:');
      const before = new ManualClock();
      const first = postOn(db, before, [], { config: twoCameras, feed: new Feed(), assessor: green });
      // The first truck left the queue: the platform weighs the second, 5% over its declaration, and
      // the weight goes to the first (registered first among those not weighed).
      const [firstWeighed, secondWeighed] = queue(first.post, [12_000, 24_000, 36_000, 48_000]);
      await first.post.lane('lane-1').workflow.weigh(25_200);
      expect(runsStored(db).map((row) => row.lane_id)).toEqual(['lane-1']);
      first.post.stop();

      const after = new ManualClock(before.now() + 30_000);
      const emitted: Emitted[] = [];
      const second = postOn(db, after, emitted, { config: twoCameras, feed: new Feed(), assessor: green });
      // The third truck on the platform, 5% over its declaration: the weight goes to the second.
      await second.post.lane('lane-1').workflow.weigh(37_800);
      const details = (alarm: Emitted) => alarm.data.details as { run: number; previous: { crossingId: string } };
      expect(shifts(emitted).map((a) => [a.subject, details(a).run, details(a).previous.crossingId])).toEqual([[secondWeighed?.crossingId, 2, firstWeighed?.crossingId]]);
      second.post.stop();
    });

    it('removes the lane’s run once a weight matched its own declaration', async () => {
      const db = new Database(':memory:');
      const { post } = postOn(db, new ManualClock(), [], { config: twoCameras, feed: new Feed(), assessor: green });
      queue(post, [12_000, 24_000, 36_000, 48_000]);
      await post.lane('lane-1').workflow.weigh(25_200);
      expect(runsStored(db)).toHaveLength(1);
      await post.lane('lane-1').workflow.weigh(24_000);
      expect(runsStored(db)).toEqual([]);
      post.stop();
    });

    it('stores the run with the next event of the lane when its vehicle.weighed was refused, so the run goes on after a restart', async () => {
      const db = new Database(':memory:');
      const before = new ManualClock();
      let refuseWeighed = false;
      const firstEmitted: Emitted[] = [];
      const first = postOn(db, before, firstEmitted, { config: twoCameras, feed: new Feed(), assessor: green, refuse: (type) => refuseWeighed && type === 'vehicle.weighed' });
      queue(first.post, [12_000, 24_000, 36_000, 48_000, 60_000]);
      await first.post.lane('lane-1').workflow.weigh(25_200);
      // The second shifted weight's vehicle.weighed is refused; its alarm (and what follows) is stored.
      refuseWeighed = true;
      await first.post.lane('lane-1').workflow.weigh(37_800);
      await flush();
      expect(shifts(firstEmitted).map((a) => (a.data.details as { run: number }).run)).toEqual([2]);
      expect(firstEmitted.filter((e) => e.type === 'vehicle.weighed')).toHaveLength(1);
      first.post.stop();

      const emitted: Emitted[] = [];
      const second = postOn(db, new ManualClock(before.now() + 30_000), emitted, { config: twoCameras, feed: new Feed(), assessor: green });
      await second.post.lane('lane-1').workflow.weigh(50_400);
      expect(shifts(emitted).map((a) => (a.data.details as { run: number }).run)).toEqual([3]);
      second.post.stop();
    });
  });

  it('shows the operator again, after a restart, the alarms that stood and ask for an action, without sending them again', async () => {
    const db = new Database(':memory:');
    const before = new ManualClock();
    const beforeFeed = new Feed();
    const barrier = new StandInBarrier(beforeFeed, before);
    beforeFeed.barrier = barrier;
    const firstEmitted: Emitted[] = [];
    const first = postOn(db, before, firstEmitted, { config, feed: beforeFeed });
    // Lane 2: the entry camera could not read a plate. Lane 1: the close after a vehicle failed.
    first.feed.read('lane-2', 'entry', plateRead(before, 'cam-2', null));
    const crossing = first.post.register('lane-1', { plate: 'GE-201-AA', actor: SUPERVISOR, declaration: DECLARATION });
    first.post.lane('lane-1').workflow.forceRelease(crossing.crossingId, SUPERVISOR, 'released for the test');
    await barrier.confirm('open');
    barrier.set({ vehiclePresent: true });
    barrier.set({ vehiclePresent: false });
    await flush();
    await barrier.fail('close', new GatewayError('GW_ERR_BARRIER_NOT_CONFIRMED', 'bar-1: not closed after 10000 ms (arm open)'));
    const raised = firstEmitted.filter((e) => e.type === 'alarm.raised').map((e) => [e.laneId, e.data.alarm, e.data.message]);
    expect(raised.map(([, code]) => code)).toEqual(['WF_PLATE_UNREAD', 'GW_ERR_BARRIER_NOT_CONFIRMED']);
    first.post.stop();

    const after = new ManualClock(before.now() + 60_000);
    const afterFeed = new Feed();
    afterFeed.barrier = new StandInBarrier(afterFeed, after);
    const emitted: Emitted[] = [];
    const second = postOn(db, after, emitted, { config, feed: afterFeed });
    const laneConsole = new LaneConsole({ post: second.post, onEvent: () => () => undefined, devices: afterFeed, deviceHealth: () => undefined, image: () => null, clock: after });
    const standing = (laneId: string) => (laneConsole.lanes().find((lane) => lane.laneId === laneId)?.alarms ?? []) as { code: string; message: string; resolvedBy: string | null; severity: string }[];
    expect(standing('lane-1')).toEqual([expect.objectContaining({ code: 'GW_ERR_BARRIER_NOT_CONFIRMED', message: raised[1]?.[2], resolvedBy: 'barrier', severity: 'critical' })]);
    expect(standing('lane-2')).toEqual([expect.objectContaining({ code: 'WF_PLATE_UNREAD', message: raised[0]?.[2], resolvedBy: 'plate' })]);
    expect(emitted).toEqual([]);
    // Resolved as before the restart: the plate entered, the arm found closed.
    const unread = second.post.lane('lane-2').workflow.open()[0]!;
    second.post.lane('lane-2').workflow.setPlate(unread.crossingId, 'GE-777-GG', SUPERVISOR, 'read from the trailer');
    afterFeed.barrier.set({ position: 'closed' });
    expect(standing('lane-1')).toEqual([]);
    expect(standing('lane-2')).toEqual([]);
    laneConsole.stop();
    second.post.stop();
  });

  describe('a barrier cycle restored open', () => {
    /**
     * Before the restart: a vehicle released on lane 1, its release (and the cycle, `open`) stored,
     * and the OPEN still pending at the barrier when the process dies: it never reached the arm.
     */
    async function killedBeforeTheOpenReachedTheBarrier(db: Database.Database): Promise<{ crossingId: string; wallMs: number }> {
      const before = new ManualClock();
      const beforeFeed = new Feed();
      const barrier = new StandInBarrier(beforeFeed, before);
      beforeFeed.barrier = barrier;
      const first = postOn(db, before, [], { config, feed: beforeFeed });
      const crossing = first.post.register('lane-1', { plate: 'GE-301-AA', actor: SUPERVISOR, declaration: DECLARATION });
      first.post.lane('lane-1').workflow.forceRelease(crossing.crossingId, SUPERVISOR, 'released for the test');
      expect(barrier.pending.map((p) => p.command)).toEqual(['open']);
      expect(barrier.state.position).toBe('closed');
      first.post.stop();
      await flush();
      return { crossingId: crossing.crossingId, wallMs: before.now() };
    }

    /** The gateway started again on `db`, with its console listening to its events. */
    function restarted(db: Database.Database, wallMs: number) {
      const clock = new ManualClock(wallMs + 60_000);
      const feed = new Feed();
      const barrier = new StandInBarrier(feed, clock);
      feed.barrier = barrier;
      const emitted: Emitted[] = [];
      const listeners: ((event: EventDraft) => void)[] = [];
      const { post } = postOn(db, clock, emitted, { config, feed, onEvent: (event) => listeners.forEach((listener) => listener(event)) });
      const laneConsole = new LaneConsole({
        post,
        onEvent: (listener) => {
          listeners.push(listener);
          return () => undefined;
        },
        devices: feed,
        deviceHealth: () => undefined,
        image: () => null,
        clock,
      });
      const standing = () => (laneConsole.lanes().find((lane) => lane.laneId === 'lane-1')?.alarms ?? []) as { code: string; message: string; resolvedBy: string | null; severity: string }[];
      return { clock, barrier, emitted, post, laneConsole, standing, stop: () => (laneConsole.stop(), post.stop()) };
    }

    it('raises a lane alarm, opens nothing, and lets the supervisor open by hand when the arm is found closed after the restart', async () => {
      const db = new Database(':memory:');
      const { crossingId, wallMs } = await killedBeforeTheOpenReachedTheBarrier(db);
      const after = restarted(db, wallMs);
      expect(after.post.lane('lane-1').cycle.phase).toBe('open'); // as stored, until the arm is read
      expect(after.emitted).toEqual([]);

      after.barrier.set({}); // the first poll: closed, nobody on the loop
      await flush();
      const raised = after.emitted.filter((e) => e.type === 'alarm.raised');
      expect(raised).toEqual([
        expect.objectContaining({
          laneId: 'lane-1',
          data: expect.objectContaining({ alarm: 'WF_BARRIER_OPEN_UNCONFIRMED', severity: 'warning', details: { barrierId: 'bar-1', command: 'open', position: 'closed', waiting: 1, crossingId: null } }) as unknown,
        }),
      ]);
      expect(String(raised[0]?.data.message)).toContain('open it by hand');
      expect(after.standing()).toEqual([expect.objectContaining({ code: 'WF_BARRIER_OPEN_UNCONFIRMED', resolvedBy: 'barrier', severity: 'warning' })]);
      // Fail safe: the gateway sends no OPEN by itself, now or on later readings.
      after.barrier.set({ vehiclePresent: true });
      await flush();
      expect(after.barrier.pending).toEqual([]);
      expect(after.post.lane('lane-1').cycle).toMatchObject({ phase: 'idle', waiting: 1 });
      expect(after.post.lane('lane-1').workflow.get(crossingId).state).toBe('released');
      after.stop();

      // Killed again before anyone acted: the console shows the alarm again, without a new event.
      const again = restarted(db, wallMs + 120_000);
      again.barrier.set({ vehiclePresent: true });
      await flush();
      expect(again.emitted).toEqual([]);
      expect(again.standing()).toEqual([expect.objectContaining({ code: 'WF_BARRIER_OPEN_UNCONFIRMED', resolvedBy: 'barrier' })]);
      // As it asks: the supervisor opens by hand, the truck drives through, the loop records its exit.
      const byHand = again.post.operateBarrier('lane-1', 'open', SUPERVISOR, 'truck waiting after the restart');
      await flush();
      await again.barrier.confirm('open');
      await byHand;
      expect(again.standing()).toEqual([]);
      again.barrier.set({ vehiclePresent: false });
      expect(again.emitted.find((e) => e.type === 'crossing.completed')).toMatchObject({ subject: crossingId, data: { outcome: 'completed' } });
      again.stop();
    });

    it('carries the cycle on when the first reading shows the arm open: no alarm, closed behind the vehicle', async () => {
      const db = new Database(':memory:');
      const { crossingId, wallMs } = await killedBeforeTheOpenReachedTheBarrier(db);
      const after = restarted(db, wallMs);
      after.barrier.set({ position: 'moving' }); // still travelling up: undecided
      after.barrier.set({ position: 'open' });
      after.clock.advance(60_000);
      after.barrier.set({ vehiclePresent: true });
      after.barrier.set({ vehiclePresent: false });
      await flush();
      await after.barrier.confirm('close');
      expect(after.emitted.filter((e) => e.type === 'alarm.raised')).toEqual([]);
      expect(after.emitted.find((e) => e.type === 'crossing.completed')).toMatchObject({ subject: crossingId, data: { outcome: 'completed' } });
      expect(after.post.lane('lane-1').cycle).toMatchObject({ phase: 'idle', waiting: 0 });
      after.stop();
    });

    it('raises it when no reading shows the arm in time, and carries on if a later reading shows it open after all', async () => {
      const db = new Database(':memory:');
      const { wallMs } = await killedBeforeTheOpenReachedTheBarrier(db);
      const after = restarted(db, wallMs);
      after.barrier.set({ position: 'moving' }); // stuck between its limits, or the barrier not answering
      after.clock.advance(RESTORED_OPEN_CONFIRM_MS - 1);
      expect(after.emitted).toEqual([]);
      after.clock.advance(1);
      await flush();
      expect(after.emitted.map((e) => e.data.alarm)).toEqual(['WF_BARRIER_OPEN_UNCONFIRMED']);
      expect(after.emitted[0]?.data.details).toMatchObject({ position: null, command: 'open' });
      expect(after.standing()).toHaveLength(1);
      after.barrier.set({ position: 'open' });
      expect(after.post.lane('lane-1').cycle.phase).toBe('open');
      expect(after.standing()).toEqual([]);
      expect(after.barrier.pending).toEqual([]);
      after.stop();
    });
  });
});
