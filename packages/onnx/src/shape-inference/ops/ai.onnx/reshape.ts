/**
 * Layout ops: Reshape (shape attribute before opset 5, input after; `0` copies, `-1` is solved
 * from the element count, symbols cancel: `[N,3,4] → [N,-1]` gives `[N,12]`), Flatten, Squeeze and
 * Unsqueeze (axes attribute before opset 13, input after), Transpose, Expand, Tile, DepthToSpace,
 * SpaceToDepth. Known values ride along through Reshape/Flatten/Squeeze/Unsqueeze/Expand.
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { broadcastShapes, divDim, fail, isStaticShape, mulDim, normAxis, productDims } from '../../dims.js';
import { known, mapBroadcast, transposeValue } from '../../values.js';

/** A 1-D shape input's contents: known entries, or `length` unknown entries, or undefined. */
export function shapeInput(ctx: InferContext, i: number): Dim[] | undefined {
  const d = ctx.dims(i);
  if (d) {
    const v = ctx.value(i)!;
    if (v.shape.length > 1) fail(`shape input must be 1-D, got rank ${v.shape.length}`);
    return d;
  }
  const s = ctx.shape(i);
  if (s && s.length === 1 && typeof s[0] === 'number') return new Array<Dim>(s[0]).fill(null);
  return undefined;
}

/** Passes the input's known value through with a new (static) shape. */
function reshapeValue(ctx: InferContext, shape: Dim[] | undefined): void {
  const v = ctx.value(0);
  if (v && isStaticShape(shape)) ctx.setValue(0, known(shape, v.data));
}

/** Reshape's output shape for target `target` (entries may be symbolic or unknown). */
export function reshapeShape(input: Dim[] | undefined, target: Dim[], allowZero: boolean): Dim[] {
  const out: Dim[] = [];
  let inferAt = -1;
  target.forEach((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) fail('Reshape target has more than one -1');
      inferAt = i;
      out.push(null);
    } else if (d === 0 && !allowZero) {
      if (input && i >= input.length) fail(`Reshape target copies dim ${i} of a rank-${input.length} input`);
      out.push(input ? input[i] : null);
    } else if (typeof d === 'number' && (d < 0 || !Number.isInteger(d))) {
      fail(`bad Reshape target entry ${d}`);
    } else out.push(d);
  });
  if (inferAt >= 0 && input) {
    const rest = productDims(out.filter((_, i) => i !== inferAt));
    const total = productDims(input);
    if (typeof total === 'number' && typeof rest === 'number' && rest !== 0 && total % rest !== 0) {
      fail(`cannot reshape ${total} elements into a multiple of ${rest}`);
    }
    out[inferAt] = divDim(total, rest);
  }
  if (input && isStaticShape(input) && isStaticShape(out) && inferAt < 0) {
    const a = productDims(input);
    const b = productDims(out);
    if (a !== b) fail(`cannot reshape ${a} elements into ${b}`);
  }
  return out;
}

function reshape(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const target = ctx.opset < 5 ? ctx.intList('shape') : shapeInput(ctx, 1);
  if (!target) {
    ctx.set(0, elem);
    return;
  }
  const out = reshapeShape(ctx.shape(0), target, ctx.opset >= 14 && ctx.int('allowzero', 0) === 1);
  ctx.set(0, elem, out);
  reshapeValue(ctx, out);
}

function flatten(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, ctx.elemType(0), [null, null]);
    return;
  }
  const a = ctx.int('axis', 1);
  const axis = a < 0 ? a + x.length : a;
  if (axis < 0 || axis > x.length) fail(`Flatten axis ${a} out of range for rank ${x.length}`);
  const out = [productDims(x.slice(0, axis)), productDims(x.slice(axis))];
  ctx.set(0, ctx.elemType(0), out);
  reshapeValue(ctx, out);
}

/** Axes of Squeeze/Unsqueeze/Reduce*: attribute before `inputSince`, input 1 from it. */
export function axesOf(ctx: InferContext, inputSince: number): { axes?: number[]; given: boolean; count?: number } {
  if (ctx.opset < inputSince) {
    const a = ctx.intList('axes');
    return { axes: a, given: a !== undefined, count: a?.length };
  }
  if (!ctx.has(1)) return { given: false };
  const a = ctx.ints(1);
  const s = ctx.shape(1);
  return { axes: a, given: true, count: a?.length ?? (s && typeof s[0] === 'number' ? s[0] : undefined) };
}

