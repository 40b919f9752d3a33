/**
 * Concat (sizes add along `axis`, other dims agree; 1-D known values are joined) and Split (sizes
 * from the `split` attribute before opset 13, the input after, or equal parts; `num_outputs` from
 * opset 18 gives ⌈d/n⌉-sized parts with a smaller last one).
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { fail, normAxis, sumDims, unifyDim } from '../../dims.js';
import { known } from '../../values.js';
import { firstElemType } from './elementwise.js';

function concat(ctx: InferContext): void {
  const ins: number[] = [];
  for (let i = 0; i < ctx.inputCount; i++) if (ctx.has(i)) ins.push(i);
  const elem = firstElemType(ctx, ins);
  const shapes = ins.map((i) => ctx.shape(i));
  const rank = shapes.find((s) => s !== undefined)?.length;
  if (rank === undefined) {
    ctx.set(0, elem);
    return;
  }
  if (rank === 0) fail('Concat inputs must have rank ≥ 1');
  const axis = normAxis(ctx.int('axis', ctx.opset < 4 ? 1 : 0), rank);
  const out: Dim[] = new Array<Dim>(rank).fill(null);
  const along: Dim[] = [];
  for (const s of shapes) {
    if (!s) {
      along.push(null);
      continue;
    }
    if (s.length !== rank) fail(`Concat inputs of ranks ${rank} and ${s.length}`);
    s.forEach((d, i) => {
      if (i !== axis) out[i] = unifyDim(out[i], d);
    });
    along.push(s[axis]);
  }
  out[axis] = sumDims(along);
  ctx.set(0, elem, out);
  if (rank === 1) {
    const data: Dim[] = [];
    for (const i of ins) {
      const v = ctx.value(i);
      if (!v) return;
      data.push(...v.data);
    }
    ctx.setValue(0, known([data.length], data));
  }
}

/** Sizes of Split's parts along the axis (entries null when unknown). */
function splitSizes(ctx: InferContext, dim: Dim, n: number): Dim[] {
  const explicit = ctx.opset >= 13 ? (ctx.has(1) ? ctx.ints(1) : undefined) : (ctx.intList('split') ?? (ctx.has(1) ? ctx.ints(1) : undefined));
  if (explicit) {
    if (explicit.length !== n) fail(`split has ${explicit.length} sizes for ${n} outputs`);
    if (typeof dim === 'number' && explicit.reduce((a, b) => a + b, 0) !== dim) fail(`split sizes ${explicit} do not add up to ${dim}`);
    return explicit;
  }
  if (ctx.has(1)) return new Array<Dim>(n).fill(null);
  if (typeof dim !== 'number') return new Array<Dim>(n).fill(n === 1 ? dim : null);
  const numOutputs = ctx.intOpt('num_outputs');
  if (ctx.opset >= 18 && numOutputs !== undefined && dim % n !== 0) {
    const chunk = Math.ceil(dim / n);
    return Array.from({ length: n }, (_, i) => (i < n - 1 ? chunk : dim - chunk * (n - 1)));
  }
  if (dim % n !== 0) fail(`cannot split ${dim} into ${n} equal parts`);
  return new Array<Dim>(n).fill(dim / n);
}

function split(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const n = ctx.node.outputs.length;
  if (!x) {
    for (let i = 0; i < n; i++) ctx.set(i, elem);
    return;
  }
  const axis = normAxis(ctx.int('axis', 0), x.length);
  const sizes = splitSizes(ctx, x[axis], n);
  const v = ctx.value(0);
  let offset = 0;
  sizes.forEach((d, i) => {
    const s = [...x];
    s[axis] = d;
    ctx.set(i, elem, s);
    if (v && x.length === 1 && typeof d === 'number') ctx.setValue(i, known([d], v.data.slice(offset, offset + d)));
    offset += typeof d === 'number' ? d : NaN;
  });
}

export const concatSplitRules: OpRule[] = [...rules(['Concat'], concat), ...rules(['Split'], split)];
