/**
 * The ai.onnx schema changes that need a rewrite, keyed `Op-version` (the since-version crossed).
 * ONNX's version converter (`onnx/version_converter/convert.h` and `adapters/`) is the reference;
 * where it is wrong or missing this file says so (Hardmax-13, Resize-11, Selu-6, Scan-9, Cast-6 …).
 *
 * Every other since-version in `OP_VERSIONS` up to 26 was compared with its predecessor
 * (attributes with their exact defaults, inputs, outputs, from `onnx.defs` 1.23 and the Changelog):
 * it only widens types, allows negative axes or indices, makes an input optional, or adds an
 * attribute or optional input whose default keeps the old meaning. Crossing one changes nothing.
 * Two reworded specs are in that group on purpose: ConvTranspose-11 rewrote its SAME_* padding
 * formula (the opset-1 text contradicted itself; onnxruntime computes both versions alike, which
 * the tests check), and Loop/If/Scan changes only widen the types they carry.
 */
import { DataType, Node, Value, attr, toFloat32, type Attr } from '@edgeforge/onnx';
import { constantThroughIdentity } from '../fuse-bn-into-conv.js';
import {
  axesNodes,
  axesOpBefore,
  constantBefore,
  elemTypeOfValue,
  floatTensorOf,
  int64s,
  isFloatType,
  opBefore,
  rankOf,
  rawInts,
  removeAttr,
  replaceNode,
  rerouteOutput,
  shapeOfValue,
  type UpgradeContext,
} from './build.js';

export interface Adapter {
  /** What changes at this version, for reports. */
  readonly label: string;
  /** The op the node becomes (Upsample → Resize at 10, Scatter → ScatterElements at 11). */
  readonly becomes?: string;
  /**
   * Why the node cannot be carried across, or undefined. Runs on the original node before anything
   * is rewritten (for a replaced op, on the node it was made from).
   */
  refuse?(n: Node, ctx: UpgradeContext): string | undefined;
  /** Rewrites the node to the new schema; returns the node that carries on, or undefined if it needed nothing. */
  apply(n: Node, ctx: UpgradeContext): Node | undefined;
}

const ADAPTERS = new Map<string, Adapter>();

/** Sets `a` unless the node already has it; returns the node when it changed. */
function setIfAbsent(n: Node, a: Attr): Node | undefined {
  if (n.attr(a.name)) return undefined;
  n.setAttr(a);
  return n;
}

function add(ops: string[], version: number, a: Adapter): void {
  for (const op of ops) ADAPTERS.set(`${op}-${version}`, a);
}

/** The adapter for crossing `op`'s since-version `version`, if its meaning changed there. */
export function adapterFor(op: string, version: number): Adapter | undefined {
  return ADAPTERS.get(`${op}-${version}`);
}

const CONSUMED_INPUTS_6 = [
  'Abs', 'Add', 'BatchNormalization', 'Ceil', 'Clip', 'Div', 'Dropout', 'Elu', 'Exp', 'Floor', 'HardSigmoid',
  'InstanceNormalization', 'LeakyRelu', 'Log', 'Max', 'Mean', 'Min', 'Mul', 'Neg', 'PRelu', 'Reciprocal', 'Relu',
  'Sigmoid', 'Sqrt', 'Sub', 'Sum', 'Tanh',
]; // prettier-ignore

// ---- 1 → 7: legacy attributes ----

add(CONSUMED_INPUTS_6, 6, {
  label: 'consumed_inputs (legacy) dropped',
  apply: (n) => (removeAttr(n, 'consumed_inputs') ? n : undefined),
});

// Selu-1's defaults were the rounded 1.6732 / 1.0507; Selu-6's are 1.67326319… / 1.05070102….
add(['Selu'], 6, {
  label: 'consumed_inputs dropped, opset-1 alpha/gamma defaults made explicit',
  apply(n) {
    const changed = [removeAttr(n, 'consumed_inputs'), !n.attr('alpha'), !n.attr('gamma')];
    if (changed[1]) n.setAttr(attr.float('alpha', 1.6732));
    if (changed[2]) n.setAttr(attr.float('gamma', 1.0507));
    return changed.some(Boolean) ? n : undefined;
  },
});

