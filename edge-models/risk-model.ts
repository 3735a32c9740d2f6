/**
 * A verified risk model, run by the gateway's own graph evaluator or by onnxruntime
 * (model-session.ts). One `score` call runs one batch: the vehicle's
 * row and, for each feature, the same row with that feature set to its baseline; the drop in score
 * when a feature is reset is that feature's contribution, so every decision can name the features
 * that pushed it up (the model itself, not a second explanation model, answers).
 */
import { GatewayError } from '../core/errors.js';
import type { VerifiedModel } from './manifest.js';
import { openModelSession, type ModelEngine, type ModelSession } from './model-session.js';
import { describeFeature, RISK_FEATURES } from './risk-features.js';
import { RISK_INPUT, RISK_OUTPUT } from './tree-ensemble-onnx.js';

export interface Contribution {
  feature: string;
  value: number;
  /** Score with the feature as it is minus score with the feature at its baseline. */
  delta: number;
}

export interface RiskScore {
  score: number;
  contributions: Contribution[];
}

export interface RiskThresholds {
  orange: number;
  red: number;
}

export class RiskModel {
  private constructor(
    private readonly session: ModelSession,
    readonly version: string,
    readonly thresholds: RiskThresholds,
    private readonly baseline: Float32Array,
  ) {}

  /** Loads a model whose manifest has been verified; checks it fits this gateway's features. */
  static async load(verified: VerifiedModel, engine: ModelEngine = 'auto'): Promise<RiskModel> {
    const { manifest, manifestPath } = verified;
    const expected = RISK_FEATURES.join(',');
    if (manifest.features.join(',') !== expected) {
      throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: features ${manifest.features.join(',')} differ from this gateway's ${expected}`);
    }
    if (manifest.baseline.length !== RISK_FEATURES.length) throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: baseline needs ${RISK_FEATURES.length} values`);
    const { orange, red } = manifest.thresholds;
    if (orange === undefined || red === undefined || !(orange <= red)) throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: thresholds need orange ≤ red`);
    let session: ModelSession;
    try {
      session = await openModelSession(verified.bytes, engine);
    } catch (error) {
      throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: onnxruntime refused the model: ${(error as Error).message}`, { cause: error });
    }
    if (!session.inputNames.includes(RISK_INPUT) || !session.outputNames.includes(RISK_OUTPUT)) {
      await session.release();
      throw new GatewayError('GW_ERR_MODEL_LOAD', `${manifestPath}: a risk model needs input "${RISK_INPUT}" and output "${RISK_OUTPUT}"`);
    }
    return new RiskModel(session, manifest.version, { orange, red }, Float32Array.from(manifest.baseline));
  }

  async score(features: Float32Array): Promise<RiskScore> {
    const width = RISK_FEATURES.length;
    const batch = new Float32Array(width * (width + 1));
    batch.set(features, 0);
    for (let f = 0; f < width; f += 1) {
      batch.set(features, (f + 1) * width);
      batch[(f + 1) * width + f] = this.baseline[f] as number;
    }
    const result = await this.session.run({ [RISK_INPUT]: { dims: [width + 1, width], data: batch } }, [RISK_OUTPUT]);
    const scores = result[RISK_OUTPUT]?.data as Float32Array;
    const score = scores[0] as number;
    const contributions = RISK_FEATURES.map((feature, f) => ({ feature, value: features[f] as number, delta: score - (scores[f + 1] as number) }));
    return { score, contributions };
  }

  /** Which engine scores with this model (model-session.ts). */
  get runsIn(): ModelSession['runsIn'] {
    return this.session.runsIn;
  }

  /** Why the gateway's evaluator did not take the model, when onnxruntime runs it though `auto` was asked for. */
  get fallbackReason(): string | null {
    return this.session.fallbackReason;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** The features that raised the score most, in words, for the decision's reasons. */
export function topReasons(contributions: Contribution[], count = 3, minDelta = 0.005): string[] {
  return [...contributions]
    .filter((c) => c.delta >= minDelta)
    .sort((a, b) => b.delta - a.delta)
    .slice(0, count)
    .map((c) => `${describeFeature(c.feature, c.value)} (+${c.delta.toFixed(2)})`);
}
