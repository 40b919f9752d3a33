/**
 * `fold-linear-layers`: folds two consecutive linear layers with nothing nonlinear between them into
 * one ("depth compression"), when that lowers the parameter count (and with it the MACs).
 *
 * ```
 * Gemm∘Gemm:
 *   Before:  X ─► Gemm(W1, b1) ─► y ─► Gemm(W2, b2) ─► Z
 *   After:   X ─► Gemm(W, b) ─► Z                     (Z keeps its name, type and uses)
 *   W = α1·α2 · W1'·W2'   [K,N]      W1' = op(W1) [K,M], W2' = op(W2) [M,N] (transB applied)
 *   b = α2 · (β1·b1)·W2' + β2·b2
 *   The fused Gemm keeps Gemm1's transA; alpha = beta = 1, transB = 0.
 *
 * MatMul∘MatMul (X of any rank, W1 [K,M] and W2 [M,N] constant 2-D matrices):
 *   Before:  X ─► MatMul(W1) ─► MatMul(W2) ─► Z             After:  X ─► MatMul(W1·W2) ─► Z
 *   Before:  X ─► MatMul(W1) ─► Add(b1) ─► MatMul(W2) ─► Z  After:  X ─► MatMul(W1·W2) ─► Add(b1·W2) ─► Z
 *   since (X·W1 + b1)·W2 = X·(W1·W2) + b1·W2. b1 may have any shape whose dims are all 1 but the
 *   last (1 or M); the new bias has the same shape with the last dim N, so the output shape is
 *   unchanged.
 * ```
 *
 * Criterion: with W1 [K,M] and W2 [M,N], the fold happens iff K·N < K·M + M·N (parameters; the
 * MACs per row are the same numbers). A narrow bottleneck (low-rank factorization, M small) would
 * grow the model and is refused with a note.
 *
 * Refused (with a note): the intermediate with other uses or a graph output (also the Add's
 * input), non-constant weights or biases, weights not 2-D, element types other than float32,
 * biases that are not per-column, Gemm2 with transA = 1, Gemm below opset 7, products bigger than
 * `MAX_FOLD_MACS` multiply-adds (too slow to compute here). Not handled: 1×1 Conv after Conv,
 * Gemm↔MatMul mixes.
 *
 * Arithmetic: the product W1·W2 (and b1·W2) is computed here in float64 from the float32 values and
 * rounded once to float32. The algebra is a plain matrix product (no operator semantics to
 * reproduce); float64 accumulation is closer to the exact fold than evaluating an emitted MatMul in
 * float32 with onnxruntime, and the result is an ordinary initializer, so later passes chain on it
 * and a rerun changes nothing. Like `fuse-bn-into-conv`, only the main graph and subgraphs are
 * visited (function bodies cannot hold initializers).
 */
import {
  DataType,
  MemoryTensor,
  Node,
  Value,
  createNode,
  graphAndSubgraphs,
  toFloat32,
  type Graph,
  type Tensor,
} from '@edgeforge/onnx';
import { Changes, noOptions, type Pass } from '../pass.js';
import { constantThroughIdentity, isOnnxOp, releaseIfUnused } from './fuse-bn-into-conv.js';

export const FOLD_LINEAR_LAYERS = 'fold-linear-layers';

/** Largest K·M·N this pass multiplies out in TypeScript (about a second of float64 work). */
export const MAX_FOLD_MACS = 2 ** 30;

/** A constant 2-D float32 matrix `[rows, cols]`, as float64, already in `[in, out]` orientation. */
interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** The constant behind `v` as a float32 tensor, or why not. */
function constFloat(v: Value | null | undefined, role: string): Tensor | string {
  const t = constantThroughIdentity(v);
  if (!t) return `${role} '${v?.name ?? ''}' is not constant`;
  if (t.dtype !== DataType.FLOAT) return `${role} '${v!.name}' has element type ${t.dtype}, not float32`;
  return t;
}

