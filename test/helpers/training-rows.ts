/** Made-up training rows (contract/training-rows.ts) with a rule a model can find, for the training tests. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrainingRow } from '../../contract/training-rows.js';
import { RISK_FEATURES } from '../../edge-models/risk-features.js';
import { seededRandom } from '../../sim/truck-profiles.js';
import { tempDir } from './test-config.js';

export const T0 = Date.UTC(2026, 9, 1);

/**
 * `count` crossings an hour apart; a third checked. Irregular loads are heavier than declared
 * (weightDeviation), the rule the model should find; `irregularUntil` ends irregularities at that
 * crossing (to starve the held-out part of one class).
 */
export function trainingRows(count: number, options: { seed?: number; irregularShare?: number; irregularUntil?: number } = {}): TrainingRow[] {
  const random = seededRandom(options.seed ?? 5);
  return Array.from({ length: count }, (_, i) => {
    const irregular = i < (options.irregularUntil ?? count) && random() < (options.irregularShare ?? 0.25);
    const features = Object.fromEntries(RISK_FEATURES.map((name) => [name, Math.floor(random() * 5)]));
    features.weightDeviation = Math.fround(irregular ? 0.1 + random() * 0.2 : (random() - 0.5) * 0.04);
    const checked = i % 3 === 0;
    return {
      format: 1,
      crossingId: `c-${i}`,
      postId: 'post-a',
      laneId: 'lane-1',
      assessedAt: new Date(T0 + i * 3_600_000).toISOString(),
      completedAt: new Date(T0 + i * 3_600_000 + 7_200_000).toISOString(),
      features,
      decision: { channel: 'green', score: 0.1, modelVersion: 'rules' },
      channel: 'green',
      xray: checked ? (irregular ? 'suspect' : 'clear') : null,
      inspection: checked && irregular ? 'irregularity' : null,
    };
  });
}

export function trainingFile(lines: (TrainingRow | string)[], name = 'rows.jsonl'): string {
  const path = join(tempDir('train-rows-'), name);
  writeFileSync(path, `${lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n')}\n`);
  return path;
}

