/**
 * Which weights the prune passes touch, shared by all of them: the constant weight input (input 1)
 * of Conv, ConvTranspose, Gemm and MatMul nodes, in every graph (subgraphs and function bodies),
 * held in an initializer or a `Constant` node (also behind `Identity` nodes).
 *
 * Options (validated by `parseSelection`, one error per bad option):
 * - `opTypes`: which of those op types (default all four);
 * - `nodes`: node-name patterns, any of which selects a node: a glob (`*` any run of characters,
 *   `?` one character, matched against the whole name) or a `/regex/flags` (JavaScript, unanchored);
 * - `minSize`: weights with fewer elements are left alone (default 1).
 *
 * Never selected: biases (Gemm C, Conv B) and normalization parameters (BatchNormalization,
 * LayerNormalization), since only input 1 of the four ops is a weight; 1-D weights (a MatMul with a
 * vector); weights that are graph inputs (they can be overridden at run time); a MatMul whose
 * constant operand is A rather than B; non-float element types (already-quantized int8 weights).
 * A weight read by several selected nodes is one entry (pruned once); one that other nodes also read
 * is pruned for all its readers, with a note.
 */
import {
  AttrType,
  DataType,
  MemoryTensor,
  allGraphs,
  constantTensor,
  dtypeName,
  toFloat32,
  toTypedArray,
  type Model,
  type Node,
  type Tensor,
  type TypedArray,
  type Value,
} from '@edgeforge/onnx';
import { isOnnxOp } from '../optimize/fuse-bn-into-conv.js';
import { PassOptionError, type Changes } from '../pass.js';

export const PRUNABLE_OPS = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'] as const;
export type PrunableOp = (typeof PRUNABLE_OPS)[number];

/** Element types whose zero is all-zero bits and whose magnitudes we can read. */
const PRUNABLE_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

export interface WeightSelection {
  opTypes: PrunableOp[];
  /** Node-name patterns as given (glob or /regex/); absent: every node. */
  nodes?: string[];
  minSize: number;
}

/** The option names `parseSelection` reads (a pass adds its own). */
export const SELECTION_KEYS = ['opTypes', 'nodes', 'minSize'] as const;

/** A node-name matcher for a glob or `/regex/flags`; throws on a malformed regex. */
export function nodePattern(p: string): (name: string) => boolean {
  const re = /^\/(.*)\/([dgimsuvy]*)$/s.exec(p);
  if (re) {
    const r = new RegExp(re[1], re[2].replace('g', '').replace('y', ''));
    return (name) => r.test(name);
  }
  const src = [...p].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/-]/g, '\\$&')));
  const r = new RegExp(`^${src.join('')}$`, 's');
  return (name) => r.test(name);
}

/**
 * Reads the selection options out of `raw` (other keys are the caller's business) and checks
 * them. `allowed` narrows the op types a pass supports.
 */
export function parseSelection(
  raw: Record<string, unknown>,
  pass: string,
  allowed: readonly PrunableOp[] = PRUNABLE_OPS,
): WeightSelection {
  const bad = (msg: string): never => {
    throw new PassOptionError(`${pass}: ${msg}`);
  };
  let opTypes: PrunableOp[] = [...allowed];
  if (raw.opTypes !== undefined) {
    const v = raw.opTypes;
    if (
      !Array.isArray(v) ||
      v.length === 0 ||
      !v.every((x) => typeof x === 'string' && allowed.includes(x as PrunableOp))
    )
      bad(`'opTypes' must be a non-empty list of ${allowed.join(', ')} (got ${JSON.stringify(v)})`);
    opTypes = [...new Set(v as PrunableOp[])];
  }
  let nodes: string[] | undefined;
  if (raw.nodes !== undefined) {
    const v = raw.nodes;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x.length > 0))
      bad(`'nodes' must be a non-empty list of node-name globs or /regex/ (got ${JSON.stringify(v)})`);
    for (const p of v as string[]) {
      try {
        nodePattern(p);
      } catch (e) {
        bad(`'nodes' pattern ${JSON.stringify(p)} is not a valid regular expression: ${(e as Error).message}`);
      }
    }
    nodes = [...(v as string[])];
  }
  const minSize = raw.minSize ?? 1;
  if (typeof minSize !== 'number' || !Number.isInteger(minSize) || minSize < 0)
    bad(`'minSize' must be a non-negative integer (got ${JSON.stringify(raw.minSize)})`);
  return { opTypes, ...(nodes ? { nodes } : {}), minSize: minSize as number };
}

