/**
 * `quantize-weight-only`: block-wise int4/int8 weights for MatMul (and Gemm, Gather), activations
 * stay float. What ONNX Runtime's `MatMulNBitsQuantizer` does, with the same bytes
 * (`blockwise.ts`; contract §6).
 *
 * ```
 * format 'matmulnbits' (default; com.microsoft opset 1 imported):
 *   Before:  X ─► MatMul(W [K, N] float) ─► Y
 *   After:   X ─► com.microsoft.MatMulNBits(W_Q4 [N, k_blocks, blob] uint8, W_scales [N, k_blocks],
 *                  W_zero_points [N, ⌈k_blocks·bits/8⌉]; K, N, bits, block_size) ─► Y
 *   Gemm(X, W, C; alpha 1, transA 0) ─► MatMulNBits(…, bias = beta·C)   (transB: W is transposed first)
 *   Gather(E [V, D], I; axis 0)      ─► com.microsoft.GatherBlockQuantized(E_Q4 [V, D] int4/uint4
 *                                       (8-bit: uint8, bits 8), I, E_scales [V, ⌈D/bs⌉], E_zero_points;
 *                                       gather_axis 0, quantize_axis 1, block_size)
 *
 * format 'qdq' (portable ONNX, ai.onnx opset ≥ 21; onnxruntime fuses DQ → MatMul/Gemm into MatMulNBits):
 *   After:   X ─► MatMul(X, DequantizeLinear(W_DQ_Q4 [K, N] uint4/int4/uint8/int8, W_DQ_scales
 *                  [k_blocks, N], W_DQ_zero_points [k_blocks, N]; axis 0, block_size)) ─► Y
 *   Gather:  Gather(DequantizeLinear(E_DQ_Q4 [V, D], scales/zp [V, ⌈D/bs⌉]; axis 1, block_size), I)
 * ```
 *
 * Asymmetric (default) uses unsigned values with zero points; symmetric drops the zero points
 * (MatMulNBits then assumes 2^(bits−1); QDQ uses signed types). A shared weight is quantized once.
 * Weights live in initializers or Constant nodes (also behind Identity); subgraphs are visited. A
 * weight `[1, …, 1, K, N]` is squeezed when A's rank keeps the output shape.
 *
 * Left float, with the reason in the notes and a `skipped` count: non-constant or non-float32
 * weights (a Gather counts only when its table is a float constant: Gathers of shapes are ignored), batched (N-D) weights, Gemm with alpha ≠ 1, transA or a bias that is not one value per
 * column, Gather on another axis or of a table that is not 2-D, excluded nodes. The whole pass
 * refuses a model that is already weight-quantized (MatMulNBits/GatherBlockQuantized nodes, or a
 * DequantizeLinear of a constant feeding MatMul/Gemm/Gather). For 'qdq', a model below opset 21 is
 * raised to 21 first by `upgrade-opset` (when there is something to quantize); a model that cannot
 * be raised is refused with the upgrader's reason.
 *
 * Options: `bits` 4 | 8 (4), `blockSize` power of two ≥ 16 (128), `symmetric` (false), `format`
 * ('matmulnbits'), `opTypes` ⊆ MatMul, Gemm, Gather (['MatMul']), `includeNodes` (only these node
 * names), `excludeNodes`, `accuracyLevel` 0–4 (MatMulNBits' attribute, omitted when 0).
 *
 * Fidelity is not this pass's promise (tolerance ∞): the quantize command measures it.
 */
import { refuseQuantized } from './already-quantized.js';
import {
  DataType,
  MemoryTensor,
  Node,
  Value,
  constantTensor,
  dtypeName,
  elemTypeOf,
  isFloat,
  graphAndSubgraphs,
  shapeOf,
  tensorType,
  toAttr,
  toFloat32,
  type Graph,
  type Model,
  type Tensor,
} from '@edgeforge/onnx';
import { isOnnxOp } from '../optimize/fuse-bn-into-conv.js';
import { OpsetUpgradeError, upgradeOpset } from '../optimize/upgrade-opset.js';
import { PassOptionError, type Pass, type PassReport } from '../pass.js';
import {
  checkBlockOptions,
  packMatMulNBits,
  quantizeBlocks,
  quantizeTable,
  transpose,
  type BlockBits,
  type BlockRounding,
} from './blockwise.js';
import { quantizedTensor, type QType } from './params.js';

