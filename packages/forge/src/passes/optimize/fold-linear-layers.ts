/**
 * `fold-linear-layers`: folds two consecutive linear layers with nothing nonlinear between them into
 * one ("depth compression"), when that lowers the parameters or the multiply-adds and raises neither.
 *
 * ```
 * Dense layers: Gemm or MatMul (2-D constant weight), in any combination, optionally an Add of a
 * constant per-column bias between them:
 *   Before:  X ─► L1(W1, b1) ─► [Add(ba)] ─► y ─► L2(W2, b2) ─► Z
 *   After:   X ─► L(W, b) ─► Z                             (Z keeps its name, type and uses)
 *   W1' = α1·op(W1) [K,M], W2' = α2·op(W2) [M,N]   (op = transpose when transB = 1; MatMul: α = 1)
 *   W = W1'·W2'  [K,N]        b = (β1·b1 + ba)·W2' + β2·b2  [N]
 *   L is a Gemm when L1 or L2 is (transA of L1, alpha = beta = 1, transB = 0, C = b);
 *   MatMul∘MatMul stays MatMul (X of any rank), and with an Add between becomes
 *   X ─► MatMul(W) ─► Add(ba·W2') ─► Z   (the bias keeps its shape with the last dim N).
 *
 * Conv after Conv (group 1, constant float32 weights, biases optional):
 *   (a) a pointwise Conv2 (1×1 kernel, stride 1, no padding) after any Conv1 [M,C,k…]:
 *       Before:  X ─► Conv1(W1, b1) ─► Conv2(W2 [N,M,1…], b2) ─► Z
 *       After:   X ─► Conv(W, b) ─► Z        with Conv1's kernel, strides, pads, dilations
 *       W[n,c,k] = Σ_m W2[n,m]·W1[m,c,k]      b = W2·b1 + b2
 *       Exact with Conv1's padding too: Conv2 acts on each pixel alone, including the border
 *       pixels whose value is b1.
 *   (b) any Conv2 [N,M,k…] after a pointwise Conv1 [M,C,1…]:
 *       Before:  X ─► Conv1(W1 [M,C,1…], b1) ─► Conv2(W2, b2) ─► Z
 *       After:   X ─► Conv(W, b) ─► Z        with Conv2's kernel, strides, pads, dilations
 *       W[n,c,k] = Σ_m W2[n,m,k]·W1[m,c]      b[n] = b2[n] + Σ_m,k W2[n,m,k]·b1[m]
 *       Only when Conv2 has no padding or b1 is zero: Conv2's padding sees 0 where the
 *       unfolded model saw b1.
 * ```
 *
 * Criterion: parameters (the constants the fold frees: a weight also used elsewhere stays and is
 * not counted) and multiply-adds (MACs) per output row or pixel, before and after; the fold happens
 * when neither grows and one drops. For dense layers and case (a) both are the same numbers
 * (K·M + M·N → K·N, plus biases for the parameters). In case (b) Conv1 runs once per input pixel
 * of Conv2: r·M·C + N·M·k per output pixel, r = input pixels / output pixels, taken as 1 (a lower
 * bound without padding) when the shapes are not static; so a fold that lowers the parameters
 * lowers the MACs too, and one that would save MACs but grow the parameters (a 1×1 Conv with
 * C > M before a strided Conv) is refused: the pass never grows a model. A narrow bottleneck
 * (low-rank factorization, M small) is refused with a note for the same reason.
 *
 * Refused (with a note): the intermediate with other uses or a graph output (also the Add's
 * input), non-constant weights or biases, element types other than float32, dense weights not 2-D,
 * biases that are not per-column (a Gemm's bias or an Add before a Gemm result: rank ≤ 2), L2 a
 * Gemm with transA = 1, Gemm below opset 7, a Conv with group ≠ 1, two Convs neither of which is
 * pointwise, case (b) with padding and a nonzero b1, products bigger than `MAX_FOLD_MACS`
 * multiply-adds (too slow to compute here). Not matched (no note): MatMul pairs without two
 * constant weights (attention's Q·Kᵀ·V), MatMul with the weight on the left, ConvTranspose,
 * Reshape/Flatten between layers. A fused Gemm has no C when no layer had a bias (opset ≥ 11).
 *
 * Arithmetic: the products (see `linear-algebra.ts`) are computed here in float64 from the float32
 * values and rounded once to float32. The result is an ordinary initializer, so later passes chain
 * on it, and a fold that makes a new pair foldable is followed at once, so a rerun changes nothing.
 * Like `fuse-bn-into-conv`, only the main graph and subgraphs are visited (function bodies cannot
 * hold initializers).
 */
