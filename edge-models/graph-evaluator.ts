/**
 * The gateway's own evaluator for ONNX graphs made only of the operators graph-kernels.ts and
 * tree-ensemble-kernel.ts implement (both edge models are). onnxruntime costs the 4-lane post
 * ≈ 29 MB of RSS (its code touched while it registers its kernels, its allocations:
 * docs/benchmarks.md) to run two graphs of five operators; this evaluator costs what the graphs
 * hold. `compileGraph` reads a model and answers with an evaluator, or with the reason it does not
 * take the model (an operator, attribute, type or opset it does not implement), in which case the
 * model runs in onnxruntime instead (model-session.ts): a model the VMC sends that needs more
 * still runs. Results equal onnxruntime's to float32 rounding (graph-evaluator.test.ts).
 */
import { elementCount, type FloatTensor } from './float-tensor.js';
import { arithmetic, averagePool, reduceMax, sigmoid } from './graph-kernels.js';
import { readOnnxModel, type WireModel, type WireNode, type WireTensor, type WireValueInfo } from './onnx-wire.js';
import { runTreeEnsemble, treeEnsembleFromAttributes } from './tree-ensemble-kernel.js';

const FLOAT = 1;
/** The default domain's opsets whose semantics for these operators the kernels follow (7: broadcasting; ≤ 17: ReduceMax's axes an attribute). */
const DEFAULT_OPSETS = { min: 7, max: 17 };
const ML_OPSETS = { min: 1, max: 3 };

/**
 * A graph input or output: its name and its dimensions (a number where fixed, null where
 * symbolic), or null dimensions when it declares no shape (any rank).
 */
export interface GraphValue {
  name: string;
  dims: (number | null)[] | null;
}

type Step = (values: Map<string, FloatTensor>) => Promise<void> | void;

export class GraphEvaluator {
  readonly inputNames: string[];
  readonly outputNames: string[];

  constructor(
    readonly inputs: GraphValue[],
    readonly outputs: GraphValue[],
    private readonly steps: Step[],
    private readonly constants: ReadonlyMap<string, FloatTensor>,
  ) {
    this.inputNames = inputs.map((input) => input.name);
    this.outputNames = outputs.map((output) => output.name);
  }

  /** Runs the graph on `feeds` (every input, with its declared rank and fixed sizes); returns `wanted` or every output. */
  async run(feeds: Record<string, FloatTensor>, wanted: readonly string[] = this.outputNames): Promise<Record<string, FloatTensor>> {
    const values = new Map(this.constants);
    for (const input of this.inputs) {
      const feed = feeds[input.name];
      if (!feed) throw new RangeError(`input ${input.name} missing`);
      const declared = input.dims;
      const fits = declared === null || (feed.dims.length === declared.length && declared.every((dim, axis) => dim === null || dim === feed.dims[axis]));
      if (!fits || feed.data.length !== elementCount(feed.dims)) {
        throw new RangeError(`input ${input.name}: dimensions [${feed.dims.join(',')}] do not fit [${declared?.map((dim) => dim ?? '?').join(',') ?? 'any'}]`);
      }
      values.set(input.name, feed);
    }
    for (const step of this.steps) await step(values);
    const result: Record<string, FloatTensor> = {};
    for (const name of wanted) {
      const value = values.get(name);
      if (!value || !this.outputNames.includes(name)) throw new RangeError(`${name} is not an output of this graph`);
      result[name] = value;
    }
    return result;
  }
}

// AttributeProto.AttributeType.
const FLOAT_ATTRIBUTE = 1;
const INT = 2;
const STRING = 3;
const FLOATS = 6;
const INTS = 7;
const STRINGS = 8;

interface Attributes {
  values: Map<string, number | string | number[] | string[]>;
  types: Map<string, number>;
}

function attributesOf(node: WireNode): Attributes | string {
  const values = new Map<string, number | string | number[] | string[]>();
  const types = new Map<string, number>();
  for (const attribute of node.attribute) {
    const name = attribute.name;
    switch (attribute.type) {
      case FLOAT_ATTRIBUTE: values.set(name, attribute.f); break;
      case INT: values.set(name, attribute.i); break;
      case STRING: values.set(name, Buffer.from(attribute.s).toString('utf8')); break;
      case FLOATS: values.set(name, attribute.floats); break;
      case INTS: values.set(name, attribute.ints); break;
      case STRINGS: values.set(name, attribute.strings.map((value) => Buffer.from(value).toString('utf8'))); break;
      default: return `attribute ${name} of type ${attribute.type}`;
    }
    if (types.has(name)) return `attribute ${name} twice`;
    types.set(name, attribute.type);
  }
  return { values, types };
}

