/**
 * A day of a 4-lane post on the injected clock, in seconds of test time: the simulator's trucks
 * (arrivals, registration queues, channels, scanner, inspection bay) drive the real lane workflow,
 * the real bundled risk and X-ray screening models in onnxruntime, the lane API and the outbox.
 * Only the device transports are stood in for (they keep real time; sim-run and the driver tests
 * cover them): a stand-in camera, platform and scanner hand the workflow the readings the drivers
 * would. The TRS report over the outbox must then look like the VMC dashboards: registration ≈ 100
 * min, crossing ≈ 135 min, X-ray ≈ 27%, and every truck accounted for — also across a hot swap of
 * the risk model at midday.
 */
import { generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.js';
import { Gateway } from '../gateway/daemon.js';
import { createLogger } from '../gateway/logger.js';
import { BUNDLED_MODELS, startPostRuntime } from '../gateway/post-runtime.js';
import { trainRiskModel } from '../edge-models/train-models.js';
import { readOutbox } from '../gateway/trs/event-sources.js';
import { crossingRecord, trsReport, type CrossingRecord } from '../contract/trs-report.js';
import { resolveUplinkSettings } from '../gateway/uplink/resolve-settings.js';
import { TrafficGenerator } from '../sim/traffic.js';
import { seededRandom } from '../sim/truck-profiles.js';
import { ManualClock } from './helpers/manual-clock.js';
import { DeviceFeedStandIn, InProcessDesk, standInLanes } from './helpers/post-harness.js';
import { tempDir } from './helpers/test-config.js';
import { FOUR_LANES, fourLaneConfig } from './helpers/four-lane-post.js';

const BUNDLED = dirname(BUNDLED_MODELS.risk);
const HOUR = 3_600_000;

const LANES = FOUR_LANES;
const config = fourLaneConfig();

describe('a day of a 4-lane post on the injected clock', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('completes every truck with TRS figures of the order the VMC shows', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 26, 0, 0));
    const dataDir = tempDir('day-');
    // The risk model in use is a copy of the bundled one, replaced at midday by one this test signs.
    const models = join(dataDir, 'models');
    mkdirSync(models);
    for (const file of ['risk.manifest.json', 'risk-2026.11.26.onnx']) copyFileSync(join(BUNDLED, file), join(models, file));
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(models, 'test.pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    config.models = { publicKeys: [BUNDLED_MODELS.publicKey, join(models, 'test.pub.pem')], risk: join(models, 'risk.manifest.json') };
    const logger = createLogger('silent');
    const gateway = await Gateway.start({ config, uplink: resolveUplinkSettings(config), logger, clock: systemClock, eventClock: clock, dataDir, http: false });
    cleanup.push(() => gateway.stop());
    const feed = new DeviceFeedStandIn();
    const random = seededRandom(2026);
    const runtime = await startPostRuntime({ config, gateway, devices: feed, clock, logger, random });
    cleanup.push(() => runtime.stop());
    expect(runtime.riskSlot.version).toBe('2026.11.26');
    expect(runtime.riskSlot.lastError).toBeNull();
    expect(runtime.screeningSlot.version).toBe('2026.11.26');

    const lanes = standInLanes(feed, LANES, clock, join(dataDir, 'scans'));
    const errors: Error[] = [];
    const desk = await InProcessDesk.create(gateway);
    clock.settleWith(() => desk.settled());
    // An admin asks for the swap; the acting identity comes from the session.
    const adminToken = gateway.sessions.create(gateway.accounts.addAccount('post-admin', 'admin', 'scrypt$unused')).token;
    const traffic = new TrafficGenerator(lanes, { clock, deviceClock: clock, intervalSec: 600, desk, random, watchlist: config.workflow.watchlist, onError: (e) => errors.push(e) });
    cleanup.push(() => Promise.resolve(traffic.stop()));
    traffic.start();
    await clock.runFor(12 * HOUR);
    // Hot swap at midday with vehicles in every state: a new model is written and reloaded.
    const next = trainRiskModel({ outDir: join(dataDir, 'next'), privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), version: '2026.11.26.1', seed: 11, trainRows: 6000, testRows: 1500 });
    copyFileSync(join(dataDir, 'next', next.manifest.file), join(models, next.manifest.file));
    copyFileSync(next.manifestPath, join(models, 'risk.manifest.json'));
    const reload = await gateway.operatorApp?.inject({ method: 'POST', url: '/api/models/reload', headers: { authorization: `Bearer ${adminToken}` }, payload: {} });
    expect(reload?.statusCode).toBe(200);
    expect(reload?.json()).toMatchObject({ risk: { version: '2026.11.26.1', swapped: true, fromVersion: '2026.11.26' } });
    await clock.runFor(12 * HOUR);
    traffic.stopArrivals();
    await clock.runFor(12 * HOUR);

    expect(errors).toEqual([]);
    const { counts } = runtime.post;
    // Every truck that arrived left through the exit camera and was completed; none abandoned.
    expect(traffic.trucks).toBeGreaterThan(450);
    expect(traffic.exited).toBe(traffic.trucks);
    expect(counts.completed).toBe(traffic.trucks);
    expect(counts.abandoned).toBe(0);
    expect(counts.notStored).toBe(0);
    expect(runtime.assessor.decisions).toMatchObject({ rules: 0, modelFailed: 0, model: traffic.trucks });

    await new Promise<void>((resolve) => setImmediate(resolve));
    const events = [...readOutbox(join(dataDir, 'outbox.db'), (event) => event)];
    const completed = events.filter((e) => e.type === 'crossing.completed');
    expect(completed).toHaveLength(traffic.trucks);
    const report = trsReport(completed.map(crossingRecord).filter((r): r is CrossingRecord => r !== null));
    console.log(`4-lane day: ${JSON.stringify({ vehicles: report.vehicles, channels: report.channels, xrayShare: report.xrayShare, registration: report.registration, crossing: report.crossing })}`);
    expect(report.vehicles).toBe(traffic.trucks);
    expect(report.registration.avgMin).toBeGreaterThan(85);
    expect(report.registration.avgMin).toBeLessThan(115);
    expect(report.crossing.avgMin).toBeGreaterThan(115);
    expect(report.crossing.avgMin).toBeLessThan(155);
    expect(report.xrayShare).toBeGreaterThan(0.2);
    expect(report.xrayShare).toBeLessThan(0.34);
    // Both models decided vehicles, and none was lost at the swap.
    const versions = new Set(completed.map((e) => (e.data as { risk: { modelVersion: string } }).risk.modelVersion));
    expect(versions).toEqual(new Set(['2026.11.26', '2026.11.26.1']));
    // Every scanned crossing carries the screening model's score.
    const scanned = completed.filter((e) => (e.data as { xray: boolean }).xray);
    expect(scanned.every((e) => (e.data as { xrayScreening: { modelVersion: string } | null }).xrayScreening?.modelVersion === '2026.11.26')).toBe(true);
  }, 120_000);
});
