/**
 * How each operator couples channels (see `channel-groups.ts`): given one tracked tensor of a node
 * (the *anchor*), a rule tracks the node's other channel-carrying tensors, couples their channels,
 * and records the constants and attributes that follow the channel count. A rule that cannot follow
 * the channels blocks the anchor, naming the node and why.
 *
 * - Layers (Conv and ConvTranspose with `group = 1`, Gemm, MatMul by a constant): their output
 *   channels are their own (a group starts there: weight and bias slices, importance); their input
 *   channels are a weight slice (axis 1 of a Conv weight, rows of a Gemm/MatMul weight). The two
 *   sides are coupled separately (`sided`).
 * - Depthwise Conv (`group` = input channels, one input channel per group): input channel c and
 *   output channels `c·m … c·m + m − 1` are coupled; weight and bias slices, `group` follows.
 * - BatchNormalization, InstanceNormalization: parameters are sliced with the channels.
 * - Elementwise ops with numpy broadcasting (Relu, Clip, HardSigmoid, Add, Mul, Where, …): inputs
 *   with the channel axis are coupled; constants that vary along it are sliced.
 * - Pools, Pad, Resize (by scales), Softmax and Reduce* over other axes, Transpose, Squeeze,
 *   Unsqueeze: the channel axis moves or stays, channels stay coupled one to one.
 * - Concat / Split on the channel axis: channels are offset; Split sizes follow.
 * - Flatten, and a Reshape that flattens from the channel axis or keeps every axis up to it: each
 *   channel couples with its block of the flattened axis; a literal size in the shape follows.
 * - Everything else blocks.
 */
import { DataType, dtypeBits, toTypedArray, typedArrayFor, type Node, type Tensor, type Value } from '@edgeforge/onnx';
import { isOnnxOp } from '../optimize/fuse-bn-into-conv.js';
import type { ChannelTracker } from './channel-groups.js';

export interface Handler {
  /** A layer with channels of its own: its input and output sides are coupled separately. */
  readonly sided: boolean;
  couple(t: ChannelTracker, node: Node, anchor: Value): void;
}

const norm = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);
const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const shapeText = (dims: readonly unknown[]) => `[${dims.map((d) => (d === null ? '?' : String(d))).join(',')}]`;

/** A constant whose slices can be copied element by element. */
export function sliceable(c: Tensor): boolean {
  return !!typedArrayFor(c.dtype) && dtypeBits(c.dtype) >= 8 && c.dtype !== DataType.STRING;
}

function intsOf(c: Tensor): number[] {
  return Array.from(toTypedArray(c) as ArrayLike<number | bigint>, Number);
}

/** Integers of constant input `input`: undefined when absent, null when computed at run time. */
function inputInts(t: ChannelTracker, n: Node, input: number): number[] | null | undefined {
  const v = n.inputs[input];
  if (!v || !v.name) return undefined;
  const c = t.constant(v);
  return c ? intsOf(c) : null;
}

/** Integers given by attribute `attr` (older opsets) or by constant input `input` (newer ones). */
function intList(t: ChannelTracker, n: Node, attr: string, input: number): number[] | null | undefined {
  return n.getInts(attr) ?? inputInts(t, n, input);
}

/** Extra outputs (MaxPool indices, Dropout mask, BatchNormalization statistics) must be unused. */
function extraOutputsUsed(n: Node): Value | undefined {
  return n.outputs.slice(1).find((o) => o.name && (o.uses().length > 0 || o.isGraphOutput()));
}

const blocker = (why: (n: Node) => string): Handler => ({
  sided: false,
  couple: (t, n, anchor) => t.block(anchor, why(n)),
});

const notHandled = blocker((n) => `${n} is not handled: its channels cannot be followed`);

// ---- layers ----

/**
 * Bias of a layer, sliced with the output channels: a Conv bias is 1-D along them; a Gemm C
 * broadcasts numpy-style against the output (`broadcastRank` 2) and is sliced only where it varies.
 */
