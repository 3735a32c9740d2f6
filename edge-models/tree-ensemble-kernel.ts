/**
 * ONNX-ML TreeEnsembleRegressor (ai.onnx.ml opsets 1–3) as the gateway evaluates it: every tree
 * walked from its first listed node, the leaves' weights summed per target in tree order in
 * float32 (as onnxruntime sums them), then averaged if asked and the base values added. What this
 * kernel does not implement (MIN/MAX aggregation, any post-transform: onnxruntime 1.30 applies
 * LOGISTIC to several targets but not to one, the opset-3 `*_as_tensor` attributes, a node list
 * that is not a tree) makes
 * `fromAttributes` answer with the reason, and the model then runs in onnxruntime instead.
 */
import type { FloatTensor } from './float-tensor.js';

const MODES = ['BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ', 'LEAF'] as const;
type Mode = (typeof MODES)[number];
const LEAF = MODES.indexOf('LEAF');
/** More targets than a risk model could mean are left to onnxruntime (its output is rows × targets). */
const MAX_TARGETS = 1024;

/** The attributes as the graph reader hands them on: numbers, number lists and string lists. */
export type TreeAttributes = ReadonlyMap<string, number | string | readonly number[] | readonly string[]>;

export interface TreeEnsemble {
  /** Per node, flattened over all trees: comparison mode (index into MODES), feature, threshold, children. */
  readonly mode: Uint8Array;
  readonly feature: Int32Array;
  readonly threshold: Float32Array;
  readonly trueChild: Int32Array;
  readonly falseChild: Int32Array;
  readonly missingTracksTrue: Uint8Array;
  /** Per node, its leaf weights as [target, weight] pairs from `leafStart[node]` to `leafStart[node + 1]`. */
  readonly leafStart: Int32Array;
  readonly leafTarget: Int32Array;
  readonly leafWeight: Float32Array;
  readonly roots: Int32Array;
  readonly targets: number;
  readonly average: boolean;
  readonly base: Float32Array;
  /** The largest feature index any branch reads. */
  readonly maxFeature: number;
}

const numbers = (attributes: TreeAttributes, name: string): readonly number[] => {
  const value = attributes.get(name);
  return Array.isArray(value) && value.every((item) => typeof item === 'number') ? value : [];
};
const strings = (attributes: TreeAttributes, name: string): readonly string[] => {
  const value = attributes.get(name);
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : [];
};