add(['Reshape'], 5, {
  label: 'shape attribute → input',
  refuse: (n) => (rawInts(n, 'shape') ? undefined : 'Reshape-1 without a shape attribute'),
  apply(n) {
    const shape = rawInts(n, 'shape')!;
    removeAttr(n, 'consumed_inputs', 'shape');
    n.setInput(1, constantBefore(n, int64s(shape), 'shape'));
    return n;
  },
});

add(['Concat'], 4, {
  label: 'axis made explicit (default 1 before opset 4)',
  apply: (n) => setIfAbsent(n, attr.int('axis', 1)),
});

const CAST_TYPES: Record<string, number> = {
  FLOAT: DataType.FLOAT, UINT8: DataType.UINT8, INT8: DataType.INT8, UINT16: DataType.UINT16,
  INT16: DataType.INT16, INT32: DataType.INT32, INT64: DataType.INT64, BOOL: DataType.BOOL,
  FLOAT16: DataType.FLOAT16, DOUBLE: DataType.DOUBLE, UINT32: DataType.UINT32, UINT64: DataType.UINT64,
}; // prettier-ignore

add(['Cast'], 6, {
  label: "'to' type name → data type number",
  refuse(n) {
    const to = n.getString('to');
    if (to === undefined) return n.getInt('to') === undefined ? "Cast-1 without a 'to' attribute" : undefined;
    return CAST_TYPES[to.toUpperCase()] === undefined ? `Cast-1 to '${to}' is not a Cast-6 type` : undefined;
  },
  apply(n) {
    const to = n.getString('to');
    if (to === undefined) return undefined;
    n.setAttr(attr.int('to', CAST_TYPES[to.toUpperCase()]));
    return n;
  },
});

add(['GRU', 'LSTM', 'RNN'], 7, {
  label: 'output_sequence (legacy) dropped',
  apply: (n) => (removeAttr(n, 'output_sequence') ? n : undefined),
});

add(['GlobalLpPool', 'LpPool'], 2, {
  label: 'p float → int',
  refuse(n) {
    const p = n.getFloat('p');
    if (p !== undefined && !Number.isInteger(p)) return `p = ${p} is not an integer (int from opset 2)`;
    if (n.opType === 'LpPool' && !n.attr('kernel_shape')) return 'LpPool-1 without kernel_shape';
    return undefined;
  },
  apply(n) {
    const p = n.getFloat('p');
    if (p === undefined) return undefined;
    n.setAttr(attr.int('p', p));
    return n;
  },
});

add(['Pad'], 2, {
  label: "'paddings' renamed 'pads'",
  apply(n) {
    const p = rawInts(n, 'paddings');
    if (!p) return undefined;
    removeAttr(n, 'paddings');
    n.setAttr(attr.ints('pads', p));
    return n;
  },
});

add(['Split'], 2, {
  label: 'split input → attribute',
  refuse(n) {
    if (n.getInt('axis') === undefined) return 'Split-1 without axis (it had no default)';
    const s = n.inputs[1];
    if (s && !constantThroughIdentity(s)) return `split input '${s.name}' is not constant`;
    return undefined;
  },
  apply(n) {
    const s = n.inputs[1];
    if (!s) return undefined;
    const t = constantThroughIdentity(s)!;
    n.setAttr(attr.ints('split', Array.from(toFloat32(t), Math.round)));
    n.truncateInputs(1);
    return n;
  },
});

add(['Tile'], 6, {
  label: 'tiles/axis inputs → repeats',
  refuse(n, ctx) {
    const [, tiles, axis] = n.inputs;
    if (!constantThroughIdentity(tiles) || !constantThroughIdentity(axis)) return 'tiles and axis are not constant';
    if (rankOf(n.inputs[0], ctx) === undefined) return 'the input rank is unknown';
    return undefined;
  },
  apply(n, ctx) {
    const tiles = Number(toFloat32(constantThroughIdentity(n.inputs[1])!)[0]);
    const axis = Number(toFloat32(constantThroughIdentity(n.inputs[2])!)[0]);
    const repeats = Array.from({ length: rankOf(n.inputs[0], ctx)! }, (_, i) => (i === axis ? tiles : 1));
    n.truncateInputs(1);
    n.setInput(1, constantBefore(n, int64s(repeats), 'repeats'));
    return n;
  },
});

// BatchNormalization-6 / Dropout-6 with is_test = 0 (the default) run in training mode; from 7 on
// only the output count says so (BatchNormalization) or the runtime decides (Dropout).
add(['BatchNormalization', 'Dropout'], 7, {
  label: 'is_test dropped',
  refuse: (n) => (n.getInt('is_test', 0) === 1 ? undefined : `is_test = ${n.getInt('is_test', 0)} (training mode)`),
  apply: (n) => (removeAttr(n, 'is_test') ? n : undefined),
});