function layerBias(t: ChannelTracker, n: Node, index: number, y: Value, outAxis: number, broadcastRank?: number): void {
  const v = n.inputs[index];
  if (!v || !v.name) return;
  const c = t.constant(v);
  if (!c || !sliceable(c)) return t.block(y, `${n}: bias '${v.name}' is not a constant`);
  const ax = broadcastRank === undefined ? (c.dims.length === 1 ? 0 : -1) : outAxis - (broadcastRank - c.dims.length);
  if (broadcastRank !== undefined && (ax < 0 || c.dims[ax] === 1)) return;
  if (ax < 0 || c.dims[ax] !== t.dim(y, outAxis))
    return t.block(y, `${n}: bias '${v.name}' of shape ${shapeText(c.dims)} does not follow the output channels`);
  t.addSlice({ node: n, input: index, axis: ax, ref: y });
}

/** Output channels of a layer whose weight (input 1) holds them along `wAxis`. */
function layerOutput(t: ChannelTracker, n: Node, w: Tensor, wAxis: number, outAxis: number, gemmBias?: boolean): void {
  const y = n.outputs[0];
  if (!t.track(y, outAxis, w.dims[wAxis])) return;
  t.addSlice({ node: n, input: 1, axis: wAxis, ref: y });
  t.addFilter({ node: n, input: 1, axis: wAxis, ref: y, kind: 'root' });
  if (n.opType !== 'MatMul') layerBias(t, n, 2, y, outAxis, gemmBias ? 2 : undefined);
}

/** Input channels of a layer: the weight's `wAxis` slices, when the channels arrive along `axis`. */
function layerInput(t: ChannelTracker, n: Node, x: Value, w: Tensor, wAxis: number, axis: number): void {
  const a = t.axisOf(x)!;
  const size = t.dim(x, a)!;
  if (a !== axis)
    return t.block(x, `${n}: the channels of '${x.name}' arrive along axis ${a}, it contracts axis ${axis}`);
  if (w.dims[wAxis] !== size)
    return t.block(x, `${n}: weight axis ${wAxis} has ${w.dims[wAxis]} entries for ${size} channels`);
  t.addSlice({ node: n, input: 1, axis: wAxis, ref: x });
}

function layer(
  outSide: (t: ChannelTracker, n: Node) => void,
  inSide: (t: ChannelTracker, n: Node, x: Value) => void,
): Handler {
  return {
    sided: true,
    couple(t, n, anchor) {
      if (anchor === n.outputs[0]) return outSide(t, n);
      if (anchor === n.inputs[0]) return inSide(t, n, anchor);
      t.block(anchor, `${n}: '${anchor.name}' is a weight or bias of it`);
    },
  };
}

function convHandler(t: ChannelTracker, n: Node): Handler {
  const w = t.constant(n.inputs[1]);
  if (!w || !sliceable(w) || w.dims.length < 3)
    return blocker(() => `${n}: weight '${n.inputs[1]?.name}' is not a constant of rank ≥ 3`);
  const group = n.getInt('group', 1);
  if (n.opType === 'ConvTranspose') {
    if (group !== 1) return blocker(() => `${n}: grouped ConvTranspose (group ${group})`);
    return layer(
      (t, n) => layerOutput(t, n, w, 1, 1),
      (t, n, x) => layerInput(t, n, x, w, 0, 1),
    );
  }
  if (group === 1)
    return layer(
      (t, n) => layerOutput(t, n, w, 0, 1),
      (t, n, x) => layerInput(t, n, x, w, 1, 1),
    );
  if (w.dims[1] === 1 && w.dims[0] % group === 0) return depthwise(w, group);
  return blocker(() => `${n}: grouped Conv (group ${group}, ${w.dims[1]} input channels per group)`);
}

