/**
 * The gateway's ONNX reader against onnx-proto (protobufjs, the ONNX schema compiled by others):
 * the same opsets, nodes, attributes, initializers and shapes from the bundled models and from
 * random ones; and on damaged or arbitrary bytes nothing but its own errors.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/helpers/gateway-process.js';
import { decodeModel, encodeModel, floatConstant, floatValue, node, type AttributeValue } from './onnx-graph.js';
import { MAX_MODEL_VALUES, readOnnxModel, type WireModel, type WireValueInfo } from './onnx-wire.js';

/** A 64-bit integer from protobufjs (a Long, or a number) as a number. */
const int = (value: unknown): number => (typeof value === 'number' ? value : (value as { toNumber(): number }).toNumber());

type Decoded = ReturnType<typeof decodeModel>;
type DecodedValueInfo = NonNullable<NonNullable<Decoded['graph']>['input']>[number];

/** What onnx-proto reads, in the reader's shape. */
function byOnnxProto(bytes: Uint8Array): WireModel {
  const model = decodeModel(bytes);
  const graph = model.graph;
  const valueInfo = (info: DecodedValueInfo): WireValueInfo => ({
    name: info.name ?? '',
    elemType: info.type?.tensorType?.elemType ?? 0,
    dims: info.type?.tensorType?.shape
      ? (info.type.tensorType.shape.dim ?? []).map((dim) => (Object.prototype.hasOwnProperty.call(dim, 'dimValue') ? int(dim.dimValue) : Object.prototype.hasOwnProperty.call(dim, 'dimParam') ? (dim.dimParam ?? '') : null))
      : null,
  });
  const bytesOf = (value: Uint8Array | null | undefined): Uint8Array => new Uint8Array(value ?? []);
  return {
    opsetImport: (model.opsetImport ?? []).map((opset) => ({ domain: opset.domain ?? '', version: int(opset.version) })),
    graph: graph
      ? {
          node: (graph.node ?? []).map((n) => ({
            input: n.input ?? [],
            output: n.output ?? [],
            opType: n.opType ?? '',
            domain: n.domain ?? '',
            attribute: (n.attribute ?? []).map((a) => ({ name: a.name ?? '', type: a.type ?? 0, f: a.f ?? 0, i: int(a.i ?? 0), s: bytesOf(a.s), floats: a.floats ?? [], ints: (a.ints ?? []).map(int), strings: (a.strings ?? []).map(bytesOf) })),
          })),
          initializer: (graph.initializer ?? []).map((t) => ({ name: t.name ?? '', dims: (t.dims ?? []).map(int), dataType: t.dataType ?? 0, floatData: t.floatData ?? [], rawData: t.rawData && t.rawData.length > 0 ? bytesOf(t.rawData) : null, otherData: false })),
          input: (graph.input ?? []).map(valueInfo),
          output: (graph.output ?? []).map(valueInfo),
        }
      : null,
  };
}

/** Byte arrays as plain arrays (a subarray of the model's Buffer and a copy are then equal). */
const plain = (value: unknown): unknown => {
  if (value instanceof Uint8Array) return [...value];
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  return value;
};