add(['BatchNormalization'], 9, {
  label: 'spatial dropped',
  refuse: (n) => (n.getInt('spatial', 1) === 1 ? undefined : 'spatial = 0 (per-activation statistics)'),
  apply: (n) => (removeAttr(n, 'spatial') ? n : undefined),
});

add(['BatchNormalization'], 14, {
  label: 'training outputs checked',
  refuse: (n) =>
    n.outputs.slice(1).some((o) => o.name)
      ? 'training-mode outputs (mean, var, saved_mean, saved_var) are not carried to opset 14'
      : undefined,
  apply: () => undefined,
});

// Numpy broadcasting from 7 on: a legacy `broadcast=1, axis=k` aligned B at axis k of A, numpy
// aligns it at the end, so B gets trailing 1-dims.
function legacyAxis(n: Node, ctx: UpgradeContext): { pad: number } | string | undefined {
  if (n.getInt('broadcast', 0) !== 1 || n.getInt('axis') === undefined) return undefined;
  const axis = n.getInt('axis')!;
  const ra = rankOf(n.inputs[0], ctx);
  const rb = rankOf(n.inputs[1], ctx);
  if (ra === undefined || rb === undefined) return `broadcast with axis = ${axis} needs both input ranks (unknown)`;
  if (axis < 0 || axis + rb > ra) return `axis = ${axis} does not fit B (rank ${rb}) into A (rank ${ra})`;
  return { pad: ra - axis - rb };
}

add(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'And', 'Or', 'Xor', 'Equal', 'Greater', 'Less'], 7, {
  label: 'legacy broadcast/axis → numpy broadcasting',
  refuse(n, ctx) {
    const r = legacyAxis(n, ctx);
    return typeof r === 'string' ? r : undefined;
  },
  apply(n, ctx) {
    const r = legacyAxis(n, ctx);
    if (typeof r === 'object' && r.pad > 0) {
      const rb = rankOf(n.inputs[1], ctx)!;
      const axes = Array.from({ length: r.pad }, (_, i) => rb + i);
      n.setInput(1, axesOpBefore(n, 'Unsqueeze', n.inputs[1]!, axes, ctx, 'bcast'));
    }
    return removeAttr(n, 'broadcast', 'axis') ? n : undefined;
  },
});

add(['Gemm'], 7, {
  label: 'broadcast dropped',
  apply: (n) => (removeAttr(n, 'broadcast') ? n : undefined),
});

// ---- Upsample and Resize ----

add(['Upsample'], 7, {
  label: 'height_scale/width_scale → scales',
  refuse: (n) =>
    n.getFloat('height_scale') === undefined || n.getFloat('width_scale') === undefined
      ? 'Upsample-1 without height_scale/width_scale'
      : undefined,
  apply(n) {
    const h = n.getFloat('height_scale')!;
    const w = n.getFloat('width_scale')!;
    removeAttr(n, 'height_scale', 'width_scale');
    n.setAttr(attr.floats('scales', [1, 1, h, w]));
    if (n.getString('mode') === 'bilinear') n.setAttr(attr.string('mode', 'linear'));
    return n;
  },
});

add(['Upsample'], 9, {
  label: 'scales attribute → input',
  apply(n) {
    const s = n.getFloats('scales');
    if (!s) return undefined;
    removeAttr(n, 'scales');
    n.setInput(1, constantBefore(n, floatTensorOf(DataType.FLOAT, s), 'scales'));
    return n;
  },
});

add(['Upsample'], 10, {
  label: 'deprecated: replaced by Resize',
  becomes: 'Resize',
  apply(n, ctx) {
    const r = replaceNode(
      n,
      'Resize',
      [n.inputs[0], n.inputs[1]],
      [attr.string('mode', n.getString('mode', 'nearest'))],
    );
    ctx.fromUpsample.add(r);
    return r;
  },
});

/** Scales of a Resize-10 when constant. */
function resize10Scales(n: Node): Float32Array | undefined {
  const t = constantThroughIdentity(n.inputs[1]);
  return t ? toFloat32(t) : undefined;
}

