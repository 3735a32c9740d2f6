/**
 * The gateway's own graph evaluator against onnxruntime, a peer nobody here wrote: the bundled
 * models and randomly built graphs of every operator and attribute the evaluator takes, run by
 * both, must give the same outputs to float32 rounding; what it does not take runs in onnxruntime.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/helpers/gateway-process.js';
import { countingTurns } from '../test/helpers/loop-turns.js';
import type { FloatTensor } from './float-tensor.js';
import { compileGraph, GraphEvaluator } from './graph-evaluator.js';
import { SLICE_ELEMENTS } from './graph-kernels.js';
import { openModelSession, type ModelSession } from './model-session.js';
import { encodeModel, floatConstant, floatValue, node, type AttributeValue } from './onnx-graph.js';

const RISK_MODEL = readFileSync(join(REPO_ROOT, 'models', 'risk-2026.11.26.onnx'));
const SCREENING_MODEL = readFileSync(join(REPO_ROOT, 'models', 'xray-screening-2026.11.26.onnx'));

/** Both engines on the same model; the evaluator must have taken it. */
async function bothEngines(bytes: Uint8Array): Promise<{ ours: ModelSession; theirs: ModelSession }> {
  const ours = await openModelSession(bytes, 'auto');
  expect(ours.fallbackReason).toBeNull();
  expect(ours.runsIn).toBe('gateway');
  const theirs = await openModelSession(bytes, 'onnxruntime');
  expect(theirs.runsIn).toBe('onnxruntime');
  return { ours, theirs };
}

