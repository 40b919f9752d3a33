/**
 * Resize and Upsample. Output dims are `sizes` when given, otherwise ⌊in · scale⌋ in float32 as
 * onnxruntime computes them. Inputs by opset: Upsample 7–8 `scales` attribute, 9 input 1; Resize
 * 10 `scales` input 1, 11+ `roi`, `scales`, `sizes` (inputs 1–3), 18+ `axes` and
 * `keep_aspect_ratio_policy`.
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { fail, normAxis } from '../../dims.js';

function scaled(d: Dim, scale: number): Dim {
  if (typeof d !== 'number') return scale === 1 ? d : null;
  return Math.floor(Math.fround(d * Math.fround(scale)));
}

function floatsOf(ctx: InferContext, i: number): number[] | undefined {
  const d = ctx.dims(i);
  return d && d.every((x) => typeof x === 'number') ? (d as number[]) : undefined;
}

function lengthOf(ctx: InferContext, i: number): number | undefined {
  if (!ctx.has(i)) return 0;
  const v = ctx.value(i);
  if (v) return v.data.length;
  const s = ctx.shape(i);
  return s && s.length === 1 && typeof s[0] === 'number' ? s[0] : undefined;
}

function resize(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  const r = x.length;
  const axes = ctx.opset >= 18 && ctx.intList('axes') ? ctx.intList('axes')!.map((a) => normAxis(a, r)) : x.map((_, i) => i);
  const scalesAt = ctx.opset >= 11 ? 2 : 1;
  const sizesLen = ctx.opset >= 11 ? lengthOf(ctx, 3) : 0;
  const scalesLen = lengthOf(ctx, scalesAt);
  const unknownAxes = () => ctx.set(0, elem, x.map((d, i) => (axes.includes(i) ? null : d)));
  if (sizesLen === undefined || (sizesLen === 0 && scalesLen === undefined)) return unknownAxes();
  if (sizesLen > 0) {
    const sizes = ctx.dims(3);
    if (!sizes) return unknownAxes();
    if (sizes.length !== axes.length) fail(`Resize sizes has ${sizes.length} entries for ${axes.length} axes`);
    const out = [...x];
    const policy = ctx.opset >= 18 ? ctx.str('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy === 'stretch') {
      axes.forEach((a, k) => (out[a] = sizes[k]));
    } else {
      const ins = axes.map((a) => x[a]);
      if (!ins.every((d) => typeof d === 'number') || !sizes.every((d) => typeof d === 'number')) return unknownAxes();
      const ratios = axes.map((_, k) => Math.fround((sizes[k] as number) / (ins[k] as number)));
      const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      axes.forEach((a, k) => (out[a] = Math.round(Math.fround(scale * (ins[k] as number)))));
    }
    ctx.set(0, elem, out);
    return;
  }
  const scales = floatsOf(ctx, scalesAt);
  if (!scales) return unknownAxes();
  if (scales.length !== axes.length) fail(`Resize scales has ${scales.length} entries for ${axes.length} axes`);
  const out = [...x];
  axes.forEach((a, k) => (out[a] = scaled(x[a], scales[k])));
  ctx.set(0, elem, out);
}

function upsample(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  const scales = ctx.opset < 9 ? ctx.floatList('scales') : floatsOf(ctx, 1);
  if (!scales) {
    ctx.set(0, elem, x.map(() => null));
    return;
  }
  if (scales.length !== x.length) fail(`Upsample scales has ${scales.length} entries for rank ${x.length}`);
  ctx.set(0, elem, x.map((d, i) => scaled(d, scales[i])));
}

export const resizeRules: OpRule[] = [
  ...rules(['Resize'], resize, { since: 10 }),
  ...rules(['Upsample'], upsample, { since: 7 }),
];
