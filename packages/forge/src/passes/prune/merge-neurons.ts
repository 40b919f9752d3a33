/**
 * `merge-neurons` (the seed's "network clipping"): in a Gemm/MatMul layer followed by another
 * Gemm/MatMul, through a positively homogeneous activation (Relu, LeakyRelu) or none, neurons whose
 * incoming weights are near-proportional are merged into one, and both layers really shrink.
 *
 * ```
 * Before:  X ─► Gemm(W1[N,K], b1) ─► Relu ─► Gemm(W2[P,N], b2) ─► Y
 * After:   X ─► Gemm(W1'[N',K], b1') ─► Relu ─► Gemm(W2'[P,N'], b2) ─► Y        N' < N
 *
 *   v_j = [α·w1_j, β·b1_j]                 neuron j's incoming vector (α, β: Gemm's alpha, beta)
 *   cos(v_i, v_j) ≥ threshold, i < j     ⇒ j merges into i with c = v_i·v_j / v_i·v_i (> 0)
 *   W2'[:, i] = W2[:, i] + c·W2[:, j]      then neuron j is removed from W1, b1 and W2
 * ```
 *
 * Why the survivor keeps its own weights (not the average) and why the scale `c`: with
 * `v_j = c·v_i`, `c > 0`, neuron j's pre-activation is `c·z_i`, and a positively homogeneous
 * activation gives `f(c·z_i) = c·f(z_i)`, so j's contribution `W2[:, j]·f(z_j)` is exactly
 * `c·W2[:, j]·f(z_i)`: folding it into column i is exact, for proportional neurons and not only for
 * identical ones. For near-proportional ones, `c·v_i` is the least-squares fit of `v_j` on `v_i`,
 * and the error is the part of `v_j` orthogonal to `v_i`, of relative size `√(1 − cos²)` (reported
 * per layer as the worst residual; the real output change is measured in the tests). Averaging would
 * move the survivor, lose exactness for proportional pairs, and make a rerun find new merges; kept
 * weights make the survivors pairwise below the threshold, so a second run changes nothing.
 * Neurons whose incoming vector is all zero are removed too (`f(0) = 0`: exact).
 *
 * Clustering is greedy in neuron order: neuron i (not yet merged) absorbs every later unmerged j
 * with `cos(v_i, v_j) ≥ threshold`.
 *
 * Handled: Gemm (any transA/transB, alpha, beta; bias C per neuron `[N]`/`[1,N]` or shared `[]`/
 * `[1]`) or MatMul with a 2-D weight `[K, N]` followed by an Add of a constant `[…1, N]` bias; the
 * next layer a Gemm (transA 0) or MatMul reading the activation as its first input; float32
 * weights in initializers or `Constant` nodes; subgraphs. Options: `threshold` (default 0.99, in
 * (0, 1]) and the selection (`opTypes` Gemm/MatMul, `nodes`, `minSize`; it picks the first layer).
 * Left alone (note): an activation that is not positively homogeneous (Sigmoid, Tanh, Gelu: a merge
 * would not even be exact for proportional neurons), intermediate values with other uses or that
 * are graph outputs, weights or biases that other nodes also read or that are not float32 constants.
 */
import {
  DataType,
  allGraphs,
  constantTensor,
  toFloat32,
  type Model,
  type Node,
  type Tensor,
  type Value,
} from '@edgeforge/onnx';
import { isOnnxOp } from '../optimize/fuse-bn-into-conv.js';
import { Changes, PassOptionError, type Pass, type PassReport } from '../pass.js';
import { checkKeys } from './prune-magnitude.js';
import {
  SELECTION_KEYS,
  nodeLabel,
  nodePattern,
  parseSelection,
  setWeightData,
  type WeightSelection,
} from './select.js';

export const MERGE_NEURONS = 'merge-neurons';

/** f(c·x) = c·f(x) for c > 0: merging proportional neurons through them is exact. */
const HOMOGENEOUS = ['Relu', 'LeakyRelu'];

export interface MergeOptions extends WeightSelection {
  /** Smallest cosine similarity of incoming vectors that merges two neurons. */
  threshold: number;
}