/** The ensemble the attributes describe, or why this kernel does not take it. */
export function treeEnsembleFromAttributes(attributes: TreeAttributes): TreeEnsemble | string {
  for (const name of attributes.keys()) if (name.endsWith('_as_tensor')) return `attribute ${name}`;
  const aggregate = attributes.get('aggregate_function') ?? 'SUM';
  if (aggregate !== 'SUM' && aggregate !== 'AVERAGE') return `aggregate_function ${String(aggregate)}`;
  const post = attributes.get('post_transform') ?? 'NONE';
  if (post !== 'NONE') return `post_transform ${String(post)}`;
  const targets = attributes.get('n_targets');
  if (typeof targets !== 'number' || !Number.isInteger(targets) || targets < 1 || targets > MAX_TARGETS) return `n_targets ${String(targets)}`;

  const treeIds = numbers(attributes, 'nodes_treeids');
  const nodeIds = numbers(attributes, 'nodes_nodeids');
  const count = treeIds.length;
  const modes = strings(attributes, 'nodes_modes');
  const features = numbers(attributes, 'nodes_featureids');
  const values = numbers(attributes, 'nodes_values');
  const trueIds = numbers(attributes, 'nodes_truenodeids');
  const falseIds = numbers(attributes, 'nodes_falsenodeids');
  const missing = numbers(attributes, 'nodes_missing_value_tracks_true');
  if (count === 0) return 'no nodes';
  for (const list of [nodeIds, modes, features, values, trueIds, falseIds]) if (list.length !== count) return 'node attributes of different lengths';
  if (missing.length !== 0 && missing.length !== count) return 'nodes_missing_value_tracks_true of another length';
  if (missing.some((flag) => flag !== 0 && flag !== 1)) return 'nodes_missing_value_tracks_true other than 0 or 1';

  const indexOf = new Map<string, number>();
  const roots: number[] = [];
  for (let n = 0; n < count; n += 1) {
    const key = `${treeIds[n]}/${nodeIds[n]}`;
    if (indexOf.has(key)) return `node ${key} listed twice`;
    indexOf.set(key, n);
    // onnxruntime takes the first node listed for each tree as its root.
    if (n === 0 || treeIds[n] !== treeIds[n - 1]) roots.push(n);
  }
  if (new Set(treeIds).size !== roots.length) return 'a tree listed in pieces';

  const mode = new Uint8Array(count);
  const trueChild = new Int32Array(count).fill(-1);
  const falseChild = new Int32Array(count).fill(-1);
  let maxFeature = -1;
  for (let n = 0; n < count; n += 1) {
    const m = MODES.indexOf(modes[n] as Mode);
    if (m < 0) return `node mode ${modes[n]}`;
    mode[n] = m;
    const feature = features[n] as number;
    if (!Number.isInteger(feature) || feature < 0) return `feature ${feature}`;
    // onnxruntime checks every node's feature against the input's width, a leaf's too.
    maxFeature = Math.max(maxFeature, feature);
    if (m === LEAF) continue;
    const t = indexOf.get(`${treeIds[n]}/${trueIds[n]}`);
    const f = indexOf.get(`${treeIds[n]}/${falseIds[n]}`);
    if (t === undefined || f === undefined) return `node ${treeIds[n]}/${nodeIds[n]} names a child that is not in its tree`;
    trueChild[n] = t;
    falseChild[n] = f;
  }
  // Every node reached once from its root: a loop or a shared child is no tree.
  const reached = new Uint8Array(count);
  for (const root of roots) {
    const stack = [root];
    while (stack.length > 0) {
      const n = stack.pop() as number;
      if (reached[n]) return 'a node reached twice (not a tree)';
      reached[n] = 1;
      if (mode[n] !== LEAF) stack.push(trueChild[n] as number, falseChild[n] as number);
    }
  }

  const targetTrees = numbers(attributes, 'target_treeids');
  const targetNodes = numbers(attributes, 'target_nodeids');
  const targetIds = numbers(attributes, 'target_ids');
  const weights = numbers(attributes, 'target_weights');
  if ([targetNodes, targetIds, weights].some((list) => list.length !== targetTrees.length)) return 'target attributes of different lengths';
  const perNode: [number, number][][] = Array.from({ length: count }, () => []);
  for (let w = 0; w < targetTrees.length; w += 1) {
    const n = indexOf.get(`${targetTrees[w]}/${targetNodes[w]}`);
    const target = targetIds[w] as number;
    if (n === undefined || mode[n] !== LEAF) return `weight ${w} is not on a leaf`;
    if (!Number.isInteger(target) || target < 0 || target >= targets) return `target id ${target}`;
    perNode[n]?.push([target, weights[w] as number]);
  }
  // With one target onnxruntime 1.30 takes a leaf's first weight only, and a leaf without one
  // scores its nodes_values entry; with several it sums them. Only the unambiguous case is taken.
  if (targets === 1 && perNode.some((pairs, n) => mode[n] === LEAF && pairs.length !== 1)) return 'a leaf with other than one weight for a single target';
  const leafStart = new Int32Array(count + 1);
  for (let n = 0; n < count; n += 1) leafStart[n + 1] = (leafStart[n] as number) + (perNode[n]?.length ?? 0);
  const leafTarget = new Int32Array(leafStart[count] as number);
  const leafWeight = new Float32Array(leafStart[count] as number);
  perNode.forEach((pairs, n) =>
    pairs.forEach(([target, weight], i) => {
      leafTarget[(leafStart[n] as number) + i] = target;
      leafWeight[(leafStart[n] as number) + i] = weight;
    }),
  );

  const baseValues = numbers(attributes, 'base_values');
  if (baseValues.length !== 0 && baseValues.length !== targets) return 'base_values of another length than n_targets';
  return {
    mode,
    feature: Int32Array.from(features),
    threshold: Float32Array.from(values),
    trueChild,
    falseChild,
    missingTracksTrue: missing.length === 0 ? new Uint8Array(count) : Uint8Array.from(missing),
    leafStart,
    leafTarget,
    leafWeight,
    roots: Int32Array.from(roots),
    targets,
    average: aggregate === 'AVERAGE',
    base: baseValues.length === 0 ? new Float32Array(targets) : Float32Array.from(baseValues),
    maxFeature,
  };
}

function goesTrue(mode: number, x: number, threshold: number): boolean {
  switch (mode) {
    case 0: return x <= threshold;
    case 1: return x < threshold;
    case 2: return x >= threshold;
    case 3: return x > threshold;
    case 4: return x === threshold;
    default: return x !== threshold;
  }
}

/** Scores every row of `input` ([rows, features]); the output is [rows, targets]. */
export function runTreeEnsemble(ensemble: TreeEnsemble, input: FloatTensor): FloatTensor {
  if (input.dims.length !== 2) throw new RangeError(`TreeEnsembleRegressor takes [rows, features], got [${input.dims.join(',')}]`);
  const [rows, width] = input.dims as [number, number];
  if (ensemble.maxFeature >= width) throw new RangeError(`the trees read feature ${ensemble.maxFeature} of rows ${width} wide`);
  const { targets } = ensemble;
  const out = new Float32Array(rows * targets);
  const sums = new Float32Array(targets);
  for (let row = 0; row < rows; row += 1) {
    sums.fill(0);
    const offset = row * width;
    for (const root of ensemble.roots) {
      let n = root;
      while (ensemble.mode[n] !== LEAF) {
        const x = input.data[offset + (ensemble.feature[n] as number)] as number;
        const toTrue = Number.isNaN(x) && ensemble.missingTracksTrue[n] === 1 ? true : goesTrue(ensemble.mode[n] as number, x, ensemble.threshold[n] as number);
        n = (toTrue ? ensemble.trueChild[n] : ensemble.falseChild[n]) as number;
      }
      for (let w = ensemble.leafStart[n] as number; w < (ensemble.leafStart[n + 1] as number); w += 1) {
        const target = ensemble.leafTarget[w] as number;
        // A Float32Array store rounds each partial sum to float32, as onnxruntime's float sum does.
        sums[target] = (sums[target] as number) + (ensemble.leafWeight[w] as number);
      }
    }
    for (let target = 0; target < targets; target += 1) {
      let value = sums[target] as number;
      if (ensemble.average) value = Math.fround(value / ensemble.roots.length);
      out[row * targets + target] = value + (ensemble.base[target] as number);
    }
  }
  return { dims: [rows, targets], data: out };
}
