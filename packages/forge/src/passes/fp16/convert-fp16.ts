/**
 * `convert-fp16`: float32 tensors become float16 (weights and activations), after onnxruntime's
 * `transformers/float16.py` (`convert_float_to_float16`), not onnxconverter-common's older copy.
 *
 * ```
 * Before:  x:f32 ─► Conv(W:f32) ─► TopK ─► Cast(to=FLOAT) ─► y:f32
 * After:   x:f32 ─► Cast(to=FLOAT16) ─► Conv(W:f16) ─► Cast(to=FLOAT) ─► TopK      (TopK is blocked)
 *              ─► Cast(to=FLOAT16) ─► Cast(to=FLOAT16) ─► Cast(to=FLOAT) ─► y:f32
 *                 (inserted)          (was to=FLOAT)      (graph_output_cast0: keepIoTypes)
 * ```
 *
 * - Weights: float32 initializers and `Constant` tensors (`value`, `value_float(s)`) are rounded to
 *   float16 (ties to even) after clamping: values in (0, minPositiveVal) become ±minPositiveVal,
 *   finite values beyond ±maxFiniteVal become ±maxFiniteVal; 0, NaN and ±inf stay. A constant
 *   only float32 consumers read (blocked nodes, always-float inputs) stays float32 (ORT's
 *   `InitializerTracker`); one read by both becomes float16 and the float32 readers get a Cast.
 * - Activations: every float32 value (graph inputs and outputs, intermediates, subgraph inputs and
 *   outputs, sequences of float) is typed float16; types come from the model and `inferShapes`.
 * - Blocked nodes stay float32: ops in `DEFAULT_FP16_BLOCK_OPS` (ORT's list: ai.onnx.ml, TopK,
 *   NonMaxSuppression, RoiAlign, Range, CumSum, Min, Max, Upsample, RandomUniformLike…; ORT's copy
 *   does not block Resize) plus `blockOps`, nodes named in `blockNodes`, ops whose ONNX schema has no
 *   float16 at the model's opset (Celu, DynamicQuantizeLinear, TfIdfVectorizer, Q/DequantizeLinear
 *   before opset 19, CumSum before 14: the model would not load), calls to model-local functions
 *   (their bodies are left as they are), and everything inside the subgraphs of a blocked
 *   If/Loop/Scan. A float16 value entering a blocked node passes a `Cast(to=FLOAT)`; a float32
 *   value a blocked node produces reaches float16 readers through a `Cast(to=FLOAT16)`. Casts are
 *   shared per value; unlike ORT, two blocked nodes in a row talk float32 (no cast pair between).
 * - Out of range (`blockOutOfRange`, default true; not in ORT): a node reading a float32 constant
 *   with a finite magnitude above `maxFiniteVal` stays float32 with its constants, since clamping
 *   would change its function, not just round it. PP-OCR det has a BatchNormalization with
 *   variances up to 9.8e7: clamped to 65504 (ORT's behaviour, `blockOutOfRange: false`), the
 *   detector marks 38% more text pixels on a rendered page (output cosine 0.85; 0.01 on noise);
 *   with that one node kept float32, 99.985% of pixels agree (cosine 0.9997).
 * - Always-float inputs stay float32 in converted nodes (ORT's `ALWAYS_FLOAT_INPUTS`): Resize
 *   `scales` (input 2; input 1 at opset 10), com.microsoft GroupNorm / SkipGroupNorm gamma and beta.
 * - Converted nodes: tensors in Constant / ConstantOfShape attributes become float16 (in the
 *   ai.onnx domain no other op has tensor attributes; the ai.onnx.ml ops that do are blocked);
 *   `Cast(to=FLOAT)` becomes `Cast(to=FLOAT16)` (ORT's fix; onnxconverter-common
 *   leaves it and writes invalid models); a float `dtype` of EyeLike / RandomNormal(Like) /
 *   RandomUniform / Bernoulli / SequenceEmpty becomes FLOAT16 (added where the default is float);
 *   so does the `output_datatype` of the window ops and MelWeightMatrix, and ConstantOfShape's
 *   `value` (a float16 zero is added when absent, since its default is float32).
 * - Subgraphs (If/Loop/Scan bodies) are converted with their parent node, values they capture
 *   from enclosing graphs included; a Cast for a captured value is placed where the value lives.
 * - `keepIoTypes` (default true): main-graph inputs and outputs stay float32, with a Cast just
 *   inside the boundary (ORT's names `graph_input_cast_<i>`, `graph_output_cast_<i>`); false makes
 *   them float16. Int64, bool, double and other tensors are never touched.
 *
 * Refuses (throws, model unchanged): a model that already holds float16 (a float16 input, output,
 * value_info, initializer, Constant, or a `Cast(to=FLOAT16)`, as onnxconverter-common's
 * `check_if_fp16_ready`), ai.onnx opset < 7, a sequence or optional value that would need a Cast
 * across a float16/float32 boundary, and a value crossing such a boundary whose type neither the
 * model nor shape inference knows.
 */