/** Depthwise Conv: input channel c ↔ output channels c·m … c·m + m − 1. */
function depthwise(w: Tensor, group: number): Handler {
  const m = w.dims[0] / group;
  return {
    sided: false,
    couple(t, n, anchor) {
      const [x, y] = [n.inputs[0]!, n.outputs[0]];
      if (anchor !== x && anchor !== y) return t.block(anchor, `${n}: '${anchor.name}' is a weight or bias of it`);
      if (t.axisOf(anchor) !== 1)
        return t.block(anchor, `${n}: the channels of '${anchor.name}' arrive along axis ${t.axisOf(anchor)}, not 1`);
      if (!t.track(x, 1, group) || !t.track(y, 1, group * m)) return;
      for (let c = 0; c < group; c++) for (let j = 0; j < m; j++) t.unify(x, c, y, c * m + j);
      t.addSlice({ node: n, input: 1, axis: 0, ref: y });
      t.addFilter({ node: n, input: 1, axis: 0, ref: y, kind: 'depthwise' });
      t.addAttrEdit({ kind: 'group', node: n, ref: x });
      layerBias(t, n, 2, y, 1);
    },
  };
}

function gemmHandler(t: ChannelTracker, n: Node): Handler {
  const b = t.constant(n.inputs[1]);
  if (!b || !sliceable(b) || b.dims.length !== 2)
    return blocker(() => `${n}: B '${n.inputs[1]?.name}' is not a 2-D constant`);
  const transA = n.getInt('transA', 0) !== 0;
  const transB = n.getInt('transB', 0) !== 0;
  return layer(
    (t, n) => layerOutput(t, n, b, transB ? 0 : 1, 1, true),
    (t, n, x) => layerInput(t, n, x, b, transB ? 1 : 0, transA ? 0 : 1),
  );
}

function matmulHandler(t: ChannelTracker, n: Node): Handler {
  const b = t.constant(n.inputs[1]);
  if (!b || !sliceable(b) || b.dims.length < 2)
    return blocker(() => `${n}: B '${n.inputs[1]?.name}' is not a constant of rank ≥ 2`);
  const rb = b.dims.length;
  return layer(
    (t, n) => {
      const ra = t.rank(n.inputs[0]!);
      const r = t.rank(n.outputs[0]) ?? (ra !== undefined ? Math.max(ra, rb) : undefined);
      if (r === undefined) return t.block(n.outputs[0], `${n}: rank of its output unknown`);
      layerOutput(t, n, b, rb - 1, r - 1);
    },
    (t, n, x) => {
      const ra = t.rank(x);
      if (ra === undefined) return t.block(x, `${n}: rank of '${x.name}' unknown`);
      layerInput(t, n, x, b, rb - 2, ra - 1);
    },
  );
}

// ---- channel-preserving ops ----

/**
 * Elementwise with numpy broadcasting: inputs that have the channel axis at full size are coupled
 * with the output, constants that do are sliced, size-1 axes broadcast. An anchor that itself
 * broadcasts (a one-channel gate over many channels) is not coupled with the output.
 */
