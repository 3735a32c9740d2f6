/**
 * The one tensor the gateway's own graph evaluator computes with: float32 values, row-major, and
 * their dimensions. Both edge models take and return nothing else.
 */
export interface FloatTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((count, dim) => count * dim, 1);
}

/** Row-major strides of `dims`: how many elements one step along each axis moves. */
export function stridesOf(dims: readonly number[]): number[] {
  const strides = new Array<number>(dims.length);
  let stride = 1;
  for (let axis = dims.length - 1; axis >= 0; axis -= 1) {
    strides[axis] = stride;
    stride *= dims[axis] as number;
  }
  return strides;
}

/**
 * The shape two tensors broadcast to under ONNX's multidirectional (numpy) rule: dimensions are
 * matched from the right, and each pair must be equal or one of them 1. Throws when they cannot.
 */
export function broadcastDims(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const dims = new Array<number>(rank);
  for (let i = 1; i <= rank; i += 1) {
    const x = a[a.length - i] ?? 1;
    const y = b[b.length - i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new RangeError(`shapes [${a.join(',')}] and [${b.join(',')}] do not broadcast`);
    dims[rank - i] = x === 1 ? y : x;
  }
  return dims;
}

/**
 * The index of the element of a tensor of shape `from` that broadcasts onto element `flat` of a
 * tensor of shape `to` (`toStrides` the strides of `to`, `fromStrides` of `from`).
 */
export function broadcastSource(flat: number, from: readonly number[], fromStrides: readonly number[], to: readonly number[], toStrides: readonly number[]): number {
  const offset = to.length - from.length;
  let source = 0;
  for (let axis = offset; axis < to.length; axis += 1) {
    const fromAxis = axis - offset;
    if ((from[fromAxis] as number) === 1) continue;
    source += (Math.floor(flat / (toStrides[axis] as number)) % (to[axis] as number)) * (fromStrides[fromAxis] as number);
  }
  return source;
}
