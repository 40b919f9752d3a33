/**
 * Convolutions: Conv, ConvTranspose, ConvInteger, QLinearConv (and com.microsoft FusedConv through
 * `convShape`). Output spatial size per axis (dk = (k − 1)·dilation + 1):
 *
 *   NOTSET / VALID:  ⌊(in + pad_begin + pad_end − dk) / stride⌋ + 1   (VALID: no pads)
 *   SAME_*:          pads chosen so that out = ⌈in / stride⌉ (computed as ONNX does)
 *   ConvTranspose:   stride·(in − 1) + output_padding + dk − pad_begin − pad_end, or in·stride for
 *                    SAME_*, or `output_shape` when given
 *
 * A symbolic spatial size survives only when the window maps it to itself (1×1, stride 1, no pads;
 * or SAME with stride 1); SAME transposed convolutions give `stride*H`.
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { addDim, fail, mulDim, unifyDim } from '../../dims.js';

export interface WindowAttrs {
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** begin pads then end pads, 2n entries. */
  pads: number[];
  autoPad: string;
  ceilMode: boolean;
}

/** Reads kernel/strides/dilations/pads/auto_pad for `n` spatial axes. */
export function windowAttrs(ctx: InferContext, n: number, kernel: number[], opts: { ceil?: boolean } = {}): WindowAttrs {
  const strides = ctx.intList('strides') ?? new Array<number>(n).fill(1);
  const dilations = ctx.intList('dilations') ?? new Array<number>(n).fill(1);
  const pads = ctx.intList('pads') ?? new Array<number>(2 * n).fill(0);
  if (kernel.length !== n || strides.length !== n || dilations.length !== n || pads.length !== 2 * n) {
    fail(`kernel/strides/dilations/pads do not match ${n} spatial axes`);
  }
  if (strides.some((s) => s <= 0) || dilations.some((d) => d <= 0)) fail('strides and dilations must be positive');
  return {
    kernel,
    strides,
    dilations,
    pads,
    autoPad: ctx.str('auto_pad', 'NOTSET'),
    ceilMode: (opts.ceil ?? false) && ctx.int('ceil_mode', 0) === 1,
  };
}

/** Output size of one spatial axis of a convolution or pooling window (ONNX's convPoolShapeInference). */
export function windowOut(input: Dim, i: number, w: WindowAttrs, n: number): Dim {
  const k = w.kernel[i];
  const s = w.strides[i];
  const dk = (k - 1) * w.dilations[i] + 1;
  let pb = w.pads[i];
  let pe = w.pads[i + n];
  const same = w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER';
  if (w.autoPad === 'VALID') pb = pe = 0;
  if (typeof input !== 'number') {
    if (same) return s === 1 ? input : null;
    return dk === 1 && s === 1 && pb + pe === 0 ? input : null;
  }
  if (same) {
    const residual = s > 1 ? input % s : 0;
    let total = residual === 0 ? dk - s : dk - residual;
    if (total < 0) total = 0;
    const half = Math.floor(total / 2);
    pb = w.autoPad === 'SAME_UPPER' ? half : total - half;
    pe = total - pb;
  }
  const eff = input + pb + pe;
  if (eff < dk) fail(`window ${dk} larger than padded input ${eff}`);
  let steps = w.ceilMode ? Math.ceil((eff - dk) / s) : Math.floor((eff - dk) / s);
  // The last window must start inside the input or the leading padding (PyTorch and onnxruntime).
  if (w.ceilMode && steps * s >= input + pb) steps--;
  return steps + 1;
}

/**
 * Conv-style output shape from X (`[N, C, …spatial]`) and W (`[M, C/group, …kernel]`); undefined
 * when neither the input rank nor the kernel is known.
 */