function squeeze(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const { axes, given, count } = axesOf(ctx, 13);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  let out: Dim[] | undefined;
  if (!given || (axes && axes.length === 0 && ctx.opset >= 13)) {
    // Every dim of size 1 goes: only decidable when all dims are known.
    out = isStaticShape(x) ? x.filter((d) => d !== 1) : undefined;
  } else if (axes) {
    const set = new Set(axes.map((a) => normAxis(a, x.length)));
    for (const a of set) if (typeof x[a] === 'number' && x[a] !== 1) fail(`cannot squeeze axis ${a} of size ${x[a]}`);
    out = x.filter((_, i) => !set.has(i));
  } else if (count !== undefined) {
    out = new Array<Dim>(x.length - count).fill(null);
  }
  ctx.set(0, elem, out);
  reshapeValue(ctx, out);
}

function unsqueeze(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const { axes, count } = axesOf(ctx, 13);
  if (!x || count === undefined) {
    ctx.set(0, elem);
    return;
  }
  const rank = x.length + count;
  if (!axes) {
    ctx.set(0, elem, new Array<Dim>(rank).fill(null));
    return;
  }
  const set = new Set(axes.map((a) => normAxis(a, rank)));
  if (set.size !== axes.length) fail('Unsqueeze axes repeat');
  const out: Dim[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(set.has(i) ? 1 : x[k++]);
  ctx.set(0, elem, out);
  reshapeValue(ctx, out);
}

function transpose(ctx: InferContext): void {
  const x = ctx.shape(0);
  const elem = ctx.elemType(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  const perm = ctx.intList('perm') ?? x.map((_, i) => x.length - 1 - i);
  if (perm.length !== x.length || new Set(perm).size !== perm.length) fail(`perm ${perm} does not match rank ${x.length}`);
  const axes = perm.map((p) => normAxis(p, x.length));
  ctx.set(0, elem, axes.map((a) => x[a]));
  const v = ctx.value(0);
  if (v && v.shape.length === axes.length) ctx.setValue(0, transposeValue(v, axes));
}

function expand(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const target = shapeInput(ctx, 1);
  if (!x || !target) {
    ctx.set(0, elem);
    return;
  }
  if (target.some((d) => typeof d === 'number' && (d < 0 || !Number.isInteger(d)))) fail(`bad Expand shape ${target}`);
  const out = broadcastShapes([x, target]);
  ctx.set(0, elem, out);
  const v = ctx.value(0);
  if (v && isStaticShape(out)) {
    const ones = known(out, new Array<Dim>(out.reduce((a, b) => a * b, 1)).fill(0));
    if (ones) ctx.setValue(0, mapBroadcast([v, ones], ([a]) => a));
  }
}

function tile(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  const reps = ctx.dims(1);
  if (reps && reps.length !== x.length) fail(`Tile repeats has ${reps.length} entries for rank ${x.length}`);
  ctx.set(
    0,
    elem,
    x.map((d, i) => (reps ? mulDim(d, reps[i]) : d === 0 ? 0 : null)),
  );
}

function depthToSpace(ctx: InferContext): void {
  const x = ctx.shape(0);
  const b = ctx.int('blocksize', 0);
  if (b <= 0) fail('blocksize must be positive');
  if (x && x.length !== 4) fail(`DepthToSpace needs rank 4, got ${x.length}`);
  ctx.set(0, ctx.elemType(0), x ? [x[0], divDim(x[1], b * b), mulDim(x[2], b), mulDim(x[3], b)] : undefined);
}

function spaceToDepth(ctx: InferContext): void {
  const x = ctx.shape(0);
  const b = ctx.int('blocksize', 0);
  if (b <= 0) fail('blocksize must be positive');
  if (x && x.length !== 4) fail(`SpaceToDepth needs rank 4, got ${x.length}`);
  ctx.set(0, ctx.elemType(0), x ? [x[0], mulDim(x[1], b * b), divDim(x[2], b), divDim(x[3], b)] : undefined);
}

export const reshapeRules: OpRule[] = [
  ...rules(['Reshape'], reshape),
  ...rules(['Flatten'], flatten),
  ...rules(['Squeeze'], squeeze),
  ...rules(['Unsqueeze'], unsqueeze),
  ...rules(['Transpose'], transpose),
  ...rules(['Expand'], expand),
  ...rules(['Tile'], tile, { since: 6 }),
  ...rules(['DepthToSpace'], depthToSpace),
  ...rules(['SpaceToDepth'], spaceToDepth),
];
