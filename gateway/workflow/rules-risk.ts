/**
 * The deterministic rules that decide a channel when no model is loaded (and that stand behind the
 * models when one fails): watchlist → red; declared vs measured weight off by more than the
 * tolerance → orange with X-ray; a trusted trader (AEO) → green; otherwise green with a random
 * X-ray selection. Each decision says `modelVersion: "rules"` and why.
 */
import { onWatchlist } from '../../edge-models/risk-features.js';
import type { Crossing, RiskDecision } from './lane-workflow.js';

export interface RulesOptions {
  watchlist: string[];
  weightToleranceShare: number;
  randomXrayShare: number;
  random: () => number;
}

export function rulesRisk(crossing: Crossing, options: RulesOptions): RiskDecision {
  if (onWatchlist(crossing.plate, options.watchlist)) {
    return { channel: 'red', score: 1, modelVersion: 'rules', reasons: ['watchlist match'], xrayRequested: true };
  }
  const declared = crossing.declaration?.declaredWeightKg ?? null;
  if (declared !== null && crossing.weightKg !== null && declared > 0) {
    const off = Math.abs(crossing.weightKg - declared) / declared;
    if (off > options.weightToleranceShare) {
      return { channel: 'orange', score: 0.6, modelVersion: 'rules', reasons: [`measured weight off the declared by ${(off * 100).toFixed(0)}%`], xrayRequested: true };
    }
  }
  if (crossing.declaration?.aeo) return { channel: 'green', score: 0.05, modelVersion: 'rules', reasons: ['authorised economic operator'], xrayRequested: false };
  const selected = options.random() < options.randomXrayShare;
  return { channel: 'green', score: 0.1, modelVersion: 'rules', reasons: selected ? ['random selection for X-ray'] : ['no rule matched'], xrayRequested: selected };
}
