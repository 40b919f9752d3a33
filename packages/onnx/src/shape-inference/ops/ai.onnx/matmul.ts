/**
 * Matrix products: MatMul (numpy semantics: 1-D operands are promoted then squeezed, batch dims
 * broadcast), MatMulInteger (int32), QLinearMatMul, Gemm (transA/transB).
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { broadcastShapes, fail, unifyDim } from '../../dims.js';

/** numpy matmul shape of `a @ b`. */
export function matmulShape(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  if (a.length === 0 || b.length === 0) fail('MatMul operands must have rank ≥ 1');
  const a2 = a.length === 1 ? [1, a[0]] : [...a];
  const b2 = b.length === 1 ? [b[0], 1] : [...b];
  unifyDim(a2[a2.length - 1], b2[b2.length - 2]);
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]);
  if (b.length > 1) out.push(b2[b2.length - 1]);
  return out;
}

/** Shape of a matrix product of inputs `ai` and `bi` (undefined when either rank is unknown). */
export function matmulInputs(ctx: InferContext, ai: number, bi: number): Dim[] | undefined {
  const a = ctx.shape(ai);
  const b = ctx.shape(bi);
  return a && b ? matmulShape(a, b) : undefined;
}

function gemm(ctx: InferContext): void {
  const a = ctx.shape(0);
  const b = ctx.shape(1);
  const elem = ctx.elemType(0) ?? ctx.elemType(1);
  if (!a || !b) {
    ctx.set(0, elem, a || b ? [null, null] : undefined);
    return;
  }
  if (a.length !== 2 || b.length !== 2) fail(`Gemm needs 2-D A and B, got ranks ${a.length} and ${b.length}`);
  const [m, ka] = ctx.int('transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
  const [kb, n] = ctx.int('transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
  unifyDim(ka, kb);
  ctx.set(0, elem, [m, n]);
}

export const matmulRules: OpRule[] = [
  ...rules(['MatMul'], (ctx) => ctx.set(0, ctx.elemType(0) ?? ctx.elemType(1), matmulInputs(ctx, 0, 1))),
  ...rules(['MatMulInteger'], (ctx) => ctx.set(0, DataType.INT32, matmulInputs(ctx, 0, 1))),
  // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point
  ...rules(['QLinearMatMul'], (ctx) => ctx.set(0, ctx.elemType(7) ?? ctx.elemType(0), matmulInputs(ctx, 0, 3))),
  ...rules(['Gemm'], gemm),
];