export const QUANTIZE_WEIGHT_ONLY = 'quantize-weight-only';

export type WeightOnlyOp = 'MatMul' | 'Gemm' | 'Gather';
export type WeightOnlyFormat = 'matmulnbits' | 'qdq';

export interface WeightOnlyOptions {
  bits: BlockBits;
  blockSize: number;
  symmetric: boolean;
  format: WeightOnlyFormat;
  opTypes: WeightOnlyOp[];
  /** When set, only nodes with these names are candidates. */
  includeNodes?: string[];
  excludeNodes: string[];
  /** MatMulNBits `accuracy_level` (0 = unset, omitted). */
  accuracyLevel: number;
}

const OPS: readonly WeightOnlyOp[] = ['MatMul', 'Gemm', 'Gather'];
const KEYS = ['bits', 'blockSize', 'symmetric', 'format', 'opTypes', 'includeNodes', 'excludeNodes', 'accuracyLevel'];
/** Opset that brings int4/uint4 and `block_size` to DequantizeLinear (contract §1). */
export const QDQ_MIN_OPSET = 21;
/** IR version that brings the INT4/UINT4 tensor types. */
const INT4_IR = 10;

function bad(msg: string): never {
  throw new PassOptionError(`${QUANTIZE_WEIGHT_ONLY}: ${msg}`);
}

function names(raw: unknown, key: string): string[] {
  if (!Array.isArray(raw) || !raw.every((x) => typeof x === 'string'))
    bad(`'${key}' must be a list of node names (got ${JSON.stringify(raw)})`);
  return [...(raw as string[])];
}

export function parseWeightOnlyOptions(raw: Record<string, unknown>): WeightOnlyOptions {
  const unknown = Object.keys(raw).filter((k) => !KEYS.includes(k));
  if (unknown.length) bad(`unknown option ${unknown.map((k) => `'${k}'`).join(', ')} (options: ${KEYS.join(', ')})`);
  const bits = raw.bits ?? 4;
  if (bits !== 4 && bits !== 8) bad(`'bits' must be 4 or 8 (got ${JSON.stringify(raw.bits)})`);
  const blockSize = raw.blockSize ?? 128;
  if (typeof blockSize !== 'number' || !Number.isInteger(blockSize) || blockSize < 16 || blockSize & (blockSize - 1))
    bad(`'blockSize' must be a power of two ≥ 16 (got ${JSON.stringify(raw.blockSize)})`);
  const symmetric = raw.symmetric ?? false;
  if (typeof symmetric !== 'boolean') bad(`'symmetric' must be true or false (got ${JSON.stringify(symmetric)})`);
  const format = raw.format ?? 'matmulnbits';
  if (format !== 'matmulnbits' && format !== 'qdq')
    bad(`'format' must be 'matmulnbits' or 'qdq' (got ${JSON.stringify(raw.format)})`);
  const opTypes = raw.opTypes === undefined ? ['MatMul'] : names(raw.opTypes, 'opTypes');
  const badOps = opTypes.filter((t) => !OPS.includes(t as WeightOnlyOp));
  if (badOps.length || opTypes.length === 0)
    bad(`'opTypes' must be a non-empty list of ${OPS.join(', ')} (got ${JSON.stringify(raw.opTypes)})`);
  const accuracyLevel = raw.accuracyLevel ?? 0;
  if (typeof accuracyLevel !== 'number' || !Number.isInteger(accuracyLevel) || accuracyLevel < 0 || accuracyLevel > 4)
    bad(`'accuracyLevel' must be an integer 0–4 (got ${JSON.stringify(raw.accuracyLevel)})`);
  if (format === 'qdq' && accuracyLevel !== 0)
    bad(
      `'accuracyLevel' is a MatMulNBits attribute: with format 'qdq' onnxruntime takes it from the session option session.qdq_matmulnbits_accuracy_level`,
    );
  return {
    bits,
    blockSize,
    symmetric,
    format,
    opTypes: [...new Set(opTypes)] as WeightOnlyOp[],
    ...(raw.includeNodes !== undefined ? { includeNodes: names(raw.includeNodes, 'includeNodes') } : {}),
    excludeNodes: raw.excludeNodes === undefined ? [] : names(raw.excludeNodes, 'excludeNodes'),
    accuracyLevel,
  };
}