import {
  DataType,
  MemoryTensor,
  Node,
  Value,
  allGraphs,
  attr,
  constantNodeTensor,
  constantTensor,
  elemTypeOf,
  inferShapes,
  toFloat32,
  type Graph,
  type Model,
  type Tensor,
  type TypeInfo,
} from '@edgeforge/onnx';
import { floatToHalf } from '../../runtime/tensor.js';
import { Changes, PassOptionError, type Pass, type PassReport } from '../pass.js';

export const CONVERT_FP16 = 'convert-fp16';

/** Smallest positive float16 (subnormal 2⁻²⁴); ORT refuses a lower `min_positive_val`. */
export const FP16_MIN_POSITIVE = 5.96e-8;
/** Largest finite float16. */
export const FP16_MAX_FINITE = 65504;

/** onnxruntime 1.30 `transformers/float16.py` `DEFAULT_OP_BLOCK_LIST` (matched by op type, any domain). */
export const DEFAULT_FP16_BLOCK_OPS: readonly string[] = [
  'ArrayFeatureExtractor',
  'Binarizer',
  'CastMap',
  'CategoryMapper',
  'DictVectorizer',
  'FeatureVectorizer',
  'Imputer',
  'LabelEncoder',
  'LinearClassifier',
  'LinearRegressor',
  'Normalizer',
  'OneHotEncoder',
  'RandomUniformLike',
  'SVMClassifier',
  'SVMRegressor',
  'Scaler',
  'TreeEnsembleClassifier',
  'TreeEnsembleRegressor',
  'TreeEnsemble',
  'ZipMap',
  'NonMaxSuppression',
  'TopK',
  'RoiAlign',
  'Range',
  'CumSum',
  'Min',
  'Max',
  'Upsample',
];

export interface ConvertFp16Options {
  /** Main-graph float inputs/outputs stay float32 behind Casts (default true). */
  keepIoTypes: boolean;
  /** Op types kept float32 in addition to `DEFAULT_FP16_BLOCK_OPS`. */
  blockOps: string[];
  /** Node names kept float32. */
  blockNodes: string[];
  /** Positive magnitudes below this are raised to it (default and minimum 5.96e-8). */
  minPositiveVal: number;
  /** Finite magnitudes above this are lowered to it (default and maximum 65504). */
  maxFiniteVal: number;
  /**
   * Nodes reading a float32 constant with a finite magnitude above `maxFiniteVal` stay float32
   * (default true). false clamps those constants, as ORT does.
   */
  blockOutOfRange: boolean;
}

type Prec = 16 | 32;

const KEYS = ['keepIoTypes', 'blockOps', 'blockNodes', 'minPositiveVal', 'maxFiniteVal', 'blockOutOfRange'];

function stringList(raw: unknown, key: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((s) => typeof s !== 'string' || s === ''))
    throw new PassOptionError(`${CONVERT_FP16}: '${key}' must be a list of non-empty strings`);
  return [...(raw as string[])];
}

