/**
 * Reads the parts of an ONNX model (onnx.proto, protobuf wire format) the gateway's graph
 * evaluator runs: opsets, the graph's nodes with their attributes, float initializers, inputs and
 * outputs with their shapes. Every other field is skipped by its wire type. onnx-proto (with
 * protobufjs) reads the same bytes in the model tools and tests; `run` loads this instead: the
 * schema and protobufjs were ≈ 1 MB of its heap (onnx-graph.ts), and a reader of its own checks
 * every length against what is left, so a damaged model ends in a RangeError, never a read past
 * its end. onnx-wire.test.ts compares the two readers on random models.
 */

export interface WireTensor {
  name: string;
  dims: number[];
  dataType: number;
  floatData: number[];
  /** null when absent or empty (the data is then in float_data). */
  rawData: Uint8Array | null;
  /** Set when the tensor has data in a field other than float_data and raw_data. */
  otherData: boolean;
}

export interface WireAttribute {
  name: string;
  type: number;
  f: number;
  i: number;
  s: Uint8Array;
  floats: number[];
  ints: number[];
  strings: Uint8Array[];
}

export interface WireNode {
  input: string[];
  output: string[];
  opType: string;
  domain: string;
  attribute: WireAttribute[];
}

export interface WireValueInfo {
  name: string;
  /** TensorProto.DataType of a tensor value; 0 for anything else (a sequence, a map, no type). */
  elemType: number;
  /**
   * A number where the dimension is fixed, its name or null where it is not; null for the whole
   * when the value has no shape at all (any rank: not the same as a scalar's empty shape).
   */
  dims: (number | string | null)[] | null;
}

export interface WireGraph {
  node: WireNode[];
  initializer: WireTensor[];
  input: WireValueInfo[];
  output: WireValueInfo[];
}

export interface WireModel {
  opsetImport: { domain: string; version: number }[];
  graph: WireGraph | null;
}

const VARINT = 0;
const FIXED64 = 1;
const BYTES = 2;
const FIXED32 = 5;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Fields and packed values a model may hold before the reader stops (a RangeError: the model then
 * goes to onnxruntime, whose memory is not the JavaScript heap). Each becomes a JavaScript value:
 * 500,000 are at most tens of MB of a heap the unit caps at 96 MB, and 25 times what the bundled
 * risk model (80 trees) holds.
 */
export const MAX_MODEL_VALUES = 500_000;

/** A cursor over one message's bytes; the cursors of one model share its budget of values. */
class Reader {
  private at: number;

  constructor(
    private readonly bytes: Uint8Array,
    from = 0,
    private readonly end = bytes.length,
    private readonly budget = { left: MAX_MODEL_VALUES },
  ) {
    this.at = from;
  }

