import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGatewayError } from '../core/errors.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { seededRandom } from '../sim/truck-profiles.js';
import { canonicalJson, signManifest, verifyModel, type ModelManifest, type UnsignedManifest } from './manifest.js';
import { ModelSlot } from './model-slot.js';
import { RISK_FEATURES, riskFeatures, type RiskInput } from './risk-features.js';
import { RiskModel, topReasons } from './risk-model.js';
import { trainRiskModel, trainXrayModel, WATCHLIST, type TrainedModel } from './train-models.js';
import { XrayScreeningModel } from './xray-screening.js';

let dir: string;
let publicKey: KeyObject;
let otherKey: KeyObject;
let privateKeyPem: string;
let risk: TrainedModel;
let riskV2: TrainedModel;
let xray: TrainedModel;

const truck: RiskInput = {
  plate: 'GE-123-AB',
  plateConfidence: 0.93,
  declaredWeightKg: 20_000,
  measuredWeightKg: 20_100,
  direction: 'import',
  vehicleType: 'tractor-trailer',
  aeo: false,
  arrivedMs: Date.UTC(2026, 10, 26, 12),
  utcOffsetMin: 0,
  visits30d: 6,
  plateMismatches: 0,
  watchlist: WATCHLIST,
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'models-'));
  const pair = generateKeyPairSync('ed25519');
  publicKey = pair.publicKey;
  otherKey = generateKeyPairSync('ed25519').publicKey;
  privateKeyPem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const common = { privateKeyPem, seed: 5, trainRows: 6000, testRows: 2000, xrayImages: 200 };
  risk = trainRiskModel({ ...common, outDir: join(dir, 'v1'), version: '2026.11.26' });
  riskV2 = trainRiskModel({ ...common, seed: 6, outDir: join(dir, 'v2'), version: '2026.11.27' });
  xray = await trainXrayModel({ ...common, outDir: join(dir, 'v1'), version: '2026.11.26' });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const unsigned = ({ signature: _signature, ...body }: ModelManifest): UnsignedManifest => body;