const elementwise: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const extra = extraOutputsUsed(n);
    if (extra) return t.block(anchor, `${n}: its output '${extra.name}' is used`);
    const y = n.outputs[0];
    const a = t.axisOf(anchor)!;
    const ins = n.inputs.map((v, i) => [v, i] as const).filter((e): e is [Value, number] => !!e[0]?.name);
    const ranks = ins.map(([v]) => t.rank(v));
    const known = ranks.every((r) => r !== undefined);
    const outRank = t.rank(y) ?? (known ? Math.max(...(ranks as number[])) : undefined);
    if (outRank === undefined || !known) {
      // Unknown ranks: only the unary form (every other operand a single value) is safe.
      const others = ins.filter(([v]) => v !== anchor && v !== y);
      if (!others.every(([v]) => (t.constant(v)?.size ?? 2) <= 1) || ins.filter(([v]) => v === anchor).length > 1)
        return t.block(anchor, `${n}: ranks of its operands unknown`);
      const x = anchor === y ? ins.find(([v]) => !t.constant(v))?.[0] : anchor;
      if (!x) return t.block(anchor, `${n}: no activation operand`);
      t.same(anchor, anchor === y ? x : y);
      return;
    }
    const axis = anchor === y ? a : a + outRank - t.rank(anchor)!;
    const aligned = ins.map(([v]) => axis - (outRank - t.rank(v)!));
    const size =
      t.dim(y, axis) ?? Math.max(...ins.map(([v], k) => (aligned[k] >= 0 ? (t.dim(v, aligned[k]) ?? 1) : 1)));
    if (anchor !== y && t.dim(anchor, a) !== size) {
      if (t.dim(anchor, a) === 1) return; // broadcasts: a single channel, never pruned
      return t.block(anchor, `${n}: '${anchor.name}' has ${t.dim(anchor, a)} channels, its output ${size}`);
    }
    for (const [[v], k] of ins.map((e, k) => [e, k] as const)) {
      const ax = aligned[k];
      if (ax < 0) continue;
      const c = t.tracks.has(v) ? undefined : t.constant(v);
      const d = c ? c.dims[ax] : t.dim(v, ax);
      if (d === 1 && size !== 1) continue;
      if (d !== size)
        return t.block(anchor, `${n}: '${v.name}' has ${d ?? 'an unknown number of'} entries along the channel axis`);
      if (c && !sliceable(c)) return t.block(anchor, `${n}: constant '${v.name}' cannot be sliced`);
    }
    if (!t.track(y, axis, size)) return;
    for (const [[v, i], k] of ins.map((e, k) => [e, k] as const)) {
      const ax = aligned[k];
      if (ax < 0) continue;
      const c = t.tracks.has(v) ? undefined : t.constant(v);
      if ((c ? c.dims[ax] : t.dim(v, ax)) !== size) continue;
      if (c) t.addSlice({ node: n, input: i, axis: ax, ref: y });
      else if (t.track(v, ax, size)) for (let j = 0; j < size; j++) t.unify(v, j, y, j);
    }
  },
};

/** The node keeps the anchor's channel axis `axis` (given in the input's terms) one to one. */
function sameAxis(t: ChannelTracker, n: Node, anchor: Value, needAxis?: number): void {
  const extra = extraOutputsUsed(n);
  if (extra) return t.block(anchor, `${n}: its output '${extra.name}' is used`);
  const [x, y] = [n.inputs[0]!, n.outputs[0]];
  if (anchor !== x && anchor !== y) return t.block(anchor, `${n}: '${anchor.name}' is not its data input`);
  const a = t.axisOf(anchor)!;
  if (needAxis !== undefined && a !== needAxis)
    return t.block(anchor, `${n}: the channels of '${anchor.name}' are along axis ${a}, not ${needAxis}`);
  t.same(anchor, anchor === x ? y : x);
}

/** The channel axis moves: `toOut(a)` maps an input axis to the output's, `toIn` back (undefined: blocked). */
function moveAxis(
  t: ChannelTracker,
  n: Node,
  anchor: Value,
  toOut: (a: number) => number | undefined,
  toIn: (a: number) => number | undefined,
): void {
  const [x, y] = [n.inputs[0]!, n.outputs[0]];
  if (anchor !== x && anchor !== y) return t.block(anchor, `${n}: '${anchor.name}' is not its data input`);
  const a = t.axisOf(anchor)!;
  const other = anchor === x ? toOut(a) : toIn(a);
  if (other === undefined) return t.block(anchor, `${n} acts on the channel axis of '${anchor.name}'`);
  t.sameAt(anchor, anchor === x ? y : x, other);
}

const pool: Handler = { sided: false, couple: (t, n, anchor) => sameAxis(t, n, anchor, 1) };

const batchNorm = (params: number[], scales: boolean): Handler => ({
  sided: false,
  couple(t, n, anchor) {
    if (n.opType === 'BatchNormalization' && t.opset >= 14 && n.getInt('training_mode', 0) !== 0)
      return t.block(anchor, `${n}: training mode`);
    const size = t.dim(anchor, t.axisOf(anchor)!)!;
    for (const i of params) {
      const c = t.constant(n.inputs[i]);
      if (!c || !sliceable(c) || c.dims.length !== 1 || c.dims[0] !== size)
        return t.block(anchor, `${n}: parameter '${n.inputs[i]?.name}' is not a constant of ${size} values`);
    }
    sameAxis(t, n, anchor, 1);
    const x = n.inputs[0]!;
    if (!t.tracks.has(x)) return;
    for (const i of params) t.addSlice({ node: n, input: i, axis: 0, ref: x });
    if (scales) t.addBnScale({ node: n, ref: x });
  },
});