function expectSameOutputs(ours: Record<string, FloatTensor>, theirs: Record<string, FloatTensor>, tolerance: number): void {
  expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
  for (const [name, tensor] of Object.entries(theirs)) {
    const mine = ours[name] as FloatTensor;
    expect(mine.dims, name).toEqual(tensor.dims);
    tensor.data.forEach((value, i) => {
      const other = mine.data[i] as number;
      if (Number.isNaN(value)) expect(other, `${name}[${i}]`).toBeNaN();
      else expect(Math.abs(other - value), `${name}[${i}]: ours ${other}, onnxruntime ${value}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(value)));
    });
  }
}

const float32 = fc.float({ noNaN: true, noDefaultInfinity: true, min: -1000, max: 1000 });

describe('the bundled models in both engines', () => {
  it('risk: the same margin and score for 300 random vehicles, in batches of 11 rows as the gateway scores', async () => {
    const { ours, theirs } = await bothEngines(RISK_MODEL);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(float32, fc.integer({ min: 0, max: 30 })), { minLength: 110, maxLength: 110 }), async (values) => {
        const feed = { features: { dims: [11, 10], data: Float32Array.from(values) } };
        expectSameOutputs(await ours.run(feed), await theirs.run(feed), 1e-6);
      }),
      { numRuns: 300 },
    );
  });

  it('screening: the same score and density map for images of any size the model takes', async () => {
    const { ours, theirs } = await bothEngines(SCREENING_MODEL);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 16, max: 300 }), fc.integer({ min: 16, max: 300 }), fc.integer(), async (height, width, seed) => {
        const data = new Float32Array(height * width);
        let state = seed >>> 0;
        for (let i = 0; i < data.length; i += 1) {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          data[i] = (state >>> 16) / 65535;
        }
        const feed = { image: { dims: [1, 1, height, width], data } };
        expectSameOutputs(await ours.run(feed), await theirs.run(feed), 1e-6);
      }),
      { numRuns: 60 },
    );
  });
});

interface RandomTree {
  nodes: { mode: string; feature: number; threshold: number; missingTrue: number; weights: number[] }[];
  children: [number, number][];
}

/** A random tree of up to `maxNodes` nodes in preorder, every branch with two children. */
const treeArbitrary = (features: number, targets: number): fc.Arbitrary<RandomTree> =>
  fc
    .array(
      fc.record({
        split: fc.boolean(),
        mode: fc.constantFrom('BRANCH_LEQ', 'BRANCH_LT', 'BRANCH_GTE', 'BRANCH_GT', 'BRANCH_EQ', 'BRANCH_NEQ'),
        feature: fc.integer({ min: 0, max: features - 1 }),
        threshold: fc.oneof(fc.constantFrom(0, 1, 2), float32),
        missingTrue: fc.integer({ min: 0, max: 1 }),
        weights: fc.array(float32, { minLength: targets, maxLength: targets }),
      }),
      { minLength: 1, maxLength: 15 },
    )
    .map((draws) => {
      const tree: RandomTree = { nodes: [], children: [] };
      let next = 0;
      // Grow in preorder; a draw asks for a split only while draws remain for both children.
      const grow = (): number => {
        const id = tree.nodes.length;
        const draw = draws[next % draws.length] as (typeof draws)[number];
        next += 1;
        const split = draw.split && tree.nodes.length + 2 <= draws.length;
        tree.nodes.push({ mode: split ? draw.mode : 'LEAF', feature: draw.feature, threshold: draw.threshold, missingTrue: draw.missingTrue, weights: draw.weights });
        tree.children.push([0, 0]);
        if (split) tree.children[id] = [grow(), grow()];
        return id;
      };
      grow();
      return tree;
    });

interface EnsembleCase {
  features: number;
  targets: number;
  trees: RandomTree[];
  aggregate: 'SUM' | 'AVERAGE';
  base: number[] | null;
  withMissing: boolean;
}

const ensembleArbitrary: fc.Arbitrary<EnsembleCase> = fc
  .record({ features: fc.integer({ min: 1, max: 6 }), targets: fc.integer({ min: 1, max: 3 }) })
  .chain(({ features, targets }) =>
    fc.record({
      features: fc.constant(features),
      targets: fc.constant(targets),
      trees: fc.array(treeArbitrary(features, targets), { minLength: 1, maxLength: 12 }),
      aggregate: fc.constantFrom('SUM' as const, 'AVERAGE' as const),
      base: fc.option(fc.array(float32, { minLength: targets, maxLength: targets }), { nil: null }),
      withMissing: fc.boolean(),
    }),
  );

function ensembleModel(c: EnsembleCase): Buffer {
  const a = { treeIds: [] as number[], nodeIds: [] as number[], features: [] as number[], modes: [] as string[], values: [] as number[], trueIds: [] as number[], falseIds: [] as number[], missing: [] as number[] };
  const t = { treeIds: [] as number[], nodeIds: [] as number[], ids: [] as number[], weights: [] as number[] };
  c.trees.forEach((tree, treeId) =>
    tree.nodes.forEach((treeNode, nodeId) => {
      a.treeIds.push(treeId);
      a.nodeIds.push(nodeId);
      a.features.push(treeNode.feature);
      a.modes.push(treeNode.mode);
      a.values.push(treeNode.threshold);
      const [left, right] = tree.children[nodeId] as [number, number];
      a.trueIds.push(left);
      a.falseIds.push(right);
      a.missing.push(treeNode.missingTrue);
      if (treeNode.mode === 'LEAF') {
        treeNode.weights.forEach((weight, target) => {
          t.treeIds.push(treeId);
          t.nodeIds.push(nodeId);
          t.ids.push(target);
          t.weights.push(weight);
        });
      }
    }),
  );
  const attributes: Record<string, AttributeValue> = {
    n_targets: c.targets,
    aggregate_function: c.aggregate,
    nodes_treeids: { ints: a.treeIds },
    nodes_nodeids: { ints: a.nodeIds },
    nodes_featureids: { ints: a.features },
    nodes_modes: a.modes,
    nodes_values: { floats: a.values },
    nodes_truenodeids: { ints: a.trueIds },
    nodes_falsenodeids: { ints: a.falseIds },
    target_treeids: { ints: t.treeIds },
    target_nodeids: { ints: t.nodeIds },
    target_ids: { ints: t.ids },
    target_weights: { floats: t.weights },
  };
  if (c.base) attributes.base_values = { floats: c.base };
  if (c.withMissing) attributes.nodes_missing_value_tracks_true = { ints: a.missing };
  return encodeModel({
    graphName: 'random_trees',
    opsets: { '': 17, 'ai.onnx.ml': 3 },
    inputs: [floatValue('x', ['rows', c.features])],
    outputs: [floatValue('y', ['rows', c.targets])],
    nodes: [node({ op: 'TreeEnsembleRegressor', domain: 'ai.onnx.ml', inputs: ['x'], outputs: ['y'], attributes })],
  });
}

describe('random graphs in both engines', () => {
  it('TreeEnsembleRegressor: every branch mode, missing values either way, SUM and AVERAGE, base values, several targets', async () => {
    await fc.assert(
      fc.asyncProperty(ensembleArbitrary, fc.array(fc.oneof(float32, fc.constantFrom(0, 1, 2, Number.NaN)), { minLength: 60, maxLength: 60 }), async (c, values) => {
        const { ours, theirs } = await bothEngines(ensembleModel(c));
        const rows = Math.floor(60 / c.features);
        const feed = { x: { dims: [rows, c.features], data: Float32Array.from(values.slice(0, rows * c.features)) } };
        expectSameOutputs(await ours.run(feed), await theirs.run(feed), 1e-5);
        await theirs.release();
      }),
      { numRuns: 200 },
    );
  });

  it('AveragePool, ReduceMax, the arithmetic with broadcasting and Sigmoid: any kernel, stride, axes and constant shape', async () => {
    const poolCase = fc.record({
      height: fc.integer({ min: 1, max: 40 }),
      width: fc.integer({ min: 1, max: 40 }),
      batch: fc.integer({ min: 1, max: 2 }),
      channels: fc.integer({ min: 1, max: 3 }),
      padding: fc.constantFrom<Record<string, AttributeValue>>({}, { auto_pad: 'VALID' }, { auto_pad: 'NOTSET', pads: { ints: [0, 0, 0, 0] } }, { count_include_pad: 1 }, { ceil_mode: 0 }),
      kernel: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
      strides: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })),
      axes: fc.subarray([0, 1, 2, -1, -2]).filter((axes) => !(axes.includes(2) && axes.includes(-2))),
      keepdims: fc.integer({ min: 0, max: 1 }),
      op: fc.constantFrom('Add', 'Sub', 'Mul', 'Div'),
      constant: fc.array(float32.filter((value) => value !== 0), { minLength: 1, maxLength: 1 }),
      seed: fc.integer(),
    });
    await fc.assert(
      fc.asyncProperty(poolCase, async (c) => {
        const height = Math.max(c.height, c.kernel[0]);
        const width = Math.max(c.width, c.kernel[1]);
        // ReduceMax over the drawn axes (none: all of them; negative ones count from the end); the constant broadcasts from a scalar.
        const attributes: Record<string, AttributeValue> = { keepdims: c.keepdims };
        if (c.axes.length > 0) attributes.axes = { ints: c.axes };
        const bytes = encodeModel({
          graphName: 'random_pool',
          opsets: { '': 17 },
          inputs: [floatValue('image', [c.batch, c.channels, 'h', 'w'])],
          outputs: [floatValue('density', [c.batch, c.channels, 'oh', 'ow']), floatValue('out', [])],
          initializers: [floatConstant('k', c.constant, [])],
          nodes: [
            node({ op: 'AveragePool', inputs: ['image'], outputs: ['density'], attributes: { kernel_shape: { ints: c.kernel }, strides: { ints: c.strides }, ...c.padding } }),
            node({ op: 'ReduceMax', inputs: ['density'], outputs: ['peak'], attributes }),
            node({ op: c.op, inputs: ['peak', 'k'], outputs: ['shifted'] }),
            node({ op: 'Sigmoid', inputs: ['shifted'], outputs: ['out'] }),
          ],
        });
        const { ours, theirs } = await bothEngines(bytes);
        // Steps of 1/256 in [-128, 128): 16 significant bits, so a window's sum (at most 36 of them, below 2^13) is exact in
        // float32 whichever order an engine adds in. With 24-bit values the two engines' orders differed by a few ulps of
        // the sum, which a Mul by -32.8 carried past the tolerance (CI: 1.0013e-5 against 1e-5, seed 1263793238).
        const data = new Float32Array(c.batch * c.channels * height * width);
        let state = c.seed >>> 0;
        for (let i = 0; i < data.length; i += 1) {
          state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
          data[i] = (state >>> 16) / 256 - 128;
        }
        const feed = { image: { dims: [c.batch, c.channels, height, width], data } };
        expectSameOutputs(await ours.run(feed), await theirs.run(feed), 1e-5);
        await theirs.release();
      }),
      { numRuns: 150 },
    );
  });

  it('broadcasts two inputs of any compatible shapes as onnxruntime does', async () => {
    // Two shapes cut from one: each drops leading axes and sets others to 1 on its own, so either side (or both, [3,1] with [1,4]) may expand.
    const side = (full: number[]): fc.Arbitrary<number[]> =>
      fc.integer({ min: 0, max: full.length }).chain((drop) => fc.array(fc.boolean(), { minLength: full.length - drop, maxLength: full.length - drop }).map((ones) => full.slice(drop).map((dim, i) => (ones[i] ? 1 : dim))));
    const shapes = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 4 }).chain((full) => fc.tuple(side(full), side(full)));
    await fc.assert(
      fc.asyncProperty(shapes, fc.boolean(), fc.constantFrom('Add', 'Sub', 'Mul', 'Div'), async ([a, b], swap, op) => {
        const [left, right] = swap ? [b, a] : [a, b];
        const bytes = encodeModel({
          graphName: 'random_broadcast',
          opsets: { '': 13 },
          inputs: [floatValue('a', left), floatValue('b', right)],
          outputs: [floatValue('c', [])],
          nodes: [node({ op, inputs: ['a', 'b'], outputs: ['c'] })],
        });
        const { ours, theirs } = await bothEngines(bytes);
        const fill = (dims: number[], from: number): FloatTensor => ({ dims, data: Float32Array.from({ length: dims.reduce((n, d) => n * d, 1) }, (_, i) => from + i * 0.75) });
        const feed = { a: fill(left, 1.5), b: fill(right, 0.25) };
        expectSameOutputs(await ours.run(feed), await theirs.run(feed), 1e-6);
        await theirs.release();
      }),
      { numRuns: 100 },
    );
  });
});

describe('what the evaluator does not take', () => {
  it('runs in onnxruntime, saying why, with onnxruntime’s results', async () => {
    const bytes = encodeModel({
      graphName: 'relu',
      opsets: { '': 17 },
      inputs: [floatValue('x', [3])],
      outputs: [floatValue('y', [3])],
      nodes: [node({ op: 'Relu', inputs: ['x'], outputs: ['y'] })],
    });
    const session = await openModelSession(bytes);
    expect(session.runsIn).toBe('onnxruntime');
    expect(session.fallbackReason).toBe('operator Relu');
    const result = await session.run({ x: { dims: [3], data: Float32Array.from([-1, 0, 2]) } });
    expect([...(result.y as FloatTensor).data]).toEqual([0, 0, 2]);
    await session.release();
  });

  it.each([
    ['MIN aggregation', { aggregate_function: 'MIN' }, 'aggregate_function MIN'],
    ['a SOFTMAX transform', { post_transform: 'SOFTMAX' }, 'post_transform SOFTMAX'],
    ['a LOGISTIC transform', { post_transform: 'LOGISTIC' }, 'post_transform LOGISTIC'],
    ['a loop', { nodes_truenodeids: { ints: [0, 0, 0] } }, 'a node reached twice (not a tree)'],
    ['a child outside its tree', { nodes_falsenodeids: { ints: [2, 0, 0] }, nodes_truenodeids: { ints: [7, 0, 0] } }, 'names a child that is not in its tree'],
    ['nothing odd (the control: taken)', {}, ''],
    ['a weight on a branch', { target_nodeids: { ints: [0, 2] } }, 'weight 0 is not on a leaf'],
    // onnxruntime 1.30 takes the first of two weights, and a leaf's nodes_values when it has none.
    ['two weights on a leaf of a single target', { target_treeids: { ints: [0, 0, 0] }, target_nodeids: { ints: [1, 1, 2] }, target_ids: { ints: [0, 0, 0] }, target_weights: { floats: [1, 10, 2] } }, 'a leaf with other than one weight for a single target'],
    ['a leaf without a weight', { target_treeids: { ints: [0] }, target_nodeids: { ints: [1] }, target_ids: { ints: [0] }, target_weights: { floats: [1] } }, 'a leaf with other than one weight for a single target'],
    ['a missing-value flag other than 0 or 1', { nodes_missing_value_tracks_true: { ints: [257, 0, 0] } }, 'other than 0 or 1'],
    ['n_targets as a float', { n_targets: { floats: [1] } }, 'attribute n_targets of type 6'],
    ['an attribute it does not know', { classlabels_int64s: { ints: [1] } }, 'with attribute classlabels_int64s'],
  ] as [string, Record<string, AttributeValue>, string][])('a tree ensemble with %s', (_, change, reason) => {
    const attributes: Record<string, AttributeValue> = {
      n_targets: 1,
      nodes_treeids: { ints: [0, 0, 0] },
      nodes_nodeids: { ints: [0, 1, 2] },
      nodes_featureids: { ints: [0, 0, 0] },
      nodes_modes: ['BRANCH_LEQ', 'LEAF', 'LEAF'],
      nodes_values: { floats: [0.5, 0, 0] },
      nodes_truenodeids: { ints: [1, 0, 0] },
      nodes_falsenodeids: { ints: [2, 0, 0] },
      target_treeids: { ints: [0, 0] },
      target_nodeids: { ints: [1, 2] },
      target_ids: { ints: [0, 0] },
      target_weights: { floats: [1, 2] },
      ...change,
    };
    const bytes = encodeModel({
      graphName: 'odd_trees',
      opsets: { '': 17, 'ai.onnx.ml': 3 },
      inputs: [floatValue('x', ['rows', 1])],
      outputs: [floatValue('y', ['rows', 1])],
      nodes: [node({ op: 'TreeEnsembleRegressor', domain: 'ai.onnx.ml', inputs: ['x'], outputs: ['y'], attributes })],
    });
    const compiled = compileGraph(bytes);
    if (reason === '') expect(compiled).toBeInstanceOf(GraphEvaluator);
    else expect(compiled).toContain(reason);
  });

  it.each([
    ['kernel_shape as floats', [node({ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: { floats: [2, 2] } } })], 'AveragePool attribute kernel_shape of type 6'],
    ['dilations (from opset 19)', [node({ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: { ints: [2, 2] }, dilations: { ints: [1, 1] } } })], 'AveragePool with attribute dilations'],
    ['keepdims as a string', [node({ op: 'ReduceMax', inputs: ['x'], outputs: ['y'], attributes: { keepdims: '0' } })], 'ReduceMax attribute keepdims of type 3'],
    ['Sigmoid with an attribute', [node({ op: 'Sigmoid', inputs: ['x'], outputs: ['y'], attributes: { alpha: 0.5 } })], 'Sigmoid with other inputs or attributes'],
    ['an output that reuses the input name', [node({ op: 'Sigmoid', inputs: ['x'], outputs: ['x'] })], 'makes "x", which exists already'],
  ] as [string, ReturnType<typeof node>[], string][])('a graph with %s', (_, nodes, reason) => {
    const bytes = encodeModel({ graphName: 'odd', opsets: { '': 17 }, inputs: [floatValue('x', [1, 1, 4, 4])], outputs: [floatValue('y', [])], nodes });
    expect(compileGraph(bytes)).toContain(reason);
  });

  it('refuses an initializer of negative dimensions, and a model with its graph field twice (protobuf would merge the two; onnxruntime does)', () => {
    const negative = encodeModel({ graphName: 'neg', opsets: { '': 17 }, inputs: [floatValue('x', [1])], outputs: [floatValue('y', [])], initializers: [{ name: 'k', dims: [-1, -1], dataType: 1, floatData: [1] }], nodes: [node({ op: 'Add', inputs: ['x', 'k'], outputs: ['y'] })] });
    expect(compileGraph(negative)).toContain('initializer k with dimensions [-1,-1]');
    // Two encoded messages one after the other are one message with every field of both (protobuf's merge): the graph field twice.
    expect(compileGraph(Buffer.concat([RISK_MODEL, RISK_MODEL]))).toBe('not an ONNX model: graph twice in one model');
  });

  it('takes an input that declares no shape, as onnxruntime does, with any rank', async () => {
    const bytes = encodeModel({ graphName: 'any', opsets: { '': 17 }, inputs: [{ name: 'x', type: { tensorType: { elemType: 1 } } }], outputs: [floatValue('y', [])], nodes: [node({ op: 'Sigmoid', inputs: ['x'], outputs: ['y'] })] });
    const { ours, theirs } = await bothEngines(bytes);
    for (const dims of [[], [3], [2, 2]]) {
      const feed = { x: { dims, data: Float32Array.from({ length: dims.reduce((n, d) => n * d, 1) }, (_, i) => i - 1) } };
      expectSameOutputs(await ours.run(feed), await theirs.run(feed), 1e-6);
    }
  });

  it('refuses opsets it does not know, bytes that are no model, and inputs of the wrong shape', async () => {
    const relu = (opset: number): Buffer =>
      encodeModel({ graphName: 's', opsets: { '': opset }, inputs: [floatValue('x', [2])], outputs: [floatValue('y', [2])], nodes: [node({ op: 'Sigmoid', inputs: ['x'], outputs: ['y'] })] });
    expect(compileGraph(relu(18))).toBe('opset ai.onnx 18');
    expect(compileGraph(relu(6))).toBe('opset ai.onnx 6');
    expect(compileGraph(Buffer.from('not a model at all'))).toMatch(/^not an ONNX model/);
    const { ours, theirs } = await bothEngines(RISK_MODEL);
    const wrong = { features: { dims: [11, 9], data: new Float32Array(99) } };
    await expect(ours.run(wrong)).rejects.toThrow(/dimensions \[11,9\] do not fit \[\?,10\]/);
    await expect(theirs.run(wrong)).rejects.toThrow(/dimensions/i);
  });
});

describe('the evaluator near the event loop', () => {
  it('gives the loop a turn at least once per slice while it pools a large image', async () => {
    const { ours } = await bothEngines(SCREENING_MODEL);
    const side = 2048;
    const { turns } = await countingTurns(() => ours.run({ image: { dims: [1, 1, side, side], data: new Float32Array(side * side).fill(0.25) } }));
    expect(turns).toBeGreaterThanOrEqual(Math.floor((side * side) / SLICE_ELEMENTS) - 1);
  });

  it('gives the loop a turn in every slice of the element-wise kernels and the reduction too', async () => {
    const side = 2048;
    const bytes = encodeModel({
      graphName: 'large',
      opsets: { '': 17 },
      inputs: [floatValue('x', [side, side])],
      outputs: [floatValue('peak', [])],
      initializers: [floatConstant('k', [0.5], [])],
      nodes: [node({ op: 'Mul', inputs: ['x', 'k'], outputs: ['half'] }), node({ op: 'Sigmoid', inputs: ['half'], outputs: ['squashed'] }), node({ op: 'ReduceMax', inputs: ['squashed'], outputs: ['peak'], attributes: { keepdims: 0 } })],
    });
    const session = await openModelSession(bytes);
    expect(session.runsIn).toBe('gateway');
    const { result, turns } = await countingTurns(() => session.run({ x: { dims: [side, side], data: new Float32Array(side * side).fill(2) } }));
    expect((result.peak as FloatTensor).data[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    // Three kernels over 4 M elements, a turn between each two of their 16 slices.
    expect(turns).toBeGreaterThanOrEqual(3 * (Math.floor((side * side) / SLICE_ELEMENTS) - 1));
  });

  it('gives the loop turns while it broadcasts two tensors that both expand, and a tall pooling kernel', async () => {
    const side = 1024;
    const add = await openModelSession(encodeModel({ graphName: 'outer', opsets: { '': 17 }, inputs: [floatValue('a', [side, 1]), floatValue('b', [1, side])], outputs: [floatValue('c', [side, side])], nodes: [node({ op: 'Add', inputs: ['a', 'b'], outputs: ['c'] })] }));
    const { result, turns } = await countingTurns(() => add.run({ a: { dims: [side, 1], data: new Float32Array(side).fill(1) }, b: { dims: [1, side], data: new Float32Array(side).fill(2) } }));
    expect((result.c as FloatTensor).data.every((value) => value === 3)).toBe(true);
    // 1 M elements at 2 × rank (4) summed elements' worth each: 32 slices.
    expect(turns).toBeGreaterThanOrEqual(Math.floor((side * side * 4) / SLICE_ELEMENTS) - 1);
    const pool = await openModelSession(encodeModel({ graphName: 'tall', opsets: { '': 17 }, inputs: [floatValue('x', [1, 1, side, side])], outputs: [floatValue('y', [])], nodes: [node({ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attributes: { kernel_shape: { ints: [side, 1] } } })] }));
    // One output row of a kernel as tall as the image is the whole image: turns come within it.
    const tall = await countingTurns(() => pool.run({ x: { dims: [1, 1, side, side], data: new Float32Array(side * side) } }));
    expect(tall.turns).toBeGreaterThanOrEqual(Math.floor((side * side) / SLICE_ELEMENTS) - 1);
  });

  it('leaves onnxruntime unloaded when both bundled models run in the evaluator, and loads it when asked to; protobufjs never', () => {
    const script = (engine: string): string => `
      const { readFileSync } = await import('node:fs');
      await import('./edge-models/risk-model.ts');
      await import('./edge-models/xray-screening.ts');
      const { openModelSession } = await import('./edge-models/model-session.ts');
      for (const file of ['models/risk-2026.11.26.onnx', 'models/xray-screening-2026.11.26.onnx']) await openModelSession(readFileSync(file), '${engine}');
      const { createRequire } = await import('node:module');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      process.stdout.write(JSON.stringify({
        onnxruntime: readFileSync('/proc/self/maps', 'utf8').includes('libonnxruntime'),
        protobufjs: loaded.some((path) => path.includes('/protobufjs/') || path.includes('/onnx-proto/')),
      }));
    `;
    const loaded = (engine: string): unknown => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(engine)], { cwd: REPO_ROOT, encoding: 'utf8' }));
    expect(loaded('onnxruntime')).toEqual({ onnxruntime: true, protobufjs: false });
    expect(loaded('auto')).toEqual({ onnxruntime: false, protobufjs: false });
  }, 60_000);
});
