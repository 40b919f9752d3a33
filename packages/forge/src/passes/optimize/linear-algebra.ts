/**
 * Float64 matrix arithmetic for `fold-linear-layers`: the product of two constant weights is
 * computed here from their float32 values and rounded once to float32 by the caller. A plain
 * matrix product has no operator semantics to reproduce, and float64 accumulation is closer to the
 * exact fold than evaluating an emitted MatMul in float32.
 */
import { toFloat32, type Tensor } from '@edgeforge/onnx';

/** A dense row-major `[rows, cols]` matrix. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

/** Tensor `t` of any rank read row-major as `[rows, size / rows]`, times `scale`. */
export function asMatrix(t: Tensor, rows: number, scale = 1): Matrix {
  const src = toFloat32(t);
  const data = new Float64Array(src.length);
  for (let i = 0; i < data.length; i++) data[i] = scale * src[i];
  return { rows, cols: rows ? src.length / rows : 0, data };
}

export function transpose(a: Matrix): Matrix {
  const { rows, cols } = a;
  const data = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) data[j * rows + i] = a.data[i * cols + j];
  return { rows: cols, cols: rows, data };
}

/** `a · b`. */
export function matmul(a: Matrix, b: Matrix): Matrix {
  const { rows: K, cols: M } = a;
  if (b.rows !== M) throw new Error(`matmul: [${K},${M}]·[${b.rows},${b.cols}]`);
  const N = b.cols;
  const out = new Float64Array(K * N);
  for (let k = 0; k < K; k++) {
    const o = k * N;
    for (let m = 0; m < M; m++) {
      const s = a.data[k * M + m];
      if (s === 0) continue;
      const r = m * N;
      for (let n = 0; n < N; n++) out[o + n] += s * b.data[r + n];
    }
  }
  return { rows: K, cols: N, data: out };
}

/** Row vector `v` times `a`: `[cols(a)]`. */
export function vecmat(v: Float64Array, a: Matrix): Float64Array {
  return matmul({ rows: 1, cols: v.length, data: v }, a).data;
}

/** `a` times column vector `v`: `[rows(a)]`. */
export function matvec(a: Matrix, v: Float64Array): Float64Array {
  return matmul(a, { rows: v.length, cols: 1, data: v }).data;
}

/**
 * A kernel applied after a pointwise map: `after` is `[N, M·K]` (N filters over M channels and K
 * taps), `before` is `[M, C]`; the result `[N, C·K]` holds `Σ_m after[n, m, k] · before[m, c]`.
 */
export function kernelAfterPointwise(after: Matrix, before: Matrix, K: number): Matrix {
  const { rows: M, cols: C } = before;
  const N = after.rows;
  const bt = transpose(before);
  const out = new Float64Array(N * C * K);
  for (let n = 0; n < N; n++) {
    const filter: Matrix = { rows: M, cols: K, data: after.data.subarray(n * M * K, (n + 1) * M * K) };
    out.set(matmul(bt, filter).data, n * C * K);
  }
  return { rows: N, cols: C * K, data: out };
}

/** Sum of each row: `[rows]`. */
export function rowSums(a: Matrix): Float64Array {
  const out = new Float64Array(a.rows);
  for (let i = 0; i < a.rows; i++) {
    let s = 0;
    for (let j = 0; j < a.cols; j++) s += a.data[i * a.cols + j];
    out[i] = s;
  }
  return out;
}