function parseOptions(raw: Record<string, unknown>): ConvertFp16Options {
  const unknown = Object.keys(raw).filter((k) => !KEYS.includes(k));
  if (unknown.length)
    throw new PassOptionError(`${CONVERT_FP16}: unknown option(s) ${unknown.join(', ')} (options: ${KEYS.join(', ')})`);
  const keep = raw.keepIoTypes ?? true;
  if (typeof keep !== 'boolean') throw new PassOptionError(`${CONVERT_FP16}: 'keepIoTypes' must be true or false`);
  const min = raw.minPositiveVal ?? FP16_MIN_POSITIVE;
  const max = raw.maxFiniteVal ?? FP16_MAX_FINITE;
  if (typeof min !== 'number' || !Number.isFinite(min) || min < FP16_MIN_POSITIVE)
    throw new PassOptionError(
      `${CONVERT_FP16}: 'minPositiveVal' must be a number ≥ ${FP16_MIN_POSITIVE} (the smallest float16 subnormal)`,
    );
  if (typeof max !== 'number' || !Number.isFinite(max) || max > FP16_MAX_FINITE || max <= min)
    throw new PassOptionError(
      `${CONVERT_FP16}: 'maxFiniteVal' must be a number ≤ ${FP16_MAX_FINITE} (the largest float16) and > minPositiveVal`,
    );
  const outOfRange = raw.blockOutOfRange ?? true;
  if (typeof outOfRange !== 'boolean')
    throw new PassOptionError(`${CONVERT_FP16}: 'blockOutOfRange' must be true or false`);
  return {
    keepIoTypes: keep,
    blockOutOfRange: outOfRange,
    blockOps: stringList(raw.blockOps, 'blockOps'),
    blockNodes: stringList(raw.blockNodes, 'blockNodes'),
    minPositiveVal: min,
    maxFiniteVal: max,
  };
}

// ---- numbers ----

/**
 * float32 → float16 bits as ORT's `convert_np_to_float16`: clamp magnitudes into
 * [min, max] (0, NaN and ±inf untouched), then round to nearest even. The bounds are compared in
 * float32, as numpy compares a float32 array with a Python float.
 */
export function toFloat16Clamped(
  values: Float32Array,
  minPositiveVal = FP16_MIN_POSITIVE,
  maxFiniteVal = FP16_MAX_FINITE,
): { bits: Uint16Array; clamped: number } {
  const lo = Math.fround(minPositiveVal);
  const hi = Math.fround(maxFiniteVal);
  const bits = new Uint16Array(values.length);
  let clamped = 0;
  for (let i = 0; i < values.length; i++) {
    let x = values[i];
    const a = Math.abs(x);
    if (a > 0 && a < lo) {
      x = x > 0 ? lo : -lo;
      clamped++;
    } else if (a > hi && a !== Infinity) {
      x = x > 0 ? hi : -hi;
      clamped++;
    }
    bits[i] = floatToHalf(x);
  }
  return { bits, clamped };
}

// ---- op knowledge ----