function expectCode(fn: () => unknown, code: string, message: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(isGatewayError(error) && error.code).toBe(code);
    expect((error as Error).message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

describe('model manifests', () => {
  it('verifies a signed model and refuses an untrusted key, a changed manifest and a changed file', () => {
    expect(verifyModel(risk.manifestPath, [publicKey], 'risk').manifest.version).toBe('2026.11.26');
    expectCode(() => verifyModel(risk.manifestPath, [otherKey]), 'GW_ERR_MODEL_SIGNATURE', /not among the 1 trusted keys/);

    const tampered = join(dir, 'v1', 'tampered.manifest.json');
    const manifest = JSON.parse(readFileSync(risk.manifestPath, 'utf8')) as { thresholds: { red: number } };
    manifest.thresholds.red = 0.99;
    writeFileSync(tampered, JSON.stringify(manifest));
    expectCode(() => verifyModel(tampered, [publicKey]), 'GW_ERR_MODEL_SIGNATURE', /changed after signing/);

    const modelFile = join(dir, 'v1', risk.manifest.file);
    const original = readFileSync(modelFile);
    writeFileSync(modelFile, original.subarray(0, original.length - 10));
    expectCode(() => verifyModel(risk.manifestPath, [publicKey]), 'GW_ERR_MODEL_DIGEST', /has sha256 [0-9a-f]{64}, the manifest says/);
    writeFileSync(modelFile, original);

    writeFileSync(tampered, '{"kind": "risk", "version": 3}');
    expectCode(() => verifyModel(tampered, [publicKey]), 'GW_ERR_MODEL_MANIFEST', /version: .*string/);
    expectCode(() => verifyModel(xray.manifestPath, [publicKey], 'risk'), 'GW_ERR_MODEL_MANIFEST', /kind is xray-screening, expected risk/);
  });

  it('refuses a validly signed manifest whose version has no order', () => {
    // signManifest refuses such a version, so sign the bytes by hand as an older tool might have.
    const { signature, ...body } = risk.manifest;
    const unordered = { ...body, version: 'midday-1' };
    const value = sign(null, Buffer.from(canonicalJson(unordered)), createPrivateKey(privateKeyPem)).toString('base64');
    const path = join(dir, 'v1', 'unordered.manifest.json');
    writeFileSync(path, JSON.stringify({ ...unordered, signature: { ...signature, value } }));
    expectCode(() => verifyModel(path, [publicKey], 'risk'), 'GW_ERR_MODEL_MANIFEST', /version: dot-separated decimal numbers/);
    expect(() => signManifest(unordered, privateKeyPem)).toThrow(/dot-separated decimal numbers/);
  });

  it('records the held-out quality in the manifest', () => {
    const quality = risk.manifest.quality as { aucTest: number; confusionTest: Record<string, Record<string, number>> };
    // The simulator's hidden risk is learnable but noisy: well above chance, below perfect.
    expect(quality.aucTest).toBeGreaterThan(0.8);
    expect(quality.aucTest).toBeLessThan(1);
    const counted = Object.values(quality.confusionTest).flatMap((row) => Object.values(row)).reduce((a, b) => a + b, 0);
    expect(counted).toBe(2000);
  });
});

describe('risk model in onnxruntime', () => {
  it('scores a routine truck low and a watchlisted, overweight first visitor high, naming why', async () => {
    const model = await RiskModel.load(verifyModel(risk.manifestPath, [publicKey]));
    const routine = await model.score(riskFeatures(truck));
    const suspicious = await model.score(riskFeatures({ ...truck, plate: 'AB-I23-CD', measuredWeightKg: 25_000, visits30d: 0 }));
    expect(routine.score).toBeLessThan(model.thresholds.orange);
    expect(suspicious.score).toBeGreaterThan(model.thresholds.red);
    expect(suspicious.contributions.map((c) => c.feature)).toEqual([...RISK_FEATURES]);
    const reasons = topReasons(suspicious.contributions);
    expect(reasons.length).toBeGreaterThan(0);
    expect(reasons.join(' ')).toMatch(/watchlist|measured weight \+25%/);
    await model.release();
  });

  it('refuses a model whose features differ from the gateway’s', async () => {
    const manifest = JSON.parse(readFileSync(risk.manifestPath, 'utf8')) as { features: string[] };
    manifest.features = manifest.features.slice(1);
    // Re-signing is not possible without the key, so check the loader on a verified object directly.
    const verified = verifyModel(risk.manifestPath, [publicKey]);
    await expect(RiskModel.load({ ...verified, manifest: { ...verified.manifest, features: manifest.features } })).rejects.toThrow(/differ from this gateway/);
  });
});

describe('hot swap', () => {
  it('swaps models while vehicles are being scored: every vehicle scored by one whole model', async () => {
    const slot = new ModelSlot('risk', (verified) => RiskModel.load(verified), () => [publicKey]);
    await slot.load(risk.manifestPath);
    const versions: string[] = [];
    const scoreMany = (count: number): Promise<number>[] =>
      Array.from({ length: count }, (_, i) =>
        slot.use(async (model) => {
          const result = await (model as RiskModel).score(riskFeatures({ ...truck, visits30d: i % 10 }));
          versions.push((model as RiskModel).version);
          return result.score;
        }),
      );
    // 100 vehicles in flight when the swap starts; the old session must outlive them.
    const before = scoreMany(100);
    await slot.load(riskV2.manifestPath);
    const after = scoreMany(100);
    const scores = await Promise.all([...before, ...after]);
    expect(scores).toHaveLength(200);
    expect(scores.every((score) => score >= 0 && score <= 1)).toBe(true);
    expect(versions.filter((v) => v === '2026.11.26')).toHaveLength(100);
    expect(versions.filter((v) => v === '2026.11.27')).toHaveLength(100);
    expect(slot.version).toBe('2026.11.27');
    expect(slot.swaps).toBe(2);
    // A bad manifest leaves the loaded model in place and says why.
    const broken = join(dir, 'broken.manifest.json');
    copyFileSync(riskV2.manifestPath, broken);
    writeFileSync(broken, readFileSync(broken, 'utf8').replace('"2026.11.27"', '"2026.11.28"'));
    await expect(slot.load(broken)).rejects.toThrow(/signature does not verify/);
    expect(slot.version).toBe('2026.11.27');
    expect(slot.lastError?.code).toBe('GW_ERR_MODEL_SIGNATURE');
    const stillServing = await slot.use((model) => Promise.resolve((model as RiskModel).version));
    expect(stillServing).toBe('2026.11.27');
    await slot.close();
  });
});

describe('versions only move forward', () => {
  const newSlot = (): ModelSlot<RiskModel> => new ModelSlot('risk', (verified) => RiskModel.load(verified), () => [publicKey]);

  it('swaps in a newer version, refuses an older one unless a rollback is asked for, and does nothing for the same one', async () => {
    const slot = newSlot();
    expect(await slot.load(risk.manifestPath)).toMatchObject({ status: 'swapped', fromVersion: null, toVersion: '2026.11.26', rollback: false });
    const newer = await slot.load(riskV2.manifestPath);
    expect(newer).toMatchObject({ status: 'swapped', fromVersion: '2026.11.26', toVersion: '2026.11.27', rollback: false });
    expect(newer.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(newer.manifestSha256).toBe(verifyModel(riskV2.manifestPath, [publicKey]).manifestSha256);

    // Older, validly signed: refused, and the newer model keeps scoring.
    await expect(slot.load(risk.manifestPath)).rejects.toMatchObject({
      code: 'GW_ERR_MODEL_ROLLBACK',
      message: expect.stringMatching(/version 2026\.11\.26 is older than the running 2026\.11\.27/) as unknown,
      details: { runningVersion: '2026.11.27', refusedVersion: '2026.11.26' },
    });
    expect(slot.version).toBe('2026.11.27');
    expect(slot.lastError?.code).toBe('GW_ERR_MODEL_ROLLBACK');
    expect(slot.swaps).toBe(2);
    const scored = await slot.use(async (model) => ({ version: model?.version, score: (await (model as RiskModel).score(riskFeatures(truck))).score }));
    expect(scored.version).toBe('2026.11.27');
    expect(scored.score).toBeGreaterThanOrEqual(0);
    expect(scored.score).toBeLessThanOrEqual(1);

    // The same version and content again: nothing loaded, nothing swapped.
    const again = await slot.load(riskV2.manifestPath);
    expect(again).toMatchObject({ status: 'unchanged', fromVersion: '2026.11.27', toVersion: '2026.11.27', rollback: false });
    expect(again.model).toBe(newer.model);
    expect(slot.swaps).toBe(2);
    expect(slot.lastError).toBeNull();

    // The same version with other content is no model the version names: refused.
    const body = unsigned(riskV2.manifest);
    const changed = join(dir, 'v2', 'changed.manifest.json');
    writeFileSync(changed, JSON.stringify(signManifest({ ...body, thresholds: { ...body.thresholds, red: 0.99 } }, privateKeyPem)));
    await expect(slot.load(changed)).rejects.toMatchObject({ code: 'GW_ERR_MODEL_MANIFEST', message: expect.stringMatching(/version 2026\.11\.27 is already running with other content/) as unknown });
    expect(slot.version).toBe('2026.11.27');

    // Asked for: the older model goes back in, and says it was a rollback.
    expect(await slot.load(risk.manifestPath, { allowRollback: true })).toMatchObject({ status: 'swapped', fromVersion: '2026.11.27', toVersion: '2026.11.26', rollback: true });
    expect(slot.version).toBe('2026.11.26');
    // allowRollback on a newer manifest is an ordinary swap.
    expect(await slot.load(riskV2.manifestPath, { allowRollback: true })).toMatchObject({ status: 'swapped', toVersion: '2026.11.27', rollback: false });
    expect(slot.swaps).toBe(4);
    await slot.close();
  });

  it('loads one manifest at a time, so two reloads racing cannot both pass the version check', async () => {
    const slot = newSlot();
    const [newer, older] = await Promise.allSettled([slot.load(riskV2.manifestPath), slot.load(risk.manifestPath)]);
    expect(newer).toMatchObject({ status: 'fulfilled', value: { toVersion: '2026.11.27' } });
    expect(older).toMatchObject({ status: 'rejected', reason: { code: 'GW_ERR_MODEL_ROLLBACK' } });
    expect(slot.version).toBe('2026.11.27');
    await slot.close();
  });
});

describe('X-ray screening model', () => {
  it('flags an image with a concealed dense object and reports where it is', async () => {
    const model = await XrayScreeningModel.load(verifyModel(xray.manifestPath, [publicKey], 'xray-screening'));
    const scanner = new SimulatedScanner('/nonexistent', 's', () => 0, seededRandom(99));
    let flagged = 0;
    let falseAlarms = 0;
    for (let i = 0; i < 20; i += 1) {
      const concealed = await model.screen(scanner.image(256, 128, { concealed: true }));
      if (concealed.suspect) {
        flagged += 1;
        expect(concealed.regions.length).toBeGreaterThan(0);
        expect(concealed.regions[0]?.width).toBe(16);
      }
      if ((await model.screen(scanner.image(256, 128))).suspect) falseAlarms += 1;
    }
    expect(flagged).toBeGreaterThanOrEqual(17);
    expect(falseAlarms).toBeLessThanOrEqual(4);
    await expect(model.screen({ width: 8, height: 8, maxval: 65535, pixels: new Uint16Array(64) })).rejects.toThrow(/smaller than one 16-pixel block/);
    await model.release();
  });
});