import {
  DataType,
  MemoryTensor,
  Node,
  Value,
  constantTensor,
  createNode,
  graphAndSubgraphs,
  shapeOf,
  type Attr,
  type Graph,
  type Tensor,
} from '@edgeforge/onnx';
import { Changes, noOptions, type Pass } from '../pass.js';
import { constantThroughIdentity, isOnnxOp, releaseIfUnused } from './fuse-bn-into-conv.js';
import {
  asMatrix,
  kernelAfterPointwise,
  matmul,
  matvec,
  rowSums,
  transpose,
  vecmat,
  type Matrix,
} from './linear-algebra.js';

export const FOLD_LINEAR_LAYERS = 'fold-linear-layers';

/** Largest product this pass multiplies out in TypeScript, in multiply-adds (about a second of work). */
export const MAX_FOLD_MACS = 2 ** 30;

const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

// ---- shared ----

/** The constant behind `v` as a float32 tensor, or why not. */
function constFloat(v: Value | null | undefined, role: string): Tensor | string {
  const t = constantThroughIdentity(v);
  if (!t) return `${role} '${v?.name ?? ''}' is not constant`;
  if (t.dtype !== DataType.FLOAT) return `${role} '${v!.name}' has element type ${t.dtype}, not float32`;
  return t;
}

/**
 * Size of the constant behind `v` when the fold frees it (each use, also through Identity nodes,
 * is one of `chain`), else 0: a weight that stays for another user is no saving.
 */
function freedSize(v: Value | null | undefined, chain: ReadonlySet<Node>): number {
  let inside = new Set(chain);
  for (let cur = v, depth = 0; cur && depth < 32; depth++) {
    if (cur.isGraphOutput() || cur.uses().some((u) => !inside.has(u.node))) return 0;
    const t = constantTensor(cur);
    if (t) return t.size;
    const p = cur.producer;
    if (!p || !isOnnxOp(p, 'Identity')) return 0;
    inside = new Set([...inside, p]);
    cur = p.inputs[0];
  }
  return 0;
}

/** Parameters, and multiply-adds per output row (dense) or pixel (Conv). */
interface Cost {
  params: number;
  macs: number;
}

/** Why the fold is not worth it, or undefined when neither count grows and one drops. */
function notWorthIt(before: Cost, after: Cost, per: string): string | undefined {
  const fmt = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));
  const macs = `multiply-adds per output ${per} ${fmt(before.macs)} → ${fmt(after.macs)}`;
  if (after.params > before.params) return `parameters would grow from ${before.params} to ${after.params} (${macs})`;
  if (after.macs > before.macs) return `${macs} would grow (parameters ${before.params} → ${after.params})`;
  if (after.params === before.params && after.macs === before.macs)
    return `neither parameters (${before.params}) nor ${macs} would drop`;
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
 * Replaces `old` (producer first) by `fresh` (in order), the last of which takes over the last old
 * node's output Value. Drops the removed intermediates' value_info and frees inputs nothing uses
 * any more.
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

/** Checks every link of `chain` is the next node's only input use, in one graph. */
function chainLinks(chain: Node[]): string | undefined {
  if (chain.some((n) => n.graph !== chain[chain.length - 1].graph)) return 'nodes are in different graphs';
  for (let i = 0; i + 1 < chain.length; i++) {
    const use = soleUse(chain[i].outputs[0], chain[i + 1]);
    if (use) return use;
  }
  return undefined;
}