const isOnnx = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** Inputs that stay float32 in converted nodes (ORT's `ALWAYS_FLOAT_INPUTS`; Resize-10 has scales at 1). */
function alwaysFloatInputs(n: Node, opset: number): readonly number[] {
  if (n.opType === 'Resize' && isOnnx(n)) return opset <= 10 ? [1] : [2];
  if ((n.opType === 'GroupNorm' || n.opType === 'SkipGroupNorm') && n.domain === 'com.microsoft') return [1, 2];
  return [];
}

/** Why the ONNX schema of `n` has no float16 at this opset (the converted model would not load). */
function noFp16Schema(n: Node, opset: number): boolean {
  if (n.domain === 'ai.onnx.ml') return true;
  if (!isOnnx(n)) return false;
  switch (n.opType) {
    case 'Celu':
    case 'DynamicQuantizeLinear':
    case 'TfIdfVectorizer':
    case 'Range':
    case 'NonMaxSuppression':
      return true;
    case 'CumSum':
      return opset < 14;
    case 'QuantizeLinear':
    case 'DequantizeLinear':
      return opset < 19;
    default:
      return false;
  }
}

/** Outputs a converted node still produces in float32 (LayerNormalization's Mean/InvStdDev follow `stash_type`). */
function float32Outputs(n: Node): readonly number[] {
  if (n.opType === 'LayerNormalization' && (isOnnx(n) || n.domain === 'com.microsoft')) return [1, 2];
  return [];
}

/** Ops whose float output type comes from an attribute, with the attribute and whether its default is float. */
const DTYPE_ATTRS: Readonly<Record<string, { name: string; floatDefault: boolean }>> = {
  EyeLike: { name: 'dtype', floatDefault: false },
  RandomNormal: { name: 'dtype', floatDefault: true },
  RandomNormalLike: { name: 'dtype', floatDefault: false },
  RandomUniform: { name: 'dtype', floatDefault: true },
  RandomUniformLike: { name: 'dtype', floatDefault: false },
  Bernoulli: { name: 'dtype', floatDefault: false },
  SequenceEmpty: { name: 'dtype', floatDefault: true },
  HannWindow: { name: 'output_datatype', floatDefault: true },
  HammingWindow: { name: 'output_datatype', floatDefault: true },
  BlackmanWindow: { name: 'output_datatype', floatDefault: true },
  MelWeightMatrix: { name: 'output_datatype', floatDefault: true },
};

// ---- types ----

/** Whether `t` is float32 (a tensor, or a sequence's / optional's element), and whether it is wrapped. */
function floatLeaf(t: TypeInfo | undefined): { wrapped: boolean } | undefined {
  let cur = t;
  let wrapped = false;
  while (cur && (cur.kind === 'sequence' || cur.kind === 'optional')) {
    cur = cur.elem;
    wrapped = true;
  }
  return cur && elemTypeOf(cur) === DataType.FLOAT ? { wrapped } : undefined;
}

/** A copy of `t` with its float element type replaced. */
function withElem(t: TypeInfo, elemType: number): TypeInfo {
  if (t.kind === 'sequence' || t.kind === 'optional') return { ...t, elem: t.elem && withElem(t.elem, elemType) };
  if (t.kind === 'tensor' || t.kind === 'sparse_tensor') return { ...t, elemType };
  return t;
}

const elemOf = (p: Prec) => (p === 16 ? DataType.FLOAT16 : DataType.FLOAT);

/** Whether a type says what the value is (a tensor of unknown element type does not). */
function knownType(t: TypeInfo | undefined): boolean {
  if (!t || t.kind === 'none') return false;
  return (t.kind !== 'tensor' && t.kind !== 'sparse_tensor') || t.elemType !== 0;
}

// ---- the refusal check ----

/** The first float16 the model already holds, or undefined (onnxconverter-common's `check_if_fp16_ready`). */
function existingFloat16(model: Model): string | undefined {
  const has16 = (t: TypeInfo | undefined) => {
    for (let cur = t; cur; cur = cur.kind === 'sequence' || cur.kind === 'optional' ? cur.elem : undefined) {
      if (elemTypeOf(cur) === DataType.FLOAT16) return true;
      if (cur.kind !== 'sequence' && cur.kind !== 'optional') break;
    }
    return false;
  };
  for (const g of allGraphs(model, { functions: false })) {
    const where = g.parentNode ? ` in the subgraph of ${g.parentNode}` : '';
    for (const [list, what] of [
      [g.inputs, 'input'],
      [g.outputs, 'output'],
      [g.valueInfo, 'value_info'],
    ] as const)
      for (const v of list) if (has16(v.type)) return `${what} '${v.name}'${where} is float16`;
    for (const v of g.initializers.values())
      if (v.const?.dtype === DataType.FLOAT16) return `initializer '${v.name}'${where} is float16`;
    for (const n of g) {
      if (!isOnnx(n)) continue;
      if (n.opType === 'Cast' && n.getInt('to') === DataType.FLOAT16) return `${n}${where} casts to float16`;
      if (n.opType === 'Constant' && constantNodeTensor(n)?.dtype === DataType.FLOAT16)
        return `Constant '${n.outputs[0]?.name}'${where} is float16`;
    }
  }
  return undefined;
}

// ---- the plan ----

interface Ctx {
  model: Model;
  opset: number;
  o: ConvertFp16Options;
  blockOps: Set<string>;
  functions: Set<string>;
  graphs: Graph[];
  /** Nodes kept float32. */
  fp32: Set<Node>;
  /** Float values → the precision they are produced in. */
  native: Map<Value, Prec>;
  /** Float values held in a constant (initializer or Constant node) whose precision their readers decide. */
  constants: Set<Value>;
  changes: Changes;
}

/** Precision a reader wants for input `i` of node `n`. */
function wanted(c: Ctx, n: Node, i: number): Prec {
  if (c.fp32.has(n)) return 32;
  return alwaysFloatInputs(n, c.opset).includes(i) ? 32 : 16;
}

/** Precision graph `g` wants for its outputs (main graph: `keepIoTypes`; subgraph: its node's). */
function outputPrec(c: Ctx, g: Graph): Prec {
  if (!g.parentNode) return c.o.keepIoTypes ? 32 : 16;
  return c.fp32.has(g.parentNode) ? 32 : 16;
}

/** Largest finite magnitude of a float32 constant behind `v` (0 when `v` is no such constant). */
function constantMagnitude(v: Value, cache: Map<Value, number>): number {
  let m = cache.get(v);
  if (m !== undefined) return m;
  m = 0;
  const t = v.isGraphInput() ? undefined : constantTensor(v);
  if (t?.dtype === DataType.FLOAT)
    for (const x of toFloat32(t)) if (Math.abs(x) > m && Math.abs(x) !== Infinity) m = Math.abs(x);
  cache.set(v, m);
  return m;
}

function classifyNodes(c: Ctx, blockedByName: Set<string>): void {
  const magnitudes = new Map<Value, number>();
  const limit = Math.fround(c.o.maxFiniteVal);
  for (const g of c.graphs) {
    const parentBlocked = g.parentNode ? c.fp32.has(g.parentNode) : false;
    for (const n of g) {
      const blocked =
        parentBlocked ||
        c.blockOps.has(n.opType) ||
        blockedByName.has(n.name) ||
        noFp16Schema(n, c.opset) ||
        c.functions.has(`${n.domain}::${n.opType}`);
      if (blocked) c.fp32.add(n);
      else if (c.o.blockOutOfRange && !(isOnnx(n) && n.opType === 'Constant')) {
        // Clamping such a constant (BatchNormalization variances of 1e8 in PP-OCR det) changes the
        // result far beyond rounding: the node computes in float32 instead.
        const big = n.inputs.find((v) => v && constantMagnitude(v, magnitudes) > limit);
        if (big) {
          c.fp32.add(n);
          c.changes.note(
            `${n} kept float32: '${big.name}' holds ${constantMagnitude(big, magnitudes)}, beyond ±${c.o.maxFiniteVal}`,
          );
        }
      }
    }
  }
}

/** Every float value with its producing precision; constants are decided by their readers. */
function planValues(c: Ctx): void {
  const mainInputs = new Set(c.model.graph.inputs);
  for (const g of c.graphs) {
    const mode: Prec = g.parentNode && c.fp32.has(g.parentNode) ? 32 : 16;
    for (const v of g.inputs) {
      if (!floatLeaf(v.type)) continue;
      c.native.set(v, mainInputs.has(v) ? (c.o.keepIoTypes ? 32 : 16) : mode);
    }
    for (const v of g.initializers.values()) {
      if (c.native.has(v) || v.const?.dtype !== DataType.FLOAT) continue;
      c.constants.add(v);
    }
    // Sparse initializers keep their storage; readers that want float16 get a Cast.
    for (const { value } of g.sparseInitializers.values()) if (floatLeaf(value.type)) c.native.set(value, 32);
    for (const n of g) {
      const isConstant = isOnnx(n) && n.opType === 'Constant';
      n.outputs.forEach((v, i) => {
        if (!v.name || !floatLeaf(v.type)) return;
        if (isConstant && !c.fp32.has(n) && constantNodeTensor(n)?.dtype === DataType.FLOAT) c.constants.add(v);
        else c.native.set(v, c.fp32.has(n) || float32Outputs(n).includes(i) ? 32 : 16);
      });
    }
  }
  // A constant becomes float16 when a reader wants float16, unless it is itself a float32 graph output.
  const outputs = new Map<Value, Prec[]>();
  for (const g of c.graphs) for (const v of g.outputs) outputs.set(v, [...(outputs.get(v) ?? []), outputPrec(c, g)]);
  for (const v of c.constants) {
    const outs = outputs.get(v) ?? [];
    const mainOut32 = c.model.graph.outputs.includes(v) && c.o.keepIoTypes;
    const wants16 = v.uses().some((u) => wanted(c, u.node, u.index) === 16) || outs.includes(16);
    c.native.set(v, wants16 && !mainOut32 ? 16 : 32);
  }
}

/** Refusals that must happen before anything changes. */
function checkCrossings(c: Ctx): void {
  // Values that need a Cast: read, or output, in the other precision. Cast takes tensors only.
  const crossing = new Set<Value>();
  for (const [v, p] of c.native) if (v.uses().some((u) => wanted(c, u.node, u.index) !== p)) crossing.add(v);
  for (const g of c.graphs)
    for (const v of g.outputs) {
      const p = c.native.get(v);
      if (p && p !== outputPrec(c, g)) crossing.add(v);
    }
  for (const v of crossing) {
    if (floatLeaf(v.type)?.wrapped)
      throw new Error(
        `value '${v.name}' is a ${v.type!.kind} of float and would need a Cast between float16 and float32 (block its producer and readers together)`,
      );
  }
  // Untyped values between a float32 node and a float16 node: nobody can tell whether they are float.
  for (const g of c.graphs)
    for (const n of g) {
      n.inputs.forEach((v, i) => {
        if (!v || knownType(v.type) || c.native.has(v)) return;
        const p = v.producer;
        const from: Prec | undefined = p ? (c.fp32.has(p) ? 32 : 16) : undefined;
        if (from !== undefined && from !== wanted(c, n, i))
          throw new Error(
            `the type of '${v.name}' (from ${p} to ${n}) is unknown, so convert-fp16 cannot tell whether it needs a Cast`,
          );
      });
    }
}

// ---- the rewrite ----

class Names {
  readonly #used = new Set<string>();
  constructor(graphs: Graph[]) {
    for (const g of graphs) {
      for (const v of g.values()) this.#used.add(v.name);
      for (const n of g) if (n.name) this.#used.add(n.name);
    }
  }
  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.#used.has(name); k++) name = `${base}_${k}`;
    this.#used.add(name);
    return name;
  }
}

