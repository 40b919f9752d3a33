/**
 * Normalizations keep X's shape: BatchNormalization (plus its training outputs, `[C]`),
 * InstanceNormalization, LayerNormalization (Mean/InvStdDev are X's shape with the normalized axes
 * set to 1, in `stash_type`), GroupNormalization, LpNormalization, MeanVarianceNormalization, LRN.
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { normAxis, unifyDim } from '../../dims.js';

function same(ctx: InferContext): void {
  ctx.set(0, ctx.elemType(0), ctx.shape(0));
}

function batchNorm(ctx: InferContext): void {
  const x = ctx.shape(0);
  ctx.set(0, ctx.elemType(0), x);
  if (ctx.opset < 9) return;
  let c: Dim = x && x.length >= 2 ? x[1] : null;
  for (const i of [1, 2, 3, 4]) {
    const s = ctx.shape(i);
    if (s && s.length === 1) c = unifyDim(c, s[0]);
  }
  // Opset 14+: running_mean, running_var (type of the mean input); 9-13: mean, var, saved_mean, saved_var.
  const statType = ctx.opset >= 14 ? (ctx.elemType(3) ?? ctx.elemType(0)) : ctx.elemType(0);
  const last = ctx.opset >= 14 ? 2 : 4;
  for (let i = 1; i <= last; i++) if (ctx.wants(i)) ctx.set(i, statType, [c]);
}

function layerNorm(ctx: InferContext): void {
  const x = ctx.shape(0);
  ctx.set(0, ctx.elemType(0), x);
  if (!ctx.wants(1) && !ctx.wants(2)) return;
  const stash = ctx.int('stash_type', DataType.FLOAT);
  let stats: Dim[] | undefined;
  if (x) {
    const axis = normAxis(ctx.int('axis', -1), x.length);
    stats = x.map((d, i) => (i < axis ? d : 1));
  }
  for (const i of [1, 2]) if (ctx.wants(i)) ctx.set(i, stash, stats);
}

export const normalizationRules: OpRule[] = [
  ...rules(['BatchNormalization'], batchNorm),
  ...rules(['LayerNormalization'], layerNorm),
  ...rules(
    ['InstanceNormalization', 'GroupNormalization', 'LpNormalization', 'MeanVarianceNormalization', 'LRN'],
    same,
  ),
];
