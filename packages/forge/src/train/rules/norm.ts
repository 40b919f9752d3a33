/** Gradient rules of BatchNormalization (inference form) and LayerNormalization. */
import type { Value } from '@edgeforge/onnx';
import type { GradientRule } from '../autodiff.js';

/**
 * BatchNormalization with running statistics (inference form, as exported models hold it):
 * y = (x − mean)·scale/√(var + ε) + B, an affine map per channel. Mean and variance are not trained.
 */
const batchNorm: GradientRule = (ctx, n, [g], needs) => {
  if (n.getInt('training_mode', 0) !== 0 || n.outputs.length > 1)
    throw ctx.fail(n, 'only the inference form (one output) is supported');
  const [x, scale, , mean, variance] = n.inputs as Value[];
  const r = ctx.rank(x, n);
  const spatial = [...Array(r - 2).keys()].map((i) => i + 1);
  const perChannel = (v: Value) => (spatial.length ? ctx.unsqueeze(v, spatial) : v);
  const eps = n.getFloat('epsilon', 1e-5);
  const inv = ctx.op('Reciprocal', [ctx.op('Sqrt', [ctx.op('Add', [variance, ctx.scalar(eps, variance)])])]);
  const axes = [0, ...spatial.map((i) => i + 1)];
  const dx = needs[0] ? ctx.mul(g!, perChannel(ctx.mul(scale, inv))) : null;
  const dscale = needs[1]
    ? ctx.reduceSum(ctx.mul(g!, ctx.mul(ctx.op('Sub', [x, perChannel(mean)]), perChannel(inv))), axes, false)
    : null;
  const db = needs[2] ? ctx.reduceSum(g!, axes, false) : null;
  return [dx, dscale, db, null, null];
};

/**
 * LayerNormalization over axes [axis, rank): with x̂ = (x − μ)·ρ, ρ = 1/√(σ² + ε) and d = g·scale,
 * dx = ρ·(d − mean(d) − x̂·mean(d·x̂)); dscale and dB sum over the leading axes. μ and ρ are recomputed.
 */
const layerNorm: GradientRule = (ctx, n, [g], needs) => {
  const [x, scale, bias] = [n.inputs[0]!, n.inputs[1]!, n.inputs[2] ?? null];
  const r = ctx.rank(x, n);
  const axis = (n.getInt('axis', -1) + r) % r;
  const eps = n.getFloat('epsilon', 1e-5);
  const norm = [...Array(r - axis).keys()].map((i) => i + axis);
  const lead = [...Array(axis).keys()];
  const mu = ctx.reduceMean(x, norm, true);
  const xc = ctx.op('Sub', [x, mu]);
  const rho = ctx.op('Reciprocal', [
    ctx.op('Sqrt', [ctx.op('Add', [ctx.reduceMean(ctx.mul(xc, xc), norm, true), ctx.scalar(eps, x)])]),
  ]);
  const xhat = ctx.mul(xc, rho);
  let dx: Value | null = null;
  if (needs[0]) {
    const d = ctx.mul(g!, scale);
    const m1 = ctx.reduceMean(d, norm, true);
    const m2 = ctx.reduceMean(ctx.mul(d, xhat), norm, true);
    dx = ctx.mul(rho, ctx.op('Sub', [ctx.op('Sub', [d, m1]), ctx.mul(xhat, m2)]));
  }
  const sumLead = (v: Value) => (lead.length ? ctx.reduceSum(v, lead, false) : v);
  const dscale = needs[1] ? ctx.reshapeLike(sumLead(ctx.mul(g!, xhat)), scale) : null;
  const db = bias && needs[2] ? ctx.reshapeLike(sumLead(g!), bias) : null;
  return [dx, dscale, db];
};

export const NORM_RULES: Record<string, GradientRule> = {
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
};