function convertTensor(c: Ctx, t: Tensor): MemoryTensor {
  const { bits, clamped } = toFloat16Clamped(toFloat32(t), c.o.minPositiveVal, c.o.maxFiniteVal);
  c.changes.add('values clamped into the float16 range', clamped);
  const out = new MemoryTensor(DataType.FLOAT16, t.dims, bits, t.name);
  out.docString = t.docString;
  out.metadataProps = t.metadataProps;
  return out;
}

function convertConstant(c: Ctx, v: Value): void {
  if (v.isInitializer()) {
    v.const = convertTensor(c, v.const!);
    c.changes.add('initializers → float16');
    return;
  }
  const n = v.producer!;
  const t = constantNodeTensor(n)!;
  for (const k of ['value', 'value_float', 'value_floats']) n.attributes.delete(k);
  n.setAttr(attr.tensor('value', convertTensor(c, t)));
  c.changes.add('Constant tensors → float16');
}

/** Attribute rewrites of a converted node whose outputs become float16. */
function rewriteAttributes(c: Ctx, n: Node): void {
  if (!isOnnx(n)) return;
  if (n.opType === 'Cast' && n.getInt('to') === DataType.FLOAT) {
    n.setAttr(attr.int('to', DataType.FLOAT16));
    c.changes.add('Cast(to=FLOAT) → FLOAT16');
    return;
  }
  const d = DTYPE_ATTRS[n.opType];
  if (d) {
    const cur = n.getInt(d.name);
    if (cur === DataType.FLOAT || (cur === undefined && d.floatDefault)) {
      n.setAttr(attr.int(d.name, DataType.FLOAT16));
      c.changes.add(`${n.opType} ${d.name} → FLOAT16`);
    }
    return;
  }
  if (n.opType === 'ConstantOfShape') {
    const t = n.getTensor('value');
    if (t && t.dtype !== DataType.FLOAT) return;
    n.setAttr(
      attr.tensor('value', t ? convertTensor(c, t) : new MemoryTensor(DataType.FLOAT16, [1], new Uint16Array(1))),
    );
    c.changes.add('ConstantOfShape value → float16');
  }
}