export function parseMergeOptions(raw: Record<string, unknown>): MergeOptions {
  checkKeys(MERGE_NEURONS, raw, ['threshold', ...SELECTION_KEYS]);
  const threshold = raw.threshold ?? 0.99;
  if (typeof threshold !== 'number' || !(threshold > 0 && threshold <= 1))
    throw new PassOptionError(
      `${MERGE_NEURONS}: 'threshold' must be a cosine similarity in (0, 1] (got ${JSON.stringify(raw.threshold)})`,
    );
  return { threshold, ...parseSelection(raw, MERGE_NEURONS, ['Gemm', 'MatMul']) };
}

/** A constant float32 2-D-or-less tensor read only by `reader`, with the value holding it. */
interface OwnConst {
  root: Value;
  tensor: Tensor;
}

function ownConst(v: Value | null | undefined, what: string): OwnConst | string {
  if (!v) return `no ${what}`;
  const t = v.isGraphInput() ? undefined : constantTensor(v);
  if (!t) return `${what} '${v.name}' is not a constant`;
  if (t.dtype !== DataType.FLOAT) return `${what} '${v.name}' is not float32`;
  if (v.uses().length !== 1 || v.isGraphOutput()) return `${what} '${v.name}' is also read elsewhere`;
  return { root: v, tensor: t };
}

/**
 * The only consumer of `v`; otherwise why not when one of its consumers could have continued the
 * pattern (a note), or undefined when nothing there looks like a next layer.
 */
function soleUse(v: Value): Node | string | undefined {
  const u = v.uses();
  if (u.length === 1 && !v.isGraphOutput()) return u[0].node;
  const layerLike = u.some((x) => ['Gemm', 'MatMul', 'Add', ...HOMOGENEOUS].some((op) => isOnnxOp(x.node, op)));
  if (!layerLike) return undefined;
  return v.isGraphOutput() ? `'${v.name}' is also a graph output` : `'${v.name}' has ${u.length} uses`;
}

/** A 2-D weight with its neuron axis: `at(j, k)` is element k of neuron j's vector. */
interface Matrix {
  c: OwnConst;
  data: Float32Array;
  dims: [number, number];
  /** Axis along which the neurons (layer 1 outputs, layer 2 inputs) run. */
  axis: 0 | 1;
}

function matrix(c: OwnConst, axis: 0 | 1): Matrix | string {
  const d = c.tensor.dims;
  if (d.length !== 2) return `weight '${c.root.name}' is ${d.length}-D`;
  return { c, data: toFloat32(c.tensor), dims: [d[0], d[1]], axis };
}

interface Pair {
  l1: Node;
  w1: Matrix;
  alpha: number;
  /** Per-neuron bias (after beta), or one shared value. */
  bias?: { c: OwnConst; values: Float32Array; beta: number; perNeuron: boolean };
  /** Values between the layers whose last dim is the neuron count. */
  between: Value[];
  act?: Node;
  l2: Node;
  w2: Matrix;
}

