import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../sim/truck-profiles.js';
import { predictProbability, trainGradientBoosting } from './gradient-boosting.js';
import { decodeModel, modelMetadata } from './onnx-graph.js';
import { ensembleToOnnx } from './tree-ensemble-onnx.js';

function dataset(rows: number, random: () => number): { x: Float32Array[]; y: Uint8Array } {
  const x: Float32Array[] = [];
  const y = new Uint8Array(rows);
  for (let i = 0; i < rows; i += 1) {
    const row = Float32Array.from([random(), random() * 10, random() < 0.3 ? 1 : 0]);
    x.push(row);
    // The label depends on an interaction the trees must find: high first feature and the flag.
    y[i] = ((row[0] as number) > 0.6 && row[2] === 1) || (row[1] as number) > 8.5 ? 1 : 0;
  }
  return { x, y };
}

describe('tree ensemble exported to ONNX', () => {
  it('scores in onnxruntime exactly as the trees scored in training', async () => {
    // Seeded, so the data (and the trees) are the same on every run.
    const random = seededRandom(7);
    const train = dataset(3000, random);
    const ensemble = trainGradientBoosting(train.x, train.y, { trees: 30, maxDepth: 3, learningRate: 0.3, minLeafRows: 10, bins: 32, lambda: 1 });
    const bytes = ensembleToOnnx(ensemble, { version: 'test-1' });
    expect(modelMetadata(decodeModel(bytes))).toEqual({ version: 'test-1' });

    const session = await InferenceSession.create(bytes);
    const test = dataset(500, random);
    const flat = new Float32Array(test.x.length * 3);
    test.x.forEach((row, i) => flat.set(row, i * 3));
    const result = await session.run({ features: new Tensor('float32', flat, [test.x.length, 3]) });
    const scores = result.score?.data as Float32Array;
    expect(scores).toHaveLength(500);
    let correct = 0;
    test.x.forEach((row, i) => {
      expect(scores[i]).toBeCloseTo(predictProbability(ensemble, row), 5);
      if ((scores[i] as number) >= 0.5 === (test.y[i] === 1)) correct += 1;
    });
    // The rule is learnable exactly; a model that did not learn it would be near the 70% base rate.
    expect(correct / 500).toBeGreaterThan(0.97);
    await session.release();
  });

  it('refuses labels that do not match the rows', () => {
    expect(() => trainGradientBoosting([Float32Array.from([1])], new Uint8Array(2))).toThrow(/one label per row/);
  });
});