// ---- dense layers: Gemm and MatMul ----

/**
 * A per-column bias of `width` columns: dims all 1 except the last (1 or `width`); at most rank
 * `maxRank`. Returns the values broadcast to `[width]`, scaled, or undefined when not per-column.
 */
function perColumn(t: Tensor, width: number, maxRank: number, scale = 1): Float64Array | undefined {
  const d = t.dims;
  if (d.length > maxRank || d.slice(0, -1).some((x) => x !== 1)) return undefined;
  const last = d.length ? d[d.length - 1] : 1;
  if (last !== 1 && last !== width) return undefined;
  const v = asMatrix(t, 1, scale).data;
  return Float64Array.from({ length: width }, (_, i) => (v.length === 1 ? v[0] : v[i]));
}

/** A Gemm or MatMul as `y = x·w + bias` with `w` `[in, out]` (Gemm's transB and alpha applied). */
interface Dense {
  node: Node;
  gemm: boolean;
  w: Matrix;
  /** Gemm's `beta · C` per column; undefined without C (and for MatMul). */
  bias?: Float64Array;
}

function dense(n: Node): Dense | string {
  const gemm = isOnnxOp(n, 'Gemm');
  const wt = constFloat(n.inputs[1], gemm ? 'B' : 'weight');
  if (typeof wt === 'string') return wt;
  if (wt.dims.length !== 2) return `${n}: weight '${n.inputs[1]!.name}' is not 2-D`;
  let w = asMatrix(wt, wt.dims[0], gemm ? n.getFloat('alpha', 1) : 1);
  if (gemm && n.getInt('transB', 0) !== 0) w = transpose(w);
  const c = gemm ? n.inputs[2] : null;
  if (!c) return { node: n, gemm, w };
  const t = constFloat(c, 'C');
  if (typeof t === 'string') return t;
  const bias = perColumn(t, w.cols, 2, n.getFloat('beta', 1));
  if (!bias) return `C '${c.name}' of shape [${t.dims.join(',')}] is not per-column`;
  return { node: n, gemm, w, bias };
}

const isDense = (n: Node) => isOnnxOp(n, 'Gemm') || isOnnxOp(n, 'MatMul');

/** L1 → [Add(bias)] → l2, when l2's input comes from a Gemm/MatMul, possibly through an Add. */
function denseChain(l2: Node): { l1: Node; add?: Node; biasSide: number } | undefined {
  const p = l2.inputs[0]?.producer;
  if (!p) return undefined;
  if (isDense(p)) return { l1: p, biasSide: -1 };
  if (!isOnnxOp(p, 'Add') || p.inputs.length !== 2) return undefined;
  for (const side of [0, 1]) {
    const q = p.inputs[1 - side]?.producer;
    if (q && isDense(q) && constantThroughIdentity(p.inputs[side])) return { l1: q, add: p, biasSide: side };
  }
  return undefined;
}

