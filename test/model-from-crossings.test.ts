/**
 * Issue 13, "models learn from real crossings": a simulated month of a post's crossings goes
 * through the gateway's own workflow and risk assessor (the bundled model deciding) into a VMC
 * store; `vmc export-training` exports them as labelled rows; `model train --from` learns from
 * the earlier 80 %, prints its quality on the later 20 % it never saw, and signs the model;
 * `model verify` accepts it, and it loads into the gateway's model slot and scores a vehicle.
 *
 * Be clear about what the quality measures: the labels of this month come from the simulator's
 * hidden formula (sim/truck-profiles.ts `irregularLogOdds`, seen through an X-ray that misses 20 %
 * of concealed loads and an inspection that finds every one), so the held-out AUC says the
 * pipeline recovers that formula from what a post records — not how a model would do at a real
 * post. The assertion is only that it is better than chance by a margin no coin reaches (three
 * standard errors of the AUC of a random scorer on the same held-out counts).
 *
 * Also: the features each decision used (what the bundled model was given) are the features the
 * export yields for that crossing, bit for bit.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { checkEvent } from '../contract/event-validator.js';
import { trainingRowSchema, type TrainingRow } from '../contract/training-rows.js';
import { PACKAGE_ROOT } from '../core/package-info.js';
import { readPublicKeys, type ModelManifest } from '../edge-models/manifest.js';
import { ModelSlot } from '../edge-models/model-slot.js';
import { riskFeatureVector } from '../edge-models/risk-features.js';
import { RiskModel } from '../edge-models/risk-model.js';
import { WATCHLIST } from '../edge-models/train-models.js';
import { createLogger } from '../gateway/logger.js';
import { modelCommand } from '../gateway/model-commands.js';
import type { Crossing, RiskDecision } from '../gateway/workflow/lane-workflow.js';
import { RiskAssessor } from '../gateway/workflow/risk-assessor.js';
import { MemoryVisitHistory } from './helpers/memory-visit-history.js';
import { VmcStore } from '../vmc/store/vmc-store.js';
import { vmcCommand } from '../vmc/vmc-cli.js';
import { simulateMonth } from './helpers/simulated-month.js';
import { tempDir } from './helpers/test-config.js';

const BUNDLED = { manifest: join(PACKAGE_ROOT, 'models', 'risk.manifest.json'), publicKey: join(PACKAGE_ROOT, 'models', 'keys', 'release.pub.pem') };
const START = Date.UTC(2026, 9, 1);

describe('a risk model trained from the exported crossings of a simulated month', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('exports the decisions’ own features with the outcomes, trains on the earlier crossings, beats chance on the later ones, and runs in the gateway', async () => {
    const dir = tempDir('month-');
    // The post decides with the bundled model; every input it is given is recorded.
    const deciding = new ModelSlot('risk', (verified) => RiskModel.load(verified), () => readPublicKeys([BUNDLED.publicKey]));
    cleanup.push(() => deciding.close());
    await deciding.load(BUNDLED.manifest);
    const inputs = await deciding.use((model) => Promise.resolve(vi.spyOn(model as RiskModel, 'score')));
    const decisions: { crossingId: string; decision: RiskDecision }[] = [];

    const month = await simulateMonth({
      postId: 'month-post',
      startMs: START,
      days: 30,
      perDay: 150,
      seed: 13,
      riskSlot: deciding,
      watchlist: WATCHLIST,
      randomXrayShare: 0.1,
      onDecision: (crossingId, decision) => decisions.push({ crossingId, decision }),
    });
    console.log(`simulated month: ${month.trucks} trucks (${month.irregular} irregular by the simulator's hidden truth), ${month.completed} completed, ${month.events.length} events`);
    expect(month.completed).toBe(month.trucks);
    expect(month.trucks).toBeGreaterThan(4000);
    // What the gateway would have sent, valid against the contract (risk.assessed with its features).
    const invalid = month.events.map(checkEvent).filter((check) => !check.ok);
    expect(invalid).toEqual([]);

    const spec = `sqlite:${join(dir, 'vmc.db')}`;
    const store = await VmcStore.open(spec, START);
    for (let i = 0; i < month.events.length; i += 2000) await store.store(month.events.slice(i, i + 2000), 'month-test', START + 40 * 86_400_000);
    await store.close();

    const printed: string[] = [];
    const io = { out: (line: string) => printed.push(line), readSecret: () => Promise.resolve('') };
    const rowsFile = join(dir, 'crossings.jsonl');
    expect(await vmcCommand(['export-training', '--store', spec, '--out', rowsFile, '--from', '2026-10-01', '--to', '2026-11-01'], io)).toBe(0);
    console.log(printed.join('\n'));
    const rows = readFileSync(rowsFile, 'utf8')
      .trim()
      .split('\n')
      .map((line) => trainingRowSchema.parse(JSON.parse(line)));
    // Crossings that ended after --to are left out; everything else completed in October is there.
    expect(rows.length).toBeGreaterThan(month.completed - 40);
    expect(rows.length).toBeLessThanOrEqual(month.completed);

    // Every model decision: the input the model got is what the export yields for its crossing.
    expect(inputs.mock.calls).toHaveLength(decisions.length);
    const byCrossing = new Map<string, TrainingRow>(rows.map((row) => [row.crossingId, row]));
    let compared = 0;
    decisions.forEach(({ crossingId, decision }, i) => {
      const row = byCrossing.get(crossingId);
      if (!row) return;
      const given = inputs.mock.calls[i]?.[0] as Float32Array;
      expect(Array.from(riskFeatureVector(row.features) ?? []), crossingId).toEqual(Array.from(given));
      expect(row.decision).toEqual({ channel: decision.channel, score: decision.score, modelVersion: decision.modelVersion });
      compared += 1;
    });
    expect(compared).toBe(rows.length);

    // Train from the export with a key of the post's own, and print what it says.
    const keys = join(dir, 'keys');
    expect(await modelCommand(['keygen', '--out', keys], io.out)).toBe(0);
    const trained = join(dir, 'trained');
    printed.length = 0;
    expect(await modelCommand(['train', '--from', rowsFile, '--key', join(keys, 'model-signing.key.pem'), '--out', trained, '--version', '2026.12.1'], io.out)).toBe(0);
    console.log(printed.join('\n'));
    expect(printed.join('\n')).toMatch(/held-out quality: AUC 0\.\d{3}, base rate/);

    const manifestPath = join(trained, 'risk.manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as ModelManifest;
    const quality = manifest.quality as { aucHeldOut: number; heldOutRows: number; irregularHeldOut: number; baseRateHeldOut: number; red: { precision: number; recall: number }; split: string };
    expect(quality.split).toBe('time');
    // The AUC of a scorer that knows nothing has mean 0.5 and this standard error on these counts (Hanley & McNeil, null case).
    const positives = quality.irregularHeldOut;
    const negatives = quality.heldOutRows - positives;
    const chanceSe = Math.sqrt((positives + negatives + 1) / (12 * positives * negatives));
    console.log(`held-out AUC ${quality.aucHeldOut} against chance 0.5 ± ${chanceSe.toFixed(3)} (${positives} irregular, ${negatives} clear)`);
    expect(quality.aucHeldOut).toBeGreaterThan(0.5 + 3 * chanceSe);
    // Red picks irregular loads more often than checking at random would.
    expect(quality.red.precision).toBeGreaterThan(quality.baseRateHeldOut);

    printed.length = 0;
    expect(await modelCommand(['verify', manifestPath, '--public-key', join(keys, 'model-signing.pub.pem')], io.out)).toBe(0);
    expect(printed[0]).toContain(': ok — risk border-risk-gbdt 2026.12.1');

    // Loaded into the gateway's risk slot, it decides a vehicle.
    const slot = new ModelSlot('risk', (verified) => RiskModel.load(verified), () => readPublicKeys([join(keys, 'model-signing.pub.pem')]));
    cleanup.push(() => slot.close());
    expect(await slot.load(manifestPath)).toMatchObject({ status: 'swapped', toVersion: '2026.12.1' });
    const assessor = new RiskAssessor({
      slot,
      rules: { watchlist: WATCHLIST, weightToleranceShare: 0.1, randomXrayShare: 0, random: () => 0.5 },
      history: new MemoryVisitHistory(),
      utcOffsetMin: 0,
      logger: createLogger('silent'),
      onModelFailure: () => undefined,
    });
    const vehicle: Crossing = {
      crossingId: 'after-rollout-1',
      laneId: 'lane-1',
      state: 'weighed',
      plate: 'GE-404-XZ',
      plateConfidence: 0.93,
      vehicleType: 'van',
      detectedBy: 'anpr',
      declaration: { direction: 'transit-entry', declaredWeightKg: 3000, documents: ['SAD-9'], aeo: false, previousVisits30d: 0 },
      weightKg: 3600,
      risk: null,
      xray: false,
      inspectionOutcome: null,
      scan: null,
      wallMs: { arrived: Date.UTC(2026, 11, 2, 3, 10) },
      monoMs: { arrived: 0 },
      clock: { synchronised: true, offsetMs: 0.2 },
    };
    const decision = await assessor.assess(vehicle, Date.UTC(2026, 11, 2, 5));
    console.log(`rolled-out model on a first-visit transit van 20 % over its declared weight at 03:10: ${JSON.stringify({ channel: decision.channel, score: decision.score, reasons: decision.reasons })}`);
    expect(decision.modelVersion).toBe('2026.12.1');
    expect(assessor.decisions).toMatchObject({ model: 1, rules: 0, modelFailed: 0 });
    expect(decision.features?.hourOfDay).toBe(3);
  }, 180_000);
});
