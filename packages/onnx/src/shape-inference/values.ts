/**
 * Known contents of small tensors, for shape computations (PyTorch's `Shape → Gather → Unsqueeze →
 * Concat → Reshape`, Paddle's `Shape → Slice → Concat`). Entries are dims: numbers, symbols (a
 * `Shape` of a symbolic tensor yields `'N'`) or null (unknown entry, the rest still known).
 */
import { DataType, isIntegerType } from '../ir/dtype.js';
import { int64ToNumber } from '../ir/attr.js';
import { toFloat32, toTypedArray, type Tensor } from '../ir/tensor.js';
import type { Dim } from '../ir/types.js';
import { fail } from './dims.js';

/** A tensor whose shape is static and small, with its elements row-major. */
export interface KnownValue {
  shape: number[];
  data: Dim[];
}

/** Larger tensors are not tracked (shape computations are tiny). */
export const MAX_KNOWN_ELEMENTS = 1024;

const cache = new WeakMap<Tensor, KnownValue | null>();

/** The elements of a small numeric tensor (integers exactly; floats as float32/double). */
export function knownFromTensor(t: Tensor): KnownValue | undefined {
  const hit = cache.get(t);
  if (hit !== undefined) return hit ?? undefined;
  let out: KnownValue | null = null;
  try {
    if (t.size <= MAX_KNOWN_ELEMENTS && t.dtype !== DataType.STRING) {
      const shape = [...t.dims];
      if (isIntegerType(t.dtype)) {
        const a = toTypedArray(t);
        const data: Dim[] = [];
        for (let i = 0; i < t.size; i++) {
          const x = a[i];
          data.push(typeof x === 'bigint' ? int64ToNumber(x) : x);
        }
        out = { shape, data };
      } else if (t.dtype === DataType.DOUBLE) {
        out = { shape, data: Array.from(toTypedArray(t) as Float64Array) };
      } else if (t.dtype === DataType.FLOAT || t.dtype === DataType.FLOAT16 || t.dtype === DataType.BFLOAT16) {
        out = { shape, data: Array.from(toFloat32(t)) };
      }
    }
  } catch {
    out = null;
  }
  cache.set(t, out);
  return out ?? undefined;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A known value when it is small enough to track, else undefined. */
export function known(shape: number[], data: Dim[]): KnownValue | undefined {
  if (data.length !== sizeOf(shape) || data.length > MAX_KNOWN_ELEMENTS) return undefined;
  return { shape, data };
}

/** Elementwise combination with broadcasting of static shapes. */
export function mapBroadcast(inputs: readonly KnownValue[], fn: (xs: Dim[]) => Dim): KnownValue | undefined {
  const rank = Math.max(0, ...inputs.map((v) => v.shape.length));
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) {
    let d = 1;
    for (const v of inputs) {
      const k = i - (rank - v.shape.length);
      if (k < 0) continue;
      const x = v.shape[k];
      if (x === d || x === 1) continue;
      if (d !== 1) fail(`cannot broadcast ${v.shape} in a value computation`);
      d = x;
    }
    shape.push(d);
  }
  const n = sizeOf(shape);
  if (n > MAX_KNOWN_ELEMENTS) return undefined;
  const strides = inputs.map((v) => {
    const s: number[] = new Array(rank).fill(0);
    let acc = 1;
    for (let i = v.shape.length - 1; i >= 0; i--) {
      const axis = i + rank - v.shape.length;
      s[axis] = v.shape[i] === 1 ? 0 : acc;
      acc *= v.shape[i];
    }
    return s;
  });
  const data: Dim[] = [];
  const idx = new Array(rank).fill(0);
  for (let flat = 0; flat < n; flat++) {
    let rem = flat;
    for (let i = rank - 1; i >= 0; i--) {
      idx[i] = rem % shape[i];
      rem = Math.floor(rem / shape[i]);
    }
    const xs = inputs.map((v, j) => {
      let off = 0;
      for (let i = 0; i < rank; i++) off += idx[i] * strides[j][i];
      return v.data[off];
    });
    data.push(fn(xs));
  }
  return { shape, data };
}

/** Row-major strides of a static shape. */
function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Gathers `out[idx] = v[map(idx)]` over every index of `shape`. */
function gatherIndexed(v: KnownValue, shape: number[], source: (idx: number[]) => number[]): KnownValue | undefined {
  const n = sizeOf(shape);
  if (n > MAX_KNOWN_ELEMENTS) return undefined;
  const strides = stridesOf(v.shape);
  const data: Dim[] = [];
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    let rem = flat;
    for (let i = shape.length - 1; i >= 0; i--) {
      idx[i] = rem % shape[i];
      rem = Math.floor(rem / shape[i]);
    }
    const src = source(idx);
    let off = 0;
    for (let i = 0; i < src.length; i++) off += src[i] * strides[i];
    data.push(v.data[off]);
  }
  return { shape, data };
}

/** A strided slice of a known value: per axis, `count` elements from `start` by `step`. */
export function sliceValue(
  v: KnownValue,
  ranges: readonly { start: number; count: number; step: number }[],
): KnownValue | undefined {
  return gatherIndexed(
    v,
    ranges.map((r) => r.count),
    (idx) => idx.map((k, i) => ranges[i].start + k * ranges[i].step),
  );
}

/** A transposed known value. */
export function transposeValue(v: KnownValue, perm: readonly number[]): KnownValue | undefined {
  const shape = perm.map((p) => v.shape[p]);
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return gatherIndexed(v, shape, (idx) => inv.map((j) => idx[j]));
}
