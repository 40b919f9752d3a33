/**
 * `eliminate-noops`: removes operators that return their input unchanged, and merges consecutive
 * Transposes and Reshapes, in every graph, to a fixed point.
 *
 * Before:                                     After:
 * ```
 *   x ─ Identity ─ a ─ Relu ─ y                 x ─ Relu ─ y
 *   x ─ Transpose[1,0] ─ Transpose[1,0] ─ y     x ─ y            (perms compose to identity)
 *   x ─ Transpose[0,2,1] ─ Transpose[1,0,2]     x ─ Transpose[2,0,1]
 *   x ─ Reshape(s1) ─ Reshape(s2) ─ y           x ─ Reshape(s2) ─ y
 * ```
 *
 * Removed when provably a no-op:
 * - Identity.
 * - Dropout in inference: opset ≥ 7 without a `training_mode` input (or a constant false one);
 *   opset < 7 only with `is_test=1`. Only when the mask output is unused.
 * - Cast to the input's own element type (from the value's type or the initializer's data type).
 * - Reshape whose constant target gives back the input's shape (equal static dims, `0` copies with
 *   `allowzero=0`, and at most one `-1` when every other dim is kept).
 * - Transpose with the identity permutation.
 * - Pad with all-zero pads (the `pads` attribute before opset 11, a constant input from 11 on).
 * - Slice that keeps everything: constant starts 0 (or ≤ -dim), ends ≥ dim or INT64_MAX, steps 1.
 * Merged:
 * - Transpose∘Transpose into one Transpose with the composed permutation (removed when identity).
 * - Reshape∘Reshape into the outer Reshape, when the outer target is constant with no `0` entry.
 *   The inner node stays when something else reads it.
 *
 * Refuses (notes it): removing a node whose output is a graph output when its input is a graph
 * input, an initializer, another graph output or a value of an enclosing graph; the output name
 * could not be kept. Nothing is done when a shape, type or constant is unknown.
 */
import {
  AttrType,
  constantTensor,
  elemTypeOf,
  graphAndSubgraphs,
  shapeOf,
  toTypedArray,
  type Dim,
  type Graph,
  type Node,
  type Value,
} from '@edgeforge/onnx';
import { Changes, allGraphs, noOptions, type Model, type Pass } from '../pass.js';

const INT64_MAX = 9223372036854775807n;