export function convShape(ctx: InferContext, xi: number, wi: number): Dim[] | undefined {
  const x = ctx.shape(xi);
  const wShape = ctx.shape(wi);
  const kernel = ctx.intList('kernel_shape') ?? (wShape && wShape.length >= 2 ? wShape.slice(2) : undefined);
  const n = x ? x.length - 2 : kernel?.length;
  if (n === undefined || n < 0) return undefined;
  if (x && wShape && x.length !== wShape.length) fail(`X rank ${x.length} but W rank ${wShape.length}`);
  if (wShape && wShape.length < 3) fail(`W must have rank ≥ 3, got ${wShape.length}`);
  const out: Dim[] = [x ? x[0] : null, wShape ? wShape[0] : null];
  if (x && wShape) {
    const group = ctx.int('group', 1);
    const cin = typeof wShape[1] === 'number' ? wShape[1] * group : null;
    unifyDim(x[1], cin);
  }
  if (!kernel || kernel.some((k) => typeof k !== 'number')) return [...out, ...new Array<Dim>(n).fill(null)];
  const w = windowAttrs(ctx, n, kernel as number[]);
  for (let i = 0; i < n; i++) out.push(x ? windowOut(x[i + 2], i, w, n) : null);
  return out;
}

/** ConvTranspose output shape from X (`[N, C, …]`) and W (`[C, M/group, …kernel]`). */
export function convTransposeShape(ctx: InferContext, xi: number, wi: number): Dim[] | undefined {
  const x = ctx.shape(xi);
  const wShape = ctx.shape(wi);
  const kernel = ctx.intList('kernel_shape') ?? (wShape && wShape.length >= 2 ? wShape.slice(2) : undefined);
  const n = x ? x.length - 2 : kernel?.length;
  if (n === undefined || n < 0) return undefined;
  if (x && wShape && x.length !== wShape.length) fail(`X rank ${x.length} but W rank ${wShape.length}`);
  if (wShape && wShape.length < 3) fail(`W must have rank ≥ 3, got ${wShape.length}`);
  const group = ctx.int('group', 1);
  const out: Dim[] = [x ? x[0] : null, wShape ? mulDim(wShape[1], group) : null];
  const outputShape = ctx.intList('output_shape');
  if (outputShape) {
    const spatial = outputShape.length === n + 2 ? outputShape.slice(2) : outputShape;
    if (spatial.length !== n) fail(`output_shape has ${outputShape.length} entries for ${n} spatial axes`);
    return [...out, ...spatial];
  }
  if (!kernel || kernel.some((k) => typeof k !== 'number') || !x) return [...out, ...new Array<Dim>(n).fill(null)];
  const w = windowAttrs(ctx, n, kernel as number[]);
  const outPad = ctx.intList('output_padding') ?? new Array<number>(n).fill(0);
  const same = w.autoPad === 'SAME_UPPER' || w.autoPad === 'SAME_LOWER';
  for (let i = 0; i < n; i++) {
    const s = w.strides[i];
    if (same) {
      out.push(mulDim(x[i + 2], s));
      continue;
    }
    const dk = (w.kernel[i] - 1) * w.dilations[i] + 1;
    const pads = w.autoPad === 'VALID' ? 0 : w.pads[i] + w.pads[i + n];
    const extra = (outPad[i] ?? 0) + dk - pads;
    // stride·(in − 1) + extra
    out.push(addDim(mulDim(x[i + 2], s), extra - s));
  }
  return out;
}

export const convRules: OpRule[] = [
  ...rules(['Conv'], (ctx) => ctx.set(0, ctx.elemType(0), convShape(ctx, 0, 1))),
  ...rules(['ConvTranspose'], (ctx) => ctx.set(0, ctx.elemType(0), convTransposeShape(ctx, 0, 1))),
  ...rules(['ConvInteger'], (ctx) => ctx.set(0, DataType.INT32, convShape(ctx, 0, 1))),
  // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B
  ...rules(['QLinearConv'], (ctx) => ctx.set(0, ctx.elemType(7) ?? ctx.elemType(0), convShape(ctx, 0, 3))),
  ...rules(['DeformConv'], (ctx) => ctx.set(0, ctx.elemType(0), convShape(ctx, 0, 1))),
];