const pad: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const a = t.axisOf(anchor)!;
    if (n.inputs[3]?.name) return t.block(anchor, `${n}: pads with an axes input`);
    const pads = intList(t, n, 'pads', 1);
    if (!pads) return t.block(anchor, `${n}: pads are not constant`);
    const r = pads.length / 2;
    if (pads[a] !== 0 || pads[a + r] !== 0) return t.block(anchor, `${n} pads the channel axis`);
    sameAxis(t, n, anchor);
  },
};

const resize: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const a = t.axisOf(anchor)!;
    if (n.attributes.has('axes')) return t.block(anchor, `${n}: resize with an axes attribute`);
    const legacy = n.opType === 'Upsample' || t.opset < 11;
    const sizes = legacy ? undefined : n.inputs[3];
    if (sizes?.name && (t.constant(sizes)?.size ?? 1) > 0) return t.block(anchor, `${n}: resize to sizes`);
    const scalesIn = n.inputs[legacy ? 1 : 2];
    const scalesT = scalesIn?.name ? t.constant(scalesIn) : undefined;
    const scales = n.getFloats('scales') ?? (scalesT ? Array.from(toTypedArray(scalesT) as Float32Array) : undefined);
    if (!scales || scales[a] !== 1) return t.block(anchor, `${n}: scale along the channel axis is not a constant 1`);
    sameAxis(t, n, anchor);
  },
};

const softmax: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const r = t.rank(anchor);
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const a = t.axisOf(anchor)!;
    const legacy = t.opset < 13;
    const ax = norm(n.getInt('axis', legacy ? 1 : -1), r);
    if (legacy ? a >= ax : a === ax) return t.block(anchor, `${n} normalizes over the channel axis`);
    sameAxis(t, n, anchor);
  },
};

const REDUCE_AXES_INPUT: Record<string, number> = { ReduceSum: 13 };

const reduce: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const x = n.inputs[0]!;
    const r = t.rank(x);
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const fromInput = t.opset >= (REDUCE_AXES_INPUT[n.opType] ?? 18);
    const given = fromInput ? inputInts(t, n, 1) : n.getInts('axes');
    if (given === null) return t.block(anchor, `${n}: axes are not constant`);
    const keep = n.getInt('keepdims', 1) !== 0;
    if (!given?.length) {
      if (fromInput && n.getInt('noop_with_empty_axes', 0)) return sameAxis(t, n, anchor);
      return t.block(anchor, `${n} reduces every axis`);
    }
    const axes = new Set(given.map((a) => norm(a, r)));
    const kept = [...Array(r).keys()].filter((i) => !axes.has(i));
    moveAxis(
      t,
      n,
      anchor,
      (a) => (axes.has(a) ? undefined : keep ? a : kept.indexOf(a)),
      (a) => (keep ? (axes.has(a) ? undefined : a) : kept[a]),
    );
  },
};

const transpose: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const r = t.rank(n.inputs[0]!) ?? t.rank(n.outputs[0]);
    const perm = n.getInts('perm') ?? (r !== undefined ? [...Array(r).keys()].reverse() : undefined);
    if (!perm) return t.block(anchor, `${n}: rank unknown`);
    moveAxis(
      t,
      n,
      anchor,
      (a) => perm.indexOf(a),
      (a) => perm[a],
    );
  },
};

const squeeze: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const x = n.inputs[0]!;
    const shape = t.shape(x);
    const r = shape?.length;
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const given = intList(t, n, 'axes', 1);
    if (given === null) return t.block(anchor, `${n}: axes are not constant`);
    const axes = new Set(given ? given.map((a) => norm(a, r)) : shape!.flatMap((d, i) => (d === 1 ? [i] : [])));
    if (!given && shape!.some((d) => typeof d !== 'number')) return t.block(anchor, `${n}: which axes go is unknown`);
    const kept = [...Array(r).keys()].filter((i) => !axes.has(i));
    moveAxis(
      t,
      n,
      anchor,
      (a) => (axes.has(a) ? undefined : kept.indexOf(a)),
      (a) => kept[a],
    );
  },
};

