/**
 * `fuse-bn-into-conv`: folds an inference BatchNormalization into the Conv, ConvTranspose or Gemm
 * that feeds it.
 *
 * ```
 * Before:  X ─► Conv(W, b) ─► y ─► BatchNormalization(γ, β, μ, σ², ε) ─► Z
 * After:   X ─► Conv(W', b') ─► Z          (Z keeps its name, type and uses)
 *
 *   s[o] = γ[o] / √(σ²[o] + ε)             per output channel o
 *   W'   = W · s   along the output-channel axis
 *   b'   = (b − μ) · s + β                 (b = 0 when the Conv has no bias)
 * ```
 *
 * The output-channel axis is 0 for Conv (`W: [M, C/g, k…]`); for ConvTranspose it is axis 1 of
 * each group (`W: [C, M/g, k…]`, channel `o = (c ÷ (C/g))·(M/g) + j`); for Gemm it is the column
 * of `B'` (`transB` decides which axis of `B` that is), the bias becomes `C' = (β_gemm·C − μ)·s + β`
 * with `beta = 1`.
 *
 * Handled: weights and BN parameters in initializers or `Constant` nodes, also behind `Identity`
 * nodes (torch deduplicates equal tensors into Identity outputs); float32 and float16; subgraphs.
 * Refused (with a note): a producer output with other uses or that is a graph output, non-constant
 * weights or parameters, other element types, BN in training mode (`training_mode = 1`, or a
 * used mean/var output), `spatial = 0`, parameter sizes that do not match the channel count.
 *
 * Arithmetic: the new weights are computed here in float64 and rounded once to the weight's type
 * (float16 goes through float32). This is the one place edgeforge computes tensors outside
 * onnxruntime, on purpose: it is a per-channel scale (no operator semantics to reproduce), the
 * result is an ordinary Conv with initializers whatever runs next (so `fuse-mul-add-into-conv` can
 * chain on it in the same recipe and a rerun changes nothing), and float64 is closer to the exact
 * fold than the float32 that `fold-constants` would evaluate an emitted Add/Sqrt/Div/Mul chain in.
 * The helpers below are shared with `fuse-mul-add-into-conv`.
 */
import {
  DataType,
  MemoryTensor,
  Node,
  Value,
  constantTensor,
  graphAndSubgraphs,
  toFloat32,
  type Graph,
  type Tensor,
} from '@edgeforge/onnx';
import { floatToHalf } from '../../runtime/tensor.js';
import { Changes, noOptions, type Pass } from '../pass.js';

export const FUSE_BN_INTO_CONV = 'fuse-bn-into-conv';

/** Ops whose output channels a per-channel affine map can be folded into. */
export const LINEAR_OPS: readonly string[] = ['Conv', 'ConvTranspose', 'Gemm'];

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16]);

export function isOnnxOp(n: Node, opType: string): boolean {
  return n.opType === opType && (n.domain === '' || n.domain === 'ai.onnx');
}

/**
 * The constant behind `v`: an initializer or `Constant` node output, also through `Identity`
 * nodes. An initializer that is also a graph input can be overridden at run time: not constant.
 */
export function constantThroughIdentity(v: Value | null | undefined): Tensor | undefined {
  for (let cur = v, depth = 0; cur && depth < 32; depth++) {
    if (cur.isGraphInput()) return undefined;
    const t = constantTensor(cur);
    if (t) return t;
    const p = cur.producer;
    if (!p || !isOnnxOp(p, 'Identity')) return undefined;
    cur = p.inputs[0];
  }
  return undefined;
}

/** Removes what fed a fused node once nothing uses it: initializers, Constant and Identity nodes. */
export function releaseIfUnused(v: Value | null | undefined): void {
  if (!v || v.uses().length > 0 || v.isGraphOutput() || v.isGraphInput()) return;
  if (v.isInitializer()) {
    v.owner!.removeInitializer(v.name);
    return;
  }
  const p = v.producer;
  if (!p?.graph || p.outputs.length !== 1) return;
  if (isOnnxOp(p, 'Constant')) p.graph.remove(p);
  else if (isOnnxOp(p, 'Identity')) {
    const src = p.inputs[0];
    p.graph.remove(p);
    releaseIfUnused(src);
  }
}

/** A Conv / ConvTranspose / Gemm with constant weights, ready to absorb a per-channel affine map. */
export interface LinearProducer {
  node: Node;
  weight: Tensor;
  /** Effective per-channel bias before the fold (Gemm: `beta · C`), zeros when absent. */
  bias: Float64Array;
  /** Output channels. */
  channels: number;
  /** Rank of the output (Conv: the weight's rank; Gemm: 2). */
  outputRank: number;
  /** Output channel of weight element `i`. */
  channelOf(i: number): number;
}