/** Folds `l2` into the Gemm/MatMul that feeds it; returns the new first node, or undefined. */
function foldDense(l2: Node, opset: number, changes: Changes): Node | undefined {
  const chain = denseChain(l2);
  if (!chain) return undefined;
  const { l1, add, biasSide } = chain;
  // Without constant weights these are not linear layers (e.g. attention's Q·Kᵀ·V): nothing to say.
  if (!constantThroughIdentity(l1.inputs[1]) || !constantThroughIdentity(l2.inputs[1])) return undefined;
  const nodes = add ? [l1, add, l2] : [l1, l2];
  const refuse = (why: string): undefined => void changes.note(`${nodes.join(' → ')}: ${why}`);
  const links = chainLinks(nodes);
  if (links) return refuse(links);
  const emitGemm = isOnnxOp(l1, 'Gemm') || isOnnxOp(l2, 'Gemm');
  if (emitGemm && opset < 7) return refuse(`opset ${opset} < 7 (Gemm without broadcasting)`);
  if (isOnnxOp(l2, 'Gemm') && l2.getInt('transA', 0) !== 0) return refuse('second Gemm has transA = 1');
  const d1 = dense(l1);
  if (typeof d1 === 'string') return refuse(d1);
  const d2 = dense(l2);
  if (typeof d2 === 'string') return refuse(d2);
  const [K, M, N] = [d1.w.rows, d1.w.cols, d2.w.cols];
  if (d2.w.rows !== M) return refuse(`inner sizes ${M} and ${d2.w.rows} differ`);

  let addBias: { t: Tensor; v: Float64Array } | undefined;
  if (add) {
    const c = add.inputs[biasSide];
    const t = constFloat(c, 'bias');
    if (typeof t === 'string') return refuse(t);
    // A rank-3 bias broadcasts a Gemm's 2-D result to rank 3, which a Gemm's C cannot.
    if (emitGemm && t.dims.length > 2) return refuse(`bias '${c!.name}' of rank ${t.dims.length} raises the rank`);
    const v = perColumn(t, M, Infinity);
    if (!v) return refuse(`bias '${c!.name}' of shape [${t.dims.join(',')}] is not per-column`);
    addBias = { t, v };
  }
  const biased = !!(d1.bias || d2.bias || addBias);
  // Gemm's C is optional from opset 11 on (before, every Gemm has one, so `biased` holds then).
  const gemmBias = emitGemm && (biased || opset < 11);
  const newAddBiasDims = addBias ? (addBias.t.dims.length ? [...addBias.t.dims.slice(0, -1), N] : [N]) : [];
  const set = new Set(nodes);
  const before: Cost = {
    params: [l1.inputs[1], l1.inputs[2], l2.inputs[1], l2.inputs[2], add?.inputs[biasSide]]
      .map((v) => (v ? freedSize(v, set) : 0))
      .reduce((a, b) => a + b, 0),
    macs: K * M + M * N,
  };
  const after: Cost = {
    params: K * N + (emitGemm ? (gemmBias ? N : 0) : addBias ? product(newAddBiasDims) : 0),
    macs: K * N,
  };
  const why = notWorthIt(before, after, 'row');
  if (why) return refuse(why);
  if (K * M * N > MAX_FOLD_MACS) return refuse(`${K}×${M}×${N} multiply-adds exceed ${MAX_FOLD_MACS} for the fold`);

  const w = matmul(d1.w, d2.w);
  const g = l2.graph!;
  const base = l1.inputs[1]!.name;
  const wv = g.addInitializer(g.freshName(`${base}_folded`), f32(w.data, [K, N]));
  // (β1·b1 + ba)·W2' + β2·b2; W2' already carries α2.
  const mid = new Float64Array(M);
  for (const part of [d1.bias, addBias?.v]) if (part) for (let m = 0; m < M; m++) mid[m] += part[m];
  const b = vecmat(mid, d2.w);
  if (d2.bias) for (let n = 0; n < N; n++) b[n] += d2.bias[n];

  let fresh: Node[];
  if (emitGemm) {
    const inputs = [l1.inputs[0], wv];
    if (gemmBias) inputs.push(g.addInitializer(g.freshName(`${base}_folded_bias`), f32(b, [N])));
    const transA = isOnnxOp(l1, 'Gemm') && l1.getInt('transA', 0) !== 0;
    fresh = [
      createNode('Gemm', inputs, {
        name: l1.name || l2.name,
        attributes: transA ? [{ ...l1.attr('transA')! }] : [],
        outputs: [],
      }),
    ];
  } else {
    // The last new node takes over l2's output Value, so it is built without outputs.
    const mm = createNode('MatMul', [l1.inputs[0], wv], { name: l1.name || l2.name, ...(add ? {} : { outputs: [] }) });
    fresh = [mm];
    if (add) {
      const bv = g.addInitializer(g.freshName(`${add.inputs[biasSide]!.name}_folded`), f32(b, newAddBiasDims));
      const ins = biasSide === 0 ? [bv, mm.outputs[0]] : [mm.outputs[0], bv];
      fresh.push(createNode('Add', ins, { name: add.name, outputs: [] }));
    }
  }
  replace(g, nodes, fresh);
  const kind = (n: Node) => (isOnnxOp(n, 'Gemm') ? 'Gemm' : 'MatMul');
  changes.add(`${kind(l1)}${add ? '+Add+' : '∘'}${kind(l2)} folded`);
  return fresh[0];
}

