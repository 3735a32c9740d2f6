/**
 * The standard ONNX operators the gateway's own evaluator implements, with onnxruntime's results
 * (edge-models/graph-evaluator.test.ts compares the two): element-wise Sigmoid, the four
 * arithmetic operators with multidirectional broadcasting, 2-D AveragePool without padding, and
 * ReduceMax over attribute axes. Results are float32, as onnxruntime's are.
 *
 * A kernel over a large tensor (AveragePool over a 4096×4096 X-ray image is 16 M samples, tens
 * of milliseconds) gives the event loop a turn after every `SLICE_ELEMENTS` elements it has read,
 * so it never holds the publishing and the devices for more than a slice.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { broadcastDims, broadcastSource, elementCount, stridesOf, type FloatTensor } from './float-tensor.js';

/** ≈ 0.5 ms of summing on this project's 2-core reference machine. */
export const SLICE_ELEMENTS = 1 << 18;

/** Counts the elements a kernel has read and gives the loop a turn after each slice of them. */
class Slices {
  private sinceTurn = 0;

  async read(elements: number): Promise<void> {
    this.sinceTurn += elements;
    if (this.sinceTurn < SLICE_ELEMENTS) return;
    this.sinceTurn = 0;
    await nextTurn();
  }
}

/**
 * Runs `body(from, to)` over [0, count) one slice at a time; `cost` is how many summed elements
 * one element of this loop is worth (a reduction's index arithmetic costs several).
 */
async function inSlices(count: number, body: (from: number, to: number) => void, cost = 1): Promise<void> {
  const slice = Math.max(1, Math.floor(SLICE_ELEMENTS / cost));
  for (let from = 0; from < count; from += slice) {
    body(from, Math.min(count, from + slice));
    if (from + slice < count) await nextTurn();
  }
}

export async function sigmoid(x: FloatTensor): Promise<FloatTensor> {
  const data = new Float32Array(x.data.length);
  await inSlices(data.length, (from, to) => {
    for (let i = from; i < to; i += 1) data[i] = 1 / (1 + Math.exp(-(x.data[i] as number)));
  });
  return { dims: [...x.dims], data };
}

export type ArithmeticOp = 'Add' | 'Sub' | 'Mul' | 'Div';

const APPLY: Record<ArithmeticOp, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
};

/**
 * Element `i` of the output read from operand `t`: in place when it has the output's shape, its one
 * value when it is a scalar, else its broadcast source computed as it is needed (an index array per
 * operand would be as large as the output and made before the first slice). Also what reading one
 * costs, in summed elements, for the slices.
 */
function operand(t: FloatTensor, dims: readonly number[], strides: readonly number[], count: number): { at: (i: number) => number; cost: number } {
  if (t.data.length === count) return { at: (i) => t.data[i] as number, cost: 1 };
  if (t.data.length === 1) {
    const scalar = t.data[0] as number;
    return { at: () => scalar, cost: 1 };
  }
  const own = stridesOf(t.dims);
  return { at: (i) => t.data[broadcastSource(i, t.dims, own, dims, strides)] as number, cost: dims.length };
}

export async function arithmetic(op: ArithmeticOp, a: FloatTensor, b: FloatTensor): Promise<FloatTensor> {
  const dims = broadcastDims(a.dims, b.dims);
  const count = elementCount(dims);
  const strides = stridesOf(dims);
  const data = new Float32Array(count);
  const apply = APPLY[op];
  const left = operand(a, dims, strides, count);
  const right = operand(b, dims, strides, count);
  await inSlices(
    count,
    (from, to) => {
      for (let i = from; i < to; i += 1) data[i] = apply(left.at(i), right.at(i));
    },
    left.cost + right.cost,
  );
  return { dims, data };
}

export interface PoolShape {
  kernel: [number, number];
  strides: [number, number];
}

/** AveragePool over [N, C, H, W] with no padding: each output the mean of its kernel window. */
export async function averagePool(x: FloatTensor, { kernel, strides }: PoolShape): Promise<FloatTensor> {
  if (x.dims.length !== 4) throw new RangeError(`AveragePool takes [N, C, H, W], got [${x.dims.join(',')}]`);
  const [n, c, h, w] = x.dims as [number, number, number, number];
  const [kh, kw] = kernel;
  const [sh, sw] = strides;
  if (h < kh || w < kw) throw new RangeError(`a ${kh}×${kw} pool over a ${h}×${w} input`);
  const oh = Math.floor((h - kh) / sh) + 1;
  const ow = Math.floor((w - kw) / sw) + 1;
  const out = new Float32Array(n * c * oh * ow);
  const window = kh * kw;
  const sums = new Float64Array(ow);
  const slices = new Slices();
  for (let plane = 0; plane < n * c; plane += 1) {
    const base = plane * h * w;
    for (let oy = 0; oy < oh; oy += 1) {
      sums.fill(0);
      for (let ky = 0; ky < kh; ky += 1) {
        const row = base + (oy * sh + ky) * w;
        for (let ox = 0; ox < ow; ox += 1) {
          let sum = 0;
          const start = row + ox * sw;
          for (let kx = 0; kx < kw; kx += 1) sum += x.data[start + kx] as number;
          sums[ox] = (sums[ox] as number) + sum;
        }
        // Counted per kernel row: one output row of a tall kernel is many input rows.
        await slices.read(ow * kw);
      }
      const outRow = (plane * oh + oy) * ow;
      for (let ox = 0; ox < ow; ox += 1) out[outRow + ox] = (sums[ox] as number) / window;
    }
  }
  return { dims: [n, c, oh, ow], data: out };
}

/** ReduceMax over `axes` (all when empty; negative counts from the end), keeping them as 1 if asked. */
export async function reduceMax(x: FloatTensor, axes: readonly number[], keepDims: boolean): Promise<FloatTensor> {
  const rank = x.dims.length;
  const reduced = new Set((axes.length === 0 ? x.dims.map((_, axis) => axis) : axes).map((axis) => (axis < 0 ? axis + rank : axis)));
  for (const axis of reduced) if (axis < 0 || axis >= rank) throw new RangeError(`ReduceMax axis ${axis} of a rank-${rank} input`);
  if (x.data.length === 0) throw new RangeError('ReduceMax of an empty tensor');
  const kept = x.dims.map((dim, axis) => (reduced.has(axis) ? 1 : dim));
  const out = new Float32Array(elementCount(kept)).fill(-Infinity);
  const inStrides = stridesOf(x.dims);
  const keptStrides = stridesOf(kept);
  const keptAxes = x.dims.map((_, axis) => axis).filter((axis) => !reduced.has(axis));
  await inSlices(
    x.data.length,
    (from, to) => {
      for (let flat = from; flat < to; flat += 1) {
        let target = 0;
        for (const axis of keptAxes) target += (Math.floor(flat / (inStrides[axis] as number)) % (x.dims[axis] as number)) * (keptStrides[axis] as number);
        const value = x.data[flat] as number;
        // A NaN is passed over, as onnxruntime's ReduceMax passes it over ([1, 3, NaN, 2] → 3).
        if (value > (out[target] as number)) out[target] = value;
      }
    },
    1 + 4 * keptAxes.length,
  );
  return { dims: keepDims ? kept : x.dims.filter((_, axis) => !reduced.has(axis)), data: out };
}
