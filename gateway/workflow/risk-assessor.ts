/**
 * Decides a weighed vehicle's channel: the risk model's score against its thresholds, then the
 * rules that override it (a watchlisted plate is always red; an authorised economic operator is
 * moved one channel down, so it is inspected less), then the X-ray request (orange and red are
 * scanned; green vehicles are picked at random for a share of scans). With no model loaded, or
 * when the model fails on this vehicle, the rules decide and the decision says so — a vehicle is
 * never left undecided.
 *
 * The features are computed for every vehicle, whoever decides, and travel with the decision in
 * `risk.assessed`: the VMC exports them with the crossing's outcomes as training rows (`vmc
 * export-training`), so a model trained from a post's crossings learns from exactly the values a
 * decision sees (`riskFeatures` is the one function behind both).
 */
import type { Logger } from 'pino';
import type { ModelSlot } from '../../edge-models/model-slot.js';
import { onWatchlist, riskFeatureRecord, riskFeatures } from '../../edge-models/risk-features.js';
import { topReasons, type RiskModel } from '../../edge-models/risk-model.js';
import type { Channel, Crossing, RiskDecision } from './lane-workflow.js';
import { rulesRisk, type RulesOptions } from './rules-risk.js';

/**
 * What the post remembers of a plate for the risk features, keyed by its OCR-canonical form. At a
 * post this is the gateway's database (lane-store.ts: rows written with the events that cause
 * them), read per vehicle, so the gateway holds none of a month's traffic in memory.
 */
export interface VisitHistory {
  /** Arrivals before `atMs` within the last 30 days. */
  visits(plate: string | null, atMs: number): number;
  /** Crossings of this plate that left with a different plate read at the exit. */
  mismatchesOf(plate: string | null): number;
}

export interface RiskAssessorOptions {
  slot: ModelSlot<RiskModel>;
  rules: RulesOptions;
  history: VisitHistory;
  utcOffsetMin: number;
  logger: Logger;
  /** Told when a loaded model fails on a vehicle (the gateway raises an alarm). */
  onModelFailure: (crossing: Crossing, error: Error) => void;
}

const DOWN: Record<Channel, Channel> = { red: 'orange', orange: 'green', green: 'green' };

export class RiskAssessor {
  /** Decisions by who made them, for metrics and the tests. */
  readonly decisions = { model: 0, rules: 0, modelFailed: 0 };

  constructor(private readonly options: RiskAssessorOptions) {}

  async assess(crossing: Crossing, atMs: number): Promise<RiskDecision> {
    // Features that cannot be computed (a value no feature expects) must not leave the vehicle
    // undecided: the rules decide it then, and its decision carries no features.
    let features: Float32Array | null = null;
    let featureError: Error | null = null;
    try {
      features = this.featuresOf(crossing, atMs);
    } catch (error) {
      featureError = error as Error;
    }
    const withFeatures = (decision: RiskDecision): RiskDecision => (features ? { ...decision, features: riskFeatureRecord(features) } : decision);
    return this.options.slot.use(async (model) => {
      if (model && !features) {
        this.decisions.modelFailed += 1;
        this.options.logger.error({ err: featureError, crossingId: crossing.crossingId }, 'risk features failed; rules decide');
        this.options.onModelFailure(crossing, featureError as Error);
        const decision = rulesRisk(crossing, this.options.rules);
        return { ...decision, reasons: [...decision.reasons, `risk features failed (${featureError?.message ?? 'unknown'}): rules decided`] };
      }
      if (!model || !features) {
        this.decisions.rules += 1;
        const decision = rulesRisk(crossing, this.options.rules);
        return withFeatures({ ...decision, reasons: [...decision.reasons, 'no risk model loaded: rules decided'] });
      }
      try {
        const decision = await this.withModel(model, crossing, features);
        this.decisions.model += 1;
        return withFeatures(decision);
      } catch (error) {
        this.decisions.modelFailed += 1;
        this.options.logger.error({ err: error, crossingId: crossing.crossingId, modelVersion: model.version }, 'risk model failed; rules decide');
        this.options.onModelFailure(crossing, error as Error);
        const decision = rulesRisk(crossing, this.options.rules);
        return withFeatures({ ...decision, reasons: [...decision.reasons, `risk model ${model.version} failed (${(error as Error).message}): rules decided`] });
      }
    });
  }

  /** What the lane knows of the vehicle when it has been weighed (`atMs` stands in for an arrival never stamped). */
  private featuresOf(crossing: Crossing, atMs: number): Float32Array {
    const { history, rules } = this.options;
    const arrivedMs = crossing.wallMs.arrived ?? atMs;
    return riskFeatures({
      plate: crossing.plate,
      plateConfidence: crossing.plateConfidence,
      declaredWeightKg: crossing.declaration?.declaredWeightKg ?? null,
      measuredWeightKg: crossing.weightKg,
      direction: crossing.declaration?.direction ?? 'import',
      vehicleType: crossing.vehicleType,
      aeo: crossing.declaration?.aeo ?? false,
      arrivedMs,
      utcOffsetMin: this.options.utcOffsetMin,
      // The post's own memory, or the registration system's when it knows more (a new gateway knows nothing).
      visits30d: Math.max(history.visits(crossing.plate, arrivedMs), crossing.declaration?.previousVisits30d ?? 0),
      plateMismatches: history.mismatchesOf(crossing.plate),
      watchlist: rules.watchlist,
    });
  }

  private async withModel(model: RiskModel, crossing: Crossing, features: Float32Array): Promise<RiskDecision> {
    const { rules } = this.options;
    const { score, contributions } = await model.score(features);
    const reasons = topReasons(contributions);
    let channel: Channel = score >= model.thresholds.red ? 'red' : score >= model.thresholds.orange ? 'orange' : 'green';
    if (reasons.length === 0) reasons.push(`score ${score.toFixed(3)} below the orange threshold ${model.thresholds.orange.toFixed(3)}`);
    if (onWatchlist(crossing.plate, rules.watchlist)) {
      channel = 'red';
      reasons.unshift('rule: watchlist match → red');
    } else if (crossing.declaration?.aeo && channel !== 'green') {
      channel = DOWN[channel];
      reasons.push(`rule: authorised economic operator → ${channel}`);
    }
    let xrayRequested = channel !== 'green';
    if (!xrayRequested && rules.random() < rules.randomXrayShare) {
      xrayRequested = true;
      reasons.push('random selection for X-ray');
    }
    return { channel, score: Math.round(score * 10_000) / 10_000, modelVersion: model.version, reasons, xrayRequested };
  }
}