/** Why the attributes are not exactly of the names and types `allowed` lists (onnxruntime refuses a model that has others), or null. */
function checkAttributes(op: string, { types }: Attributes, allowed: Record<string, number>): string | null {
  for (const [name, type] of types) {
    if (allowed[name] === undefined) return `${op} with attribute ${name}`;
    if (allowed[name] !== type) return `${op} attribute ${name} of type ${type}`;
  }
  return null;
}

const TREE_ENSEMBLE_ATTRIBUTES: Record<string, number> = {
  aggregate_function: STRING,
  base_values: FLOATS,
  n_targets: INT,
  nodes_falsenodeids: INTS,
  nodes_featureids: INTS,
  nodes_hitrates: FLOATS,
  nodes_missing_value_tracks_true: INTS,
  nodes_modes: STRINGS,
  nodes_nodeids: INTS,
  nodes_treeids: INTS,
  nodes_truenodeids: INTS,
  nodes_values: FLOATS,
  post_transform: STRING,
  target_ids: INTS,
  target_nodeids: INTS,
  target_treeids: INTS,
  target_weights: FLOATS,
};

function graphValue(info: WireValueInfo): GraphValue | string {
  if (info.elemType !== FLOAT) return `value ${info.name} is not a float tensor`;
  return { name: info.name, dims: info.dims?.map((dim) => (typeof dim === 'number' ? dim : null)) ?? null };
}

function constantOf(tensor: WireTensor): FloatTensor | string {
  if (tensor.dataType !== FLOAT || tensor.otherData) return `initializer ${tensor.name} is not float`;
  const dims = tensor.dims;
  if (dims.some((dim) => !Number.isSafeInteger(dim) || dim < 0)) return `initializer ${tensor.name} with dimensions [${dims.join(',')}]`;
  const count = elementCount(dims);
  let data: Float32Array;
  if (tensor.rawData) {
    if (tensor.rawData.length !== count * 4) return `initializer ${tensor.name} has ${tensor.rawData.length} bytes for ${count} floats`;
    data = new Float32Array(count);
    const view = new DataView(tensor.rawData.buffer, tensor.rawData.byteOffset, tensor.rawData.byteLength);
    for (let i = 0; i < count; i += 1) data[i] = view.getFloat32(i * 4, true);
  } else {
    if (tensor.floatData.length !== count) return `initializer ${tensor.name} has ${tensor.floatData.length} floats for ${count}`;
    data = Float32Array.from(tensor.floatData);
  }
  return { dims, data };
}

const pair = (value: unknown, fallback: number): [number, number] | null => {
  if (value === undefined) return [fallback, fallback];
  return Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 1) ? [value[0] as number, value[1] as number] : null;
};

