/**
 * Builds ONNX models in TypeScript with onnx-proto (the ONNX protobuf schema compiled for
 * protobufjs): nodes with typed attributes, float inputs and outputs with symbolic dimensions, and
 * the model's opset imports. Both edge models (the tree ensemble and the X-ray screening graph) are
 * written with these helpers and read back with `decodeModel` to check what was written.
 */
import { createRequire } from 'node:module';
import type { onnx as OnnxNamespace } from 'onnx-proto';

// onnx-proto is CommonJS with a namespace export; a default import does not type-check under NodeNext.
// Loaded on first use, not with this module: the gateway loads the models' input and output names
// from here but builds no model, and the schema with protobufjs is ≈ 1 MB of heap it need not hold.
let loaded: typeof OnnxNamespace | null = null;
const onnxProto = (): typeof OnnxNamespace => (loaded ??= (createRequire(import.meta.url)('onnx-proto') as { onnx: typeof OnnxNamespace }).onnx);

export type AttributeValue = number | string | number[] | string[] | { ints: number[] } | { floats: number[] };

/** Numbers that are whole are INT attributes unless wrapped in `{ floats }`; arrays likewise. */
function attribute(name: string, value: AttributeValue): OnnxNamespace.IAttributeProto {
  const { AttributeType } = onnxProto().AttributeProto;
  if (typeof value === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(value) };
  if (typeof value === 'number') return Number.isInteger(value) ? { name, type: AttributeType.INT, i: value } : { name, type: AttributeType.FLOAT, f: value };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  if (value.every((item): item is string => typeof item === 'string')) return { name, type: AttributeType.STRINGS, strings: value.map((item) => Buffer.from(item)) };
  throw new TypeError(`attribute ${name}: wrap numeric arrays as { ints } or { floats }`);
}

export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  attributes?: Record<string, AttributeValue>;
}

export function node(spec: NodeSpec): OnnxNamespace.INodeProto {
  return {
    opType: spec.op,
    input: spec.inputs,
    output: spec.outputs,
    name: `${spec.op}_${spec.outputs[0] ?? 'out'}`,
    domain: spec.domain ?? '',
    attribute: Object.entries(spec.attributes ?? {}).map(([name, value]) => attribute(name, value)),
  };
}

/** A FLOAT tensor value with dimensions given as sizes or symbolic names. */
export function floatValue(name: string, dims: (number | string)[]): OnnxNamespace.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnxProto().TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((dim) => (typeof dim === 'number' ? { dimValue: dim } : { dimParam: dim })) },
      },
    },
  };
}

export function floatConstant(name: string, values: number[], dims: number[] = [values.length]): OnnxNamespace.ITensorProto {
  return { name, dims, dataType: onnxProto().TensorProto.DataType.FLOAT, floatData: values };
}

export interface ModelSpec {
  graphName: string;
  nodes: OnnxNamespace.INodeProto[];
  inputs: OnnxNamespace.IValueInfoProto[];
  outputs: OnnxNamespace.IValueInfoProto[];
  initializers?: OnnxNamespace.ITensorProto[];
  /** Opset versions by domain ('' is the default ONNX domain, 'ai.onnx.ml' the classic ML ops). */
  opsets: Record<string, number>;
  /** Free-form key/value pairs kept in the model (version, feature names). */
  metadata?: Record<string, string>;
  docString?: string;
}

export function encodeModel(spec: ModelSpec): Buffer {
  const model = onnxProto().ModelProto.create({
    // IR version 8 is read by every onnxruntime since 1.10.
    irVersion: 8,
    producerName: 'border-gateway',
    docString: spec.docString ?? '',
    opsetImport: Object.entries(spec.opsets).map(([domain, version]) => ({ domain, version })),
    metadataProps: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: spec.graphName,
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
  });
  return Buffer.from(onnxProto().ModelProto.encode(model).finish());
}

export function decodeModel(bytes: Uint8Array): OnnxNamespace.ModelProto {
  return onnxProto().ModelProto.decode(bytes);
}

/** The metadata_props of a model as a plain record. */
export function modelMetadata(model: OnnxNamespace.IModelProto): Record<string, string> {
  return Object.fromEntries((model.metadataProps ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']));
}