// ---- Conv after Conv ----

interface ConvShape {
  node: Node;
  weight: Tensor;
  /** Output channels, input channels, kernel taps (product of the kernel dims). */
  out: number;
  in: number;
  taps: number;
  bias?: Float64Array;
  /** 1×1 kernel, stride 1, no padding: maps each pixel alone. */
  pointwise: boolean;
  /** Pads the input (explicit pads or auto_pad SAME_*). */
  padded: boolean;
}

function convShape(n: Node): ConvShape | string {
  const weight = constFloat(n.inputs[1], 'W');
  if (typeof weight === 'string') return weight;
  const dims = weight.dims;
  if (dims.length < 3) return `${n}: weight rank ${dims.length} < 3`;
  const group = n.getInt('group', 1);
  if (group !== 1) return `${n} has group ${group}`;
  const kernel = dims.slice(2);
  const pads = n.getInts('pads') ?? [];
  const autoPad = n.getString('auto_pad', 'NOTSET');
  const unitKernel = kernel.every((k) => k === 1);
  const stride1 = (n.getInts('strides') ?? []).every((s) => s === 1);
  // A 1×1 kernel at stride 1 needs no padding, whatever auto_pad says.
  const padded = pads.some((p) => p !== 0) || (autoPad.startsWith('SAME') && !(unitKernel && stride1));
  const shape: ConvShape = {
    node: n,
    weight,
    out: dims[0],
    in: dims[1],
    taps: product(kernel),
    pointwise: unitKernel && stride1 && !padded,
    padded,
  };
  const b = n.inputs[2];
  if (!b) return shape;
  const t = constFloat(b, 'B');
  if (typeof t === 'string') return t;
  if (t.size !== shape.out) return `${n}: bias has ${t.size} values for ${shape.out} channels`;
  return { ...shape, bias: asMatrix(t, 1).data };
}

/** How many input pixels of `c1` each output pixel of `c2` stands for; 1 when not static. */
function pixelRatio(c1: Node, c2: Node): number {
  const spatial = (v: Value | null | undefined) => shapeOf(v?.type)?.slice(2);
  const a = spatial(c1.inputs[0]);
  const b = spatial(c2.outputs[0]);
  if (!a || !b || a.length !== b.length || ![...a, ...b].every((d) => typeof d === 'number' && d > 0)) return 1;
  return Math.max(1, product(a as number[]) / product(b as number[]));
}