// Resize-10 maps output to input coordinates as x / scale ('asymmetric'); ORT's nearest pick for
// it truncates on enlarged axes and rounds up on shrunk ones (upsamplebase.h, NearestMode SIMPLE).
// An axis with scale 1 maps onto integers, where both agree.
add(['Resize'], 11, {
  label: "roi input, coordinate_transformation_mode 'asymmetric', opset-10 nearest rounding",
  refuse(n) {
    if (n.opType === 'Upsample' || n.getString('mode', 'nearest') !== 'nearest') return undefined;
    const s = resize10Scales(n);
    if (!s)
      return 'nearest mode with non-constant scales: opset-10 rounding (floor up, ceil down, per axis) needs them';
    if (s.some((x) => x > 1) && s.some((x) => x < 1))
      return 'nearest mode enlarging some axes and shrinking others has no single opset-11 nearest_mode';
    return undefined;
  },
  apply(n, ctx) {
    const scales = n.inputs[1];
    const mode = n.getString('mode', 'nearest');
    if (mode === 'nearest') {
      const shrink = !ctx.fromUpsample.has(n) && (resize10Scales(n) ?? []).some((x) => x < 1);
      n.setAttr(attr.string('nearest_mode', shrink ? 'ceil' : 'floor'));
    }
    n.setAttr(attr.string('coordinate_transformation_mode', 'asymmetric'));
    // roi is only read by tf_crop_and_resize: an empty tensor fills the required slot.
    n.setInput(1, constantBefore(n, floatTensorOf(DataType.FLOAT, []), 'roi'));
    n.setInput(2, scales);
    return n;
  },
});

add(['Resize'], 13, {
  label: 'tf_half_pixel_for_nn removed',
  refuse: (n) =>
    n.getString('coordinate_transformation_mode') === 'tf_half_pixel_for_nn'
      ? "coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed at opset 13"
      : undefined,
  apply: () => undefined,
});

// ---- 9 → 12 ----

add(['Slice'], 10, {
  label: 'starts/ends/axes attributes → inputs',
  refuse: (n) => (rawInts(n, 'starts') && rawInts(n, 'ends') ? undefined : 'Slice without starts/ends attributes'),
  apply(n) {
    const starts = rawInts(n, 'starts')!;
    const ends = rawInts(n, 'ends')!;
    const axes = rawInts(n, 'axes');
    removeAttr(n, 'starts', 'ends', 'axes');
    n.setInput(1, constantBefore(n, int64s(starts), 'starts'));
    n.setInput(2, constantBefore(n, int64s(ends), 'ends'));
    if (axes) n.setInput(3, constantBefore(n, int64s(axes), 'axes'));
    return n;
  },
});

add(['TopK'], 10, {
  label: 'k attribute → input',
  refuse: (n) => (n.getInt('k') === undefined ? 'TopK-1 without k' : undefined),
  apply(n) {
    const k = n.getInt('k')!;
    removeAttr(n, 'k');
    n.setInput(1, constantBefore(n, int64s([k]), 'k'));
    return n;
  },
});

// Dropout's mask was of the data type T until 9 and is bool from 10.
add(['Dropout'], 10, {
  label: 'unused mask output dropped (its type becomes bool)',
  refuse(n) {
    const m = n.outputs[1];
    return m?.name && (m.uses().length > 0 || m.isGraphOutput())
      ? `mask output '${m.name}' is used, and its type changes from the data type to bool at opset 10`
      : undefined;
  },
  apply(n) {
    const m = n.outputs[1];
    if (!m?.name) return undefined;
    const g = n.graph!;
    const k = g.valueInfo.indexOf(m);
    if (k >= 0) g.valueInfo.splice(k, 1);
    n.setOutput(1, new Value(''));
    return n;
  },
});

add(['Scatter'], 11, {
  label: 'deprecated: replaced by ScatterElements',
  becomes: 'ScatterElements',
  apply: (n) => replaceNode(n, 'ScatterElements', [...n.inputs], [attr.int('axis', n.getInt('axis', 0))]),
});

// Typed min/max (Clip-11) and constant_value (Pad-11) must have the data's element type.
function floatDataType(n: Node, ctx: UpgradeContext): number | string {
  const t = elemTypeOfValue(n.inputs[0], ctx);
  return isFloatType(t) ? t : `the input element type is ${t === undefined ? 'unknown' : t}, not float/float16/double`;
}

