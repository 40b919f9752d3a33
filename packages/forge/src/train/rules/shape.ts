/** Gradient rules of ops that move data without arithmetic. */
import { int64ToNumber, toTypedArray, type Value } from '@edgeforge/onnx';
import type { GradContext, GradientRule } from '../autodiff.js';

/** Reshape-like ops: the gradient takes the input's shape back. */
const reshapeBack: GradientRule = (ctx, n, [g]) => [ctx.reshapeLike(g!, n.inputs[0]!)];

/** Integer values of a constant input (an initializer), or undefined. */
export function constInts(v: Value | null | undefined): number[] | undefined {
  if (!v) return undefined;
  const t = v.const ?? (v.producer?.opType === 'Constant' ? v.producer.getTensor('value') : undefined);
  if (!t) return undefined;
  return Array.from(toTypedArray(t) as ArrayLike<number | bigint>, (x) => int64ToNumber(BigInt(x)));
}

const transpose: GradientRule = (ctx, n, [g]) => {
  const r = ctx.rank(n.inputs[0]!, n);
  const perm = n.getInts('perm') ?? [...Array(r).keys()].reverse();
  const inv = Array<number>(r);
  perm.forEach((p, i) => (inv[p] = i));
  return [ctx.op('Transpose', [g!], { perm: inv })];
};

function splitOp(ctx: GradContext, g: Value, axis: number, sizes: number[]): Value[] {
  if (ctx.opset >= 13) return [...ctx.node('Split', [g, ctx.ints(sizes)], { axis }, sizes.length).outputs];
  return [...ctx.node('Split', [g], { axis, split: sizes }, sizes.length).outputs];
}

const concat: GradientRule = (ctx, n, [g], needs) => {
  const r = ctx.rank(n.outputs[0], n);
  const axis = (n.getInt('axis')! + r) % r;
  const sizes = n.inputs.map((v) => {
    const d = ctx.shape(v!)?.[axis];
    if (typeof d !== 'number') throw ctx.fail(n, `needs the static size of '${v!.name}' along axis ${axis}`);
    return d;
  });
  const parts = splitOp(ctx, g!, axis, sizes);
  return parts.map((p, i) => (needs[i] ? p : null));
};

const split: GradientRule = (ctx, n, grads) => {
  const r = ctx.rank(n.inputs[0]!, n);
  const axis = (n.getInt('axis', 0) + r) % r;
  const parts = n.outputs.map((o, i) => grads[i] ?? ctx.zerosLike(o));
  return [ctx.op('Concat', parts, { axis }), null];
};

/**
 * Slice with unit steps: the gradient is G padded with zeros. Constant starts/ends give constant pads;
 * computed ones (torch exports slice by `Shape`-derived indices) give pads computed in the graph.
 */
const slice: GradientRule = (ctx, n, [g]) => {
  const x = n.inputs[0]!;
  const r = ctx.rank(x, n);
  let starts: number[] | undefined;
  let ends: number[] | undefined;
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset >= 10) {
    [starts, ends, axes, steps] = [1, 2, 3, 4].map((i) => constInts(n.inputs[i]));
    if ((n.inputs[3] && !axes) || (n.inputs[4] && !steps)) throw ctx.fail(n, 'needs constant axes and steps');
  } else {
    [starts, ends, axes] = [n.getInts('starts'), n.getInts('ends'), n.getInts('axes')];
  }
  if (steps?.some((s) => s !== 1)) throw ctx.fail(n, 'steps other than 1 are not supported');
  const count = starts?.length ?? ctx.staticShape(n.inputs[1]!, n)[0];
  const ax = (axes ?? [...Array(count).keys()]).map((a) => (a + r) % r);
  const xs = ctx.shape(x)!;
  if (starts && ends && ax.every((a) => typeof xs[a] === 'number')) {
    const pads = Array<number>(2 * r).fill(0);
    ax.forEach((a, i) => {
      const dim = xs[a] as number;
      const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + dim : v, 0), dim);
      const s = clamp(starts[i]);
      pads[a] = s;
      pads[a + r] = dim - Math.max(clamp(ends[i]), s);
    });
    const padded =
      ctx.opset >= 11 ? ctx.op('Pad', [g!, ctx.ints(pads)]) : ctx.op('Pad', [g!], { pads, value: { float: 0 } });
    return [padded, null, null, null, null];
  }
  if (ctx.opset < 13) throw ctx.fail(n, 'computed starts/ends need opset 13 or later');
  // dim d along each sliced axis; s, e clamped like Slice does; pads = [s…, d − max(e, s)…].
  const i64 = (v: Value) => (ctx.dtype(v) === 7 ? v : ctx.op('Cast', [v], { to: 7 }));
  const d = ctx.op('Gather', [ctx.op('Shape', [x]), ctx.ints(ax)]);
  const zero = ctx.constant(7, [], [0]);
  const clamp = (v: Value) => {
    const w = ctx.op('Where', [ctx.op('Less', [v, zero]), ctx.op('Add', [v, d]), v]);
    return ctx.op('Min', [ctx.op('Max', [w, zero]), d]);
  };
  const s = clamp(i64(n.inputs[1]!));
  const e = ctx.op('Max', [clamp(i64(n.inputs[2]!)), s]);
  const updates = ctx.op('Concat', [s, ctx.op('Sub', [d, e])], { axis: 0 });
  const pads = ctx.op(
    'ScatterElements',
    [ctx.ints(Array(2 * r).fill(0)), ctx.ints([...ax, ...ax.map((a) => a + r)]), updates],
    {
      axis: 0,
    },
  );
  return [ctx.op('Pad', [g!, pads]), null, null, null, null];
};