/** Matches `l1 → [Add bias] → [activation] → l2`; a string says why not (undefined: no next layer). */
function matchPair(l1: Node): Pair | string | undefined {
  const gemm = isOnnxOp(l1, 'Gemm');
  const wc = ownConst(l1.inputs[1], 'weight');
  if (typeof wc === 'string') return wc;
  const transB = gemm && l1.getInt('transB', 0) !== 0;
  const w1 = matrix(wc, transB ? 0 : 1);
  if (typeof w1 === 'string') return w1;
  const n = w1.dims[w1.axis];
  const alpha = gemm ? l1.getFloat('alpha', 1) : 1;
  let bias: Pair['bias'];
  let out = l1.outputs[0];
  const between = [out];
  const biasOf = (v: Value | null | undefined, beta: number): Pair['bias'] | string => {
    const bc = ownConst(v, 'bias');
    if (typeof bc === 'string') return bc;
    const d = bc.tensor.dims;
    const size = bc.tensor.size;
    const perNeuron = size === n && d.length > 0 && d[d.length - 1] === n && d.slice(0, -1).every((x) => x === 1);
    if (!perNeuron && size !== 1) return `bias '${bc.root.name}' of shape [${d.join(',')}] is not per neuron`;
    return { c: bc, values: toFloat32(bc.tensor), beta, perNeuron };
  };
  if (gemm && l1.inputs[2]) {
    const b = biasOf(l1.inputs[2], l1.getFloat('beta', 1));
    if (typeof b === 'string') return b;
    bias = b;
  }
  let next = soleUse(out);
  if (typeof next !== 'object') return next;
  if (!gemm && isOnnxOp(next, 'Add')) {
    const other = next.inputs[0] === out ? next.inputs[1] : next.inputs[0];
    const b = biasOf(other, 1);
    if (typeof b === 'string') return `${nodeLabel(next)}: ${b}`;
    bias = b;
    out = next.outputs[0];
    between.push(out);
    next = soleUse(out);
    if (typeof next !== 'object') return next;
  }
  let act: Node | undefined;
  if (!isOnnxOp(next, 'Gemm') && !isOnnxOp(next, 'MatMul')) {
    if (next.inputs.length !== 1 || next.outputs.length !== 1) return undefined;
    if (!HOMOGENEOUS.some((op) => isOnnxOp(next as Node, op)))
      return `${nodeLabel(next)} is not a positively homogeneous activation (${HOMOGENEOUS.join(', ')})`;
    act = next;
    out = act.outputs[0];
    between.push(out);
    next = soleUse(out);
    if (typeof next !== 'object') return next;
    if (!isOnnxOp(next, 'Gemm') && !isOnnxOp(next, 'MatMul')) return undefined;
  }
  const l2 = next;
  if (l2.inputs[0] !== out) return `${nodeLabel(l2)} reads the neurons as its second input`;
  if (isOnnxOp(l2, 'Gemm') && l2.getInt('transA', 0)) return `${nodeLabel(l2)} has transA = 1`;
  const w2c = ownConst(l2.inputs[1], `${nodeLabel(l2)} weight`);
  if (typeof w2c === 'string') return w2c;
  const w2 = matrix(w2c, isOnnxOp(l2, 'Gemm') && l2.getInt('transB', 0) ? 1 : 0);
  if (typeof w2 === 'string') return w2;
  if (w2.dims[w2.axis] !== n) return `${nodeLabel(l2)} takes ${w2.dims[w2.axis]} inputs, not ${n}`;
  return { l1, w1, alpha, ...(bias ? { bias } : {}), between, ...(act ? { act } : {}), l2, w2 };
}

/** Neuron j's incoming vector [α·w_j, β·b_j]. */
function neuronVectors(p: Pair): Float64Array[] {
  const { w1 } = p;
  const n = w1.dims[w1.axis];
  const k = w1.dims[1 - w1.axis];
  const out: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(k + (p.bias ? 1 : 0));
    for (let i = 0; i < k; i++) v[i] = p.alpha * w1.data[w1.axis === 0 ? j * k + i : i * n + j];
    if (p.bias) v[k] = p.bias.beta * p.bias.values[p.bias.perNeuron ? j : 0];
    out.push(v);
  }
  return out;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export interface MergePlan {
  /** Neurons kept, in order. */
  keep: number[];
  /** Merged neuron j → [survivor i, scale c]. */
  merged: Map<number, [number, number]>;
  dead: number[];
  /** Worst √(1 − cos²) over the merges (0: all exact). */
  worstResidual: number;
}

/** Greedy clustering of incoming vectors (exported for tests). */
export function planMerges(vectors: Float64Array[], threshold: number): MergePlan {
  const n = vectors.length;
  const norms = vectors.map((v) => Math.sqrt(dot(v, v)));
  const merged = new Map<number, [number, number]>();
  const dead: number[] = [];
  let worst = 0;
  for (let j = 0; j < n; j++) if (norms[j] === 0) dead.push(j);
  const gone = new Set(dead);
  for (let i = 0; i < n; i++) {
    if (gone.has(i)) continue;
    for (let j = i + 1; j < n; j++) {
      if (gone.has(j)) continue;
      const d = dot(vectors[i], vectors[j]);
      const cos = d / (norms[i] * norms[j]);
      if (!(cos >= threshold)) continue;
      merged.set(j, [i, d / (norms[i] * norms[i])]);
      gone.add(j);
      worst = Math.max(worst, Math.sqrt(Math.max(0, 1 - cos * cos)));
    }
  }
  let keep = [...Array(n).keys()].filter((j) => !gone.has(j));
  // A layer of only dead neurons keeps one (a zero-width tensor is not a layer).
  if (keep.length === 0) keep = [0];
  return { keep, merged, dead: dead.filter((j) => !keep.includes(j)), worstResidual: worst };
}

