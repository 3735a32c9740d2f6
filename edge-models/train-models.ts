/**
 * Builds the two edge models from data the simulator labels, measures them on held-out data, and
 * writes each as an ONNX file with a signed manifest:
 * - risk: boosted trees over the crossing features; thresholds chosen so that about 11% of
 *   vehicles go red and 11% orange (the shares the VMC dashboards show), measured by AUC and the
 *   confusion of channel against the hidden truth;
 * - xray-screening: the densest-block graph, its density threshold calibrated on simulated images
 *   with and without concealed objects (the threshold maximising Youden's J), measured likewise.
 * The same seed always gives the same models.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { labelledCrossings, seededRandom, type TruckProfile } from '../sim/truck-profiles.js';
import { SimulatedScanner } from '../sim/xray/simulated-scanner.js';
import { quantile, rocAuc } from './evaluation.js';
import { DEFAULT_BOOSTING, predictProbability, trainGradientBoosting, type BoostingOptions, type Ensemble } from './gradient-boosting.js';
import { sha256Hex, signManifest, type ModelManifest } from './manifest.js';
import { RISK_FEATURES, riskFeatures } from './risk-features.js';
import { ensembleToOnnx } from './tree-ensemble-onnx.js';
import { buildScreeningModel, imageTensor } from './xray-screening.js';

export const WATCHLIST = ['AB-123-CD', 'XY-808-ZZ', 'KT-515-OB'];
export const CHANNEL_SHARES = { red: 0.11, orange: 0.11 };

export interface TrainOptions {
  outDir: string;
  privateKeyPem: string;
  version: string;
  seed: number;
  trainRows: number;
  testRows: number;
  boosting?: BoostingOptions;
  xrayImages?: number;
  createdAt?: string;
}

export interface TrainedModel {
  manifestPath: string;
  manifest: ModelManifest;
}

/**
 * The features the gateway would compute for a simulated truck, from its ground-truth profile,
 * through the gateway's own `riskFeatures`. The simulated post keeps UTC (the demo's
 * `workflow.utcOffsetMin` is 0), so its arrival hour is the simulator's.
 */
export function featuresOf(profile: TruckProfile): Float32Array {
  return riskFeatures({
    plate: profile.plate,
    plateConfidence: profile.plateConfidence,
    declaredWeightKg: profile.declaredWeightKg,
    measuredWeightKg: profile.actualWeightKg,
    direction: profile.direction,
    vehicleType: profile.vehicleType,
    aeo: profile.aeo,
    arrivedMs: profile.arrivalWallMs,
    utcOffsetMin: 0,
    visits30d: profile.visits30d,
    plateMismatches: profile.plateMismatches,
    watchlist: WATCHLIST,
  });
}

/** Writes `bytes` as `fileName` in `outDir` and its manifest, signed, as `{kind}.manifest.json`. */
export function writeSignedModel(outDir: string, fileName: string, bytes: Buffer, unsigned: Omit<Parameters<typeof signManifest>[0], 'file' | 'sha256'>, privateKeyPem: string): TrainedModel {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, fileName), bytes);
  const manifest = signManifest({ ...unsigned, file: fileName, sha256: sha256Hex(bytes) }, privateKeyPem);
  const manifestPath = join(outDir, `${unsigned.kind}.manifest.json`);
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  return { manifestPath, manifest };
}

export function trainRiskModel(options: TrainOptions): TrainedModel & { ensemble: Ensemble } {
  const random = seededRandom(options.seed);
  const train = labelledCrossings(options.trainRows, random, WATCHLIST);
  const test = labelledCrossings(options.testRows, random, WATCHLIST);
  const trainX = train.map((row) => featuresOf(row.profile));
  const trainY = Uint8Array.from(train, (row) => (row.irregular ? 1 : 0));
  const ensemble = trainGradientBoosting(trainX, trainY, options.boosting ?? DEFAULT_BOOSTING);

  const trainScores = trainX.map((row) => predictProbability(ensemble, row));
  const thresholds = { orange: quantile(trainScores, 1 - CHANNEL_SHARES.red - CHANNEL_SHARES.orange), red: quantile(trainScores, 1 - CHANNEL_SHARES.red) };
  const testScores = test.map((row) => predictProbability(ensemble, featuresOf(row.profile)));
  const testY: number[] = test.map((row) => (row.irregular ? 1 : 0));
  const confusion = { irregular: { green: 0, orange: 0, red: 0 }, regular: { green: 0, orange: 0, red: 0 } };
  testScores.forEach((score, i) => {
    const channel = score >= thresholds.red ? 'red' : score >= thresholds.orange ? 'orange' : 'green';
    confusion[testY[i] === 1 ? 'irregular' : 'regular'][channel] += 1;
  });
  const baseline = RISK_FEATURES.map((_, f) => quantile(trainX.map((row) => row[f] as number), 0.5));
  const bytes = ensembleToOnnx(ensemble, { version: options.version, features: RISK_FEATURES.join(',') });
  const written = writeSignedModel(
    options.outDir,
    `risk-${options.version}.onnx`,
    bytes,
    {
      kind: 'risk',
      name: 'border-risk-gbdt',
      version: options.version,
      createdAt: options.createdAt ?? new Date().toISOString(),
      features: [...RISK_FEATURES],
      baseline,
      thresholds,
      quality: {
        seed: options.seed,
        trainRows: options.trainRows,
        testRows: options.testRows,
        trees: ensemble.trees.length,
        irregularShareTest: round(testY.reduce((a, b) => a + b, 0) / testY.length),
        aucTest: round(rocAuc(testScores, testY)),
        confusionTest: confusion,
      },
    },
    options.privateKeyPem,
  );
  return { ...written, ensemble };
}

