/**
 * Reads a training file of `vmc export-training` (JSON Lines, contract/training-rows.ts) into
 * the risk model's rows: the features as the gateway computed them at the decision, the label
 * the outcomes give, and when and where. Every line is bounded and checked; the first bad one
 * stops the read with GW_ERR_TRAINING_INPUT naming it, so a model is never trained on a file
 * that was only partly understood.
 */
import { boundedLines } from '../core/bounded-lines.js';
import { GatewayError } from '../core/errors.js';
import { TRAINING_LINE_MAX_BYTES, trainingRowSchema, type TrainingRow } from '../contract/training-rows.js';
import { RISK_FEATURES, riskFeatureVector } from './risk-features.js';

/**
 * What a crossing turned out to be, for training: 1 when the inspection found an irregularity;
 * 0 when it cleared the vehicle, or, without an inspection, the X-ray image was clear; null
 * (not a training example) when nobody checked, the vehicle was refused (a paperwork refusal says
 * nothing of the load), or a suspect image was never inspected. An X-ray misses some loads (the
 * simulator's scanner shows 80 %), so "clear" is a noisy 0; an inspection is taken as the truth.
 */
export function labelOf(row: Pick<TrainingRow, 'xray' | 'inspection'>): 0 | 1 | null {
  if (row.inspection === 'irregularity') return 1;
  if (row.inspection === 'cleared') return 0;
  if (row.inspection === 'refused') return null;
  return row.xray === 'clear' ? 0 : null;
}

export interface CrossingRow {
  features: Float32Array;
  label: 0 | 1 | null;
  /** When the risk was assessed (epoch ms): the order of the split. */
  assessedMs: number;
  postId: string;
}

export interface TrainingFile {
  rows: CrossingRow[];
  /** The same crossing (post and id) met again: kept once. */
  duplicates: number;
}

function refuse(path: string, line: number, problem: string, cause?: unknown): never {
  throw new GatewayError('GW_ERR_TRAINING_INPUT', `${path}:${line}: ${problem}`, cause === undefined ? undefined : { cause });
}

export async function readTrainingFile(path: string): Promise<TrainingFile> {
  const rows: CrossingRow[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  try {
    for await (const { number, text } of boundedLines(path, TRAINING_LINE_MAX_BYTES)) {
      if (text === null) refuse(path, number, `longer than ${TRAINING_LINE_MAX_BYTES} bytes`);
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        refuse(path, number, `not JSON (${(error as Error).message})`, error);
      }
      const parsed = trainingRowSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        refuse(path, number, `not a training row: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
      }
      const row = parsed.data;
      const features = riskFeatureVector(row.features);
      if (!features) {
        const missing = RISK_FEATURES.filter((name) => typeof row.features[name] !== 'number');
        refuse(path, number, `features lack ${missing.join(', ')} (exported from a gateway with another feature set?)`);
      }
      const key = `${row.postId}\u0000${row.crossingId}`;
      if (seen.has(key)) {
        duplicates += 1;
        continue;
      }
      seen.add(key);
      rows.push({ features, label: labelOf(row), assessedMs: Date.parse(row.assessedAt), postId: row.postId });
    }
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('GW_ERR_TRAINING_INPUT', `${path}: cannot be read: ${(error as Error).message}`, { cause: error });
  }
  return { rows, duplicates };
}