describe('the ONNX reader', () => {
  it.each(['risk-2026.11.26.onnx', 'xray-screening-2026.11.26.onnx'])('reads the bundled %s as onnx-proto does', (file) => {
    const bytes = readFileSync(join(REPO_ROOT, 'models', file));
    expect(plain(readOnnxModel(bytes))).toEqual(plain(byOnnxProto(bytes)));
  });

  it('reads random models as onnx-proto does: attributes of every kind, negative and large integers, initializers in float_data and raw_data, symbolic, fixed and absent shapes', () => {
    const name = fc.string({ maxLength: 12 });
    const float = fc.float({ noNaN: true }).map(Math.fround);
    const attributeValue: fc.Arbitrary<AttributeValue> = fc.oneof(
      fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
      float.filter((value) => !Number.isInteger(value)),
      fc.string({ maxLength: 20 }),
      fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 }), { maxLength: 8 }).map((ints) => ({ ints })),
      fc.array(float, { maxLength: 8 }).map((floats) => ({ floats })),
      fc.array(fc.string({ maxLength: 6 }), { minLength: 1, maxLength: 4 }),
    );
    const model = fc.record({
      opsets: fc.dictionary(fc.constantFrom('', 'ai.onnx.ml', 'com.example'), fc.integer({ min: 1, max: 30 })),
      nodes: fc.array(fc.record({ op: fc.string({ minLength: 1, maxLength: 10 }), domain: fc.constantFrom('', 'ai.onnx.ml'), inputs: fc.array(name, { maxLength: 3 }), outputs: fc.array(name, { maxLength: 2 }), attributes: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), attributeValue, { maxKeys: 4 }) }), { maxLength: 5 }),
      inputs: fc.array(fc.record({ name, dims: fc.option(fc.array(fc.oneof(fc.integer({ min: 0, max: 4096 }), fc.string({ minLength: 1, maxLength: 5 })), { maxLength: 4 }), { nil: null }) }), { maxLength: 3 }),
      constants: fc.array(fc.record({ name, values: fc.array(float, { maxLength: 6 }), raw: fc.boolean() }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(model, (m) => {
        const bytes = encodeModel({
          graphName: 'random',
          opsets: m.opsets,
          nodes: m.nodes.map((n) => node(n)),
          // An input without dims declares no shape at all.
          inputs: m.inputs.map((input) => (input.dims ? floatValue(input.name, input.dims) : { name: input.name, type: { tensorType: { elemType: 1 } } })),
          outputs: [floatValue('y', ['n', 3])],
          // raw_data (little-endian floats), as most exporters write initializers, or float_data.
          initializers: m.constants.map((constant) =>
            constant.raw ? { name: constant.name, dims: [constant.values.length], dataType: 1, rawData: Buffer.from(Float32Array.from(constant.values).buffer) } : floatConstant(constant.name, constant.values),
          ),
        });
        expect(plain(readOnnxModel(bytes))).toEqual(plain(byOnnxProto(bytes)));
      }),
      { numRuns: 300 },
    );
  });

  it('takes repeated integers and floats packed or one per tag, as the protobuf encoding allows both', () => {
    // Attribute "a" (INTS) as ints 8 packed [1, -1], then "b" (FLOATS) as floats 7 unpacked [0.5, 2]: by hand from the encoding rules.
    const minusOne = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    const ints = [0x0a, 0x01, 0x61, 0xa0, 0x01, 7, 0x42, 11, 0x01, ...minusOne];
    const floats = [0x0a, 0x01, 0x62, 0xa0, 0x01, 6, 0x3d, 0x00, 0x00, 0x00, 0x3f, 0x3d, 0x00, 0x00, 0x00, 0x40];
    const nodeBytes = [0x22, 0x01, 0x58, 0x2a, ints.length, ...ints, 0x2a, floats.length, ...floats];
    const graph = [0x0a, nodeBytes.length, ...nodeBytes];
    const model = readOnnxModel(Uint8Array.from([0x3a, graph.length, ...graph]));
    const [only] = model.graph?.node ?? [];
    expect(only?.opType).toBe('X');
    expect(only?.attribute.map((a) => [a.name, a.type, a.ints, a.floats])).toEqual([
      ['a', 7, [1, -1], []],
      ['b', 6, [], [0.5, 2]],
    ]);
  });

  it('stops past its budget of values (the model then goes to onnxruntime), within it the bundled models are far', () => {
    // A node with MAX_MODEL_VALUES empty attributes: two bytes each on the wire, an object each in the heap.
    const attributes = Buffer.alloc(MAX_MODEL_VALUES * 2);
    for (let i = 0; i < attributes.length; i += 2) attributes[i] = 0x2a;
    const varint = (n: number): number[] => {
      const out: number[] = [];
      for (; n > 127; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
      return [...out, n];
    };
    const nodeBytes = Buffer.concat([Buffer.from([0x0a, ...varint(attributes.length)]), attributes]);
    const graph = Buffer.concat([Buffer.from([0x3a, ...varint(nodeBytes.length)]), nodeBytes]);
    expect(() => readOnnxModel(graph)).toThrow(new RangeError(`more than ${MAX_MODEL_VALUES} values in one model`));
    expect(readOnnxModel(readFileSync(join(REPO_ROOT, 'models', 'risk-2026.11.26.onnx'))).graph?.node).toHaveLength(2);
  });

  it('throws only its own errors on a model cut anywhere, or on arbitrary bytes', () => {
    const bytes = readFileSync(join(REPO_ROOT, 'models', 'xray-screening-2026.11.26.onnx'));
    const ownError = (run: () => unknown): void => {
      try {
        run();
      } catch (error) {
        expect(error instanceof RangeError || error instanceof TypeError, String(error)).toBe(true);
      }
    };
    for (let cut = 0; cut < bytes.length; cut += 1) ownError(() => readOnnxModel(bytes.subarray(0, cut)));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (random) => ownError(() => readOnnxModel(random))), { numRuns: 2000 });
  });
});
