/**
 * `simplify-shapes`: with the shapes shape inference finds (fixed by `--input-shape` when given),
 * shape computations become constants and Reshape targets become static, in every graph.
 *
 * Before (PyTorch's flatten, `x: [1, 8, 4, 4]`):
 * ```
 *   %s = Shape(%x)
 *   %n = Gather[axis=0](%s, 0)
 *   %t = Concat[axis=0](Unsqueeze(%n, [0]), [-1])
 *   %y = Reshape(%x, %t)
 * ```
 * After:
 * ```
 *   initializer %t = <int64 [2]: 1, -1>      (computed by onnxruntime from Shape's constant)
 *   %y = Reshape(%x, %t)
 * ```
 *
 * Steps:
 * 1. Shape inference (`inferShapes`), with `ctx.inputShapes` when given: that also fixes the model's
 *    input dims, as `--input-shape` asks, unless onnxruntime then refuses to load the model (Silero
 *    v5's untaken If branches fail its static shape inference at fixed shapes): the shapes are then
 *    not applied, with a note. Without them the model's interface is not touched. Types of
 *    graph inputs, outputs and `value_info` entries are put back as they were afterwards (except the
 *    inputs `--input-shape` fixed); inferred types of other values stay in memory for later passes.
 * 2. `Shape` (with `start`/`end` from opset 15) and `Size` of a value whose shape is fully static
 *    become int64 initializers.
 * 3. `fold-constants` folds what now has constant inputs (Gather, Slice, Concat, Unsqueeze, Cast…,
 *    computed by onnxruntime), so a Reshape fed by such a chain gets a constant target.
 * 4. A Reshape whose target is still computed but whose output shape inference knows gets a constant
 *    target: static dims as numbers, a symbolic dim equal to the input's dim at the same position as
 *    `0` (copy, only with `allowzero=0`), and at most one other dim as `-1` (as onnxruntime's own
 *    ReshapeFusion does; note that `-1` next to a copied dim of size 0 is rejected by onnxruntime).
 * 5. `eliminate-noops` with the inferred types: a Cast to its input's own element type (known from
 *    the value's type or the initializer's data type) goes, and so do full Slices, same-shape
 *    Reshapes, etc.
 * 6. Dead code (the Shape chains the above left unused) is removed with `removeDeadCode`.
 *
 * Refuses (keeps): Shape/Size of a value with any symbolic or unknown dim (no guess); a Shape/Size
 * whose output is an output of its graph; Reshapes whose output dims cannot all be expressed as
 * above; function bodies; models with IR version < 4 (initializers must be graph inputs there).
 * Rewrites are exact (tolerance 0): every constant is what the node computes for every input the
 * (fixed) model accepts.
 */
import {
  allGraphs,
  constantTensor,
  inferShapes,
  int64Tensor,
  loadModelFromBytes,
  serializeModel,
  shapeOf,
  type Dim,
  type Graph,
  type Model,
  type Node,
  type TypeInfo,
  type Value,
} from '@edgeforge/onnx';
import { getBackend } from '../../runtime/index.js';
import { Changes, noOptions, type Pass, type PassContext, type PassReport } from '../pass.js';
import { outputToInitializer } from './constants-to-initializers.js';
import { removeDeadCode } from './eliminate-dead-code.js';
import { eliminateNoops } from './eliminate-noops.js';
import { foldConstants } from './fold-constants.js';