/** Makes the Casts: one per (value, precision), placed where the value lives. */
class Casts {
  readonly #made = new Map<Value, Map<Prec, Value>>();
  constructor(
    private readonly c: Ctx,
    private readonly names: Names,
  ) {}

  /** Inserts `Cast(v)` producing `out`, right after v's producer or first in v's graph. */
  #insert(v: Value, out: Value, to: Prec, nodeName: string): void {
    const cast = new Node('Cast', [v], {
      name: nodeName,
      attributes: [attr.int('to', elemOf(to))],
      outputs: [out],
    });
    const p = v.producer;
    const g = v.graph!;
    if (p && p.graph === g) g.insertAfter(p, cast);
    else if (g.firstNode) g.insertBefore(g.firstNode, cast);
    else g.append(cast);
    this.c.changes.add(to === 16 ? 'Cast(to=FLOAT16) inserted' : 'Cast(to=FLOAT) inserted');
  }

  #remember(v: Value, to: Prec, out: Value): void {
    let m = this.#made.get(v);
    if (!m) this.#made.set(v, (m = new Map()));
    m.set(to, out);
  }

  get(v: Value, to: Prec, base?: string): Value {
    const had = this.#made.get(v)?.get(to);
    if (had) return had;
    const name = this.names.fresh(base ?? `${v.name}_${to === 16 ? 'fp16' : 'fp32'}`);
    const out = new Value(name, withElem(v.type!, elemOf(to)));
    this.#insert(v, out, to, this.names.fresh(base ? base.replace(/_(\d+)$/, '$1') : `${name}_cast`));
    this.#remember(v, to, out);
    return out;
  }

  /**
   * Main-graph output `k` in the other precision under its own name (ORT: the producer writes
   * `graph_output_cast_<k>`, the Cast writes the output's name).
   */
  mainOutput(g: Graph, k: number, to: Prec): void {
    const v = g.outputs[k];
    const had = this.#made.get(v)?.get(to);
    if (had) {
      g.outputs[k] = had;
      return;
    }
    const original = v.name;
    v.name = this.names.fresh(`graph_output_cast_${k}`);
    const out = new Value(original, withElem(v.type!, elemOf(to)));
    out.docString = v.docString;
    this.#insert(v, out, to, this.names.fresh(`graph_output_cast${k}`));
    this.#remember(v, to, out);
    g.outputs[k] = out;
  }
}