/** The selection in words, for messages. */
export function describeSelection(sel: WeightSelection): string {
  const parts = [`opTypes ${sel.opTypes.join(',')}`];
  if (sel.nodes) parts.push(`nodes ${sel.nodes.map((p) => JSON.stringify(p)).join(',')}`);
  if (sel.minSize > 1) parts.push(`minSize ${sel.minSize}`);
  return parts.join('; ');
}

/** One selected node reading a weight. */
export interface WeightReader {
  node: Node;
  /** Input slot the weight feeds (1). */
  input: number;
}

/** A prunable weight: where its data lives and which selected nodes read it. */
export interface PrunableWeight {
  /** The value holding the data: an initializer or a `Constant` node's output. */
  root: Value;
  tensor: Tensor;
  readers: WeightReader[];
  /** Nodes outside the selection that also read the same data (they see the pruned weight too). */
  otherReaders: Node[];
}

export interface WeightSearch {
  weights: PrunableWeight[];
  /** Candidate nodes of the selected op types that were left alone, and why. */
  skipped: string[];
}

/** The constant behind `v` and the value that holds it, also through `Identity` nodes. */
export function weightRoot(v: Value | null | undefined): { root: Value; tensor: Tensor } | undefined {
  for (let cur = v, depth = 0; cur && depth < 32; depth++) {
    if (cur.isGraphInput()) return undefined;
    const t = constantTensor(cur);
    if (t) return { root: cur, tensor: t };
    const p = cur.producer;
    if (!p || !isOnnxOp(p, 'Identity')) return undefined;
    cur = p.inputs[0];
  }
  return undefined;
}

/** Every node that reads `root`, directly or through `Identity` nodes. */
function readersOf(root: Value): Node[] {
  const out: Node[] = [];
  const walk = (v: Value, depth: number) => {
    for (const u of v.uses()) {
      if (isOnnxOp(u.node, 'Identity') && depth < 32) walk(u.node.outputs[0], depth + 1);
      else out.push(u.node);
    }
  };
  walk(root, 0);
  return out;
}

export function nodeLabel(n: Node): string {
  return n.name ? `${n.opType} '${n.name}'` : `${n.opType} (unnamed, output '${n.outputs[0]?.name}')`;
}

/** The prunable weights under `sel`, without throwing when there are none. */
export function findWeights(model: Model, sel: WeightSelection): WeightSearch {
  const matchers = sel.nodes?.map(nodePattern);
  const byRoot = new Map<Value, PrunableWeight>();
  const skipped: string[] = [];
  for (const g of allGraphs(model)) {
    for (const n of g) {
      const op = PRUNABLE_OPS.find((o) => isOnnxOp(n, o));
      if (!op || !sel.opTypes.includes(op)) continue;
      if (matchers && !matchers.some((m) => m(n.name))) continue;
      const w = weightRoot(n.inputs[1]);
      const label = nodeLabel(n);
      if (!w) {
        // MatMul between two activations (attention) is not a layer: no note.
        if (op !== 'MatMul') skipped.push(`${label}: weight '${n.inputs[1]?.name}' is not a constant`);
        continue;
      }
      if (!PRUNABLE_TYPES.has(w.tensor.dtype)) {
        skipped.push(`${label}: weight '${w.root.name}' is ${dtypeName(w.tensor.dtype)}, not a float type`);
        continue;
      }
      if (w.tensor.dims.length < 2) {
        skipped.push(`${label}: weight '${w.root.name}' is ${w.tensor.dims.length}-D`);
        continue;
      }
      if (w.tensor.size < sel.minSize) {
        skipped.push(`${label}: weight '${w.root.name}' has ${w.tensor.size} < minSize ${sel.minSize} elements`);
        continue;
      }
      let entry = byRoot.get(w.root);
      if (!entry) byRoot.set(w.root, (entry = { root: w.root, tensor: w.tensor, readers: [], otherReaders: [] }));
      entry.readers.push({ node: n, input: 1 });
    }
  }
  for (const w of byRoot.values()) {
    const mine = new Set(w.readers.map((r) => r.node));
    w.otherReaders = readersOf(w.root).filter((n) => !mine.has(n));
  }
  return { weights: [...byRoot.values()], skipped };
}