/** A 2-D weight as `[in, out]`, transposing when `trans` (Gemm transB). */
function matrix(t: Tensor, trans: boolean, scale = 1): Matrix | undefined {
  if (t.dims.length !== 2) return undefined;
  const [r, c] = t.dims;
  const src = toFloat32(t);
  const data = new Float64Array(r * c);
  if (!trans) for (let i = 0; i < data.length; i++) data[i] = scale * src[i];
  else for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) data[j * r + i] = scale * src[i * c + j];
  return trans ? { rows: c, cols: r, data } : { rows: r, cols: c, data };
}

/** `a · b` in float64. */
function matmul(a: Matrix, b: Matrix): Matrix {
  const { rows: K, cols: M } = a;
  const N = b.cols;
  const out = new Float64Array(K * N);
  for (let k = 0; k < K; k++) {
    const o = k * N;
    for (let m = 0; m < M; m++) {
      const s = a.data[k * M + m];
      if (s === 0) continue;
      const r = m * N;
      for (let n = 0; n < N; n++) out[o + n] += s * b.data[r + n];
    }
  }
  return { rows: K, cols: N, data: out };
}

/**
 * A per-column bias of `width` columns: dims all 1 except the last (1 or `width`); at most rank
 * `maxRank`. Returns the values broadcast to `[width]`, scaled, or undefined when not per-column.
 */
function perColumn(t: Tensor, width: number, maxRank: number, scale = 1): Float64Array | undefined {
  const d = t.dims;
  if (d.length > maxRank || d.slice(0, -1).some((x) => x !== 1)) return undefined;
  const last = d.length ? d[d.length - 1] : 1;
  if (last !== 1 && last !== width) return undefined;
  const v = toFloat32(t);
  return Float64Array.from({ length: width }, (_, i) => scale * (v.length === 1 ? v[0] : v[i]));
}

/** Why the fold would not shrink `[K,M]·[M,N]`, or undefined when it does. */
function growth(K: number, M: number, N: number): string | undefined {
  const before = K * M + M * N;
  const after = K * N;
  if (after >= before)
    return `weights would grow from ${before} to ${after} parameters (${K}×${M} + ${M}×${N} → ${K}×${N})`;
  if (K * M * N > MAX_FOLD_MACS) return `${K}×${M}×${N} multiply-adds exceed ${MAX_FOLD_MACS} for the fold`;
  return undefined;
}

/** The intermediate `v` must feed only `consumer`. */
function soleUse(v: Value, consumer: Node): string | undefined {
  if (v.isGraphOutput()) return `'${v.name}' is a graph output`;
  if (v.uses().length !== 1 || v.uses()[0].node !== consumer) return `'${v.name}' has other uses`;
  return undefined;
}

function f32(m: Float64Array, dims: number[]): MemoryTensor {
  return new MemoryTensor(DataType.FLOAT, dims, Float32Array.from(m));
}

/**
 * Replaces `first … last` (the nodes listed in `old`, producer first) by `fresh` (in order), the last
 * of which takes over `last`'s output Value. Drops the removed intermediates' value_info and frees
 * inputs nothing uses any more.
 */
function replace(g: Graph, old: Node[], fresh: Node[]): void {
  const last = old[old.length - 1];
  const out = last.outputs[0];
  const mids = new Set(old.slice(0, -1).flatMap((n) => n.outputs));
  const released = old.flatMap((n) => n.inputs).filter((v): v is Value => !!v && !mids.has(v));
  g.insertBefore(last, ...fresh);
  g.remove(last, { safe: false });
  last.setOutput(0, new Value(''));
  for (const n of old.slice(0, -1).reverse()) g.remove(n, { safe: false });
  fresh[fresh.length - 1].addOutput(out);
  for (const m of mids) {
    const k = g.valueInfo.indexOf(m);
    if (k >= 0) g.valueInfo.splice(k, 1);
  }
  for (const v of released) releaseIfUnused(v);
}

