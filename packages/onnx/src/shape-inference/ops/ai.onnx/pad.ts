/**
 * Pad: `paddings` attribute (opset 1), `pads` attribute (2–10), `pads` input (11+), optional
 * `axes` input (18+). Each padded axis grows by begin + end (negative pads crop).
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { addDim, fail, normAxis } from '../../dims.js';

function pad(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  const pads = ctx.opset < 2 ? ctx.intList('paddings') : ctx.opset < 11 ? ctx.intList('pads') : ctx.ints(1);
  let axes = x.map((_, i) => i);
  if (ctx.opset >= 18 && ctx.has(3)) {
    const a = ctx.ints(3);
    if (!a) {
      ctx.set(0, elem, x.map(() => null));
      return;
    }
    axes = a.map((v) => normAxis(v, x.length));
  }
  if (!pads) {
    const touched = new Set(axes);
    ctx.set(0, elem, x.map((d, i) => (touched.has(i) ? null : d)));
    return;
  }
  if (pads.length !== 2 * axes.length) fail(`Pad has ${pads.length} pads for ${axes.length} axes`);
  const out: Dim[] = [...x];
  axes.forEach((a, k) => {
    out[a] = addDim(x[a], pads[k] + pads[k + axes.length]);
    if (typeof out[a] === 'number' && (out[a] as number) < 0) fail(`Pad makes axis ${a} negative`);
  });
  ctx.set(0, elem, out);
}

export const padRules: OpRule[] = rules(['Pad'], pad);