/** Like `findWeights`, but a selection that matches no weight is an error naming the selection. */
export function selectWeights(model: Model, sel: WeightSelection, pass: string): WeightSearch {
  const found = findWeights(model, sel);
  if (found.weights.length === 0) {
    const why = found.skipped.length ? `; left alone: ${found.skipped.slice(0, 3).join('; ')}` : '';
    throw new Error(`${pass}: the selection (${describeSelection(sel)}) matches no prunable weight${why}`);
  }
  return found;
}

/** A note for weights that nodes outside the selection also read. */
export function sharedNote(w: PrunableWeight): string | undefined {
  if (!w.otherReaders.length) return undefined;
  return `weight '${w.root.name}' is also read by ${w.otherReaders.map(nodeLabel).join(', ')}: they see the pruned values too`;
}

/** |w| of every element as float64 (float16/bfloat16 widened; NaN stays NaN). */
export function magnitudes(t: Tensor): Float64Array {
  const a = t.dtype === DataType.DOUBLE ? (toTypedArray(t) as Float64Array) : toFloat32(t);
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Math.abs(a[i]);
  return out;
}

/** A writable copy of the raw elements (float16/bfloat16 as their bits). */
export function elementsCopy(t: Tensor): TypedArray {
  return toTypedArray(t).slice();
}

/**
 * Zeroes the elements whose `keep` entry is 0, in a copy; returns it with the number of elements
 * that were not already zero (those that really changed).
 */
export function applyMask(t: Tensor, keep: Uint8Array): { data: TypedArray; zeroed: number } {
  const data = elementsCopy(t);
  const zero = zeroTest(t.dtype);
  let zeroed = 0;
  for (let i = 0; i < keep.length; i++) {
    if (keep[i] || zero(data[i])) continue; // -0 counts as zero and is left as it is
    data[i] = 0;
    zeroed++;
  }
  return { data, zeroed };
}

/**
 * Applies `keep` to a selected weight and stores the result where the weight lives, counting it in
 * `changes` (with a note when nodes outside the selection read it too). Returns the masked data.
 */
export function pruneWeight(w: PrunableWeight, keep: Uint8Array, changes: Changes): TypedArray {
  const { data, zeroed } = applyMask(w.tensor, keep);
  if (!zeroed) return data;
  setWeightData(w.root, w.tensor.dtype, w.tensor.dims, data);
  changes.add('weights pruned');
  changes.add('elements zeroed', zeroed);
  const shared = sharedNote(w);
  if (shared) changes.note(shared);
  return data;
}

/** Whether a raw element (float16/bfloat16 as bits) is ±0. */
export function zeroTest(dtype: number): (x: number | bigint) => boolean {
  if (dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16) return (x) => ((x as number) & 0x7fff) === 0;
  return (x) => x === 0 || x === 0n;
}

/**
 * Stores new data (and dims, when they change) for a weight where it lives: the initializer, or
 * the `Constant` node's `value` attribute. The value keeps its name and uses.
 */
export function setWeightData(root: Value, dtype: number, dims: readonly number[], data: TypedArray): void {
  const old = constantTensor(root);
  const t = new MemoryTensor(dtype, dims, data, old?.name ?? '');
  if (old) {
    t.docString = old.docString;
    t.metadataProps = old.metadataProps;
  }
  const changedDims = !old || old.dims.length !== dims.length || old.dims.some((d, i) => d !== dims[i]);
  if (root.isInitializer()) root.const = t;
  else {
    const p = root.producer;
    if (!p || !isOnnxOp(p, 'Constant'))
      throw new Error(`'${root.name}' is neither an initializer nor a Constant output`);
    for (const k of ['value_float', 'value_floats', 'value_int', 'value_ints']) p.attributes.delete(k);
    p.setAttr({ name: 'value', type: AttrType.TENSOR, value: t });
  }
  if (changedDims) root.type = { kind: 'tensor', elemType: dtype, shape: [...dims] };
}

/** Counts elements that are zero (either sign) in a weight. */
export function countZeros(t: Tensor): number {
  const a = toTypedArray(t);
  const zero = zeroTest(t.dtype);
  let z = 0;
  for (let i = 0; i < a.length; i++) if (zero(a[i])) z++;
  return z;
}
