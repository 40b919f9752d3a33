/**
 * Pooling: MaxPool (with its int64 Indices output), AveragePool, LpPool (windows as in conv.ts,
 * with `ceil_mode`), GlobalAveragePool/GlobalMaxPool/GlobalLpPool (`[N, C, 1, …]`), MaxUnpool,
 * MaxRoiPool.
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { addDim, fail, mulDim } from '../../dims.js';
import { windowAttrs, windowOut } from './conv.js';

function pool(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const kernel = ctx.intList('kernel_shape');
  if (!x || !kernel) {
    ctx.set(0, elem, x && x.length >= 2 ? [x[0], x[1], ...new Array<Dim>(x.length - 2).fill(null)] : undefined);
    return;
  }
  const n = x.length - 2;
  if (n < 1) fail(`pooling needs a rank ≥ 3 input, got ${x.length}`);
  const w = windowAttrs(ctx, n, kernel, { ceil: true });
  const out: Dim[] = [x[0], x[1]];
  for (let i = 0; i < n; i++) out.push(windowOut(x[i + 2], i, w, n));
  ctx.set(0, elem, out);
  if (ctx.node.opType === 'MaxPool' && ctx.wants(1)) ctx.set(1, DataType.INT64, out);
}

function globalPool(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (x && x.length < 2) fail(`global pooling needs rank ≥ 2, got ${x.length}`);
  ctx.set(0, ctx.elemType(0), x ? [x[0], x[1], ...new Array<Dim>(x.length - 2).fill(1)] : undefined);
}

/** MaxUnpool: `output_shape` input when given, else (in − 1)·stride − pads + kernel. */
function maxUnpool(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  if (ctx.has(2)) {
    const target = ctx.dims(2);
    const s = ctx.shape(2);
    ctx.set(0, elem, target ?? (s && typeof s[0] === 'number' ? new Array<Dim>(s[0]).fill(null) : undefined));
    return;
  }
  const x = ctx.shape(0);
  const kernel = ctx.intList('kernel_shape');
  if (!x || !kernel) return;
  const n = x.length - 2;
  const w = windowAttrs(ctx, n, kernel);
  const out: Dim[] = [x[0], x[1]];
  for (let i = 0; i < n; i++) {
    out.push(addDim(mulDim(x[i + 2], w.strides[i]), kernel[i] - w.strides[i] - w.pads[i] - w.pads[i + n]));
  }
  ctx.set(0, elem, out);
}

/** MaxRoiPool: `[num_rois, C, …pooled_shape]`. */
function maxRoiPool(ctx: InferContext): void {
  const x = ctx.shape(0);
  const rois = ctx.shape(1);
  const pooled = ctx.intList('pooled_shape');
  if (!pooled) return;
  ctx.set(0, ctx.elemType(0), [rois ? rois[0] : null, x ? x[1] : null, ...pooled]);
}

export const poolRules: OpRule[] = [
  ...rules(['MaxPool', 'AveragePool', 'LpPool'], pool),
  ...rules(['GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool'], globalPool),
  ...rules(['MaxUnpool'], maxUnpool),
  ...rules(['MaxRoiPool'], maxRoiPool),
];