const unsqueeze: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const r = t.rank(n.inputs[0]!);
    const given = intList(t, n, 'axes', 1);
    if (r === undefined || !given) return t.block(anchor, `${n}: rank or axes unknown`);
    const out = r + given.length;
    const inserted = new Set(given.map((a) => norm(a, out)));
    const placed = [...Array(out).keys()].filter((i) => !inserted.has(i));
    moveAxis(
      t,
      n,
      anchor,
      (a) => placed[a],
      (a) => (inserted.has(a) ? undefined : placed.indexOf(a)),
    );
  },
};

/** Slice over other axes, or over the whole channel axis (start 0, end past it, step 1). */
const slice: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const x = n.inputs[0]!;
    const r = t.rank(x);
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const legacy = t.opset < 10;
    const starts = legacy ? n.getInts('starts') : inputInts(t, n, 1);
    const ends = legacy ? n.getInts('ends') : inputInts(t, n, 2);
    const axes = (legacy ? n.getInts('axes') : inputInts(t, n, 3)) ?? starts?.map((_, i) => i);
    const steps = (legacy ? undefined : inputInts(t, n, 4)) ?? starts?.map(() => 1);
    if (!starts || !ends || !axes || !steps) return t.block(anchor, `${n}: starts, ends, axes or steps not constant`);
    const a = anchor === x ? t.axisOf(x)! : t.axisOf(anchor)!;
    const k = axes.findIndex((ax) => norm(ax, r) === a);
    const size = t.dim(anchor, a)!;
    if (k >= 0 && !((starts[k] === 0 || starts[k] <= -size) && ends[k] >= size && steps[k] === 1))
      return t.block(anchor, `${n} slices the channel axis of '${anchor.name}'`);
    sameAxis(t, n, anchor);
  },
};

/** Gather along another axis: the indices' dims replace that axis, the channel axis moves past them. */
const gather: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const [x, idx] = [n.inputs[0]!, n.inputs[1]!];
    const r = t.rank(x);
    const ri = t.rank(idx);
    if (anchor === idx) return t.block(anchor, `${n}: '${anchor.name}' is its indices`);
    if (r === undefined || ri === undefined) return t.block(anchor, `${n}: rank unknown`);
    const axis = norm(n.getInt('axis', 0), r);
    moveAxis(
      t,
      n,
      anchor,
      (a) => (a === axis ? undefined : a < axis ? a : a - 1 + ri),
      (b) => (b < axis ? b : b >= axis + ri ? b - ri + 1 : undefined),
    );
  },
};

/**
 * Couples channel c of `x` (along `a`, shape `dims`) with the block of the flattened output axis
 * that holds it: output index `(o·C + c)·B + b` for the `O` leading and `B` trailing flattened
 * entries. Returns false (blocked) when those are not static.
 */
function flattenFrom(
  t: ChannelTracker,
  n: Node,
  x: Value,
  y: Value,
  a: number,
  from: number,
  outAxis: number,
): boolean {
  const dims = t.shape(x);
  const size = t.dim(x, a);
  if (!dims || size === undefined) {
    t.block(x, `${n}: shape of '${x.name}' unknown`);
    return false;
  }
  const lead = dims.slice(from, a);
  const trail = dims.slice(a + 1);
  if (![...lead, ...trail].every((d): d is number => typeof d === 'number')) {
    t.block(x, `${n}: flattened dims of '${x.name}' ${shapeText(dims)} are not static`);
    return false;
  }
  const [outer, inner] = [prod(lead as number[]), prod(trail as number[])];
  if (!t.track(x, a, size) || !t.track(y, outAxis, outer * size * inner)) return false;
  for (let o = 0; o < outer; o++)
    for (let c = 0; c < size; c++) for (let b = 0; b < inner; b++) t.unify(x, c, y, (o * size + c) * inner + b);
  return true;
}

