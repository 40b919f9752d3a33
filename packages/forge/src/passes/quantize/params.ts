import { DataType, MemoryTensor } from '@edgeforge/onnx';

/**
 * Scale and zero-point math of ONNX Runtime's quantizer (`quant_utils.py`), per tensor and per
 * channel: `/work/shared/reference/quantization-contract.md` §2 is the contract. Dequantization is
 * `r = s·(q − z)`; quantization `q = clamp(roundHalfEven(r / s) + z)` — round first, then add the
 * zero point, ties to even, exactly as the ONNX spec and ORT's CPU kernel do.
 */
export type QType = 'int8' | 'uint8' | 'int16' | 'uint16' | 'int4' | 'uint4' | 'int32';

export const QTYPE_DTYPE: Readonly<Record<QType, number>> = {
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  uint16: DataType.UINT16,
  int4: DataType.INT4,
  uint4: DataType.UINT4,
  int32: DataType.INT32,
};

export function qtypeOf(dtype: number): QType | undefined {
  return (Object.keys(QTYPE_DTYPE) as QType[]).find((t) => QTYPE_DTYPE[t] === dtype);
}

const RANGES: Record<QType, { full: [number, number]; symmetric: [number, number]; reduced: [number, number] }> = {
  uint8: { full: [0, 255], symmetric: [0, 255], reduced: [0, 127] },
  int8: { full: [-128, 127], symmetric: [-127, 127], reduced: [-64, 64] },
  uint16: { full: [0, 65535], symmetric: [0, 65535], reduced: [0, 32767] },
  int16: { full: [-32768, 32767], symmetric: [-32767, 32767], reduced: [-16384, 16384] },
  uint4: { full: [0, 15], symmetric: [0, 15], reduced: [0, 7] },
  int4: { full: [-8, 7], symmetric: [-8, 7], reduced: [-4, 3] },
  int32: { full: [-2147483648, 2147483647], symmetric: [-2147483647, 2147483647], reduced: [-1073741824, 1073741824] },
};

/** [qmin, qmax] of `t` (contract §2 table; `reduceRange` wins over `symmetric`, as in ORT). */
export function qRange(t: QType, o: { symmetric?: boolean; reduceRange?: boolean } = {}): readonly [number, number] {
  const r = RANGES[t];
  return o.reduceRange ? r.reduced : o.symmetric ? r.symmetric : r.full;
}

/** Rounds to the nearest integer, ties to even (numpy.round, ORT's QuantizeLinear); not Math.round. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface QParams {
  /** A float32-representable scale. */
  scale: number;
  zeroPoint: number;
}

/** numpy.finfo(float32).tiny: below it ORT treats the range as empty. */
const FLOAT32_TINY = 1.1754943508222875e-38;

/**
 * Scale and zero point for the real range [rmin, rmax] (`compute_scale_zp`): the range is widened to
 * include 0 so real zero is exact; symmetric ranges are centred on 0 (zero point 0 for signed
 * types, 128 for uint8); an empty range gets scale 1, zero point 0.
 */
export function computeQParams(
  rmin: number,
  rmax: number,
  t: QType,
  o: { symmetric?: boolean; reduceRange?: boolean; minRealRange?: number } = {},
): QParams {
  if (!Number.isFinite(rmin) || !Number.isFinite(rmax))
    throw new Error(`cannot quantize a range with non-finite bounds [${rmin}, ${rmax}]`);
  if (rmin > rmax) throw new Error(`quantization range [${rmin}, ${rmax}] is inverted`);
  const [qmin, qmax] = qRange(t, o);
  let lo = Math.min(rmin, 0);
  let hi = Math.max(rmax, 0);
  if (o.minRealRange !== undefined) hi = Math.max(hi, lo + o.minRealRange);
  if (o.symmetric) {
    const absmax = Math.max(Math.abs(lo), Math.abs(hi));
    lo = -absmax;
    hi = absmax;
  }
  const scale = Math.fround((hi - lo) / (qmax - qmin));
  if (scale < FLOAT32_TINY) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = o.symmetric
    ? roundHalfEven((qmin + qmax) / 2)
    : roundHalfEven(Math.fround(qmin - Math.fround(lo / scale)));
  return { scale, zeroPoint: Math.min(qmax, Math.max(qmin, zeroPoint)) };
}

