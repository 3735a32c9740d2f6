import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../logger.js';
import { trainGradientBoosting } from '../../edge-models/gradient-boosting.js';
import { sha256Hex, signManifest } from '../../edge-models/manifest.js';
import { ModelSlot } from '../../edge-models/model-slot.js';
import { RISK_FEATURES } from '../../edge-models/risk-features.js';
import { RiskModel } from '../../edge-models/risk-model.js';
import { trainRiskModel, type TrainedModel } from '../../edge-models/train-models.js';
import { ensembleToOnnx } from '../../edge-models/tree-ensemble-onnx.js';
import type { Crossing } from './lane-workflow.js';
import Database from 'better-sqlite3';
import { ManualClock } from '../../test/helpers/manual-clock.js';
import { LaneStore } from './lane-store.js';
import { RiskAssessor } from './risk-assessor.js';
import { MemoryVisitHistory } from '../../test/helpers/memory-visit-history.js';

let dir: string;
let publicKey: KeyObject;
let good: TrainedModel;
let brokenManifest: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'assessor-'));
  const pair = generateKeyPairSync('ed25519');
  publicKey = pair.publicKey;
  const privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  good = trainRiskModel({ outDir: dir, privateKeyPem, version: '2026.11.26', seed: 3, trainRows: 4000, testRows: 1000 });
  // A model that loads (its manifest is right and signed) but fails on every vehicle: its graph
  // takes one feature too few, which onnxruntime finds only when it runs.
  const narrow = trainGradientBoosting(
    Array.from({ length: 200 }, (_, i) => Float32Array.from({ length: RISK_FEATURES.length - 1 }, () => i % 7)),
    Uint8Array.from({ length: 200 }, (_, i) => i % 2),
  );
  const bytes = ensembleToOnnx(narrow, {});
  writeFileSync(join(dir, 'broken.onnx'), bytes);
  brokenManifest = join(dir, 'broken.manifest.json');
  const manifest = signManifest(
    { kind: 'risk', name: 'broken', version: '2026.11.26.1', file: 'broken.onnx', sha256: sha256Hex(bytes), createdAt: '2026-11-26T00:00:00Z', features: [...RISK_FEATURES], baseline: RISK_FEATURES.map(() => 0), thresholds: { orange: 0.3, red: 0.6 } },
    privateKeyPem,
  );
  writeFileSync(brokenManifest, JSON.stringify(manifest));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function crossing(overrides: Partial<Crossing> = {}): Crossing {
  return {
    crossingId: 'c-1',
    laneId: 'lane-1',
    state: 'weighed',
    plate: 'GE-123-AB',
    plateConfidence: 0.94,
    vehicleType: 'tractor-trailer',
    detectedBy: 'anpr',
    declaration: { direction: 'import', declaredWeightKg: 20_000, documents: ['SAD-1'], aeo: false, previousVisits30d: 8 },
    weightKg: 20_150,
    risk: null,
    xray: false,
    inspectionOutcome: null,
    scan: null,
    wallMs: { arrived: Date.UTC(2026, 10, 26, 10) },
    monoMs: { arrived: 0 },
    clock: { synchronised: true, offsetMs: 0.2 },
    ...overrides,
  };
}

function assessor(slot: ModelSlot<RiskModel>, failures: string[] = []): RiskAssessor {
  return new RiskAssessor({
    slot,
    rules: { watchlist: ['AB-123-CD'], weightToleranceShare: 0.1, randomXrayShare: 0, random: () => 0.5 },
    history: new MemoryVisitHistory(),
    utcOffsetMin: 0,
    logger: createLogger('silent'),
    onModelFailure: (c, error) => failures.push(`${c.crossingId}: ${error.message}`),
  });
}

const at = Date.UTC(2026, 10, 26, 12);
const newSlot = (): ModelSlot<RiskModel> => new ModelSlot('risk', (verified) => RiskModel.load(verified), () => [publicKey]);