/** A constant weight: its tensor and the value that holds it (initializer or Constant output). */
interface Weight {
  tensor: Tensor;
  root: Value;
}

/** Like `constantThroughIdentity`, also naming the value that holds the data. */
function constantWeight(v: Value | null | undefined): Weight | undefined {
  for (let cur = v, depth = 0; cur && depth < 32; depth++) {
    if (cur.isGraphInput()) return undefined;
    const t = constantTensor(cur);
    if (t) return { tensor: t, root: cur };
    const p = cur.producer;
    if (!p || !isOnnxOp(p, 'Identity')) return undefined;
    cur = p.inputs[0];
  }
  return undefined;
}

/** A refusal: `kind` is the count key, `detail` the note. */
class Skip {
  constructor(
    readonly kind: string,
    readonly detail: string,
  ) {}
}

/** A float32 2-D weight `[K, N]` as `y = x·W` sees it (Gemm transB already undone). */
interface Plan {
  node: Node;
  op: WeightOnlyOp;
  weight: Weight;
  K: number;
  N: number;
  /** Read W as `[K, N]` row-major. */
  transposed: boolean;
  /** Gemm: beta·C as one value per column. */
  bias?: { values: Float32Array; source: Value; reuse: boolean };
}

function floatWeight(v: Value | null | undefined, what: string): Weight {
  const w = constantWeight(v);
  if (!w) throw new Skip(`${what} not constant`, `${what} '${v?.name ?? ''}' is not a constant`);
  if (w.tensor.dtype !== DataType.FLOAT)
    throw new Skip(
      `${what} not float32`,
      `${what} '${v!.name}' is ${dtypeName(w.tensor.dtype)} (only float32 weights)`,
    );
  return w;
}

function planMatMul(n: Node): Plan {
  const w = floatWeight(n.inputs[1], 'weight');
  const dims = w.tensor.dims;
  if (dims.length < 2) throw new Skip('weight not 2-D', `weight '${n.inputs[1]!.name}' is ${dims.length}-D`);
  if (dims.slice(0, -2).some((d) => d !== 1))
    throw new Skip('batched weight', `weight '${n.inputs[1]!.name}' [${dims.join(', ')}] is batched`);
  const a = n.inputs[0];
  if (a?.type && elemTypeOf(a.type) !== undefined && elemTypeOf(a.type) !== DataType.FLOAT)
    throw new Skip('input not float32', `input '${a.name}' is not float32`);
  if (dims.length > 2) {
    const rank = shapeOf(a?.type)?.length;
    if (rank === undefined || rank < dims.length)
      throw new Skip(
        'weight rank above input rank',
        `weight [${dims.join(', ')}] has more dims than input '${a?.name}' (rank ${rank ?? 'unknown'}): squeezing it would change the output shape`,
      );
  }
  return { node: n, op: 'MatMul', weight: w, K: dims[dims.length - 2], N: dims[dims.length - 1], transposed: false };
}

function planGemm(n: Node): Plan {
  if (n.getFloat('alpha', 1) !== 1) throw new Skip('Gemm alpha ≠ 1', `alpha = ${n.getFloat('alpha', 1)}`);
  if (n.getInt('transA', 0) !== 0) throw new Skip('Gemm transA', 'transA = 1');
  const w = floatWeight(n.inputs[1], 'weight');
  const dims = w.tensor.dims;
  if (dims.length !== 2) throw new Skip('weight not 2-D', `weight '${n.inputs[1]!.name}' is ${dims.length}-D`);
  const transposed = n.getInt('transB', 0) !== 0;
  const [K, N] = transposed ? [dims[1], dims[0]] : [dims[0], dims[1]];
  const plan: Plan = { node: n, op: 'Gemm', weight: w, K, N, transposed };
  const c = n.inputs[2];
  const beta = n.getFloat('beta', 1)!;
  if (c && beta !== 0) {
    const ct = floatWeight(c, 'bias');
    const cd = ct.tensor.dims;
    const size = ct.tensor.size;
    const perColumn = cd.length <= 2 && (cd.length < 2 || cd[0] === 1) && (size === 1 || size === N);
    if (!perColumn)
      throw new Skip('bias not per column', `bias '${c.name}' [${cd.join(', ')}] is not one value per column`);
    const raw = toFloat32(ct.tensor);
    const values = Float32Array.from({ length: N }, (_, j) => Math.fround(beta * raw[size === 1 ? 0 : j]));
    plan.bias = { values, source: c, reuse: beta === 1 && cd.length === 1 && size === N && c.isInitializer() };
  }
  return plan;
}