/** Pad in constant mode with constant, non-negative pads: the gradient is the un-padded slice of G. */
const pad: GradientRule = (ctx, n, [g]) => {
  const r = ctx.rank(n.inputs[0]!, n);
  if (n.getString('mode', 'constant') !== 'constant') throw ctx.fail(n, 'only constant mode is supported');
  const pads = ctx.opset >= 11 ? constInts(n.inputs[1]) : n.getInts('pads');
  if (!pads || n.inputs[3] || pads.some((p) => p < 0))
    throw ctx.fail(n, 'needs constant non-negative pads for all axes');
  const INT64_MAX = Number.MAX_SAFE_INTEGER;
  const starts = pads.slice(0, r);
  const ends = pads.slice(r).map((p) => (p === 0 ? INT64_MAX : -p));
  const axes = [...Array(r).keys()];
  return [ctx.slice(g!, starts, ends, axes), null, null, null];
};

/**
 * Gather on axis 0 (embeddings): ScatterND of G into zeros at the gathered rows. Repeated indices need
 * the `add` reduction (opset 16); before that only constant indices without repeats are accepted.
 */
const gather: GradientRule = (ctx, n, [g]) => {
  const [x, idx] = [n.inputs[0]!, n.inputs[1]!];
  const axis = n.getInt('axis', 0);
  if (axis !== 0) throw ctx.fail(n, 'only axis 0 is supported');
  if (ctx.opset < 11) throw ctx.fail(n, 'needs opset 11 or later (ScatterND)');
  const known = constInts(idx);
  const unique = known !== undefined && new Set(known).size === known.length && known.every((i) => i >= 0);
  if (!unique && ctx.opset < 16)
    throw ctx.fail(n, 'indices that may repeat need ScatterND with reduction (opset 16 or later)');
  let i64 = ctx.dtype(idx) === 7 ? idx : ctx.op('Cast', [idx], { to: 7 });
  // Negative indices count from the end.
  if (!unique) {
    const dim0 = ctx.op('Gather', [ctx.op('Shape', [x]), ctx.ints([0])]);
    const neg = ctx.op('Less', [i64, ctx.constant(7, [], [0])]);
    i64 = ctx.op('Where', [neg, ctx.op('Add', [i64, ctx.op('Reshape', [dim0, ctx.ints([])])]), i64]);
  }
  const indices = ctx.unsqueeze(i64, [ctx.rank(idx, n)]);
  return [ctx.op('ScatterND', [ctx.zerosLike(x), indices, g!], unique ? {} : { reduction: 'add' }), null];
};

// Dropout in inference mode is an identity. In training mode its random mask would be needed.
const dropout: GradientRule = (ctx, n, [g]) => {
  const mode = n.inputs[2];
  if (mode && constInts(mode)?.[0] !== 0) throw ctx.fail(n, 'training mode (random masks) is not supported');
  return [g, null, null];
};

export const SHAPE_RULES: Record<string, GradientRule> = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Pad: pad,
  Gather: gather,
  Dropout: dropout,
};
