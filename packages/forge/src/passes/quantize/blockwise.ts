/**
 * Block-wise weight quantization after ONNX Runtime's weight-only tool
 * (`onnxruntime/quantization/matmul_nbits_quantizer.py`, MLAS `q4_dq.cpp`), byte for byte:
 * `/work/shared/reference/quantization-contract.md` §6 is the contract.
 *
 * A weight `W [K, N]` (row-major, `y = x·W`) is cut along K into blocks of `blockSize` rows; every
 * block of every column gets its own scale (and zero point when asymmetric). The last block is
 * ragged when `blockSize` does not divide K. Three layouts come out of one computation:
 *
 * - `com.microsoft.MatMulNBits`: `B [N, kBlocks, blob]` (Wᵀ, each column's K values contiguous, K
 *   zero-padded to whole blocks), `scales [N, kBlocks]`, zero points packed `[N, ⌈kBlocks·bits/8⌉]`;
 * - QDQ (opset 21): `DequantizeLinear(q [K, N] int4/uint4/int8/uint8, scales [kBlocks, N],
 *   zp [kBlocks, N]; axis 0, block_size)`, which onnxruntime fuses into MatMulNBits;
 * - `com.microsoft.GatherBlockQuantized` for an embedding table `[V, D]` blocked along D (the same
 *   thing on Wᵀ, unpadded).
 *
 * The arithmetic is float32 throughout (`Math.fround` at every step, as the C++ does), with the
 * rounding each ORT path uses:
 *
 * | path | scale | quantized value |
 * | --- | --- | --- |
 * | MatMulNBits, asymmetric | `(max−min)/(2^b−1)`, min ≤ 0 ≤ max; `zp = roundf(−min/scale)` | `roundf(v·(1/s) + zp)` |
 * | MatMulNBits, symmetric | `−m/2^(b−1)` (m: the value of largest \|v\|, sign kept) | `roundf(v·(1/s) + 2^(b−1))` |
 * | QDQ (MLAS) | same scales | `roundf(v·(1/s)) + zp`, signed and zp 0 when symmetric |
 * | Gather (numpy) | same scales | `roundHalfEven(v/s + zp)`, `roundHalfEven(v/s)` when symmetric |
 *
 * `roundf` rounds ties away from zero. Either rounding dequantizes correctly (`(q − zp)·s`); they
 * are copied only so files match ORT's tool byte for byte.
 */
import { roundHalfEven } from './params.js';

export type BlockBits = 4 | 8;

export interface BlockwiseOptions {
  bits: BlockBits;
  /** A power of two ≥ 16 (MatMulNBits and GatherBlockQuantized refuse anything else). */
  blockSize: number;
  symmetric: boolean;
}

/** Which of ORT's quantizers to reproduce (see the table above). */
export type BlockRounding = 'matmulnbits' | 'qdq' | 'numpy';

/** Block-quantized `W [K, N]` before any packing. */
export interface BlockQuantized {
  K: number;
  N: number;
  bits: BlockBits;
  blockSize: number;
  kBlocks: number;
  symmetric: boolean;
  /**
   * Signed values (zero points 0) for symmetric QDQ/numpy; otherwise unsigned in [0, 2^bits − 1].
   * MatMulNBits' symmetric form is unsigned with the implicit zero point 2^(bits−1).
   */
  signed: boolean;
  /** `[K, N]` row-major. */
  values: Int32Array;
  /** `[kBlocks, N]` row-major, float32 values. */
  scales: Float32Array;
  /** `[kBlocks, N]` row-major (2^(bits−1) for symmetric MatMulNBits, 0 for signed forms). */
  zeroPoints: Int32Array;
}

const f32 = Math.fround;

/** C's roundf: to nearest, ties away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

export function checkBlockOptions(o: BlockwiseOptions): void {
  if (o.bits !== 4 && o.bits !== 8) throw new RangeError(`bits must be 4 or 8 (got ${String(o.bits)})`);
  const bs = o.blockSize;
  if (!Number.isInteger(bs) || bs < 16 || (bs & (bs - 1)) !== 0)
    throw new RangeError(`block size must be a power of two ≥ 16 (got ${bs})`);
}

/**
 * Quantizes `w [K, N]` (row-major) in blocks of `blockSize` along K. Block parameters follow MLAS
 * `range2scalezp` / `range2scale`, or numpy's `quant_slice_*` for `rounding: 'numpy'`.
 */