/** One node as a step, or why it is not taken. */
function stepFor(node: WireNode, opsets: ReadonlyMap<string, number>): Step | string {
  const op = node.opType;
  const domain = node.domain;
  const inputs = node.input;
  const [output] = node.output;
  if (output === undefined || node.output.length !== 1) return `${op} with ${node.output.length} outputs`;
  const attributes = attributesOf(node);
  if (typeof attributes === 'string') return `${op}: ${attributes}`;
  const get = (name: string): number | string | number[] | string[] | undefined => attributes.values.get(name);
  const input = (values: Map<string, FloatTensor>, i: number): FloatTensor => values.get(inputs[i] as string) as FloatTensor;

  if (domain === 'ai.onnx.ml') {
    if (op !== 'TreeEnsembleRegressor' || inputs.length !== 1) return `ai.onnx.ml ${op}`;
    const wrong = checkAttributes(op, attributes, TREE_ENSEMBLE_ATTRIBUTES);
    if (wrong) return wrong;
    const ensemble = treeEnsembleFromAttributes(attributes.values);
    if (typeof ensemble === 'string') return `${op}: ${ensemble}`;
    return (values) => void values.set(output, runTreeEnsemble(ensemble, input(values, 0)));
  }
  if (domain !== '' && domain !== 'ai.onnx') return `operator ${domain}.${op}`;
  switch (op) {
    case 'Sigmoid':
      if (inputs.length !== 1 || attributes.types.size > 0) return 'Sigmoid with other inputs or attributes';
      return async (values) => void values.set(output, await sigmoid(input(values, 0)));
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
      if (inputs.length !== 2 || attributes.types.size > 0) return `${op} with other inputs or attributes`;
      return async (values) => void values.set(output, await arithmetic(op, input(values, 0), input(values, 1)));
    case 'ReduceMax': {
      const wrong = checkAttributes(op, attributes, { axes: INTS, keepdims: INT });
      if (wrong || inputs.length !== 1 || (opsets.get('') ?? 0) >= 18) return wrong ?? 'ReduceMax with axes as an input';
      const axes = (get('axes') ?? []) as number[];
      const keep = (get('keepdims') ?? 1) as number;
      return async (values) => void values.set(output, await reduceMax(input(values, 0), axes, keep !== 0));
    }
    case 'AveragePool': {
      // No dilations: the attribute exists from opset 19, past the opsets taken here.
      const wrong = checkAttributes(op, attributes, { kernel_shape: INTS, strides: INTS, pads: INTS, auto_pad: STRING, ceil_mode: INT, count_include_pad: INT });
      if (wrong || inputs.length !== 1) return wrong ?? 'AveragePool with other inputs';
      const kernel = pair(get('kernel_shape'), 0);
      const strides = pair(get('strides'), 1);
      const pads = (get('pads') ?? []) as number[];
      const autoPad = get('auto_pad') ?? 'NOTSET';
      if (!kernel || kernel[0] === 0 || !strides) return 'AveragePool over other than 2 dimensions';
      if (pads.some((pad) => pad !== 0) || (autoPad !== 'NOTSET' && autoPad !== 'VALID')) return 'AveragePool with padding';
      if ((get('ceil_mode') ?? 0) !== 0) return 'AveragePool with ceil_mode';
      return async (values) => void values.set(output, await averagePool(input(values, 0), { kernel, strides }));
    }
    default:
      return `operator ${op}`;
  }
}

/** The evaluator for a model's graph, or why this evaluator does not take it. */
export function compileGraph(bytes: Uint8Array): GraphEvaluator | string {
  let model: WireModel;
  try {
    model = readOnnxModel(bytes);
  } catch (error) {
    return `not an ONNX model: ${(error as Error).message}`;
  }
  try {
    return compileModel(model);
  } catch (error) {
    // An allocation the model asks for that cannot be made, say: onnxruntime decides then.
    return `not compiled: ${(error as Error).message}`;
  }
}

function compileModel(model: WireModel): GraphEvaluator | string {
  const opsets = new Map<string, number>();
  for (const opset of model.opsetImport) opsets.set(opset.domain === 'ai.onnx' ? '' : opset.domain, opset.version);
  for (const [domain, version] of opsets) {
    const range = domain === '' ? DEFAULT_OPSETS : domain === 'ai.onnx.ml' ? ML_OPSETS : null;
    if (!range || version < range.min || version > range.max) return `opset ${domain || 'ai.onnx'} ${version}`;
  }
  const graph = model.graph;
  if (!graph) return 'no graph';

  const constants = new Map<string, FloatTensor>();
  for (const initializer of graph.initializer) {
    const constant = constantOf(initializer);
    if (typeof constant === 'string') return constant;
    constants.set(initializer.name, constant);
  }
  const inputs: GraphValue[] = [];
  // Before IR version 4 initializers were listed as inputs too; only the others are fed.
  for (const info of graph.input) {
    if (constants.has(info.name)) continue;
    const value = graphValue(info);
    if (typeof value === 'string') return value;
    inputs.push(value);
  }
  const outputs: GraphValue[] = [];
  for (const info of graph.output) {
    const value = graphValue(info);
    if (typeof value === 'string') return value;
    outputs.push(value);
  }

  const known = new Set([...constants.keys(), ...inputs.map((input) => input.name)]);
  const steps: Step[] = [];
  for (const node of graph.node) {
    // ONNX lists nodes in topological order; a node reading a value not yet made is not run here.
    const missing = node.input.find((name) => !known.has(name));
    if (missing !== undefined) return `${node.opType} reads ${missing ? `"${missing}" before it is made` : 'an omitted optional input'}`;
    const step = stepFor(node, opsets);
    if (typeof step === 'string') return step;
    // Every value is made once (ONNX's single static assignment); a graph that reuses a name is not run here.
    const reused = node.output.find((name) => known.has(name));
    if (reused !== undefined) return `${node.opType} makes "${reused}", which exists already`;
    steps.push(step);
    for (const name of node.output) known.add(name);
  }
  const unmade = outputs.find((output) => !known.has(output.name));
  if (unmade) return `output ${unmade.name} is made by no node`;
  return new GraphEvaluator(inputs, outputs, steps, constants);
}