/** `q = clamp(roundHalfEven(x / scale) + zp)`, with the division in float32 like ORT's kernel. */
export function quantizeArray(x: ArrayLike<number>, p: QParams, t: QType): Int32Array {
  const [qmin, qmax] = qRange(t);
  const out = new Int32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const q = roundHalfEven(Math.fround(x[i] / p.scale)) + p.zeroPoint;
    out[i] = q < qmin ? qmin : q > qmax ? qmax : q;
  }
  return out;
}

export interface QuantizedWeight {
  qtype: QType;
  dims: number[];
  /** Unpacked integer values, row-major. */
  values: Int32Array;
  /** Length 1 (per tensor) or dims[axis] (per channel). */
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** Set when per channel. */
  axis?: number;
}

/** Iterates over the slices of `dims` along `axis`: calls fn(channel, flatIndex) for every element. */
function forEachChannel(dims: readonly number[], axis: number, fn: (c: number, i: number) => void): void {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const channels = dims[axis];
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  let i = 0;
  for (let o = 0; o < outer; o++) for (let c = 0; c < channels; c++) for (let k = 0; k < inner; k++) fn(c, i++);
}

function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} is out of range for a rank-${rank} tensor`);
  return a;
}

/**
 * Quantizes a weight per tensor (no axis) or per channel along `axis` with min/max ranges
 * (`quantize_data`). Symmetry is the caller's choice: ORT makes signed weights and every per-channel
 * weight symmetric.
 */
export function quantizeWeight(
  data: Float32Array,
  dims: readonly number[],
  t: QType,
  o: { axis?: number; symmetric?: boolean; reduceRange?: boolean } = {},
): QuantizedWeight {
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new Error(`weight has ${data.length} values for shape [${dims.join(',')}]`);
  const opts = { ...(o.symmetric ? { symmetric: true } : {}), ...(o.reduceRange ? { reduceRange: true } : {}) };
  if (o.axis === undefined) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (data.length === 0) lo = hi = 0;
    const p = computeQParams(lo, hi, t, opts);
    return {
      qtype: t,
      dims: [...dims],
      values: quantizeArray(data, p, t),
      scales: Float32Array.of(p.scale),
      zeroPoints: Int32Array.of(p.zeroPoint),
    };
  }
  const axis = normalizeAxis(o.axis, dims.length);
  const channels = dims[axis];
  const lo = new Float64Array(channels).fill(Infinity);
  const hi = new Float64Array(channels).fill(-Infinity);
  forEachChannel(dims, axis, (c, i) => {
    if (data[i] < lo[c]) lo[c] = data[i];
    if (data[i] > hi[c]) hi[c] = data[i];
  });
  const scales = new Float32Array(channels);
  const zeroPoints = new Int32Array(channels);
  for (let c = 0; c < channels; c++) {
    const p = computeQParams(lo[c] === Infinity ? 0 : lo[c], hi[c] === -Infinity ? 0 : hi[c], t, opts);
    scales[c] = p.scale;
    zeroPoints[c] = p.zeroPoint;
  }
  return {
    qtype: t,
    dims: [...dims],
    values: quantizeWithChannels(data, dims, axis, scales, zeroPoints, t),
    scales,
    zeroPoints,
    axis,
  };
}

/** Quantizes with given per-channel parameters (e.g. after the bias adjustment enlarged a scale). */
export function quantizeWithChannels(
  data: Float32Array,
  dims: readonly number[],
  axis: number,
  scales: Float32Array,
  zeroPoints: Int32Array,
  t: QType,
): Int32Array {
  const [qmin, qmax] = qRange(t);
  const out = new Int32Array(data.length);
  forEachChannel(dims, normalizeAxis(axis, dims.length), (c, i) => {
    const q = roundHalfEven(Math.fround(data[i] / scales[c])) + zeroPoints[c];
    out[i] = q < qmin ? qmin : q > qmax ? qmax : q;
  });
  return out;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/**
 * int32 bias for Conv/Gemm (`quantize_bias_static_impl`): scale = inputScale × weightScale[c]
 * computed in float64, values rounded half to even and clipped to int32, zero point 0.
 */
export function quantizeBias(
  bias: Float32Array,
  inputScale: number,
  weightScales: Float32Array,
): { values: Int32Array; scales: Float32Array } {
  const perChannel = weightScales.length > 1;
  if (perChannel && weightScales.length !== bias.length)
    throw new Error(`bias has ${bias.length} values for ${weightScales.length} weight scales`);
  const scales = new Float32Array(weightScales.length);
  for (let c = 0; c < scales.length; c++) scales[c] = inputScale * weightScales[c];
  const values = new Int32Array(bias.length);
  for (let i = 0; i < bias.length; i++) {
    const s = inputScale * weightScales[perChannel ? i : 0];
    // A zero scale (all-zero weight and input) leaves nothing to represent: the bias is 0 there.
    const q = s === 0 ? 0 : roundHalfEven(bias[i] / s);
    values[i] = Math.min(INT32_MAX, Math.max(INT32_MIN, q));
  }
  return { values, scales };
}

/**
 * `_adjust_weight_scale_for_int32_bias`: when inputScale × weightScale is too small for the bias
 * to fit in int32, the (symmetric) weight scale is enlarged to the smallest one that fits.
 * Returns new scales (the input is not modified).
 */
export function adjustWeightScalesForBias(
  weightScales: Float32Array,
  inputScale: number,
  bias: Float32Array,
): Float32Array {
  const out = Float32Array.from(weightScales);
  const perChannel = weightScales.length > 1;
  const absmax = new Float64Array(weightScales.length);
  for (let i = 0; i < bias.length; i++) {
    const c = perChannel ? i : 0;
    absmax[c] = Math.max(absmax[c], Math.abs(bias[i]));
  }
  for (let c = 0; c < out.length; c++) {
    if (inputScale <= 0 || absmax[c] === 0) continue;
    const needed = (1.0001 * 2 * absmax[c]) / (2 ** 32 - 2);
    if (inputScale * out[c] < needed) out[c] = Math.fround(needed / inputScale);
  }
  return out;
}

/** Raw bytes for `values` of type `t` (int4/uint4 packed two per byte, low nibble first). */
export function packValues(values: Int32Array, t: QType): Uint8Array {
  switch (t) {
    case 'int8':
      return new Uint8Array(Int8Array.from(values).buffer);
    case 'uint8':
      return Uint8Array.from(values);
    case 'int16':
      return new Uint8Array(Int16Array.from(values).buffer);
    case 'uint16':
      return new Uint8Array(Uint16Array.from(values).buffer);
    case 'int32':
      return new Uint8Array(Int32Array.from(values).buffer);
    case 'int4':
    case 'uint4': {
      const out = new Uint8Array(Math.ceil(values.length / 2));
      for (let i = 0; i < values.length; i++) out[i >> 1] |= (values[i] & 0x0f) << ((i & 1) * 4);
      return out;
    }
  }
}

/** The quantized data as an ONNX tensor. */
export function quantizedTensor(values: Int32Array, t: QType, dims: readonly number[], name: string): MemoryTensor {
  return new MemoryTensor(QTYPE_DTYPE[t], dims, packValues(values, t), name);
}

/** A scale tensor: a scalar per tensor, [C] per channel. */
export function scaleTensor(scales: Float32Array, perChannel: boolean, name: string): MemoryTensor {
  if (!perChannel && scales.length !== 1) throw new Error(`per-tensor scale '${name}' has ${scales.length} values`);
  return new MemoryTensor(DataType.FLOAT, perChannel ? [scales.length] : [], Float32Array.from(scales), name);
}

/** A zero-point tensor of type `t`: a scalar per tensor, [C] per channel. */
export function zeroPointTensor(zps: Int32Array, t: QType, perChannel: boolean, name: string): MemoryTensor {
  if (!perChannel && zps.length !== 1) throw new Error(`per-tensor zero point '${name}' has ${zps.length} values`);
  return quantizedTensor(zps, t, perChannel ? [zps.length] : [], name);
}

/** r = s·(q − z): the values a DequantizeLinear would produce (for error measurement). */
export function dequantizeWeight(w: QuantizedWeight): Float32Array {
  const out = new Float32Array(w.values.length);
  if (w.axis === undefined) {
    for (let i = 0; i < out.length; i++) out[i] = w.scales[0] * (w.values[i] - w.zeroPoints[0]);
    return out;
  }
  forEachChannel(w.dims, w.axis, (c, i) => {
    out[i] = w.scales[c] * (w.values[i] - w.zeroPoints[c]);
  });
  return out;
}
