/**
 * Trains the risk model from a post's (or a country's) own crossings, as `vmc export-training`
 * wrote them, measures it on the crossings it did not see, and signs it.
 *
 * The split is by time, not at random: the earlier 80 % of the checked crossings train, the
 * later 20 % are held out. A model is rolled out to score crossings that come after everything
 * it learnt from; a random split would let it learn from the days it is tested on (the same
 * trucks that week, a smuggling route that appeared and went, a watchlist change) and report a
 * quality the post will not see.
 *
 * Only checked crossings (X-rayed or inspected) have a label (training-file.ts `labelOf`). The
 * thresholds, though, are set on every crossing of the training period, checked or not: they
 * decide the channel of all traffic, so "11 % red" must be 11 % of all vehicles.
 */
import { GatewayError } from '../core/errors.js';
import { quantile, rocAuc } from './evaluation.js';
import { DEFAULT_BOOSTING, predictProbability, trainGradientBoosting, type BoostingOptions } from './gradient-boosting.js';
import type { ModelManifest } from './manifest.js';
import { RISK_FEATURES } from './risk-features.js';
import type { CrossingRow } from './training-file.js';
import { CHANNEL_SHARES, writeSignedModel } from './train-models.js';
import { ensembleToOnnx } from './tree-ensemble-onnx.js';

/** The least a file must hold to train on and to be measured on (GW_ERR_TRAINING_DATA below it). */
export const TRAINING_MINIMUMS = {
  /** Checked crossings in all. */
  labelled: 200,
  /** With and without an irregularity, each, in the part trained on. */
  perClassTrain: 20,
  /** With and without an irregularity, each, in the part held out. */
  perClassHeldOut: 10,
};

export interface CrossingTrainingOptions {
  outDir: string;
  privateKeyPem: string;
  version: string;
  /** Share of the checked crossings held out, the latest ones (default 0.2). */
  heldOutShare?: number;
  /** Shares of all traffic the red and orange thresholds pick (default 11 % each). */
  shares?: { red: number; orange: number };
  boosting?: BoostingOptions;
  createdAt?: string;
}

/** How the model does at one threshold, on the held-out checked crossings. */
export interface AtThreshold {
  threshold: number;
  /** Held-out checked crossings at or above it. */
  flagged: number;
  /** Of the flagged, the share with an irregularity; null when none was flagged. */
  precision: number | null;
  /** Of the irregular ones, the share flagged. */
  recall: number;
  /** Share of all held-out-period traffic (checked or not) at or above it: what the channel would take. */
  trafficShare: number;
}

export interface CrossingTrainingReport {
  posts: string[];
  rows: number;
  labelled: number;
  trainRows: number;
  heldOutRows: number;
  /** Assessment times (ISO) of the first and last crossing trained on, and of the held-out ones. */
  trainPeriod: [string, string];
  heldOutPeriod: [string, string];
  /** Share of held-out checked crossings with an irregularity (what a coin would reach as precision). */
  baseRateHeldOut: number;
  irregularHeldOut: number;
  aucHeldOut: number;
  red: AtThreshold;
  orangeOrRed: AtThreshold;
  trees: number;
}

const round = (value: number): number => Math.round(value * 1000) / 1000;
const iso = (ms: number): string => new Date(ms).toISOString();

function atThreshold(threshold: number, scores: number[], labels: number[], periodScores: number[]): AtThreshold {
  let flagged = 0;
  let hits = 0;
  labels.forEach((label, i) => {
    if ((scores[i] as number) < threshold) return;
    flagged += 1;
    hits += label;
  });
  const positives = labels.reduce((sum, label) => sum + label, 0);
  return {
    threshold,
    flagged,
    precision: flagged === 0 ? null : round(hits / flagged),
    recall: round(hits / positives),
    trafficShare: round(periodScores.filter((score) => score >= threshold).length / periodScores.length),
  };
}

function refuseCounts(problem: string, counts: Record<string, number>): never {
  throw new GatewayError('GW_ERR_TRAINING_DATA', `${problem} (${Object.entries(counts).map(([name, n]) => `${name} ${n}`).join(', ')})`, { details: counts });
}