function isOnnx(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

/** Integer entries of a constant value, as bigints (exact for INT64_MAX), or undefined. */
function constInts(v: Value | null | undefined): bigint[] | undefined {
  if (!v) return undefined;
  const t = constantTensor(v);
  if (!t || t.dims.length > 1) return undefined;
  const a = toTypedArray(t);
  if (a instanceof BigInt64Array) return [...a];
  if (a instanceof Int32Array) return [...a].map(BigInt);
  return undefined;
}

function shapeOfValue(v: Value): Dim[] | undefined {
  const t = constantTensor(v);
  if (t) return [...t.dims];
  return shapeOf(v.type);
}

function elemTypeOfValue(v: Value): number | undefined {
  return constantTensor(v)?.dtype ?? elemTypeOf(v.type);
}

function isIdentityPerm(p: number[]): boolean {
  return p.every((x, i) => x === i);
}

/** Explicit perm of a Transpose (default: reversed axes, needs the rank). */
function transposePerm(n: Node): number[] | undefined {
  const p = n.getInts('perm');
  if (p) return p;
  const x = n.inputs[0];
  const s = x ? shapeOfValue(x) : undefined;
  return s ? s.map((_, i) => s.length - 1 - i) : undefined;
}

function dropoutIsNoop(n: Node, opset: number): boolean {
  if (opset < 7) return n.getInt('is_test', 0) === 1;
  const training = n.inputs[2];
  if (!training) return true;
  const t = constantTensor(training);
  if (!t || t.size !== 1) return false;
  return toTypedArray(t)[0] === 0;
}

function castIsNoop(n: Node): boolean {
  const x = n.inputs[0];
  const to = n.getInt('to');
  return !!x && to !== undefined && elemTypeOfValue(x) === to;
}

function reshapeIsNoop(n: Node): boolean {
  const [x, s] = n.inputs;
  if (!x) return false;
  const target = constInts(s);
  const shape = shapeOfValue(x);
  if (!target || !shape || target.length !== shape.length) return false;
  const allowzero = n.getInt('allowzero', 0) === 1;
  let minus = 0;
  for (let i = 0; i < target.length; i++) {
    const t = target[i];
    const d = shape[i];
    if (t === -1n) minus++;
    else if (t === 0n && !allowzero) continue;
    else if (typeof d !== 'number' || BigInt(d) !== t) return false;
  }
  return minus <= 1;
}

function padIsNoop(n: Node, opset: number): boolean {
  const pads = opset < 11 ? (n.getInts('pads') ?? n.getInts('paddings'))?.map(BigInt) : constInts(n.inputs[1]);
  return !!pads && pads.every((p) => p === 0n);
}

function sliceIsNoop(n: Node, opset: number): boolean {
  const x = n.inputs[0];
  const shape = x ? shapeOfValue(x) : undefined;
  if (!shape) return false;
  let starts, ends, axes, steps: bigint[] | undefined;
  if (opset < 10) {
    starts = n.getInts('starts')?.map(BigInt);
    ends = n.getInts('ends')?.map(BigInt);
    axes = n.getInts('axes')?.map(BigInt);
  } else {
    starts = constInts(n.inputs[1]);
    ends = constInts(n.inputs[2]);
    axes = n.inputs[3] ? constInts(n.inputs[3]) : undefined;
    if (n.inputs[3] && !axes) return false;
    steps = n.inputs[4] ? constInts(n.inputs[4]) : undefined;
    if (n.inputs[4] && !steps) return false;
  }
  if (!starts || !ends || starts.length !== ends.length) return false;
  const rank = BigInt(shape.length);
  for (let i = 0; i < starts.length; i++) {
    let axis = axes ? axes[i] : BigInt(i);
    if (axis === undefined) return false;
    if (axis < 0n) axis += rank;
    if (axis < 0n || axis >= rank) return false;
    if (steps && steps[i] !== 1n) return false;
    const d = shape[Number(axis)];
    const start = starts[i];
    const end = ends[i];
    const startOk = start === 0n || (typeof d === 'number' && start <= -BigInt(d));
    const endOk = end === INT64_MAX || (typeof d === 'number' && end >= BigInt(d));
    if (!startOk || !endOk) return false;
  }
  return true;
}

/** Why `n` (data input 0 → output 0) may be dropped, or undefined. */
function noopKind(n: Node, opset: number): string | undefined {
  if (!isOnnx(n) || !n.inputs[0]) return undefined;
  switch (n.opType) {
    case 'Identity':
      return 'Identity removed';
    case 'Dropout':
      return dropoutIsNoop(n, opset) ? 'Dropout removed' : undefined;
    case 'Cast':
      return castIsNoop(n) ? 'Cast to same type removed' : undefined;
    case 'Reshape':
      return opset >= 5 && reshapeIsNoop(n) ? 'Reshape to same shape removed' : undefined;
    case 'Transpose': {
      const p = transposePerm(n);
      return p && isIdentityPerm(p) ? 'identity Transpose removed' : undefined;
    }
    case 'Pad':
      return padIsNoop(n, opset) ? 'zero Pad removed' : undefined;
    case 'Slice':
      return sliceIsNoop(n, opset) ? 'full Slice removed' : undefined;
    default:
      return undefined;
  }
}

class Rewriter {
  readonly changes = new Changes();
  readonly #refused = new Set<Node>();
  constructor(readonly returned: Set<Value>) {}

  /** Makes readers of `y` (an output of `n`, in graph `g`) read `x`; false when a graph output forbids it. */
  bypass(g: Graph, n: Node, y: Value, x: Value): boolean {
    if (this.returned.has(y)) {
      const ownOutput = g.outputs.includes(y);
      if (
        ownOutput &&
        (x.isGraphInput() || x.isInitializer() || x.isGraphOutput() || this.returned.has(x) || x.graph !== g)
      ) {
        if (!this.#refused.has(n)) {
          this.#refused.add(n);
          this.changes.note(
            `kept ${n}: its output '${y.name}' is a graph output and its input '${x.name}' cannot take the name`,
          );
        }
        return false;
      }
    }
    // Subgraphs that return `y` directly now return `x`.
    for (const sg of graphAndSubgraphs(g)) {
      if (sg === g) continue;
      for (let i = 0; i < sg.outputs.length; i++) if (sg.outputs[i] === y) sg.outputs[i] = x;
    }
    const wasOutput = g.outputs.includes(y);
    g.replaceAllUsesWith(y, x);
    if (wasOutput) {
      if (!x.type && y.type) x.type = y.type;
      const k = g.valueInfo.indexOf(x);
      if (k >= 0) g.valueInfo.splice(k, 1);
    }
    this.returned.delete(y);
    this.returned.add(x);
    return true;
  }

  /** Removes `n` if none of its outputs is read or returned any more. */
  removeIfDead(g: Graph, n: Node): boolean {
    if (n.graph !== g || n.outputs.some((o) => o.uses().length > 0 || this.returned.has(o))) return false;
    g.remove(n);
    for (const o of n.outputs) {
      const k = g.valueInfo.indexOf(o);
      if (k >= 0) g.valueInfo.splice(k, 1);
    }
    return true;
  }

  /** One sweep over `g`; true when something changed. */
  sweep(g: Graph, opset: number): boolean {
    let changed = false;
    for (const n of g) {
      if (n.graph !== g) continue;
      const kind = noopKind(n, opset);
      if (kind) {
        const [x] = n.inputs;
        const [y, ...rest] = n.outputs;
        if (!x || rest.some((o) => o.uses().length > 0 || this.returned.has(o))) continue;
        if (!this.bypass(g, n, y, x)) continue;
        g.remove(n);
        const k = g.valueInfo.indexOf(y);
        if (k >= 0) g.valueInfo.splice(k, 1);
        this.changes.add(kind);
        changed = true;
        continue;
      }
      if (isOnnx(n) && n.opType === 'Transpose' && this.mergeTransposes(g, n)) changed = true;
      else if (isOnnx(n) && n.opType === 'Reshape' && opset >= 5 && this.mergeReshapes(g, n)) changed = true;
    }
    return changed;
  }

  /** Transpose(Transpose(x, p1), p2) → Transpose(x, p1∘p2), i.e. perm[i] = p1[p2[i]]. */
  mergeTransposes(g: Graph, outer: Node): boolean {
    const inner = outer.inputs[0]?.producer;
    if (!inner || inner.graph !== g || !isOnnx(inner) || inner.opType !== 'Transpose' || !inner.inputs[0]) return false;
    const p1 = transposePerm(inner);
    const p2 = transposePerm(outer);
    if (!p1 || !p2 || p1.length !== p2.length) return false;
    const x = inner.inputs[0];
    const perm = p2.map((i) => p1[i]);
    if (isIdentityPerm(perm)) {
      if (!this.bypass(g, outer, outer.outputs[0], x)) return false;
      g.remove(outer);
      this.changes.add('Transpose pair removed');
    } else {
      outer.setInput(0, x);
      outer.setAttr({ name: 'perm', type: AttrType.INTS, value: perm.map(BigInt) });
      this.changes.add('Transposes merged');
    }
    this.removeIfDead(g, inner);
    return true;
  }

  /** Reshape(Reshape(x, s1), s2) → Reshape(x, s2) when s2 is constant without 0 entries. */
  mergeReshapes(g: Graph, outer: Node): boolean {
    const inner = outer.inputs[0]?.producer;
    if (!inner || inner.graph !== g || !isOnnx(inner) || inner.opType !== 'Reshape' || !inner.inputs[0]) return false;
    const target = constInts(outer.inputs[1]);
    if (!target || target.some((t) => t === 0n)) return false;
    outer.setInput(0, inner.inputs[0]);
    this.removeIfDead(g, inner);
    this.changes.add('Reshapes merged');
    return true;
  }
}

export const eliminateNoops: Pass<Record<string, never>> = {
  name: 'eliminate-noops',
  family: 'optimize',
  description:
    'Removes Identity, inference Dropout, same-type Cast, same-shape Reshape, identity Transpose, zero Pad, full Slice; merges Transpose and Reshape chains.',
  idempotent: true,
  tolerance: 0,
  parseOptions: noOptions('eliminate-noops'),
  run(model: Model) {
    const returned = new Set<Value>([...allGraphs(model)].flatMap((g) => g.outputs));
    const rw = new Rewriter(returned);
    const opsetOf = new Map<Graph, number>();
    for (const g of allGraphs(model, { functions: false })) opsetOf.set(g, model.opset);
    for (const f of model.functions) {
      const o = f.opsetImports.get('') ?? f.opsetImports.get('ai.onnx') ?? model.opset;
      for (const g of graphAndSubgraphs(f.graph)) opsetOf.set(g, o);
    }
    for (let round = 0; round < 1000; round++) {
      let changed = false;
      for (const g of [...allGraphs(model)]) if (rw.sweep(g, opsetOf.get(g) ?? model.opset)) changed = true;
      if (!changed) break;
    }
    return rw.changes.report();
  },
};