/** Gemm2 fed directly by Gemm1. */
function foldGemm(g2: Node, opset: number, changes: Changes): void {
  const mid = g2.inputs[0];
  const g1 = mid?.producer;
  if (!mid || !g1 || !isOnnxOp(g1, 'Gemm')) return;
  const what = `${g1} → ${g2}`;
  const refuse = (why: string) => changes.note(`${what}: ${why}`);
  if (g1.graph !== g2.graph) return refuse('producer is in another graph');
  const use = soleUse(mid, g2);
  if (use) return refuse(use);
  if (opset < 7) return refuse(`opset ${opset} < 7 (Gemm without broadcasting)`);
  if (g2.getInt('transA', 0) !== 0) return refuse('second Gemm has transA = 1');
  const w1t = constFloat(g1.inputs[1], 'B');
  if (typeof w1t === 'string') return refuse(w1t);
  const w2t = constFloat(g2.inputs[1], 'B');
  if (typeof w2t === 'string') return refuse(w2t);
  const a1 = g1.getFloat('alpha', 1)!;
  const a2 = g2.getFloat('alpha', 1)!;
  const w1 = matrix(w1t, g1.getInt('transB', 0) !== 0, a1);
  const w2 = matrix(w2t, g2.getInt('transB', 0) !== 0, a2);
  if (!w1 || !w2) return refuse('B is not 2-D');
  if (w1.cols !== w2.rows) return refuse(`inner sizes ${w1.cols} and ${w2.rows} differ`);
  const [K, M, N] = [w1.rows, w1.cols, w2.cols];
  const grow = growth(K, M, N);
  if (grow) return refuse(grow);
  const biases: Float64Array[] = [];
  for (const [node, width] of [
    [g1, M],
    [g2, N],
  ] as const) {
    const c = node.inputs[2];
    if (!c) {
      biases.push(new Float64Array(width));
      continue;
    }
    const t = constFloat(c, 'C');
    if (typeof t === 'string') return refuse(t);
    const b = perColumn(t, width, 2, node.getFloat('beta', 1));
    if (!b) return refuse(`C '${c.name}' of shape [${t.dims.join(',')}] is not per-column`);
    biases.push(b);
  }
  const w = matmul(w1, w2);
  // b1 · (α2 W2') + β2 b2; w2 already carries α2.
  const b = matmul({ rows: 1, cols: M, data: biases[0] }, w2).data;
  for (let n = 0; n < N; n++) b[n] += biases[1][n];

  const gr = g2.graph!;
  const base = g1.inputs[1]!.name;
  const wv = gr.addInitializer(gr.freshName(`${base}_folded`), f32(w.data, [K, N]));
  const bv = gr.addInitializer(gr.freshName(`${base}_folded_bias`), f32(b, [N]));
  const transA = g1.getInt('transA', 0)!;
  const fused = createNode('Gemm', [g1.inputs[0], wv, bv], {
    name: g1.name || g2.name,
    attributes: transA ? [g1.attr('transA')!] : [],
    outputs: [],
  });
  replace(gr, [g1, g2], [fused]);
  changes.add('Gemm∘Gemm folded');
}

