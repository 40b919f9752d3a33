/**
 * onnxruntime contrib ops (com.microsoft) that quantizers and optimizers emit: MatMulNBits
 * (`[..., K] → [..., N]`), FusedMatMul, MatMulIntegerToFloat, DynamicQuantizeMatMul, FusedConv,
 * QLinear elementwise/pooling/concat, the fused activations and skip/bias normalizations.
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { broadcastShapes, fail, normAxis, sumDims, unifyDim } from '../../dims.js';
import { convShape } from '../ai.onnx/conv.js';
import { broadcastInputs } from '../ai.onnx/elementwise.js';
import { matmulInputs, matmulShape } from '../ai.onnx/matmul.js';

const MS = { domain: 'com.microsoft' };

/** MatMulNBits: A `[..., K]`, packed B; Y `[..., N]` in A's type. */
function matMulNBits(ctx: InferContext): void {
  const a = ctx.shape(0);
  const n = ctx.intOpt('N');
  const k = ctx.intOpt('K');
  if (n === undefined) fail('MatMulNBits needs attribute N');
  if (a && a.length === 0) fail('MatMulNBits A must have rank ≥ 1');
  if (a && k !== undefined) unifyDim(a[a.length - 1], k);
  ctx.set(0, ctx.elemType(0), a ? [...a.slice(0, -1), n] : undefined);
}

function fusedMatMul(ctx: InferContext): void {
  if (ctx.int('transBatchA', 0) || ctx.int('transBatchB', 0)) return;
  let a = ctx.shape(0);
  let b = ctx.shape(1);
  const swap = (s: Dim[]) => (s.length >= 2 ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
  if (a && ctx.int('transA', 0)) a = swap(a);
  if (b && ctx.int('transB', 0)) b = swap(b);
  ctx.set(0, ctx.elemType(0), a && b ? matmulShape(a, b) : undefined);
}

function sameAsFirst(ctx: InferContext): void {
  ctx.set(0, ctx.elemType(0), ctx.shape(0));
}

/** QLinearAdd/QLinearMul: A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp. */
function qlinearBinary(ctx: InferContext): void {
  ctx.set(0, ctx.elemType(0), broadcastInputs(ctx, [0, 3]));
}

function qlinearGlobalPool(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, ctx.elemType(0));
    return;
  }
  if (x.length < 3) fail('QLinearGlobalAveragePool needs rank ≥ 3');
  const out = ctx.int('channels_last', 0)
    ? [x[0], ...x.slice(1, -1).map(() => 1), x[x.length - 1]]
    : [x[0], x[1], ...x.slice(2).map(() => 1)];
  ctx.set(0, ctx.elemType(0), out);
}

/** QLinearConcat: Y_scale, Y_zp, then (X, X_scale, X_zp) triples. */
function qlinearConcat(ctx: InferContext): void {
  const xs: number[] = [];
  for (let i = 2; i < ctx.inputCount; i += 3) xs.push(i);
  const shapes = xs.map((i) => ctx.shape(i));
  const elem = ctx.elemType(1) ?? ctx.elemType(2);
  if (shapes.some((s) => !s)) {
    ctx.set(0, elem);
    return;
  }
  const rank = shapes[0]!.length;
  const axis = normAxis(ctx.int('axis', 0), rank);
  const out: Dim[] = new Array<Dim>(rank).fill(null);
  for (const s of shapes) {
    if (s!.length !== rank) fail('QLinearConcat inputs differ in rank');
    s!.forEach((d, i) => {
      if (i !== axis) out[i] = unifyDim(out[i], d);
    });
  }
  out[axis] = sumDims(shapes.map((s) => s![axis]));
  ctx.set(0, elem, out);
}

/** SkipLayerNormalization / SkipSimplifiedLayerNormalization: output 0 (and the optional sum, 3) like input. */
function skipLayerNorm(ctx: InferContext): void {
  const x = ctx.shape(0);
  const s = ctx.shape(1);
  const shape = x && s ? broadcastShapes([x, s]) : x;
  ctx.set(0, ctx.elemType(0), shape);
  if (ctx.wants(3)) ctx.set(3, ctx.elemType(0), shape);
}

export const contribRules: OpRule[] = [
  ...rules(['MatMulNBits'], matMulNBits, MS),
  ...rules(['FusedMatMul'], fusedMatMul, MS),
  ...rules(
    ['MatMulIntegerToFloat'],
    (ctx) => ctx.set(0, ctx.elemType(2) ?? DataType.FLOAT, matmulInputs(ctx, 0, 1)),
    MS,
  ),
  ...rules(['DynamicQuantizeMatMul'], (ctx) => ctx.set(0, ctx.elemType(0), matmulInputs(ctx, 0, 1)), MS),
  ...rules(['FusedConv'], (ctx) => ctx.set(0, ctx.elemType(0), convShape(ctx, 0, 1)), MS),
  ...rules(['QLinearAdd', 'QLinearMul'], qlinearBinary, MS),
  ...rules(['QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearSoftmax'], sameAsFirst, MS),
  ...rules(['QLinearGlobalAveragePool'], qlinearGlobalPool, MS),
  ...rules(['QLinearConcat'], qlinearConcat, MS),
  ...rules(['Gelu', 'FastGelu', 'BiasGelu', 'QuickGelu', 'BiasAdd'], sameAsFirst, MS),
  ...rules(['SkipLayerNormalization', 'SkipSimplifiedLayerNormalization'], skipLayerNorm, MS),
  // onnxruntime registers SimplifiedLayerNormalization (RMSNorm) in the default domain.
  ...rules(['SimplifiedLayerNormalization'], sameAsFirst),
  ...rules(['QuantizeLinear'], (ctx) => ctx.set(0, ctx.elemType(2) ?? DataType.UINT8, ctx.shape(0)), MS),
  ...rules(['DequantizeLinear'], (ctx) => ctx.set(0, ctx.elemType(1) ?? DataType.FLOAT, ctx.shape(0)), MS),
];