export function quantizeBlocks(
  w: Float32Array,
  K: number,
  N: number,
  o: BlockwiseOptions,
  rounding: BlockRounding,
): BlockQuantized {
  checkBlockOptions(o);
  if (!(K > 0 && N > 0) || w.length !== K * N)
    throw new RangeError(`weight has ${w.length} values for [K=${K}, N=${N}]`);
  const { bits, blockSize, symmetric } = o;
  const kBlocks = Math.ceil(K / blockSize);
  const levels = 2 ** bits - 1;
  const mid = 2 ** (bits - 1);
  const signed = symmetric && rounding !== 'matmulnbits';
  const [qmin, qmax] = signed ? [-mid, mid - 1] : [0, levels];
  const values = new Int32Array(K * N);
  const scales = new Float32Array(kBlocks * N);
  const zeroPoints = new Int32Array(kBlocks * N);
  for (let b = 0; b < kBlocks; b++) {
    const k0 = b * blockSize;
    const k1 = Math.min(K, k0 + blockSize);
    for (let n = 0; n < N; n++) {
      let min = Infinity;
      let max = -Infinity;
      for (let k = k0; k < k1; k++) {
        const v = w[k * N + n];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      let scale: number;
      let zp: number;
      if (symmetric) {
        // The value of largest magnitude keeps its sign, so the scale can be negative: the wider half
        // of the real range lands on [−2^(b−1), 0] (MLAS range2scale; numpy divides by −2^(b−1)).
        const m = Math.abs(max) > Math.abs(min) ? max : min;
        scale = f32(-m / mid);
        zp = signed ? 0 : mid;
      } else {
        const lo = Math.min(min, 0);
        const hi = Math.max(max, 0);
        scale = f32(f32(hi - lo) / levels);
        if (rounding === 'numpy') zp = scale === 0 ? mid : clamp(roundHalfEven(f32(-lo / scale)), 0, levels);
        else {
          const zpf = scale === 0 ? lo : f32(-f32(lo / scale));
          zp = zpf < 0 ? 0 : zpf > levels ? levels : roundf(zpf);
        }
      }
      scales[b * N + n] = scale;
      zeroPoints[b * N + n] = zp;
      const r = scale !== 0 ? f32(1 / scale) : 0;
      for (let k = k0; k < k1; k++) {
        const v = w[k * N + n];
        let q: number;
        if (rounding === 'matmulnbits') q = roundf(f32(f32(v * r) + zp));
        else if (rounding === 'qdq') q = roundf(f32(v * r)) + zp;
        else if (scale === 0) q = symmetric ? 0 : mid;
        else q = roundHalfEven(symmetric ? f32(v / scale) : f32(f32(v / scale) + zp));
        values[k * N + n] = clamp(q, qmin, qmax);
      }
    }
  }
  return { K, N, bits, blockSize, kBlocks, symmetric, signed, values, scales, zeroPoints };
}

/** `com.microsoft.MatMulNBits` inputs B, scales and (asymmetric) zero_points. */
export interface MatMulNBitsTensors {
  /** `[N, kBlocks, blobSize]` */
  B: Uint8Array;
  bDims: [number, number, number];
  /** `[N, kBlocks]` */
  scales: Float32Array;
  scalesDims: [number, number];
  /** `[N, ⌈kBlocks·bits/8⌉]`, absent when symmetric (the op's default zero point 2^(bits−1)). */
  zeroPoints?: Uint8Array;
  zeroPointsDims?: [number, number];
}

/** Quantizes `w [K, N]` for MatMulNBits (MLAS `quantize_matmul_4bits` / `_8bits`). */
export function quantizeMatMulNBits(w: Float32Array, K: number, N: number, o: BlockwiseOptions): MatMulNBitsTensors {
  return packMatMulNBits(quantizeBlocks(w, K, N, o, 'matmulnbits'));
}

/** Lays out `quantizeBlocks(…, 'matmulnbits')` as MatMulNBits tensors. */
export function packMatMulNBits(q: BlockQuantized): MatMulNBitsTensors {
  const { K, N, bits, blockSize, kBlocks, values } = q;
  const blob = (blockSize * bits) / 8;
  const B = new Uint8Array(N * kBlocks * blob);
  for (let n = 0; n < N; n++) {
    const base = n * kBlocks * blob;
    if (bits === 8) {
      for (let k = 0; k < K; k++) B[base + k] = values[k * N + n];
      continue;
    }
    for (let k = 0; k < K; k += 2) {
      const lo = values[k * N + n];
      // K odd: the pad nibble is never read. MLAS leaves there what its previous pair in the same
      // two-block stretch held (0 at the stretch's start); copied so the bytes equal ORT's.
      const hi = k + 1 < K ? values[(k + 1) * N + n] : k % (2 * blockSize) === 0 ? 0 : values[(k - 1) * N + n];
      B[base + (k >> 1)] = lo | (hi << 4);
    }
  }
  const scales = new Float32Array(N * kBlocks);
  for (let n = 0; n < N; n++) for (let b = 0; b < kBlocks; b++) scales[n * kBlocks + b] = q.scales[b * N + n];
  const out: MatMulNBitsTensors = { B, bDims: [N, kBlocks, blob], scales, scalesDims: [N, kBlocks] };
  if (!q.symmetric) {
    const perByte = 8 / bits;
    const zpCols = Math.ceil(kBlocks / perByte);
    const zp = new Uint8Array(N * zpCols);
    for (let n = 0; n < N; n++) {
      for (let c = 0; c < zpCols; c++) {
        let byte = 0;
        for (let j = 0; j < perByte; j++) {
          const b = c * perByte + j;
          // Odd kBlocks (4-bit): the unused high nibble holds 8, as MLAS writes it.
          const z = b < kBlocks ? q.zeroPoints[b * N + n] : 2 ** (bits - 1);
          byte |= z << (j * bits);
        }
        zp[n * zpCols + c] = byte;
      }
    }
    out.zeroPoints = zp;
    out.zeroPointsDims = [N, zpCols];
  }
  return out;
}

/** `(q − zp)·scale` back to `[K, N]` float32 (what MatMulNBits multiplies by). */
export function dequantizeBlocks(q: BlockQuantized): Float32Array {
  const { K, N, blockSize, values, scales, zeroPoints } = q;
  const out = new Float32Array(K * N);
  for (let k = 0; k < K; k++) {
    const b = Math.floor(k / blockSize);
    for (let n = 0; n < N; n++) out[k * N + n] = (values[k * N + n] - zeroPoints[b * N + n]) * scales[b * N + n];
  }
  return out;
}

/** `[rows, cols]` → `[cols, rows]`. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * An embedding table `[V, D]` block-quantized along D (GatherBlockQuantized with quantize_axis 1,
 * or DequantizeLinear axis 1): values `[V, D]`, scales and zero points `[V, ⌈D/blockSize⌉]`.
 * 4-bit follows ORT's tool (numpy: int4 symmetric, uint4 with zero points asymmetric); 8-bit, which
 * that tool refuses, uses the MatMulNBits arithmetic (uint8; symmetric means the op's default zero
 * point 128).
 */
export interface TableQuantized {
  rows: number;
  dim: number;
  q: BlockQuantized;
  /** `[rows, dim]` row-major */
  values: Int32Array;
  /** `[rows, dBlocks]` */
  scales: Float32Array;
  /** `[rows, dBlocks]` */
  zeroPoints: Int32Array;
  dBlocks: number;
}

export function quantizeTable(
  table: Float32Array,
  rows: number,
  dim: number,
  o: BlockwiseOptions,
  rounding: BlockRounding = o.bits === 4 ? 'numpy' : 'matmulnbits',
): TableQuantized {
  const q = quantizeBlocks(transpose(table, rows, dim), dim, rows, o, rounding);
  const values = new Int32Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let d = 0; d < dim; d++) values[r * dim + d] = q.values[d * rows + r];
  const dBlocks = q.kBlocks;
  const scales = new Float32Array(rows * dBlocks);
  const zeroPoints = new Int32Array(rows * dBlocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < dBlocks; b++) {
      scales[r * dBlocks + b] = q.scales[b * rows + r];
      zeroPoints[r * dBlocks + b] = q.zeroPoints[b * rows + r];
    }
  }
  return { rows, dim, q, values, scales, zeroPoints, dBlocks };
}