function rewrite(c: Ctx): void {
  const names = new Names(c.graphs);
  const casts = new Casts(c, names);
  // Decide the readers' variants before types change (a Cast's type is its source's, re-typed).
  const mainGraph = c.model.graph;
  const reads: { n: Node; i: number; v: Value; to: Prec }[] = [];
  for (const [v, p] of c.native)
    for (const u of v.uses()) {
      const to = wanted(c, u.node, u.index);
      if (to !== p) reads.push({ n: u.node, i: u.index, v, to });
    }
  // Constants read in float16, and initializers that are also float16 graph inputs (their default value).
  for (const [v, p] of c.native)
    if (p === 16 && (c.constants.has(v) || v.const?.dtype === DataType.FLOAT)) convertConstant(c, v);
  for (const [v, p] of c.native) v.type = withElem(v.type!, elemOf(p));
  for (const g of c.graphs) for (const n of g) if (!c.fp32.has(n)) rewriteAttributes(c, n);
  // Main graph inputs kept float32 get ORT's cast names.
  mainGraph.inputs.forEach((v, k) => {
    if (c.native.get(v) === 32 && reads.some((r) => r.v === v && r.to === 16))
      casts.get(v, 16, `graph_input_cast_${k}`);
  });
  for (const g of c.graphs) {
    const want = outputPrec(c, g);
    g.outputs.forEach((v, k) => {
      const p = c.native.get(v);
      if (!p || p === want) return;
      if (g === mainGraph) casts.mainOutput(g, k, want);
      else g.outputs[k] = casts.get(v, want);
    });
  }
  for (const r of reads) r.n.setInput(r.i, casts.get(r.v, r.to));
  let float16 = 0;
  for (const p of c.native.values()) if (p === 16) float16++;
  c.changes.add('values typed float16', float16);
}

