/**
 * Host tensors: allocation, checks, casts and rendering. Shared by the backends (feeds and
 * outputs) and by datasets (which build batches and cast them to what the model expects).
 */
import { halfToFloat } from '@edgeforge/onnx';
import type { ElemType, HostTensor } from './types.js';

type HostData = HostTensor['data'];
type NumericData = Exclude<HostData, string[]>;

/** The typed array class that holds each element type (float16 as raw bits, bool as 0/1 bytes). */
const ARRAY_OF: Record<Exclude<ElemType, 'string'>, { new (n: number): NumericData; name: string }> = {
  float32: Float32Array,
  float16: Uint16Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

/** The typed array class of a numeric element type. */
export function arrayClassOf(type: Exclude<ElemType, 'string'>): { new (n: number): NumericData } {
  return ARRAY_OF[type];
}

export const ELEM_TYPES: readonly ElemType[] = [...(Object.keys(ARRAY_OF) as ElemType[]), 'string'];

/** Product of dims (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A zero-filled host tensor. */
export function allocTensor(type: ElemType, dims: readonly number[]): HostTensor {
  const n = elementCount(dims);
  const data = type === 'string' ? Array.from({ length: n }, () => '') : new ARRAY_OF[type](n);
  return { type, dims: [...dims], data };
}

/** `float32 [1,3,48,?]`: element type and shape as errors print them. */
export function formatTypeShape(type: string, dims: readonly (number | string | null)[] | undefined): string {
  return `${type} ${formatDims(dims)}`;
}

/** `[N,3,48,?]`: symbolic dims by name, unknown ones as `?`, unknown rank as `[...]`. */
export function formatDims(dims: readonly (number | string | null)[] | undefined): string {
  if (!dims) return '[...]';
  return `[${dims.map((d) => (d === null || d === '' ? '?' : String(d))).join(',')}]`;
}

/**
 * Why `t` is not a well-formed host tensor (data array of the wrong kind or length, bad dims),
 * or undefined when it is.
 */
export function hostTensorProblem(t: HostTensor): string | undefined {
  if (t === null || typeof t !== 'object' || !Array.isArray(t.dims) || t.data === undefined)
    return 'not a tensor (expected { type, dims, data })';
  if (!ELEM_TYPES.includes(t.type)) return `unknown element type '${String(t.type)}'`;
  if (!t.dims.every((d) => Number.isInteger(d) && d >= 0)) return `bad dims ${formatDims(t.dims)}`;
  if (t.type === 'string') {
    if (!Array.isArray(t.data)) return `string data must be a string[], got ${kindOf(t.data)}`;
  } else if (!(t.data instanceof ARRAY_OF[t.type])) {
    return `${t.type} data must be a ${ARRAY_OF[t.type].name}, got ${kindOf(t.data)}`;
  }
  const n = elementCount(t.dims);
  if (t.data.length !== n) return `dims ${formatDims(t.dims)} need ${n} elements, data has ${t.data.length}`;
  return undefined;
}

function kindOf(x: unknown): string {
  if (Array.isArray(x)) return 'Array';
  return (x as object | null)?.constructor?.name ?? typeof x;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** float32 → IEEE half bits, round to nearest even (overflow → ±Inf, NaN kept). */
export function floatToHalf(value: number): number {
  F32[0] = value;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * The numbers of a tensor for metrics, without copying when they are already numbers (int64 is
 * converted); undefined for strings and float16 (whose data are raw bits).
 */
export function numericView(t: HostTensor): ArrayLike<number> | undefined {
  if (Array.isArray(t.data) || t.type === 'float16') return undefined;
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) return Float64Array.from(t.data, Number);
  return t.data as ArrayLike<number>;
}

const FLOATS = new Set<ElemType>(['float32', 'float16', 'float64']);
const BIGS = new Set<ElemType>(['int64', 'uint64']);

export function isFloatType(t: ElemType | 'unknown'): boolean {
  return FLOATS.has(t as ElemType);
}

/**
 * Whether data of type `from` may be cast to `to` without inventing meaning: floats to floats,
 * integers and bools to anything numeric, anything to itself. Floats never become integers.
 */
export function canCast(from: ElemType, to: ElemType): boolean {
  if (from === to) return true;
  if (from === 'string' || to === 'string') return false;
  if (FLOATS.has(from)) return FLOATS.has(to);
  return true;
}

/** A copy of `t` as `to` (see `canCast`); `t` itself when the type already matches. */
export function castTensor(t: HostTensor, to: ElemType): HostTensor {
  if (t.type === to) return t;
  if (!canCast(t.type, to)) throw new Error(`cannot cast ${t.type} data to ${to}`);
  const src = t.data as NumericData;
  const out = allocTensor(to, t.dims);
  const dst = out.data as NumericData;
  const n = src.length;
  const read: (i: number) => number =
    t.type === 'float16'
      ? (i) => halfToFloat(src[i] as number)
      : BIGS.has(t.type)
        ? (i) => Number(src[i])
        : (i) => src[i] as number;
  if (to === 'float16') for (let i = 0; i < n; i++) dst[i] = floatToHalf(read(i));
  else if (BIGS.has(to)) {
    const big = dst as BigInt64Array;
    if (BIGS.has(t.type)) for (let i = 0; i < n; i++) big[i] = src[i] as bigint;
    else for (let i = 0; i < n; i++) big[i] = BigInt(Math.trunc(read(i)));
  } else if (to === 'bool') for (let i = 0; i < n; i++) dst[i] = read(i) ? 1 : 0;
  else for (let i = 0; i < n; i++) dst[i] = read(i);
  return out;
}

/** The elements as numbers (float16 decoded, int64 via Number()); strings are refused. */
export function toNumbers(t: HostTensor): Float64Array {
  if (t.type === 'string') throw new Error('string tensors have no numeric values');
  const src = t.data as NumericData;
  const out = new Float64Array(src.length);
  if (t.type === 'float16') for (let i = 0; i < src.length; i++) out[i] = halfToFloat(src[i] as number);
  else for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
  return out;
}