/**
 * Matches the producer of `v` as a foldable linear op. `undefined`: not a Conv/ConvTranspose/Gemm
 * at all (nothing to say); a string: it is one, but folding into it is refused, and why.
 */
export function linearProducer(v: Value, consumer: Node): LinearProducer | string | undefined {
  const p = v.producer;
  if (!p || !LINEAR_OPS.some((op) => isOnnxOp(p, op))) return undefined;
  const what = `${p} → ${consumer}`;
  if (p.graph !== consumer.graph) return `${what}: producer is in another graph`;
  if (v.uses().length !== 1 || v.isGraphOutput())
    return `${what}: '${v.name}' has other uses${v.isGraphOutput() ? ' (graph output)' : ''}`;
  const weight = constantThroughIdentity(p.inputs[1]);
  if (!weight) return `${what}: weight '${p.inputs[1]?.name}' is not constant`;
  if (!FLOAT_TYPES.has(weight.dtype)) return `${what}: weight type ${weight.dtype} is not float32/float16`;
  const dims = weight.dims;
  const biasIn = p.inputs[2] ?? null;
  const biasT = biasIn ? constantThroughIdentity(biasIn) : undefined;
  if (biasIn && !biasT) return `${what}: bias '${biasIn.name}' is not constant`;
  if (biasT && biasT.dtype !== weight.dtype) return `${what}: bias and weight types differ`;
  let channels: number;
  let outputRank: number;
  let channelOf: (i: number) => number;
  let scaleBias = 1;
  if (p.opType === 'Gemm') {
    if (dims.length !== 2) return `${what}: Gemm B is not 2-D`;
    const transB = p.getInt('transB', 0) !== 0;
    channels = transB ? dims[0] : dims[1];
    outputRank = 2;
    const cols = dims[1];
    const k = dims[1];
    channelOf = transB ? (i) => Math.floor(i / k) : (i) => i % cols;
    scaleBias = p.getFloat('beta', 1);
    if (biasT) {
      const bd = biasT.dims;
      const last = bd.length ? bd[bd.length - 1] : 1;
      if (bd.length > 2 || (bd.length === 2 && bd[0] !== 1) || (last !== 1 && last !== channels))
        return `${what}: Gemm C of shape [${bd.join(',')}] is not per-column`;
    }
  } else {
    if (dims.length < 3) return `${what}: weight rank ${dims.length} < 3`;
    const k = dims.slice(2).reduce((a, b) => a * b, 1);
    outputRank = dims.length;
    if (p.opType === 'Conv') {
      channels = dims[0];
      const perChannel = dims[1] * k;
      channelOf = (i) => Math.floor(i / perChannel);
    } else {
      const group = p.getInt('group', 1);
      const perGroupOut = dims[1];
      const perGroupIn = dims[0] / group;
      if (!Number.isInteger(perGroupIn)) return `${what}: group ${group} does not divide ${dims[0]} channels`;
      channels = perGroupOut * group;
      channelOf = (i) => {
        const c = Math.floor(i / (perGroupOut * k));
        return Math.floor(c / perGroupIn) * perGroupOut + (Math.floor(i / k) % perGroupOut);
      };
    }
    if (biasT && biasT.size !== channels) return `${what}: bias has ${biasT.size} values for ${channels} channels`;
  }
  const bias = new Float64Array(channels);
  if (biasT) {
    const b = toFloat32(biasT);
    for (let o = 0; o < channels; o++) bias[o] = scaleBias * (b.length === 1 ? b[0] : b[o]);
  }
  return { node: p, weight, bias, channels, outputRank, channelOf };
}

/** A per-output-channel affine map `y ↦ y · scale + shift`. */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

function encode(values: Float64Array, dtype: number, dims: readonly number[]): MemoryTensor {
  if (dtype === DataType.FLOAT16) return new MemoryTensor(dtype, dims, Uint16Array.from(values, floatToHalf));
  return new MemoryTensor(dtype, dims, Float32Array.from(values));
}

/**
 * Replaces `lin.node` and `consumer` by one node of the producer's type with the map folded into
 * its weight and bias; it produces `consumer.outputs[0]` (same Value: name, type, uses kept).
 * Inputs that nothing uses any more are removed. Returns the new node.
 */