export function trainFromCrossings(input: CrossingRow[], options: CrossingTrainingOptions): { manifestPath: string; manifest: ModelManifest; report: CrossingTrainingReport } {
  const heldOutShare = options.heldOutShare ?? 0.2;
  if (!(heldOutShare > 0 && heldOutShare < 1)) throw new RangeError('heldOutShare must be between 0 and 1');
  const shares = options.shares ?? CHANNEL_SHARES;
  // Stable: crossings assessed at the same millisecond keep the file's order.
  const all = [...input].sort((a, b) => a.assessedMs - b.assessedMs);
  const labelled = all.filter((row) => row.label !== null);
  const positives = labelled.filter((row) => row.label === 1).length;
  if (labelled.length < TRAINING_MINIMUMS.labelled || positives === 0 || positives === labelled.length) {
    refuseCounts(`too few checked crossings to train on, or only one outcome: at least ${TRAINING_MINIMUMS.labelled} with both outcomes are needed`, {
      rows: all.length,
      checked: labelled.length,
      irregular: positives,
      clear: labelled.length - positives,
    });
  }
  const cut = Math.ceil(labelled.length * (1 - heldOutShare));
  const train = labelled.slice(0, cut);
  const heldOut = labelled.slice(cut);
  const firstHeldOut = all.indexOf(heldOut[0] as CrossingRow);
  const trainPeriod = all.slice(0, firstHeldOut);
  const heldOutPeriod = all.slice(firstHeldOut);
  const count = (rows: CrossingRow[], label: 0 | 1): number => rows.filter((row) => row.label === label).length;
  const classes = { trainIrregular: count(train, 1), trainClear: count(train, 0), heldOutIrregular: count(heldOut, 1), heldOutClear: count(heldOut, 0) };
  if (Math.min(classes.trainIrregular, classes.trainClear) < TRAINING_MINIMUMS.perClassTrain || Math.min(classes.heldOutIrregular, classes.heldOutClear) < TRAINING_MINIMUMS.perClassHeldOut) {
    refuseCounts(
      `too few of one outcome: the earlier ${Math.round((1 - heldOutShare) * 100)} % needs ${TRAINING_MINIMUMS.perClassTrain} irregular and ${TRAINING_MINIMUMS.perClassTrain} clear, the later ${Math.round(heldOutShare * 100)} % held out ${TRAINING_MINIMUMS.perClassHeldOut} of each`,
      classes,
    );
  }

  const ensemble = trainGradientBoosting(
    train.map((row) => row.features),
    Uint8Array.from(train, (row) => row.label as number),
    options.boosting ?? DEFAULT_BOOSTING,
  );
  const score = (row: CrossingRow): number => predictProbability(ensemble, row.features);
  const trainPeriodScores = trainPeriod.map(score);
  const thresholds = { orange: quantile(trainPeriodScores, 1 - shares.red - shares.orange), red: quantile(trainPeriodScores, 1 - shares.red) };
  const heldOutScores = heldOut.map(score);
  const heldOutLabels = heldOut.map((row) => row.label as number);
  const heldOutPeriodScores = heldOutPeriod.map(score);
  const report: CrossingTrainingReport = {
    posts: [...new Set(all.map((row) => row.postId))].sort(),
    rows: all.length,
    labelled: labelled.length,
    trainRows: train.length,
    heldOutRows: heldOut.length,
    trainPeriod: [iso((train[0] as CrossingRow).assessedMs), iso((train[train.length - 1] as CrossingRow).assessedMs)],
    heldOutPeriod: [iso((heldOut[0] as CrossingRow).assessedMs), iso((heldOut[heldOut.length - 1] as CrossingRow).assessedMs)],
    baseRateHeldOut: round(classes.heldOutIrregular / heldOut.length),
    irregularHeldOut: classes.heldOutIrregular,
    aucHeldOut: round(rocAuc(heldOutScores, heldOutLabels)),
    red: atThreshold(thresholds.red, heldOutScores, heldOutLabels, heldOutPeriodScores),
    orangeOrRed: atThreshold(thresholds.orange, heldOutScores, heldOutLabels, heldOutPeriodScores),
    trees: ensemble.trees.length,
  };
  // The reference a feature's contribution is measured from: its median over the period's traffic.
  const baseline = RISK_FEATURES.map((_, f) => quantile(trainPeriod.map((row) => row.features[f] as number), 0.5));
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
      quality: { source: 'crossings', split: 'time', label: 'inspection irregularity = 1; inspection cleared, or X-ray clear without inspection = 0', ...report },
    },
    options.privateKeyPem,
  );
  return { ...written, report };
}