  /** Counts one more value read; throws past the model's budget. */
  spend(): void {
    this.budget.left -= 1;
    if (this.budget.left < 0) throw new RangeError(`more than ${MAX_MODEL_VALUES} values in one model`);
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  /** An unsigned varint as two 32-bit halves. */
  private varintHalves(): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.at >= this.end) throw new RangeError('varint cut short');
      const byte = this.bytes[this.at++] as number;
      const bits = byte & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= bits << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if ((byte & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** An int64 or int32 varint as a number (negative values are ten bytes of two's complement). */
  int(): number {
    const [lo, hi] = this.varintHalves();
    return hi & 0x80000000 ? -((~hi >>> 0) * 2 ** 32 + (~lo >>> 0) + 1) : hi * 2 ** 32 + lo;
  }

  float(): number {
    if (this.at + 4 > this.end) throw new RangeError('float cut short');
    const value = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.at, 4).getFloat32(0, true);
    this.at += 4;
    return value;
  }

  /** A length-delimited field: its [start, end) in the bytes. */
  span(): [number, number] {
    const length = this.int();
    if (length < 0 || this.at + length > this.end) throw new RangeError('length past the end of its message');
    const start = this.at;
    this.at += length;
    return [start, this.at];
  }

  bytesField(): Uint8Array {
    const [start, end] = this.span();
    return this.bytes.subarray(start, end);
  }

  string(): string {
    return utf8.decode(this.bytesField());
  }

  message(): Reader {
    const [start, end] = this.span();
    return new Reader(this.bytes, start, end, this.budget);
  }

  /** The next field's number and wire type. */
  tag(): [number, number] {
    this.spend();
    const key = this.int();
    return [Math.floor(key / 8), key & 7];
  }

  skip(wireType: number): void {
    if (wireType === VARINT) this.int();
    else if (wireType === FIXED64) this.advance(8);
    else if (wireType === BYTES) this.span();
    else if (wireType === FIXED32) this.advance(4);
    else throw new RangeError(`wire type ${wireType}`);
  }

  /** A repeated varint field, packed (one length-delimited run) or not (one value per tag). */
  ints(wireType: number, into: number[]): void {
    this.repeated(wireType, VARINT, (reader) => reader.int(), into);
  }

  /** A repeated float field, packed or not. */
  floats(wireType: number, into: number[]): void {
    this.repeated(wireType, FIXED32, (reader) => reader.float(), into);
  }

  private repeated(wireType: number, scalarWireType: number, read: (reader: Reader) => number, into: number[]): void {
    if (wireType === scalarWireType) return void into.push(read(this));
    if (wireType !== BYTES) throw new RangeError(`a repeated field with wire type ${wireType}`);
    const packed = this.message();
    while (!packed.done) {
      packed.spend();
      into.push(read(packed));
    }
  }

  private advance(count: number): void {
    if (this.at + count > this.end) throw new RangeError('field cut short');
    this.at += count;
  }
}

/** Reads every field of a message, handing each to `field`; what it leaves unread is skipped. */
function fields(reader: Reader, field: (number: number, wireType: number) => boolean): void {
  while (!reader.done) {
    const [number, wireType] = reader.tag();
    if (!field(number, wireType)) reader.skip(wireType);
  }
}

function readTensor(reader: Reader): WireTensor {
  const tensor: WireTensor = { name: '', dims: [], dataType: 0, floatData: [], rawData: null, otherData: false };
  fields(reader, (number, wireType) => {
    if (number === 1) reader.ints(wireType, tensor.dims);
    else if (number === 2) tensor.dataType = reader.int();
    else if (number === 4) reader.floats(wireType, tensor.floatData);
    else if (number === 8) tensor.name = reader.string();
    else if (number === 9) {
      const raw = reader.bytesField();
      tensor.rawData = raw.length > 0 ? raw : null;
    }
    // int32_data, string_data, int64_data, double_data, uint64_data, external_data.
    else if ([5, 6, 7, 10, 11, 13].includes(number)) {
      tensor.otherData = true;
      return false;
    } else return false;
    return true;
  });
  return tensor;
}

function readAttribute(reader: Reader): WireAttribute {
  const attribute: WireAttribute = { name: '', type: 0, f: 0, i: 0, s: new Uint8Array(0), floats: [], ints: [], strings: [] };
  fields(reader, (number, wireType) => {
    if (number === 1) attribute.name = reader.string();
    else if (number === 20) attribute.type = reader.int();
    else if (number === 2 && wireType === FIXED32) attribute.f = reader.float();
    else if (number === 3 && wireType === VARINT) attribute.i = reader.int();
    else if (number === 4) attribute.s = reader.bytesField();
    else if (number === 7) reader.floats(wireType, attribute.floats);
    else if (number === 8) reader.ints(wireType, attribute.ints);
    else if (number === 9) attribute.strings.push(reader.bytesField());
    else return false;
    return true;
  });
  return attribute;
}

function readNode(reader: Reader): WireNode {
  const node: WireNode = { input: [], output: [], opType: '', domain: '', attribute: [] };
  fields(reader, (number) => {
    if (number === 1) node.input.push(reader.string());
    else if (number === 2) node.output.push(reader.string());
    else if (number === 4) node.opType = reader.string();
    else if (number === 7) node.domain = reader.string();
    else if (number === 5) node.attribute.push(readAttribute(reader.message()));
    else return false;
    return true;
  });
  return node;
}

function readShape(reader: Reader, dims: (number | string | null)[]): void {
  fields(reader, (number) => {
    if (number !== 1) return false;
    let dim: number | string | null = null;
    const dimension = reader.message();
    fields(dimension, (field, wireType) => {
      if (field === 1 && wireType === VARINT) dim = dimension.int();
      else if (field === 2) dim = dimension.string();
      else return false;
      return true;
    });
    dims.push(dim);
    return true;
  });
}

/**
 * A singular embedded message seen twice: protobuf merges the two (onnxruntime's C++ reader
 * does), which this reader does not; refused, so such a model runs in onnxruntime.
 */
function once(seen: Set<string>, what: string): void {
  if (seen.has(what)) throw new RangeError(`${what} twice in one message`);
  seen.add(what);
}

/** TypeProto.Tensor: elem_type (1), shape (2). */
function readTensorType(reader: Reader, value: WireValueInfo, seen: Set<string>): void {
  fields(reader, (number) => {
    if (number === 1) value.elemType = reader.int();
    else if (number === 2) {
      once(seen, 'shape');
      value.dims = [];
      readShape(reader.message(), value.dims);
    } else return false;
    return true;
  });
}

function readValueInfo(reader: Reader): WireValueInfo {
  const value: WireValueInfo = { name: '', elemType: 0, dims: null };
  const seen = new Set<string>();
  fields(reader, (number) => {
    if (number === 1) value.name = reader.string();
    else if (number === 2) {
      once(seen, 'type');
      // TypeProto: tensor_type (1); other kinds (sequence, map, …) leave elemType 0.
      const type = reader.message();
      fields(type, (typeField) => {
        if (typeField !== 1) return false;
        once(seen, 'tensor_type');
        readTensorType(type.message(), value, seen);
        return true;
      });
    } else return false;
    return true;
  });
  return value;
}

function readGraph(reader: Reader): WireGraph {
  const graph: WireGraph = { node: [], initializer: [], input: [], output: [] };
  fields(reader, (number) => {
    if (number === 1) graph.node.push(readNode(reader.message()));
    else if (number === 5) graph.initializer.push(readTensor(reader.message()));
    else if (number === 11) graph.input.push(readValueInfo(reader.message()));
    else if (number === 12) graph.output.push(readValueInfo(reader.message()));
    else return false;
    return true;
  });
  return graph;
}

/** Reads a ModelProto; throws a RangeError (or a TypeError for text that is not UTF-8) on damaged bytes. */
export function readOnnxModel(bytes: Uint8Array): WireModel {
  const reader = new Reader(bytes);
  const model: WireModel = { opsetImport: [], graph: null };
  fields(reader, (number) => {
    if (number === 8) {
      const opset = { domain: '', version: 0 };
      const entry = reader.message();
      fields(entry, (field) => {
        if (field === 1) opset.domain = entry.string();
        else if (field === 2) opset.version = entry.int();
        else return false;
        return true;
      });
      model.opsetImport.push(opset);
    } else if (number === 7) {
      if (model.graph) throw new RangeError('graph twice in one model');
      model.graph = readGraph(reader.message());
    } else return false;
    return true;
  });
  return model;
}