function run(model: Model, o: ConvertFp16Options): PassReport {
  if (model.opset < 7)
    throw new Error(
      `convert-fp16 needs ai.onnx opset ≥ 7 (float16 kernels and Cast's integer 'to'); got ${model.opset}`,
    );
  const already = existingFloat16(model);
  if (already)
    throw new Error(`the model already holds float16 (${already}); convert-fp16 converts float32 models only`);
  const graphs = [...allGraphs(model, { functions: false })];
  // Types from the model where given, from inference elsewhere; restored if the pass refuses.
  const saved = new Map<Value, TypeInfo | undefined>();
  for (const g of graphs) for (const v of g.values()) saved.set(v, v.type);
  inferShapes(model, { valueInfo: false });
  const c: Ctx = {
    model,
    opset: model.opset,
    o,
    blockOps: new Set([...DEFAULT_FP16_BLOCK_OPS, ...o.blockOps]),
    functions: new Set(model.functions.map((f) => `${f.domain}::${f.name}`)),
    graphs,
    fp32: new Set(),
    native: new Map(),
    constants: new Set(),
    changes: new Changes(),
  };
  const byName = new Set(o.blockNodes);
  try {
    classifyNodes(c, byName);
    planValues(c);
    checkCrossings(c);
  } catch (e) {
    for (const [v, t] of saved) v.type = t;
    throw e;
  }
  const overridable = model.graph.inputs.filter((v) => v.const?.dtype === DataType.FLOAT);
  if (overridable.length && o.keepIoTypes)
    c.changes.note(
      `${overridable.length} float initializer(s) are also graph inputs (overridable): kept float32 with the inputs`,
    );
  const present = new Set(graphs.flatMap((g) => g.nodes().map((n) => n.name)));
  for (const name of o.blockNodes) if (!present.has(name)) c.changes.note(`blockNodes: no node is named '${name}'`);
  const blocked: Record<string, number> = {};
  for (const n of c.fp32) blocked[n.qualifiedType] = (blocked[n.qualifiedType] ?? 0) + 1;
  if (c.fp32.size)
    c.changes.note(
      `kept float32: ${Object.entries(blocked)
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ')}`,
    );
  rewrite(c);
  c.changes.add('nodes kept float32', c.fp32.size);
  return c.changes.report();
}

/** float32 → float16 for weights and activations, with Casts around what must stay float32. */
export const convertFp16: Pass<ConvertFp16Options> = {
  name: CONVERT_FP16,
  family: 'fp16',
  description: 'Convert float32 weights and activations to float16 (ORT float16.py rules; IO stays float32 by default)',
  // A second run refuses: the model then holds float16.
  idempotent: false,
  // Fidelity is measured as cosine similarity in tests, not bounded per element.
  tolerance: Infinity,
  parseOptions,
  run: (model, options) => run(model, options),
};
