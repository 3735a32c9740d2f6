/**
 * Quiet health: a flapping device yields a bounded number of `device.status` events whose
 * `changes` add up to every health change, and its last state is always published. The device
 * manager runs on the manual clock with a stand-in driver; the events go through a real gateway
 * (catalogue validation, outbox) with no broker.
 */
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../config/load-config.js';
import type { DriverEventMap, DriverHealth, HealthState } from '../../drivers/driver.js';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { startTestGateway } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import type { EventData } from '../../contract/catalogue.js';
import { DeviceManager } from './device-manager.js';

/** A driver whose health the test sets, emitting `health` on each change as DriverBase does. */
class FlappingDriver extends EventEmitter<DriverEventMap<unknown>> {
  readonly kind = 'anpr' as const;
  private current: DriverHealth;

  constructor(
    readonly id: string,
    private readonly clock: ManualClock,
  ) {
    super();
    this.current = { state: 'down', lastError: 'not started', sinceMs: clock.now() };
  }

  start(): Promise<void> {
    this.set('up');
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  health(): DriverHealth {
    return { ...this.current };
  }

  set(state: HealthState, lastError: string | null = null): void {
    this.current = { state, lastError: state === 'up' ? null : lastError, sinceMs: this.clock.now() };
    this.emit('health', this.health());
  }
}

const config = parseConfigText(`
version: 1
post: { id: test-post }
lanes:
  - id: lane-1
    devices:
      - { id: cam-1, driver: anpr-http-push, connection: { path: /push/cam-1 } }
      - { id: cam-2, driver: anpr-http-push, connection: { path: /push/cam-2 } }
uplink: { brokers: ['mqtt://127.0.0.1:1'] }
outbox: { path: outbox.db }
`);

type Status = EventData<'device.status'> & { time: string };

function statusEvents(gateway: Gateway, deviceId: string): Status[] {
  return gateway.outbox
    .readFrom(0, 100_000)
    .filter((row) => row.type === 'device.status')
    .map((row) => JSON.parse(row.payload) as { data: EventData<'device.status'>; time: string })
    .filter((event) => event.data.deviceId === deviceId)
    .map((event) => ({ ...event.data, time: event.time }));
}

describe('DeviceManager device.status', () => {
  let gateway: Gateway | undefined;
  let devices: DeviceManager | undefined;
  afterEach(async () => {
    await devices?.stop();
    await gateway?.stop();
    devices = undefined;
    gateway = undefined;
  });

  async function start(clock: ManualClock): Promise<Map<string, FlappingDriver>> {
    const started = (gateway = await startTestGateway(config));
    // The gateway runs on real time; this clock must still wait for its commits' fsync.
    clock.settleWith(() => started.outbox.whenDurable());
    const drivers = new Map<string, FlappingDriver>();
    devices = new DeviceManager(config, gateway, clock, pino({ level: 'silent' }), '/nonexistent', {
      createDriver: (device) => {
        const driver = new FlappingDriver(device.id, clock);
        drivers.set(device.id, driver);
        return driver;
      },
    });
    await devices.start();
    return drivers;
  }

  it('turns 1,000 flaps in a minute into a few events whose counts add up, ending on the last state', async () => {
    const clock = new ManualClock();
    const drivers = await start(clock);
    const flapping = drivers.get('cam-1') as FlappingDriver;
    const heard: HealthState[] = [];
    devices?.onHealthChanges((_lane, deviceId, health) => deviceId === 'cam-1' && heard.push(health.state));

    let changes = 1; // `up` at start
    for (let flap = 0; flap < 1000; flap += 1) {
      flapping.set('down', flap % 2 === 0 ? 'ECONNREFUSED' : 'ETIMEDOUT');
      clock.advance(30);
      flapping.set('up');
      clock.advance(30);
      changes += 2;
    }
    flapping.set('down', 'ECONNRESET'); // the state it stays in
    changes += 1;
    await clock.runFor(10 * 60_000);

    const events = statusEvents(gateway as Gateway, 'cam-1');
    // Published at 0, 5, 15, 35 s while flapping (the interval doubles), then the final one.
    expect(events.length).toBeLessThanOrEqual(6);
    expect(events.reduce((sum, event) => sum + (event.changes ?? 1), 0)).toBe(changes);
    expect(events.at(-1)).toMatchObject({ state: 'down', lastError: 'ECONNRESET' });
    // The workflow still heard every change at once (all but the `up` at start, before it listened).
    expect(heard).toHaveLength(changes - 1);
    // The quiet device next to it: one event, at once, for its one change.
    expect(statusEvents(gateway as Gateway, 'cam-2')).toEqual([expect.objectContaining({ state: 'up', changes: 1 })]);
    console.log(`device.status: ${changes} health changes in a minute → ${events.length} events (changes ${events.map((e) => e.changes).join(', ')})`);
  });

  it('publishes a change after a quiet interval at once, and says when the state began', async () => {
    const clock = new ManualClock();
    const drivers = await start(clock);
    const camera = drivers.get('cam-1') as FlappingDriver;
    await clock.runFor(60_000);
    const downAt = clock.now();
    camera.set('down', 'ECONNREFUSED');
    await clock.runFor(0);
    expect(statusEvents(gateway as Gateway, 'cam-1').at(-1)).toMatchObject({ state: 'down', changes: 1, since: new Date(downAt).toISOString() });

    // Within the interval: held, then published with the state it is in when the interval ends.
    camera.set('up');
    camera.set('degraded', 'slow answers');
    await clock.runFor(0);
    expect(statusEvents(gateway as Gateway, 'cam-1')).toHaveLength(2);
    await clock.runFor(5_000);
    expect(statusEvents(gateway as Gateway, 'cam-1').at(-1)).toMatchObject({ state: 'degraded', lastError: 'slow answers', changes: 2 });
  });

  it('publishes a held change when stopped', async () => {
    const clock = new ManualClock();
    const drivers = await start(clock);
    (drivers.get('cam-1') as FlappingDriver).set('down', 'unplugged');
    await devices?.stop();
    devices = undefined;
    await clock.runFor(0);
    expect(statusEvents(gateway as Gateway, 'cam-1').at(-1)).toMatchObject({ state: 'down', lastError: 'unplugged', changes: 1 });
  });
});