/** The densest block mean of each image, read through the screening graph itself. */
async function peaks(images: ReturnType<SimulatedScanner['image']>[], block: number): Promise<number[]> {
  // With threshold 0 and steepness 1 the score is sigmoid(peak), so the logit is the peak.
  const session = await InferenceSession.create(buildScreeningModel({ block, densityThreshold: 0, steepness: 1 }, {}));
  const result: number[] = [];
  for (const image of images) {
    const input = imageTensor(image);
    const output = await session.run({ image: new Tensor('float32', input.data, [...input.dims]) });
    const score = (output.score?.data as Float32Array)[0] as number;
    result.push(Math.log(score / (1 - score)));
  }
  await session.release();
  return result;
}

export async function trainXrayModel(options: TrainOptions): Promise<TrainedModel> {
  const random = seededRandom(options.seed + 1);
  const scanner = new SimulatedScanner('/nonexistent', 'calibration', () => 0, random);
  const count = options.xrayImages ?? 400;
  const block = 16;
  const make = (n: number): { images: ReturnType<SimulatedScanner['image']>[]; labels: number[] } => {
    const labels = Array.from({ length: n }, (_, i) => i % 2);
    return { images: labels.map((label) => scanner.image(256, 128, { concealed: label === 1 })), labels };
  };
  const train = make(count);
  const test = make(Math.round(count / 2));
  const trainPeaks = await peaks(train.images, block);
  // The density threshold that best separates the classes on the training images.
  let best = { threshold: 0.5, j: -1 };
  for (const candidate of [...new Set(trainPeaks)].sort((a, b) => a - b)) {
    let tp = 0;
    let fp = 0;
    trainPeaks.forEach((peak, i) => {
      if (peak <= candidate) return;
      if (train.labels[i] === 1) tp += 1;
      else fp += 1;
    });
    const positives = train.labels.filter((l) => l === 1).length;
    const j = tp / positives - fp / (train.labels.length - positives);
    if (j > best.j) best = { threshold: candidate, j };
  }
  const steepness = 200;
  const testPeaks = await peaks(test.images, block);
  const testScores = testPeaks.map((peak) => 1 / (1 + Math.exp(-steepness * (peak - best.threshold))));
  const confusion = { concealed: { suspect: 0, clear: 0 }, honest: { suspect: 0, clear: 0 } };
  testScores.forEach((score, i) => {
    confusion[test.labels[i] === 1 ? 'concealed' : 'honest'][score >= 0.5 ? 'suspect' : 'clear'] += 1;
  });
  const bytes = buildScreeningModel({ block, densityThreshold: best.threshold, steepness }, { version: options.version });
  return writeSignedModel(
    options.outDir,
    `xray-screening-${options.version}.onnx`,
    bytes,
    {
      kind: 'xray-screening',
      name: 'border-xray-densest-block',
      version: options.version,
      createdAt: options.createdAt ?? new Date().toISOString(),
      thresholds: { suspect: 0.5 },
      quality: {
        seed: options.seed,
        block,
        densityThreshold: best.threshold,
        steepness,
        trainImages: train.images.length,
        testImages: test.images.length,
        aucTest: round(rocAuc(testScores, test.labels)),
        confusionTest: confusion,
      },
    },
    options.privateKeyPem,
  );
}

const round = (value: number): number => Math.round(value * 1000) / 1000;