add(['Clip'], 11, {
  label: 'min/max attributes → inputs',
  refuse(n, ctx) {
    if (n.getFloat('min') === undefined && n.getFloat('max') === undefined) return undefined;
    const t = floatDataType(n, ctx);
    return typeof t === 'string' ? t : undefined;
  },
  apply(n, ctx) {
    const min = n.getFloat('min');
    const max = n.getFloat('max');
    if (min === undefined && max === undefined) return undefined;
    const t = floatDataType(n, ctx) as number;
    removeAttr(n, 'min', 'max');
    n.setInput(1, min === undefined ? null : constantBefore(n, floatTensorOf(t, [min], []), 'min'));
    if (max !== undefined) n.setInput(2, constantBefore(n, floatTensorOf(t, [max], []), 'max'));
    return n;
  },
});

add(['Pad'], 11, {
  label: 'pads/value attributes → inputs',
  refuse(n, ctx) {
    // A Pad-1 reaches here with its opset-1 name for the attribute.
    if (!rawInts(n, 'pads') && !rawInts(n, 'paddings')) return 'Pad without pads';
    const v = n.getFloat('value', 0);
    if (n.getString('mode', 'constant') !== 'constant' || v === 0) return undefined;
    const t = floatDataType(n, ctx);
    return typeof t === 'string' ? t : undefined;
  },
  apply(n, ctx) {
    const pads = rawInts(n, 'pads')!;
    const v = n.getFloat('value', 0);
    const constant = n.getString('mode', 'constant') === 'constant';
    removeAttr(n, 'pads', 'value');
    n.setInput(1, constantBefore(n, int64s(pads), 'pads'));
    // constant_value defaults to 0 in the data's type: only a non-zero value needs a typed tensor.
    if (constant && v !== 0)
      n.setInput(2, constantBefore(n, floatTensorOf(floatDataType(n, ctx) as number, [v], []), 'value'));
    return n;
  },
});

add(['Dropout'], 12, {
  label: 'ratio attribute → input',
  apply(n) {
    const r = n.getFloat('ratio');
    if (r === undefined) return undefined;
    removeAttr(n, 'ratio');
    n.setInput(1, constantBefore(n, floatTensorOf(DataType.FLOAT, [r], []), 'ratio'));
    return n;
  },
});

// ---- 13 and 18: attributes → inputs ----

function axesToInput(label: string): Adapter {
  return {
    label,
    apply(n) {
      const axes = rawInts(n, 'axes');
      if (!axes) return undefined;
      removeAttr(n, 'axes');
      // An empty list meant "all axes", as an absent input does now (noop_with_empty_axes = 0).
      if (axes.length) n.setInput(1, constantBefore(n, int64s(axes), 'axes'));
      return n;
    },
  };
}

add(['Squeeze', 'Unsqueeze', 'ReduceSum'], 13, axesToInput('axes attribute → input'));
add(
  [
    'ReduceL1',
    'ReduceL2',
    'ReduceLogSum',
    'ReduceLogSumExp',
    'ReduceMax',
    'ReduceMean',
    'ReduceMin',
    'ReduceProd',
    'ReduceSumSquare',
  ],
  18,
  axesToInput('axes attribute → input'),
);

add(['Split'], 13, {
  label: 'split attribute → input',
  apply(n) {
    const s = rawInts(n, 'split');
    if (!s) return undefined;
    removeAttr(n, 'split');
    n.setInput(1, constantBefore(n, int64s(s), 'split'));
    return n;
  },
});

// Split-18 wants the number of outputs when no sizes are given; equal parts mean the same.
add(['Split'], 18, {
  label: 'num_outputs made explicit',
  apply(n) {
    if (n.inputs[1] || n.attr('num_outputs')) return undefined;
    n.setAttr(attr.int('num_outputs', n.outputs.length));
    return n;
  },
});