/** MatMul2(·, W2) fed by MatMul1(X, W1), optionally through Add(b1). */
function foldMatMul(m2: Node, changes: Changes): void {
  const mid = m2.inputs[0];
  let p = mid?.producer;
  if (!mid || !p) return;
  let add: Node | undefined;
  let biasSide = -1;
  if (isOnnxOp(p, 'Add') && p.inputs.length === 2) {
    for (const side of [0, 1]) {
      const q = p.inputs[1 - side]?.producer;
      if (q && isOnnxOp(q, 'MatMul') && constantThroughIdentity(p.inputs[side])) {
        add = p;
        biasSide = side;
        p = q;
        break;
      }
    }
    if (!add) return;
  }
  if (!isOnnxOp(p, 'MatMul')) return;
  const m1 = p;
  // Without constant weights these are not linear layers (e.g. attention's Q·Kᵀ·V): nothing to say.
  if (!constantThroughIdentity(m1.inputs[1]) || !constantThroughIdentity(m2.inputs[1])) return;
  const what = add ? `${m1} → ${add} → ${m2}` : `${m1} → ${m2}`;
  const refuse = (why: string) => changes.note(`${what}: ${why}`);
  const chain = add ? [m1, add, m2] : [m1, m2];
  if (chain.some((n) => n.graph !== m2.graph)) return refuse('nodes are in different graphs');
  for (let i = 0; i + 1 < chain.length; i++) {
    const use = soleUse(chain[i].outputs[0], chain[i + 1]);
    if (use) return refuse(use);
  }
  const w1t = constFloat(m1.inputs[1], 'W1');
  if (typeof w1t === 'string') return refuse(w1t);
  const w2t = constFloat(m2.inputs[1], 'W2');
  if (typeof w2t === 'string') return refuse(w2t);
  const w1 = matrix(w1t, false);
  const w2 = matrix(w2t, false);
  if (!w1 || !w2) return refuse(`weights have rank ${w1t.dims.length} and ${w2t.dims.length}, not 2`);
  if (w1.cols !== w2.rows) return refuse(`inner sizes ${w1.cols} and ${w2.rows} differ`);
  const [K, M, N] = [w1.rows, w1.cols, w2.cols];
  let bias: { t: Tensor; v: Float64Array } | undefined;
  if (add) {
    const c = add.inputs[biasSide];
    const t = constFloat(c, 'bias');
    if (typeof t === 'string') return refuse(t);
    const v = perColumn(t, M, Infinity);
    if (!v) return refuse(`bias '${c!.name}' of shape [${t.dims.join(',')}] is not per-column`);
    bias = { t, v };
  }
  const grow = growth(K, M, N);
  if (grow) return refuse(grow);

  const w = matmul(w1, w2);
  const gr = m2.graph!;
  const base = m1.inputs[1]!.name;
  const wv = gr.addInitializer(gr.freshName(`${base}_folded`), f32(w.data, [K, N]));
  // The last new node takes over m2's output Value, so it is built without outputs.
  const mm = createNode('MatMul', [m1.inputs[0], wv], { name: m1.name || m2.name, ...(add ? {} : { outputs: [] }) });
  const fresh = [mm];
  if (add && bias) {
    const b = matmul({ rows: 1, cols: M, data: bias.v }, w2).data;
    const dims = bias.t.dims.length ? [...bias.t.dims.slice(0, -1), N] : [N];
    const bv = gr.addInitializer(gr.freshName(`${add.inputs[biasSide]!.name}_folded`), f32(b, dims));
    const ins = biasSide === 0 ? [bv, mm.outputs[0]] : [mm.outputs[0], bv];
    fresh.push(createNode('Add', ins, { name: add.name, outputs: [] }));
  }
  replace(gr, chain, fresh);
  changes.add(add ? 'MatMul+Add+MatMul folded' : 'MatMul∘MatMul folded');
}

/** Folds consecutive Gemm∘Gemm and MatMul(+Add)∘MatMul with constant weights into one layer. */
export const foldLinearLayers: Pass<Record<string, never>> = {
  name: FOLD_LINEAR_LAYERS,
  family: 'optimize',
  description: 'Fold consecutive linear layers (Gemm∘Gemm, MatMul∘MatMul) into one when it lowers parameters',
  idempotent: true,
  tolerance: 1e-4,
  parseOptions: noOptions(FOLD_LINEAR_LAYERS),
  run(model) {
    const changes = new Changes();
    for (const g of [...graphAndSubgraphs(model.graph)]) {
      for (const n of g) {
        if (n.graph !== g) continue;
        if (isOnnxOp(n, 'Gemm')) foldGemm(n, model.opset, changes);
        else if (isOnnxOp(n, 'MatMul')) foldMatMul(n, changes);
      }
    }
    return changes.report();
  },
};