describe('risk assessor', () => {
  it('lets the rules decide, and says so, when no model is loaded', async () => {
    const decision = await assessor(newSlot()).assess(crossing({ weightKg: 26_000 }), at);
    expect(decision).toMatchObject({ channel: 'orange', modelVersion: 'rules', xrayRequested: true });
    expect(decision.reasons).toEqual(['measured weight off the declared by 30%', 'no risk model loaded: rules decided']);
  });

  it('decides by the model, with its version and reasons; the watchlist rule overrides it; AEO goes one channel down', async () => {
    const slot = newSlot();
    await slot.load(good.manifestPath);
    const subject = assessor(slot);
    const routine = await subject.assess(crossing(), at);
    expect(routine).toMatchObject({ channel: 'green', modelVersion: '2026.11.26', xrayRequested: false });
    expect(routine.reasons.length).toBeGreaterThan(0);

    const listed = await subject.assess(crossing({ plate: 'AB-I23-CD' }), at);
    expect(listed.channel).toBe('red');
    expect(listed.reasons[0]).toBe('rule: watchlist match → red');
    expect(listed.modelVersion).toBe('2026.11.26');

    const heavy = crossing({ weightKg: 27_000, declaration: { direction: 'transit-entry', declaredWeightKg: 20_000, documents: [], aeo: false, previousVisits30d: 0 } });
    const unknownCarrier = await subject.assess(heavy, at);
    expect(unknownCarrier.channel).toBe('red');
    const trusted = await subject.assess({ ...heavy, declaration: { ...(heavy.declaration as NonNullable<Crossing['declaration']>), aeo: true } }, at);
    expect(trusted.channel).toBe('orange');
    expect(trusted.reasons.at(-1)).toBe('rule: authorised economic operator → orange');
    expect(subject.decisions).toEqual({ model: 4, rules: 0, modelFailed: 0 });
    await slot.close();
  });

  it('decides by the rules when the model fails on a vehicle, tells the gateway, and never leaves it undecided', async () => {
    const slot = newSlot();
    await slot.load(brokenManifest);
    const failures: string[] = [];
    const subject = assessor(slot, failures);
    const decisions = await Promise.all(Array.from({ length: 5 }, (_, i) => subject.assess(crossing({ crossingId: `c-${i}` }), at)));
    expect(decisions.map((d) => d.modelVersion)).toEqual(['rules', 'rules', 'rules', 'rules', 'rules']);
    expect(decisions.every((d) => d.channel === 'green' && d.reasons.at(-1)?.startsWith('risk model 2026.11.26.1 failed ('))).toBe(true);
    expect(failures).toHaveLength(5);
    expect(failures[0]).toMatch(/^c-0: .*(dimension|shape|Got)/i);
    expect(subject.decisions).toEqual({ model: 0, rules: 0, modelFailed: 5 });
    await slot.close();
  });

  it('decides by the rules, and tells the gateway, when the visit history cannot be read from the database', async () => {
    const slot = newSlot();
    await slot.load(good.manifestPath);
    const db = new Database(':memory:');
    const history = new LaneStore(db, new ManualClock());
    db.close(); // every read of the history now throws
    const failures: string[] = [];
    const subject = new RiskAssessor({
      slot,
      rules: { watchlist: [], weightToleranceShare: 0.1, randomXrayShare: 0, random: () => 0.5 },
      history,
      utcOffsetMin: 0,
      logger: createLogger('silent'),
      onModelFailure: (c, error) => failures.push(`${c.crossingId}: ${error.message}`),
    });
    const decision = await subject.assess(crossing({ weightKg: 26_000 }), at);
    expect(decision).toMatchObject({ channel: 'orange', modelVersion: 'rules', xrayRequested: true });
    expect(decision.reasons.at(-1)).toMatch(/^risk features failed \(.*not open.*\): rules decided$/);
    expect(decision.features).toBeUndefined();
    expect(failures).toEqual([expect.stringMatching(/^c-1: .*not open/)]);
    expect(subject.decisions).toEqual({ model: 0, rules: 0, modelFailed: 1 });
    await slot.close();
  });

  it('computes the features from the arrival hour in the post\'s offset, and carries them with every decision, the rules\' too', async () => {
    // Arrived 23:30 UTC, assessed 01:45 the next day; the post is at UTC+4: arrival hour 3 (local), whoever decides.
    const late = crossing({ wallMs: { arrived: Date.UTC(2026, 10, 26, 23, 30) } });
    const assessedAt = Date.UTC(2026, 10, 27, 1, 45);
    const atOffset = (slot: ModelSlot<RiskModel>): RiskAssessor =>
      new RiskAssessor({
        slot,
        rules: { watchlist: ['AB-123-CD'], weightToleranceShare: 0.1, randomXrayShare: 0, random: () => 0.5 },
        history: new MemoryVisitHistory(),
        utcOffsetMin: 240,
        logger: createLogger('silent'),
        onModelFailure: () => undefined,
      });
    const byRules = await atOffset(newSlot()).assess(late, assessedAt);
    expect(byRules.modelVersion).toBe('rules');
    expect(byRules.features).toMatchObject({ hourOfDay: 3, visits30d: 8, weightDeviation: Math.fround(150 / 20_000), aeo: 0, vehicleType: 0 });
    expect(Object.keys(byRules.features ?? {})).toEqual([...RISK_FEATURES]);

    const slot = newSlot();
    await slot.load(good.manifestPath);
    const given: Float32Array[] = [];
    await slot.use((model) => {
      const original = (model as RiskModel).score.bind(model);
      vi.spyOn(model as RiskModel, 'score').mockImplementation((features) => {
        given.push(features);
        return original(features);
      });
      return Promise.resolve();
    });
    const byModel = await atOffset(slot).assess(late, assessedAt);
    expect(byModel.modelVersion).toBe('2026.11.26');
    // What the event will carry is what the model was given.
    expect(given).toHaveLength(1);
    expect(RISK_FEATURES.map((name) => byModel.features?.[name])).toEqual(Array.from(given[0] as Float32Array));
    expect(byModel.features).toEqual(byRules.features);
    await slot.close();
  });
});