export function foldChannelAffine(lin: LinearProducer, consumer: Node, aff: ChannelAffine, tag: string): Node {
  const p = lin.node;
  const g = consumer.graph as Graph;
  const { weight, channels } = lin;
  const w = toFloat32(weight);
  const w2 = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) w2[i] = w[i] * aff.scale[lin.channelOf(i)];
  const b2 = new Float64Array(channels);
  for (let o = 0; o < channels; o++) b2[o] = lin.bias[o] * aff.scale[o] + aff.shift[o];
  const oldW = p.inputs[1]!;
  const oldB = p.inputs[2] ?? null;
  const wName = g.freshName(`${oldW.name}_${tag}`);
  const bName = g.freshName(oldB ? `${oldB.name}_${tag}` : `${oldW.name}_${tag}_bias`);
  const newW = g.addInitializer(wName, encode(w2, weight.dtype, weight.dims));
  const newB = g.addInitializer(bName, encode(b2, weight.dtype, [channels]));

  const attributes = [...p.attributes.values()].filter((a) => a.name !== 'beta').map((a) => ({ ...a }));
  const fused = new Node(p.opType, [p.inputs[0], newW, newB], {
    domain: p.domain,
    name: p.name || consumer.name,
    attributes,
    outputs: [],
  });
  const out = consumer.outputs[0];
  const released = [...p.inputs.slice(1), ...consumer.inputs];
  const mid = p.outputs[0];
  g.insertBefore(consumer, fused);
  g.remove(consumer, { safe: false });
  consumer.setOutput(0, new Value(''));
  g.remove(p, { safe: false });
  fused.addOutput(out);
  const k = g.valueInfo.indexOf(mid);
  if (k >= 0) g.valueInfo.splice(k, 1);
  for (const v of released) if (v !== mid) releaseIfUnused(v);
  return fused;
}

/** Why a BatchNormalization cannot be folded as an inference op, or undefined when it can. */
function trainingReason(bn: Node, opset: number): string | undefined {
  if (opset >= 14 && bn.getInt('training_mode', 0) !== 0) return 'training_mode = 1';
  if (bn.getInt('spatial', 1) === 0) return 'spatial = 0';
  for (const o of bn.outputs.slice(1))
    if (o.name && (o.uses().length > 0 || o.isGraphOutput())) return `output '${o.name}' is used`;
  return undefined;
}

function foldBatchNorm(bn: Node, opset: number, changes: Changes): void {
  const x = bn.inputs[0];
  if (!x) return;
  const lin = linearProducer(x, bn);
  if (lin === undefined) {
    changes.note(`${bn}: input comes from ${x.producer?.opType ?? 'outside any node'}, not ${LINEAR_OPS.join('/')}`);
    return;
  }
  if (typeof lin === 'string') return changes.note(lin);
  const training = trainingReason(bn, opset);
  if (training) return changes.note(`${bn}: ${training} (training mode)`);
  const params = bn.inputs.slice(1, 5).map((v) => constantThroughIdentity(v));
  const names = ['scale', 'B', 'mean', 'var'];
  for (let i = 0; i < 4; i++) {
    const t = params[i];
    if (!t) return changes.note(`${bn}: ${names[i]} '${bn.inputs[i + 1]?.name}' is not constant`);
    if (!FLOAT_TYPES.has(t.dtype)) return changes.note(`${bn}: ${names[i]} type ${t.dtype} is not float32/float16`);
    if (t.size !== lin.channels)
      return changes.note(`${bn}: ${names[i]} has ${t.size} values for ${lin.channels} channels`);
  }
  const [gamma, beta, mean, variance] = params.map((t) => toFloat32(t!));
  const eps = bn.getFloat('epsilon', 1e-5);
  const scale = new Float64Array(lin.channels);
  const shift = new Float64Array(lin.channels);
  for (let o = 0; o < lin.channels; o++) {
    scale[o] = gamma[o] / Math.sqrt(variance[o] + eps);
    shift[o] = beta[o] - mean[o] * scale[o];
  }
  foldChannelAffine(lin, bn, { scale, shift }, 'bn');
  changes.add(`BatchNormalization folded into ${lin.node.opType}`);
}

/** Folds inference BatchNormalization into the preceding Conv / ConvTranspose / Gemm. */
export const fuseBnIntoConv: Pass<Record<string, never>> = {
  name: FUSE_BN_INTO_CONV,
  family: 'optimize',
  description: 'Fold inference BatchNormalization into the preceding Conv, ConvTranspose or Gemm',
  idempotent: true,
  tolerance: 1e-4,
  parseOptions: noOptions(FUSE_BN_INTO_CONV),
  run(model) {
    const changes = new Changes();
    // Function bodies cannot hold initializers: only the main graph and its subgraphs are visited.
    for (const g of [...graphAndSubgraphs(model.graph)]) {
      for (const n of g) if (isOnnxOp(n, 'BatchNormalization') && n.graph === g) foldBatchNorm(n, model.opset, changes);
    }
    return changes.report();
  },
};