/** Folds Conv `c2` into the Conv that feeds it; returns the new node, or undefined. */
function foldConv(c2: Node, changes: Changes): Node | undefined {
  const c1 = c2.inputs[0]?.producer;
  if (!c1 || !isOnnxOp(c1, 'Conv')) return undefined;
  const refuse = (why: string): undefined => void changes.note(`${c1} → ${c2}: ${why}`);
  const links = chainLinks([c1, c2]);
  if (links) return refuse(links);
  const s1 = convShape(c1);
  if (typeof s1 === 'string') return refuse(s1);
  const s2 = convShape(c2);
  if (typeof s2 === 'string') return refuse(s2);
  if (s1.weight.dims.length !== s2.weight.dims.length) return refuse('kernel ranks differ');
  const [C, M, N] = [s1.in, s1.out, s2.out];
  if (s2.in !== M) return refuse(`${M} channels feed a Conv over ${s2.in}`);
  // Case (a) keeps Conv1's geometry, case (b) Conv2's.
  const afterPointwise = s2.pointwise;
  if (!afterPointwise && !s1.pointwise) return refuse('neither Conv is pointwise (1×1 kernel, stride 1, no padding)');
  if (!afterPointwise && s2.padded && s1.bias?.some((x) => x !== 0))
    return refuse('the second Conv pads and the first has a bias (its padding would see 0, not the bias)');
  const geometry = afterPointwise ? s1 : s2;
  const taps = geometry.taps;
  const biased = !!(s1.bias || s2.bias);
  const set = new Set([c1, c2]);
  const ratio = afterPointwise ? 1 : pixelRatio(c1, c2);
  const before: Cost = {
    params: [c1.inputs[1], c1.inputs[2], c2.inputs[1], c2.inputs[2]]
      .map((v) => (v ? freedSize(v, set) : 0))
      .reduce((a, b) => a + b, 0),
    macs: afterPointwise ? M * C * taps + N * M : ratio * M * C + N * M * taps,
  };
  const after: Cost = { params: N * C * taps + (biased ? N : 0), macs: N * C * taps };
  const why = notWorthIt(before, after, 'pixel');
  if (why) return refuse(why);
  if (N * M * C * taps > MAX_FOLD_MACS)
    return refuse(`${N}×${M}×${C}×${taps} multiply-adds exceed ${MAX_FOLD_MACS} for the fold`);

  const w1 = asMatrix(s1.weight, M);
  const w2 = asMatrix(s2.weight, N);
  const b = new Float64Array(N);
  if (s2.bias) b.set(s2.bias);
  let w: Matrix;
  if (afterPointwise) {
    w = matmul(w2, w1);
    if (s1.bias) matvec(w2, s1.bias).forEach((x, n) => (b[n] += x));
  } else {
    w = kernelAfterPointwise(w2, w1, taps);
    if (s1.bias) {
      const tapSums = rowSums({ rows: N * M, cols: taps, data: w2.data });
      matvec({ rows: N, cols: M, data: tapSums }, s1.bias).forEach((x, n) => (b[n] += x));
    }
  }
  const g = c2.graph!;
  const base = c1.inputs[1]!.name;
  const dims = [N, C, ...geometry.weight.dims.slice(2)];
  const inputs = [c1.inputs[0], g.addInitializer(g.freshName(`${base}_folded`), f32(w.data, dims))];
  if (biased) inputs.push(g.addInitializer(g.freshName(`${base}_folded_bias`), f32(b, [N])));
  const attributes: Attr[] = [...geometry.node.attributes.values()].map((a) => ({ ...a }));
  const fused = createNode('Conv', inputs, { name: c1.name || c2.name, attributes, outputs: [] });
  replace(g, [c1, c2], [fused]);
  changes.add(afterPointwise ? 'Conv∘Conv 1×1 folded' : 'Conv 1×1∘Conv folded');
  return fused;
}

/** Folds consecutive Gemm/MatMul layers and a 1×1 Conv next to a Conv into one layer. */
export const foldLinearLayers: Pass<Record<string, never>> = {
  name: FOLD_LINEAR_LAYERS,
  family: 'optimize',
  description:
    'Fold consecutive linear layers (Gemm/MatMul pairs, a 1×1 Conv next to a Conv) into one when it lowers parameters or MACs',
  idempotent: true,
  tolerance: 1e-4,
  parseOptions: noOptions(FOLD_LINEAR_LAYERS),
  run(model) {
    const changes = new Changes();
    for (const g of [...graphAndSubgraphs(model.graph)]) {
      for (const n of g) {
        if (n.graph !== g) continue;
        // A fused layer may fold with its own producer in turn (a chain of three, bottleneck first).
        for (let cur: Node | undefined = n; cur;) {
          if (isOnnxOp(cur, 'Conv')) cur = foldConv(cur, changes);
          else if (isDense(cur)) cur = foldDense(cur, model.opset, changes);
          else cur = undefined;
        }
      }
    }
    return changes.report();
  },
};
