/**
 * Gradient-boosted decision trees for a binary label (logistic loss, Newton leaf values), small
 * enough to train in TypeScript in a second on the simulator's labelled crossings. Splits are
 * searched over per-feature quantile cuts with gradient histograms, the way LightGBM and XGBoost's
 * `hist` method do. Every threshold is a float32 so the ONNX tree ensemble, which compares in
 * float32, takes exactly the branches training took.
 */

export type TreeNode = { kind: 'split'; feature: number; threshold: number; left: number; right: number } | { kind: 'leaf'; value: number };

export interface Tree {
  /** The root is node 0. */
  nodes: TreeNode[];
}

export interface Ensemble {
  featureCount: number;
  /** The starting margin (log-odds of the base rate). */
  bias: number;
  trees: Tree[];
}

export interface BoostingOptions {
  trees: number;
  maxDepth: number;
  learningRate: number;
  minLeafRows: number;
  /** Candidate cuts per feature. */
  bins: number;
  /** L2 regularisation of leaf values. */
  lambda: number;
}

export const DEFAULT_BOOSTING: BoostingOptions = { trees: 80, maxDepth: 3, learningRate: 0.15, minLeafRows: 30, bins: 32, lambda: 1 };

const sigmoid = (margin: number): number => 1 / (1 + Math.exp(-margin));

/** Sorted float32 cut points: quantiles of the distinct values, never the largest value. */
function cutsOf(values: Float32Array, bins: number): number[] {
  const sorted = Float32Array.from(values).sort();
  const distinct: number[] = [];
  for (const value of sorted) if (distinct.length === 0 || distinct[distinct.length - 1] !== value) distinct.push(value);
  distinct.pop();
  if (distinct.length <= bins) return distinct;
  const cuts = new Set<number>();
  for (let b = 1; b <= bins; b += 1) cuts.add(distinct[Math.min(distinct.length - 1, Math.floor((b * distinct.length) / (bins + 1)))] as number);
  return [...cuts].sort((a, b) => a - b);
}

/** Bin of a value: the first cut it does not exceed (x ≤ cut), or cuts.length above them all. */
function binOf(value: number, cuts: number[]): number {
  let low = 0;
  let high = cuts.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (value <= (cuts[mid] as number)) high = mid;
    else low = mid + 1;
  }
  return low;
}

export function trainGradientBoosting(rows: Float32Array[], labels: Uint8Array, options: BoostingOptions = DEFAULT_BOOSTING): Ensemble {
  const rowCount = rows.length;
  if (rowCount === 0 || labels.length !== rowCount) throw new RangeError(`need one label per row, got ${rowCount} rows and ${labels.length} labels`);
  const featureCount = (rows[0] as Float32Array).length;
  const cuts: number[][] = [];
  const binned: Uint8Array[] = [];
  for (let f = 0; f < featureCount; f += 1) {
    const column = Float32Array.from(rows, (row) => row[f] as number);
    const featureCuts = cutsOf(column, Math.min(options.bins, 254));
    cuts.push(featureCuts);
    binned.push(Uint8Array.from(column, (value) => binOf(value, featureCuts)));
  }
  const positives = labels.reduce((sum, label) => sum + label, 0);
  const rate = Math.min(1 - 1e-6, Math.max(1e-6, positives / rowCount));
  const bias = Math.log(rate / (1 - rate));
  const margin = new Float64Array(rowCount).fill(bias);
  const gradient = new Float64Array(rowCount);
  const hessian = new Float64Array(rowCount);
  const trees: Tree[] = [];

  for (let t = 0; t < options.trees; t += 1) {
    for (let i = 0; i < rowCount; i += 1) {
      const p = sigmoid(margin[i] as number);
      gradient[i] = p - (labels[i] as number);
      hessian[i] = Math.max(p * (1 - p), 1e-12);
    }
    const nodes: TreeNode[] = [];
    const all = Uint32Array.from({ length: rowCount }, (_, i) => i);
    grow(all, 0);
    trees.push({ nodes });
    for (let i = 0; i < rowCount; i += 1) margin[i] = (margin[i] as number) + leafValue({ nodes }, rows[i] as Float32Array);

    // Grows the subtree for `members` at `depth`; returns its node index.
    function grow(members: Uint32Array, depth: number): number {
      let g = 0;
      let h = 0;
      for (const i of members) {
        g += gradient[i] as number;
        h += hessian[i] as number;
      }
      const index = nodes.length;
      const split = depth < options.maxDepth ? bestSplit(members, g, h) : null;
      if (!split) {
        nodes.push({ kind: 'leaf', value: Math.fround((-g / (h + options.lambda)) * options.learningRate) });
        return index;
      }
      nodes.push({ kind: 'leaf', value: 0 });
      const column = binned[split.feature] as Uint8Array;
      const left = members.filter((i) => (column[i] as number) <= split.bin);
      const right = members.filter((i) => (column[i] as number) > split.bin);
      const leftIndex = grow(left, depth + 1);
      const rightIndex = grow(right, depth + 1);
      nodes[index] = { kind: 'split', feature: split.feature, threshold: (cuts[split.feature] as number[])[split.bin] as number, left: leftIndex, right: rightIndex };
      return index;
    }

    function bestSplit(members: Uint32Array, g: number, h: number): { feature: number; bin: number } | null {
      const parentScore = (g * g) / (h + options.lambda);
      let best: { feature: number; bin: number; gain: number } | null = null;
      for (let f = 0; f < featureCount; f += 1) {
        const binCount = (cuts[f] as number[]).length + 1;
        if (binCount < 2) continue;
        const gSum = new Float64Array(binCount);
        const hSum = new Float64Array(binCount);
        const count = new Uint32Array(binCount);
        const column = binned[f] as Uint8Array;
        for (const i of members) {
          const b = column[i] as number;
          gSum[b] = (gSum[b] as number) + (gradient[i] as number);
          hSum[b] = (hSum[b] as number) + (hessian[i] as number);
          count[b] = (count[b] as number) + 1;
        }
        let gLeft = 0;
        let hLeft = 0;
        let nLeft = 0;
        for (let b = 0; b < binCount - 1; b += 1) {
          gLeft += gSum[b] as number;
          hLeft += hSum[b] as number;
          nLeft += count[b] as number;
          const nRight = members.length - nLeft;
          if (nLeft < options.minLeafRows || nRight < options.minLeafRows) continue;
          const gRight = g - gLeft;
          const hRight = h - hLeft;
          const gain = (gLeft * gLeft) / (hLeft + options.lambda) + (gRight * gRight) / (hRight + options.lambda) - parentScore;
          if (gain > 1e-9 && (!best || gain > best.gain)) best = { feature: f, bin: b, gain };
        }
      }
      return best;
    }
  }
  return { featureCount, bias: Math.fround(bias), trees };
}

/** The leaf a row reaches in one tree (the ONNX rule: x ≤ threshold goes left). */
export function leafValue(tree: Tree, row: Float32Array): number {
  let node = tree.nodes[0] as TreeNode;
  while (node.kind === 'split') node = tree.nodes[(row[node.feature] as number) <= node.threshold ? node.left : node.right] as TreeNode;
  return node.value;
}

/** The ensemble's probability for one row, computed in TypeScript (used to check the ONNX export). */
export function predictProbability(ensemble: Ensemble, row: Float32Array): number {
  let margin = ensemble.bias;
  for (const tree of ensemble.trees) margin += leafValue(tree, row);
  return sigmoid(margin);
}