function planGather(n: Node): Plan {
  const w = floatWeight(n.inputs[0], 'table');
  const dims = w.tensor.dims;
  if (dims.length !== 2) throw new Skip('table not 2-D', `table '${n.inputs[0]!.name}' is ${dims.length}-D`);
  const axis = n.getInt('axis', 0)!;
  if (axis !== 0 && axis !== -2) throw new Skip('Gather axis ≠ 0', `gathers along axis ${axis}`);
  // Blocks run along the embedding dim: as a `[K, N]` weight that is the table transposed.
  return { node: n, op: 'Gather', weight: w, K: dims[1], N: dims[0], transposed: true };
}

/**
 * Removes what held a replaced weight once nothing uses it: the initializer, or the Constant node
 * and the Identity nodes in front of it, with their value_info entries.
 */
function release(v: Value | null | undefined): void {
  if (!v || v.uses().length > 0 || v.isGraphOutput() || v.isGraphInput()) return;
  const g = v.graph;
  if (!g) return;
  if (v.isInitializer()) g.removeInitializer(v.name);
  else {
    const p = v.producer;
    if (!p || p.outputs.length !== 1) return;
    if (isOnnxOp(p, 'Constant')) g.remove(p);
    else if (isOnnxOp(p, 'Identity')) {
      const src = p.inputs[0];
      g.remove(p);
      release(src);
    } else return;
  }
  const k = g.valueInfo.indexOf(v);
  if (k >= 0) g.valueInfo.splice(k, 1);
}

/** Why the model counts as already weight-quantized, or undefined. */
function alreadyQuantized(model: Model): string | undefined {
  for (const g of graphAndSubgraphs(model.graph)) {
    for (const n of g) {
      if (n.domain === 'com.microsoft' && ['MatMulNBits', 'GatherBlockQuantized', 'MatMulBnb4'].includes(n.opType))
        return `${n}`;
      if (n.opType !== 'DequantizeLinear' || !constantWeight(n.inputs[0])) continue;
      const user = n.outputs[0]?.uses().find((u) => OPS.some((op) => isOnnxOp(u.node, op)));
      if (user) return `${n} dequantizes a constant for ${user.node}`;
    }
  }
  return undefined;
}

/** Tensors made for one weight in one layout, shared by all its consumers. */
interface Made {
  inputs: Value[];
}

class WeightOnlyRun {
  readonly quantized = new Map<string, number>();
  readonly skipped = new Map<string, number>();
  readonly notes: string[] = [];
  readonly made = new Map<Value, Map<string, Made>>();
  readonly qdqUses = new Map<Value, number>();
  readonly upgraded = new Map<string, number>();
  int4 = false;
  msDomain = false;

  constructor(readonly o: WeightOnlyOptions) {}

  /** `[K, N]` float32 view of the plan's weight. */
  matrix(p: Plan): Float32Array {
    const w = toFloat32(p.weight.tensor);
    return p.transposed ? transpose(w, p.N, p.K) : w;
  }

  /** New initializers beside the weight (in scope for every consumer), once per layout. */
  once(p: Plan, layout: string, make: (g: Graph, base: string) => Value[]): Value[] {
    let byLayout = this.made.get(p.weight.root);
    if (!byLayout) this.made.set(p.weight.root, (byLayout = new Map()));
    const key = `${layout}:${p.transposed}`;
    let m = byLayout.get(key);
    if (!m) {
      const root = p.weight.root;
      m = { inputs: make(root.graph!, root.name) };
      byLayout.set(key, m);
    }
    return m.inputs;
  }

