/**
 * The standard ONNX operators the gateway's own evaluator implements, with onnxruntime's results
 * (edge-models/graph-evaluator.test.ts compares the two): element-wise Sigmoid, the four
 * arithmetic operators with multidirectional broadcasting, 2-D AveragePool without padding, and
 * ReduceMax over attribute axes. Results are float32, as onnxruntime's are.
 *
 * AveragePool over a large X-ray image is the one long computation: it gives the event loop a
 * turn after every `POOL_SLICE_SAMPLES` input samples, so a 4096×4096 image (16 M samples, tens of
 * milliseconds) never holds the publishing and the devices for more than a slice.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { broadcastDims, broadcastIndex, elementCount, stridesOf, type FloatTensor } from './float-tensor.js';

/** ≈ 0.5 ms of summing on this project's 2-core reference machine. */
export const POOL_SLICE_SAMPLES = 1 << 18;

export function sigmoid(x: FloatTensor): FloatTensor {
  const data = new Float32Array(x.data.length);
  for (let i = 0; i < data.length; i += 1) data[i] = 1 / (1 + Math.exp(-(x.data[i] as number)));
  return { dims: [...x.dims], data };
}

export type ArithmeticOp = 'Add' | 'Sub' | 'Mul' | 'Div';

const APPLY: Record<ArithmeticOp, (a: number, b: number) => number> = {
  Add: (a, b) => a + b,
  Sub: (a, b) => a - b,
  Mul: (a, b) => a * b,
  Div: (a, b) => a / b,
};

export function arithmetic(op: ArithmeticOp, a: FloatTensor, b: FloatTensor): FloatTensor {
  const dims = broadcastDims(a.dims, b.dims);
  const count = elementCount(dims);
  const data = new Float32Array(count);
  const apply = APPLY[op];
  const sameShape = a.data.length === count && b.data.length === count;
  if (sameShape) {
    for (let i = 0; i < count; i += 1) data[i] = apply(a.data[i] as number, b.data[i] as number);
  } else {
    const ai = broadcastIndex(a.dims, dims);
    const bi = broadcastIndex(b.dims, dims);
    for (let i = 0; i < count; i += 1) data[i] = apply(a.data[ai[i] as number] as number, b.data[bi[i] as number] as number);
  }
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
  let sinceTurn = 0;
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
      }
      const outRow = (plane * oh + oy) * ow;
      for (let ox = 0; ox < ow; ox += 1) out[outRow + ox] = (sums[ox] as number) / window;
      sinceTurn += kh * ow * kw;
      if (sinceTurn >= POOL_SLICE_SAMPLES) {
        sinceTurn = 0;
        await nextTurn();
      }
    }
  }
  return { dims: [n, c, oh, ow], data: out };
}

/** ReduceMax over `axes` (all when empty; negative counts from the end), keeping them as 1 if asked. */
export function reduceMax(x: FloatTensor, axes: readonly number[], keepDims: boolean): FloatTensor {
  const rank = x.dims.length;
  const reduced = new Set((axes.length === 0 ? x.dims.map((_, axis) => axis) : axes).map((axis) => (axis < 0 ? axis + rank : axis)));
  for (const axis of reduced) if (axis < 0 || axis >= rank) throw new RangeError(`ReduceMax axis ${axis} of a rank-${rank} input`);
  if (x.data.length === 0) throw new RangeError('ReduceMax of an empty tensor');
  const kept = x.dims.map((dim, axis) => (reduced.has(axis) ? 1 : dim));
  const out = new Float32Array(elementCount(kept)).fill(-Infinity);
  const inStrides = stridesOf(x.dims);
  const keptStrides = stridesOf(kept);
  for (let flat = 0; flat < x.data.length; flat += 1) {
    let target = 0;
    for (let axis = 0; axis < rank; axis += 1) {
      if (reduced.has(axis)) continue;
      target += (Math.floor(flat / (inStrides[axis] as number)) % (x.dims[axis] as number)) * (keptStrides[axis] as number);
    }
    const value = x.data[flat] as number;
    // NaN wins, as in onnxruntime's max.
    if (value > (out[target] as number) || Number.isNaN(value)) out[target] = value;
  }
  return { dims: keepDims ? kept : x.dims.filter((_, axis) => !reduced.has(axis)), data: out };
}