const flatten: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const [x, y] = [n.inputs[0]!, n.outputs[0]];
    const r = t.rank(x);
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const from = norm(n.getInt('axis', 1), r);
    if (from === 0) return t.block(anchor, `${n} flattens the batch axis with the channels`);
    if (anchor === x) {
      const a = t.axisOf(x)!;
      if (a < from) return t.block(anchor, `${n} flattens the axes before the channel axis`);
      flattenFrom(t, n, x, y, a, from, 1);
      return;
    }
    // Seen from the output, the channels are taken to be the first flattened axis.
    if (t.axisOf(y) !== 1) return t.block(anchor, `${n}: output channels along axis ${t.axisOf(y)}`);
    const inner = staticProduct(t.shape(x)?.slice(from + 1));
    const total = t.dim(y, 1)!;
    if (inner === undefined || total % inner !== 0) return t.block(anchor, `${n}: shape of '${x.name}' unknown`);
    if (t.track(x, from, total / inner)) flattenFrom(t, n, x, y, from, from, 1);
  },
};

function staticProduct(dims: readonly (number | string | null)[] | undefined): number | undefined {
  return dims?.every((d): d is number => typeof d === 'number') ? prod(dims) : undefined;
}

/**
 * Reshape that keeps every axis up to the channel axis and the volume after it
 * (`[N,C,H,W] → [N,C,H·W]`, `[N,C,1,1] → [N,C]`), or flattens from the channel axis
 * (`[N,C,H,W] → [N,C·H·W]`). A literal size at the channel axis of the shape follows; anything
 * else (a channel shuffle `[N,C,H,W] → [N,g,C/g,H,W]`, a reshape that moves the batch) blocks.
 */
const reshape: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const [x, y] = [n.inputs[0]!, n.outputs[0]];
    if (anchor !== x && anchor !== y) return t.block(anchor, `${n}: '${anchor.name}' is its shape`);
    const shapeT = t.constant(n.inputs[1]);
    const din = t.shape(x);
    const dout = t.shape(y);
    const a = t.axisOf(anchor)!;
    const refuse = (why: string) =>
      t.block(anchor, `${n} reshapes across the channel axis of '${anchor.name}' (${why})`);
    if (!shapeT || !din || !dout) return refuse('shape not constant or not inferred');
    if (din.length <= a || dout.length <= a) return refuse(`${shapeText(din)} → ${shapeText(dout)}`);
    const prefix = [...Array(a).keys()].every((i) => din[i] !== null && din[i] === dout[i]);
    const restIn = staticProduct(din.slice(a + 1));
    const restOut = staticProduct(dout.slice(a + 1));
    const size = t.dim(anchor, a)!;
    if (prefix && restIn !== undefined && restIn === restOut) {
      t.sameAt(anchor, anchor === x ? y : x, a);
    } else if (prefix && restIn !== undefined && dout.length === a + 1) {
      if (anchor === y && (size % restIn !== 0 || !t.track(x, a, size / restIn))) return;
      if (!flattenFrom(t, n, x, y, a, a, a)) return;
    } else return refuse(`${shapeText(din)} → ${shapeText(dout)}`);
    if (intsOf(shapeT)[a] > 0) t.addAttrEdit({ kind: 'reshape', node: n, index: a, ref: y });
  },
};

const concat: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const y = n.outputs[0];
    const a = t.axisOf(anchor)!;
    const r = t.rank(anchor);
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const ax = norm(n.getInt('axis', 0), r);
    const ins = n.inputs.map((v, i) => [v, i] as const).filter((e): e is [Value, number] => !!e[0]?.name);
    if (ax !== a) {
      // Joined along another axis: every input has the same channels.
      const size = t.dim(anchor, a)!;
      for (const [v] of ins) {
        const c = t.constant(v);
        if (c && (c.dims[a] !== size || !sliceable(c)))
          return t.block(anchor, `${n}: constant '${v.name}' ${shapeText(c.dims)} does not follow ${size} channels`);
      }
      if (!t.track(y, a, size)) return;
      for (const [v, i] of ins) {
        if (t.constant(v)) t.addSlice({ node: n, input: i, axis: a, ref: y });
        else if (t.track(v, a, size)) for (let j = 0; j < size; j++) t.unify(v, j, y, j);
      }
      return;
    }
    const sizes = ins.map(([v]) => t.dim(v, a));
    if (sizes.some((s) => s === undefined)) return t.block(anchor, `${n}: input sizes along the channel axis unknown`);
    if (
      !t.track(
        y,
        a,
        (sizes as number[]).reduce((s, x) => s + x, 0),
      )
    )
      return;
    let offset = 0;
    ins.forEach(([v], k) => {
      const s = sizes[k]!;
      // A constant input keeps its channels: those output channels are coupled with nothing to prune.
      if (!t.constant(v) && t.track(v, a, s)) for (let i = 0; i < s; i++) t.unify(v, i, y, offset + i);
      offset += s;
    });
  },
};