// Before 13 these ops flattened the input to 2-D at `axis` (default 1) and worked on the second
// dimension; from 13 on they work on the single `axis` (default −1). The same when `axis` is the
// last one or every later dimension is 1; otherwise Flatten → op(axis 1) → Reshape to the input shape.
// (ONNX's converter treats Hardmax-13 as compatible, which is wrong in the same way.)
add(['Softmax', 'LogSoftmax', 'Hardmax'], 13, {
  label: 'coerce-to-2D semantics kept (axis made explicit, or Flatten/Reshape around it)',
  apply(n, ctx) {
    const axis = n.getInt('axis', 1);
    const shape = shapeOfValue(n.inputs[0], ctx);
    if (shape) {
      const k = axis < 0 ? axis + shape.length : axis;
      if (k === shape.length - 1 || (k >= 0 && shape.slice(k + 1).every((d) => d === 1))) {
        n.setAttr(attr.int('axis', k));
        return n;
      }
    }
    const x = n.inputs[0]!;
    const dims = opBefore(n, 'Shape', [x], [], 'shape');
    n.setInput(0, opBefore(n, 'Flatten', [x], [attr.int('axis', axis)], '2d'));
    n.setAttr(attr.int('axis', 1));
    rerouteOutput(n, 0, '2d', (fresh, out) => [
      new Node('Reshape', [fresh, dims], {
        domain: n.domain,
        name: n.graph!.freshName(`${out.name}_reshape`),
        outputs: [out],
      }),
    ]);
    return n;
  },
});

// Scan-8 carried a batch axis 0 on every input and output (and an optional sequence_lens); Scan-9
// has none. With batch 1 that is Squeeze(0) on the way in and Unsqueeze(0) on the way out; the body
// already saw one batch entry at a time. ONNX's adapter only edits the declared shapes.
add(['Scan'], 9, {
  label: 'batch axis removed (Squeeze/Unsqueeze around a batch of 1)',
  refuse(n, ctx) {
    if (n.inputs[0]) return `sequence_lens '${n.inputs[0].name}' has no opset-9 equivalent`;
    for (const x of n.inputs.slice(1)) {
      const s = shapeOfValue(x, ctx);
      if (!s || s[0] !== 1)
        return `input '${x?.name}' does not have a batch of 1 (shape ${s ? `[${s.join(',')}]` : 'unknown'})`;
    }
    return undefined;
  },
  apply(n, ctx) {
    const inputs = n.inputs.slice(1) as Value[];
    n.truncateInputs(0);
    for (const x of inputs) n.appendInput(axesOpBefore(n, 'Squeeze', x, [0], ctx, 'nobatch'));
    const dirs = n.getInts('directions');
    removeAttr(n, 'directions');
    if (dirs) n.setAttr(attr.ints('scan_input_directions', dirs));
    for (let i = n.outputs.length - 1; i >= 0; i--) {
      if (!n.outputs[i].name) continue;
      rerouteOutput(n, i, 'nobatch', (fresh, out) => axesNodes(n, 'Unsqueeze', fresh, [0], ctx, 'batch', out));
    }
    return n;
  },
});

// ---- 16 → 21 ----

add(['RoiAlign'], 16, {
  label: "coordinate_transformation_mode 'output_half_pixel' (the opset-10 behaviour)",
  apply: (n) => setIfAbsent(n, attr.string('coordinate_transformation_mode', 'output_half_pixel')),
});

// QuantizeLinear-19 wants y_scale in the input's type; before, it was always float.
add(['QuantizeLinear'], 19, {
  label: 'y_scale type checked',
  refuse(n, ctx) {
    const t = elemTypeOfValue(n.inputs[0], ctx);
    return t === DataType.FLOAT
      ? undefined
      : `input type ${t ?? 'unknown'} with a float scale is not valid from opset 19`;
  },
  apply: () => undefined,
});

add(['DFT'], 20, {
  label: 'axis attribute → input',
  apply(n) {
    const axis = n.getInt('axis', 1);
    removeAttr(n, 'axis');
    n.setInput(2, constantBefore(n, int64s([axis], []), 'axis'));
    return n;
  },
});

add(['GridSample'], 20, {
  label: "mode 'bilinear'/'bicubic' renamed 'linear'/'cubic'",
  apply(n) {
    const m = n.getString('mode', 'bilinear');
    const next = m === 'bilinear' ? 'linear' : m === 'bicubic' ? 'cubic' : undefined;
    if (!next) return undefined;
    n.setAttr(attr.string('mode', next));
    return n;
  },
});

add(['GroupNormalization'], 21, {
  label: 'scale/bias per group → per channel',
  refuse: () => 'scale and bias change from per-group to per-channel at opset 21; not implemented',
  apply: () => undefined,
});

/** Attributes a node reads from its calling function (`ref_attr_name`): their values are unknown here. */
export function referencedAttrs(n: Node): string[] {
  return [...n.attributes.values()].filter((a: Attr) => a.refAttrName !== undefined).map((a) => a.name);
}