  count(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  apply(p: Plan): void {
    if (this.o.format === 'qdq') this.applyQdq(p);
    else if (p.op === 'Gather') this.applyGatherBlockQuantized(p);
    else this.applyMatMulNBits(p);
  }

  /** beta·C as a `[N]` initializer (C itself when it already is one). */
  bias(p: Plan): Value {
    const b = p.bias!;
    if (b.reuse) return b.source;
    const g = p.node.graph!;
    const name = g.freshName(`${p.node.name || p.weight.root.name}_bias`);
    return g.addInitializer(name, new MemoryTensor(DataType.FLOAT, [p.N], b.values));
  }

  applyMatMulNBits(p: Plan): void {
    const { bits, blockSize, symmetric, accuracyLevel } = this.o;
    const { node, K, N } = p;
    const inputs = this.once(p, 'nbits', (wg, base) => {
      const t = packMatMulNBits(quantizeBlocks(this.matrix(p), K, N, { bits, blockSize, symmetric }, 'matmulnbits'));
      const vals = [
        wg.addInitializer(wg.freshName(`${base}_Q${bits}`), new MemoryTensor(DataType.UINT8, t.bDims, t.B)),
        wg.addInitializer(wg.freshName(`${base}_scales`), new MemoryTensor(DataType.FLOAT, t.scalesDims, t.scales)),
      ];
      if (t.zeroPoints)
        vals.push(
          wg.addInitializer(
            wg.freshName(`${base}_zero_points`),
            new MemoryTensor(DataType.UINT8, t.zeroPointsDims!, t.zeroPoints),
          ),
        );
      return vals;
    });
    const ins: (Value | null)[] = [node.inputs[0], ...inputs];
    if (p.bias) {
      while (ins.length < 5) ins.push(null);
      ins.push(this.bias(p));
    }
    const attrs = { K, N, bits, block_size: blockSize, ...(accuracyLevel ? { accuracy_level: accuracyLevel } : {}) };
    this.replace(node, 'MatMulNBits', ins, attrs, `_Q${bits}`);
    this.count(this.quantized, `${p.op} → MatMulNBits`);
  }

  applyGatherBlockQuantized(p: Plan): void {
    const { bits, blockSize, symmetric } = this.o;
    const { node, K: dim, N: rows } = p;
    const inputs = this.once(p, 'gbq', (wg, base) => {
      const t = quantizeTable(toFloat32(p.weight.tensor), rows, dim, { bits, blockSize, symmetric });
      const qtype: QType = bits === 8 ? 'uint8' : symmetric ? 'int4' : 'uint4';
      if (bits === 4) this.int4 = true;
      const vals = [
        wg.addInitializer(wg.freshName(`${base}_Q${bits}`), quantizedTensor(t.values, qtype, [rows, dim], '')),
        wg.addInitializer(
          wg.freshName(`${base}_scales`),
          new MemoryTensor(DataType.FLOAT, [rows, t.dBlocks], t.scales),
        ),
      ];
      if (!symmetric)
        vals.push(
          wg.addInitializer(
            wg.freshName(`${base}_zero_points`),
            quantizedTensor(t.zeroPoints, qtype, [rows, t.dBlocks], ''),
          ),
        );
      return vals;
    });
    const [data, scales, zp] = inputs;
    const attrs = {
      gather_axis: 0,
      quantize_axis: 1,
      block_size: blockSize,
      ...(bits === 8 ? { bits: 8 } : {}),
    };
    this.replace(node, 'GatherBlockQuantized', [data, node.inputs[1], scales, ...(zp ? [zp] : [])], attrs, `_Q${bits}`);
    this.count(this.quantized, 'Gather → GatherBlockQuantized');
  }

  applyQdq(p: Plan): void {
    const { bits, blockSize, symmetric } = this.o;
    const { node, K, N } = p;
    const g = node.graph!;
    const gather = p.op === 'Gather';
    const qtype: QType = bits === 4 ? (symmetric ? 'int4' : 'uint4') : symmetric ? 'int8' : 'uint8';
    // MatMul/Gemm: MLAS's QDQ quantizer; Gather: ORT's numpy one (4-bit), the MLAS QDQ math (8-bit).
    const rounding: BlockRounding = gather && bits === 4 ? 'numpy' : 'qdq';
    if (bits === 4) this.int4 = true;
    // onnxruntime fuses DequantizeLinear → MatMul/Gemm only over initializers no other DQ reads:
    // a shared weight gets one quantized copy per consumer.
    const uses = (this.qdqUses.get(p.weight.root) ?? 0) + 1;
    this.qdqUses.set(p.weight.root, uses);
    if (uses === 2 && !gather)
      this.notes.push(
        `weight '${p.weight.root.name}' feeds several nodes: one quantized copy each (onnxruntime fuses a DequantizeLinear only over initializers of its own)`,
      );
    const inputs = this.once(p, `${gather ? 'qdq-table' : 'qdq'}#${gather ? 0 : uses}`, (wg, base) => {
      const opts = { bits, blockSize, symmetric };
      let values: Int32Array;
      let scales: Float32Array;
      let zps: Int32Array;
      let qDims: number[];
      let sDims: number[];
      if (gather) {
        const t = quantizeTable(toFloat32(p.weight.tensor), N, K, opts, rounding);
        [values, scales, zps, qDims, sDims] = [t.values, t.scales, t.zeroPoints, [N, K], [N, t.dBlocks]];
      } else {
        const q = quantizeBlocks(this.matrix(p), K, N, opts, rounding);
        [values, scales, zps, qDims, sDims] = [q.values, q.scales, q.zeroPoints, [K, N], [q.kBlocks, N]];
      }
      const vals = [
        wg.addInitializer(wg.freshName(`${base}_DQ_Q${bits}`), quantizedTensor(values, qtype, qDims, '')),
        wg.addInitializer(wg.freshName(`${base}_DQ_scales`), new MemoryTensor(DataType.FLOAT, sDims, scales)),
      ];
      if (!symmetric)
        vals.push(wg.addInitializer(wg.freshName(`${base}_DQ_zero_points`), quantizedTensor(zps, qtype, sDims, '')));
      return vals;
    });
    // One DequantizeLinear per consumer: onnxruntime fuses a DQ only into its single consumer.
    const qName = inputs[0].name;
    const out = new Value(g.freshName(`${qName}_output`), tensorType(DataType.FLOAT, gather ? [N, K] : [K, N]));
    const dq = new Node('DequantizeLinear', inputs, {
      name: node.name ? g.freshName(`${node.name}_DQ_Q${bits}`) : '',
      attributes: [toAttr('axis', gather ? 1 : 0), toAttr('block_size', blockSize)],
      outputs: [out],
    });
    g.insertBefore(node, dq);
    const old = node.inputs[gather ? 0 : 1];
    node.setInput(gather ? 0 : 1, out);
    release(old);
    if (p.op === 'Gemm') {
      // onnxruntime fuses Gemm(alpha 1, transA 0, transB 0) with a beta·C it can take as the bias.
      if (p.transposed) node.setAttr(toAttr('transB', 0));
      const c = node.inputs[2];
      if (c && (!p.bias || !p.bias.reuse)) {
        if (p.bias) node.setInput(2, this.bias(p));
        else node.truncateInputs(2);
        node.setAttr(toAttr('beta', { float: 1 }));
        release(c);
      }
    }
    this.count(this.quantized, `${p.op} → DequantizeLinear(${qtype}) + ${p.op}`);
  }

  /** Replaces `node` by a com.microsoft node that produces the same output Value. */
  replace(node: Node, opType: string, inputs: (Value | null)[], attrs: Record<string, number>, suffix: string): void {
    const g = node.graph!;
    const fresh = new Node(opType, inputs, {
      domain: 'com.microsoft',
      name: node.name ? g.freshName(`${node.name}${suffix}`) : '',
      attributes: Object.entries(attrs).map(([k, v]) => toAttr(k, v)),
      outputs: [],
    });
    const out = node.outputs[0];
    const released = node.inputs.filter((v): v is Value => !!v && !inputs.includes(v));
    g.insertBefore(node, fresh);
    g.remove(node, { safe: false });
    node.setOutput(0, new Value(''));
    fresh.addOutput(out);
    for (const v of released) release(v);
    this.msDomain = true;
  }

  plan(n: Node): Plan {
    if (n.opType === 'MatMul') return planMatMul(n);
    if (n.opType === 'Gemm') return planGemm(n);
    return planGather(n);
  }

  /** The op type when `n` is a node this run looks at (before exclusions and refusals). */
  opOf(n: Node): WeightOnlyOp | undefined {
    const op = OPS.find((t) => isOnnxOp(n, t));
    if (!op || !this.o.opTypes.includes(op)) return undefined;
    if (this.o.includeNodes && !this.o.includeNodes.includes(n.name)) return undefined;
    // A Gather of a computed or integer tensor (shape arithmetic) is no embedding: not a candidate.
    if (op === 'Gather' && !isFloat(constantWeight(n.inputs[0])?.tensor.dtype ?? DataType.UNDEFINED)) return undefined;
    return op;
  }

  /** Whether `n` would be quantized (no side effects). */
  candidate(n: Node): boolean {
    if (!this.opOf(n) || this.o.excludeNodes.includes(n.name)) return false;
    try {
      this.plan(n);
      return true;
    } catch (e) {
      if (e instanceof Skip) return false;
      throw e;
    }
  }

  visit(n: Node): void {
    const op = this.opOf(n);
    if (!op) return;
    try {
      if (this.o.excludeNodes.includes(n.name)) throw new Skip('excluded', 'in excludeNodes');
      this.apply(this.plan(n));
    } catch (e) {
      if (!(e instanceof Skip)) throw e;
      this.count(this.skipped, `${op} skipped: ${e.kind}`);
      this.notes.push(`${n}: ${e.detail}; left float`);
    }
  }

  report(seen: Set<string>): PassReport {
    const counts: Record<string, number> = {};
    for (const [k, v] of this.quantized) counts[k] = v;
    for (const [k, v] of this.skipped) counts[k] = v;
    for (const [k, v] of this.upgraded) counts[k] = v;
    for (const [opt, list] of [
      ['includeNodes', this.o.includeNodes ?? []],
      ['excludeNodes', this.o.excludeNodes],
    ] as const) {
      const missing = list.filter((name) => !seen.has(name));
      if (missing.length) this.notes.push(`${opt} names no node: ${missing.join(', ')}`);
    }
    return { changed: this.quantized.size > 0, counts, ...(this.notes.length ? { notes: this.notes } : {}) };
  }
}

/** Format 'qdq' on an older model: the shared opset upgrader first, or a clear refusal. */
function raiseOpset(model: Model, run: WeightOnlyRun): void {
  let r: ReturnType<typeof upgradeOpset>;
  try {
    r = upgradeOpset(model, QDQ_MIN_OPSET);
  } catch (e) {
    if (!(e instanceof OpsetUpgradeError)) throw e;
    throw new Error(
      `format 'qdq' needs ai.onnx opset ≥ ${QDQ_MIN_OPSET} (int4/int8 DequantizeLinear with block_size) and the model (opset ${model.opset}) cannot be raised: ${e.message}; use format 'matmulnbits'`,
    );
  }
  run.notes.push(`ai.onnx opset ${r.from} → ${r.to} first (blocked DequantizeLinear needs ${QDQ_MIN_OPSET})`);
  for (const [what, k] of Object.entries(r.rewritten)) run.upgraded.set(`opset upgrade: ${what}`, k);
}

export function quantizeWeightOnly(model: Model, o: WeightOnlyOptions): PassReport {
  checkBlockOptions(o);
  const already = alreadyQuantized(model);
  if (already)
    throw new Error(
      `the model is already weight-quantized (${already}): ${QUANTIZE_WEIGHT_ONLY} works on float weights, start from the float model`,
    );
  // Int8 layouts (dynamic, static QDQ) count too: their weights are no longer float.
  refuseQuantized(model, QUANTIZE_WEIGHT_ONLY);
  const run = new WeightOnlyRun(o);
  // Function bodies cannot hold initializers: the main graph and its subgraphs only.
  const nodes = () => [...graphAndSubgraphs(model.graph)].flatMap((g) => g.nodes());
  if (o.format === 'qdq' && model.opset < QDQ_MIN_OPSET && nodes().some((n) => run.candidate(n)))
    raiseOpset(model, run);
  const seen = new Set<string>();
  for (const n of nodes()) {
    if (n.name) seen.add(n.name);
    if (n.graph) run.visit(n);
  }
  if (run.msDomain && !model.opsetImports.has('com.microsoft')) model.opsetImports.set('com.microsoft', 1);
  if (run.int4 && model.irVersion < INT4_IR) model.irVersion = INT4_IR;
  return run.report(seen);
}

/** Block-wise int4/int8 weights for MatMul/Gemm/Gather: MatMulNBits (default) or opset-21 QDQ. */
export const quantizeWeightOnlyPass: Pass<WeightOnlyOptions> = {
  name: QUANTIZE_WEIGHT_ONLY,
  family: 'quantize',
  description: 'Weight-only block-wise int4/int8 for MatMul/Gemm/Gather (MatMulNBits or opset-21 QDQ), after ORT',
  // A second run refuses the already-quantized model rather than doing nothing.
  idempotent: false,
  tolerance: Infinity,
  parseOptions: parseWeightOnlyOptions,
  run: (model, o) => quantizeWeightOnly(model, o),
};