/** `m` with only the neurons in `keep` along its neuron axis. */
function selectNeurons(m: Matrix, data: Float32Array, keep: number[]): { dims: number[]; data: Float32Array } {
  const [r, c] = m.dims;
  if (m.axis === 0) {
    const out = new Float32Array(keep.length * c);
    keep.forEach((j, t) => out.set(data.subarray(j * c, (j + 1) * c), t * c));
    return { dims: [keep.length, c], data: out };
  }
  const out = new Float32Array(r * keep.length);
  for (let i = 0; i < r; i++) keep.forEach((j, t) => (out[i * keep.length + t] = data[i * c + j]));
  return { dims: [r, keep.length], data: out };
}

function rewrite(p: Pair, plan: MergePlan): void {
  const { w1, w2 } = p;
  // Outgoing weights of each merged neuron, scaled, into its survivor (float64 sums, rounded once).
  const w2d = Float64Array.from(w2.data);
  const n = w2.dims[w2.axis];
  const other = w2.dims[1 - w2.axis];
  const at = (neuron: number, o: number) => (w2.axis === 0 ? neuron * other + o : o * n + neuron);
  for (const [j, [i, c]] of plan.merged) for (let o = 0; o < other; o++) w2d[at(i, o)] += c * w2d[at(j, o)];
  const w1n = selectNeurons(w1, w1.data, plan.keep);
  setWeightData(w1.c.root, DataType.FLOAT, w1n.dims, w1n.data);
  const w2n = selectNeurons(w2, Float32Array.from(w2d), plan.keep);
  setWeightData(w2.c.root, DataType.FLOAT, w2n.dims, w2n.data);
  if (p.bias?.perNeuron) {
    const d = p.bias.c.tensor.dims;
    const values = Float32Array.from(plan.keep, (j) => p.bias!.values[j]);
    setWeightData(p.bias.c.root, DataType.FLOAT, [...d.slice(0, -1), plan.keep.length], values);
  }
  for (const v of p.between) {
    const t = v.type;
    if (t?.kind !== 'tensor' || !t.shape?.length) continue;
    const shape = [...t.shape];
    if (typeof shape[shape.length - 1] === 'number') shape[shape.length - 1] = plan.keep.length;
    v.type = { ...t, shape };
  }
}

export function mergeNeurons(model: Model, o: MergeOptions): PassReport {
  const changes = new Changes();
  const matchers = o.nodes?.map(nodePattern);
  let candidates = 0;
  for (const g of allGraphs(model)) {
    for (const l1 of g) {
      if (!l1.graph || !o.opTypes.some((op) => isOnnxOp(l1, op))) continue;
      if (matchers && !matchers.some((m) => m(l1.name))) continue;
      const w = l1.inputs[1] ? constantTensor(l1.inputs[1]) : undefined;
      if (!w) continue; // a product of two activations (attention) is not a layer
      candidates++;
      if (w.size < o.minSize) continue;
      const p = matchPair(l1);
      if (p === undefined) continue;
      if (typeof p === 'string') {
        changes.note(`${nodeLabel(l1)}: left alone: ${p}`);
        continue;
      }
      const vectors = neuronVectors(p);
      const plan = planMerges(vectors, o.threshold);
      const label = `${nodeLabel(l1)} → ${p.act ? `${p.act.opType} → ` : ''}${nodeLabel(p.l2)}`;
      if (plan.keep.length === vectors.length) continue;
      rewrite(p, plan);
      changes.add('layer pairs shrunk');
      changes.add('neurons merged', plan.merged.size);
      changes.add('dead neurons removed', plan.dead.length);
      changes.note(
        `${label}: ${vectors.length} → ${plan.keep.length} neurons (${plan.merged.size} merged, ${plan.dead.length} dead), ` +
          `worst residual √(1−cos²) ${plan.worstResidual.toExponential(2)}`,
      );
    }
  }
  if (candidates === 0)
    throw new Error(
      `${MERGE_NEURONS}: the selection (opTypes ${o.opTypes.join(',')}${o.nodes ? `; nodes ${o.nodes.map((s) => JSON.stringify(s)).join(',')}` : ''}) matches no Gemm/MatMul layer with a constant weight`,
    );
  return changes.report();
}

export const mergeNeuronsPass: Pass<MergeOptions> = {
  name: MERGE_NEURONS,
  family: 'prune',
  description: 'Merges near-proportional neurons of Gemm/MatMul layers (cosine ≥ threshold), shrinking both layers',
  idempotent: true,
  tolerance: Infinity,
  parseOptions: parseMergeOptions,
  run: (model, o) => mergeNeurons(model, o),
};