const split: Handler = {
  sided: false,
  couple(t, n, anchor) {
    const x = n.inputs[0]!;
    const a = t.axisOf(anchor)!;
    const r = t.rank(anchor);
    if (r === undefined) return t.block(anchor, `${n}: rank unknown`);
    const ax = norm(n.getInt('axis', 0), r);
    const outs = [...n.outputs];
    if (ax !== a) {
      const size = t.dim(anchor, a)!;
      for (const v of [x, ...outs]) if (!t.track(v, a, size)) return;
      for (const v of outs) for (let i = 0; i < size; i++) t.unify(x, i, v, i);
      return;
    }
    const given = t.opset >= 13 ? inputInts(t, n, 1) : n.getInts('split');
    if (given === null) return t.block(anchor, `${n}: split sizes are not constant`);
    const sizes = given ?? outs.map((v) => t.dim(v, a));
    if (sizes.some((s) => s === undefined)) return t.block(anchor, `${n}: split sizes unknown`);
    const total = (sizes as number[]).reduce((s, v) => s + v, 0);
    if (!t.track(x, a, total)) return;
    let offset = 0;
    outs.forEach((v, k) => {
      const s = sizes[k]!;
      if (t.track(v, a, s)) for (let i = 0; i < s; i++) t.unify(x, offset + i, v, i);
      offset += s;
    });
    t.addAttrEdit({ kind: 'split', node: n });
  },
};

const ELEMENTWISE = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Elu',
  'Selu',
  'Celu',
  'ThresholdedRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Softsign',
  'Mish',
  'Gelu',
  'Erf',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Sqrt',
  'Reciprocal',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Sin',
  'Cos',
  'Clip',
  'Identity',
  'Dropout',
  'Cast',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Sum',
  'Mean',
  'Where',
]);

const POOLS = new Set(['MaxPool', 'AveragePool', 'LpPool', 'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool']);
const REDUCES = new Set([
  'ReduceMean',
  'ReduceMax',
  'ReduceMin',
  'ReduceSum',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceSumSquare',
]);

/** The rule for `node`. */
export function handlerFor(node: Node, t: ChannelTracker): Handler {
  if (!isOnnxOp(node, node.opType)) return notHandled;
  const op = node.opType;
  if (ELEMENTWISE.has(op)) return elementwise;
  if (POOLS.has(op)) return pool;
  if (REDUCES.has(op)) return reduce;
  switch (op) {
    case 'Conv':
    case 'ConvTranspose':
      return convHandler(t, node);
    case 'Gemm':
      return gemmHandler(t, node);
    case 'MatMul':
      return matmulHandler(t, node);
    case 'BatchNormalization':
      return batchNorm([1, 2, 3, 4], true);
    case 'InstanceNormalization':
      return batchNorm([1, 2], false);
    case 'Pad':
      return pad;
    case 'Resize':
    case 'Upsample':
      return resize;
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax':
      return softmax;
    case 'Transpose':
      return transpose;
    case 'Squeeze':
      return squeeze;
    case 'Unsqueeze':
      return unsqueeze;
    case 'Flatten':
      return flatten;
    case 'Reshape':
      return reshape;
    case 'Concat':
      return concat;
    case 'Split':
      return split;
    case 'Slice':
      return slice;
    case 'Gather':
      return gather;
    default:
      return notHandled;
  }
}
