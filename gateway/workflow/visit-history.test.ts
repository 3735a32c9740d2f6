/**
 * The visit history on a running post (gateway, post runtime, lane workflow): a plate's earlier
 * arrivals reach the risk features of its next crossing from the gateway's database (written with
 * each vehicle.arrived, read as the vehicle is assessed), and still do after a restart, with
 * nothing of them held in memory between. The readings are handed to the workflow as the device
 * manager would.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { DeviceFeedStandIn } from '../../test/helpers/post-harness.js';
import { rulesOnlyConfig, startTestGateway, tempDir } from '../../test/helpers/test-config.js';
import type { Gateway } from '../daemon.js';
import { createLogger } from '../logger.js';
import { startPostRuntime, type PostRuntime } from '../post-runtime.js';

interface Stored {
  type: string;
  seq: number;
  data: Record<string, unknown>;
}

const config = rulesOnlyConfig([{ id: 'lane-1' }]);
const HOUR = 3_600_000;

describe('visit history on a post', () => {
  /** What a test started and has not stopped, stopped after it in the reverse order. */
  const running: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    for (const part of running.splice(0).reverse()) await part.stop();
  };
  afterEach(stopAll);

  it("counts a plate's earlier arrivals in its next crossing's features, across a restart", async () => {
    const dir = tempDir('visits-');
    const clock = new ManualClock(Date.UTC(2026, 10, 27, 8));
    const logger = createLogger('silent');
    const feed = new DeviceFeedStandIn();
    const devices = { onReadings: feed.onReadings.bind(feed), onHealthChanges: feed.onHealthChanges.bind(feed), health: feed.health, driver: () => undefined };
    const start = async (): Promise<{ g: Gateway; post: PostRuntime }> => {
      const g = await startTestGateway(config, dir);
      running.push(g);
      const post = await startPostRuntime({ config, gateway: g, devices, clock, logger });
      running.push(post);
      return { g, post };
    };
    /** The first stored event `pick` finds, once it is committed. */
    const stored = async (g: Gateway, pick: (event: Stored) => boolean): Promise<Stored> => {
      for (;;) {
        const found = g.outbox.readFrom(0, 100_000).map((row) => JSON.parse(row.payload) as Stored).find(pick);
        if (found && g.outbox.durableSeq >= g.outbox.lastSeq) return found;
        await once(g.outbox, 'committed');
      }
    };
    /** A truck read by the entry camera (as `read`), registered and weighed: its risk features. */
    const crossing = async (g: Gateway, post: PostRuntime, read: string): Promise<Record<string, unknown>> => {
      clock.advance(HOUR);
      const before = g.outbox.lastSeq;
      feed.read('lane-1', 'entry', { type: 'plate.read', deviceId: 'cam-1', plate: { text: read, raw: read, confidence: 0.9, country: null, formatValid: null }, plateType: null, vehicleType: 'truck', imageRef: null, cameraTime: null, atMs: clock.now() });
      const crossingId = String((await stored(g, (e) => e.seq > before && e.type === 'vehicle.arrived')).data.crossingId);
      post.post.register('lane-1', { crossingId, actor: { id: 'desk', role: 'registration' }, declaration: { direction: 'import', declaredWeightKg: 20_000, documents: [], aeo: false, previousVisits30d: null } });
      feed.read('lane-1', 'lane', { type: 'weight.stable', deviceId: 'scale-1', weightKg: 20_000, axles: null, atMs: clock.now() });
      return (await stored(g, (e) => e.type === 'risk.assessed' && e.data.crossingId === crossingId)).data.features as Record<string, unknown>;
    };

    let { g, post } = await start();
    expect(await crossing(g, post, 'GE-123-AB')).toMatchObject({ visits30d: 0 });
    expect(await crossing(g, post, 'OTHER-1')).toMatchObject({ visits30d: 0 });
    // The same truck, its plate read with an OCR confusion (I for 1): one visit before.
    expect(await crossing(g, post, 'GE-I23-AB')).toMatchObject({ visits30d: 1 });

    // Stopped and started again on the same data directory: the two visits are still counted.
    await stopAll();
    feed.forgetListeners();
    ({ g, post } = await start());
    expect(await crossing(g, post, 'GE123AB')).toMatchObject({ visits30d: 2 });
    expect(await crossing(g, post, 'OTHER-1')).toMatchObject({ visits30d: 1 });
  });
});