function isOnnx(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

/** The shape of `v` as the graph sees it: an initializer's or Constant's dims, else its type's. */
function shapeOfValue(v: Value): Dim[] | undefined {
  const t = constantTensor(v);
  return t ? [...t.dims] : shapeOf(v.type);
}

function staticShape(v: Value | null | undefined): number[] | undefined {
  const s = v ? shapeOfValue(v) : undefined;
  return s && s.every((d): d is number => typeof d === 'number') ? s : undefined;
}

/** The dims a `Shape` node returns for a static input shape (opset ≥ 15: `start`/`end`, clamped). */
export function shapeSlice(shape: readonly number[], n: Node, opset: number): number[] {
  if (opset < 15) return [...shape];
  const r = shape.length;
  const norm = (x: number) => Math.min(Math.max(x < 0 ? x + r : x, 0), r);
  const start = norm(n.getInt('start', 0)!);
  const end = norm(n.getInt('end', r)!);
  return shape.slice(start, Math.max(start, end));
}

/** Replaces Shape and Size of statically shaped values by initializers. */
function replaceShapeOps(g: Graph, opset: number, changes: Changes): void {
  for (const n of g) {
    if (!isOnnx(n) || (n.opType !== 'Shape' && n.opType !== 'Size')) continue;
    const y = n.outputs[0];
    const shape = staticShape(n.inputs[0]);
    if (!shape || !y?.name || g.outputs.includes(y) || g.initializers.has(y.name)) continue;
    const dims = shapeSlice(shape, n, opset);
    const t =
      n.opType === 'Shape' ? int64Tensor([dims.length], dims) : int64Tensor([], [shape.reduce((a, b) => a * b, 1)]);
    outputToInitializer(g, y, t);
    g.remove(n);
    changes.add(`${n.opType} replaced`);
  }
}

/**
 * A constant target for a Reshape whose computed target yields a known output shape, or undefined.
 * Entries: static dims; `0` for a symbolic dim the input has at the same position; one `-1`.
 */
export function staticReshapeTarget(
  input: readonly Dim[],
  output: readonly Dim[],
  allowzero: boolean,
): number[] | undefined {
  let unresolved = -1;
  const target: number[] = [];
  for (let i = 0; i < output.length; i++) {
    const d = output[i];
    if (typeof d === 'number') {
      // With allowzero=0 a 0 entry copies the input dim; a real 0 cannot be written.
      if (d === 0 && !allowzero) return undefined;
      target.push(d);
    } else if (typeof d === 'string' && !allowzero && i < input.length && input[i] === d) {
      target.push(0);
    } else {
      if (unresolved >= 0) return undefined;
      unresolved = i;
      target.push(-1);
    }
  }
  return target;
}

function makeReshapesStatic(g: Graph, opset: number, names: Set<string>, changes: Changes): void {
  if (opset < 5) return;
  for (const n of g) {
    if (!isOnnx(n) || n.opType !== 'Reshape') continue;
    const [x, s] = n.inputs;
    const y = n.outputs[0];
    if (!x || !s || !y || constantTensor(s)) continue;
    const xs = shapeOfValue(x);
    const ys = shapeOf(y.type);
    const ss = shapeOf(s.type);
    if (!xs || !ys || (ss && (ss.length !== 1 || (typeof ss[0] === 'number' && ss[0] !== ys.length)))) continue;
    const target = staticReshapeTarget(xs, ys, n.getInt('allowzero', 0) === 1);
    if (!target) continue;
    let name = `${y.name}__shape`;
    for (let k = 1; names.has(name); k++) name = `${y.name}__shape_${k}`;
    names.add(name);
    n.setInput(1, g.addInitializer(name, int64Tensor([target.length], target)));
    changes.add('Reshape target made static');
  }
}

/** Types of every graph's inputs, outputs and value_info (what a save writes), to put back later. */
function interfaceTypes(model: Model, keep: ReadonlySet<Value>): Map<Value, TypeInfo | undefined> {
  const out = new Map<Value, TypeInfo | undefined>();
  for (const g of allGraphs(model, { functions: false }))
    for (const v of [...g.inputs, ...g.outputs, ...g.valueInfo]) if (!keep.has(v)) out.set(v, v.type);
  return out;
}

function allNames(model: Model): Set<string> {
  const s = new Set<string>();
  for (const g of allGraphs(model)) for (const v of g.values()) s.add(v.name);
  return s;
}

function merge(into: Changes, r: PassReport, rename: (k: string) => string = (k) => k): void {
  for (const [k, n] of Object.entries(r.counts)) into.add(rename(k), n);
  for (const note of r.notes ?? []) into.note(note);
}

/**
 * Why onnxruntime rejects the model once its inputs have the fixed shapes, or undefined. Some models
 * only load with symbolic inputs (Silero v5: at a fixed shape the If branches never taken fail
 * onnxruntime's static shape inference), so fixing them would emit a model that cannot run.
 */
async function rejectsFixedInputs(model: Model, shapes: Record<string, Dim[]>): Promise<string | undefined> {
  const copy = loadModelFromBytes(serializeModel(model));
  for (const v of copy.graph.inputs) {
    const dims = Object.hasOwn(shapes, v.name) ? shapes[v.name] : undefined;
    if (dims && v.type?.kind === 'tensor') v.type = { kind: 'tensor', elemType: v.type.elemType, shape: [...dims] };
  }
  const why = await loadError(serializeModel(copy));
  // When onnxruntime cannot load the model as it is either, its verdict says nothing about the shapes.
  return why && !(await loadError(serializeModel(model))) ? why : undefined;
}

async function loadError(bytes: Uint8Array): Promise<string | undefined> {
  try {
    const s = await getBackend('node').createSession(bytes, { threads: 1, graphOptimization: 'disabled' });
    await s.release();
    return undefined;
  } catch (e) {
    return (e as Error).message.split('\n')[0];
  }
}

async function simplify(model: Model, given: PassContext): Promise<PassReport> {
  const changes = new Changes();
  if (model.irVersion < 4) {
    changes.note(`IR version ${model.irVersion} < 4: initializers must be graph inputs; nothing simplified`);
    return changes.report();
  }
  let ctx = given;
  if (ctx.inputShapes) {
    const why = await rejectsFixedInputs(model, ctx.inputShapes);
    if (why) {
      changes.note(`input shapes not applied (inputs kept symbolic): onnxruntime rejects the model with them: ${why}`);
      ctx = {};
    }
  }
  const fixed = new Set(model.graph.inputs.filter((v) => ctx.inputShapes && Object.hasOwn(ctx.inputShapes, v.name)));
  const saved = interfaceTypes(model, fixed);
  try {
    inferShapes(model, { ...(ctx.inputShapes ? { inputShapes: ctx.inputShapes } : {}), valueInfo: false });
    for (const g of [...allGraphs(model, { functions: false })]) replaceShapeOps(g, model.opset, changes);

    const folded = await foldConstants.run(model, foldConstants.parseOptions({}), ctx);
    changes.add(
      'nodes folded',
      Object.values(folded.counts).reduce((a, b) => a + b, 0),
    );
    for (const note of folded.notes ?? []) changes.note(note);

    const names = allNames(model);
    for (const g of [...allGraphs(model, { functions: false })]) makeReshapesStatic(g, model.opset, names, changes);

    merge(changes, await eliminateNoops.run(model, {}, ctx));
    merge(changes, removeDeadCode(model).report(), (k) => `dead ${k}`);
  } finally {
    for (const [v, t] of saved) if (!v.isInitializer()) v.type = t;
  }
  return changes.report();
}

export const simplifyShapes: Pass<Record<string, never>> = {
  name: 'simplify-shapes',
  family: 'optimize',
  description:
    'With inferred (or --input-shape) shapes: static Shape/Size become constants, shape chains fold, Reshape targets become static',
  idempotent: true,
  tolerance: 0,
  parseOptions: noOptions('simplify-shapes'),
  run(model, _options, ctx) {
    return simplify(model, ctx);
  },
};
