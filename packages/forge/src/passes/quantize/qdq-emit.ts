/**
 * Rewrites a planned model into QDQ form (contract §3, names as §8):
 *
 * ```
 * activation:  P ─► X ─► QuantizeLinear(X, X_scale, X_zero_point) ─► X_QuantizeLinear_Output
 *                        ─► DequantizeLinear ─► X_DequantizeLinear_Output ─► every consumer of X
 * weight:      W_quantized (int8) ─► DequantizeLinear(W_scale, W_zero_point[, axis]) ─► W_DequantizeLinear_Output
 * bias:        B_quantized (int32, scale = x_scale·w_scale) ─► DequantizeLinear ─► B
 * ```
 *
 * A graph output X keeps its name and float type: the producer writes `X_QuantizeLinear_Input`
 * and the last DequantizeLinear writes X. A Relu/Clip whose effect the producer's Q range already
 * has is removed and the producer writes its output. Weights are symmetric int8 (zero point 0), per
 * channel where planned; initializers of element-wise ops use the activation type, asymmetric.
 */
import {
  AttrType,
  DataType,
  Node,
  Value,
  allGraphs,
  toFloat32,
  type Graph,
  type Model,
  type Tensor,
} from '@edgeforge/onnx';
import { constantThroughIdentity, releaseIfUnused } from '../optimize/fuse-bn-into-conv.js';
import type { Changes } from '../pass.js';
import type { TensorRange } from './calibrate.js';
import {
  adjustWeightScalesForBias,
  computeQParams,
  qRange,
  quantizeArray,
  quantizeBias,
  quantizedTensor,
  quantizeWeight,
  quantizeWithChannels,
  scaleTensor,
  zeroPointTensor,
  type QParams,
  type QuantizedWeight,
} from './params.js';
import { nodeId, rootOf, type ActivationType, type PlannedNode, type QdqPlan, type WeightType } from './qdq-plan.js';

export interface EmitOptions {
  activationType: ActivationType;
  weightType: WeightType;
  /** 7-bit weights (contract §2; for CPUs without VNNI). */
  reduceRange: boolean;
}

/** A node that now runs between DequantizeLinear inputs and a QuantizeLinear output. */
export interface QuantizedNode {
  /** Node name (or first output name when unnamed), as `excludeNodes` takes it. */
  node: string;
  opType: string;
  /** Name of the float tensor it computes, which the float model has under the same name. */
  output: string;
}

function tensorTypeLike(v: Value, elemType: number) {
  const shape = v.type && v.type.kind === 'tensor' ? v.type.shape : undefined;
  return { kind: 'tensor' as const, elemType, ...(shape ? { shape: [...shape] } : {}) };
}

/** Float range a (scale, zero point) covers: what a QuantizeLinear clamps to. */
function coveredRange(p: QParams, t: ActivationType): [number, number] {
  const [qmin, qmax] = qRange(t);
  return [p.scale * (qmin - p.zeroPoint), p.scale * (qmax - p.zeroPoint)];
}

/** Clip bounds from attributes (opset < 11) or constant inputs; Relu is [0, ∞). */
function clipBounds(n: Node): [number, number] {
  if (n.opType === 'Relu') return [0, Infinity];
  const bound = (i: number, attr: string, def: number): number => {
    const v = n.inputs[i];
    if (!v) return n.getFloat(attr, def);
    const t = constantThroughIdentity(v);
    return t && t.size === 1 ? toFloat32(t)[0] : NaN;
  };
  const lo = bound(1, 'min', -Infinity);
  const hi = bound(2, 'max', Infinity);
  return [lo, hi];
}

class Emitter {
  readonly g: Graph;
  readonly params = new Map<Value, QParams>();
  /** Scale and zero-point initializers of each root activation, shared by the tensors that follow it. */
  readonly initializers = new Map<Value, { scale: Value; zeroPoint: Value }>();
  readonly weightCache = new Map<string, Value>();
  /** Float names of graph outputs that now carry `_QuantizeLinear_Input`. */
  readonly floatName = new Map<Value, string>();

  /** Every value and node name in the model, subgraphs and functions included: new names avoid them all. */
  readonly #values = new Set<string>();
  readonly #nodes = new Set<string>();

  constructor(
    readonly model: Model,
    readonly plan: QdqPlan,
    readonly o: EmitOptions,
    readonly changes: Changes,
  ) {
    this.g = model.graph;
    for (const g of allGraphs(model)) {
      for (const v of g.values()) this.#values.add(v.name);
      for (const v of g.outputs) this.#values.add(v.name);
      for (const n of g) if (n.name) this.#nodes.add(n.name);
    }
  }

  /** `base`, or `base_1`, `base_2`… when taken (ORT's quantizer names, contract §8). */
  fresh(base: string, kind: 'value' | 'node' = 'value'): string {
    const taken = kind === 'value' ? this.#values : this.#nodes;
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  }

  paramsOf(v: Value): QParams {
    const p = this.params.get(rootOf(this.plan, v));
    if (!p) throw new Error(`no quantization parameters for '${v.name}'`);
    return p;
  }

  /** Computes (scale, zero point) of every calibrated or fixed activation. */
  computeParams(ranges: ReadonlyMap<string, TensorRange>): void {
    for (const [v, src] of this.plan.activations) {
      if (src.kind === 'shared') continue;
      const r = src.kind === 'fixed' ? src : ranges.get(v.name);
      if (!r) throw new Error(`tensor '${v.name}' was not calibrated`);
      this.params.set(v, computeQParams(r.min, r.max, this.o.activationType));
    }
  }

  /**
   * Removes a planned Relu/Clip when its producer is a quantized unit whose output feeds only it and
   * the output's Q range lies within the clip bounds (then clamping is the Q's saturation).
   */
  absorb(r: PlannedNode, units: ReadonlySet<Node>): boolean {
    const n = r.node;
    const m = n.inputs[0]!;
    const out = n.outputs[0];
    const p = m.producer;
    if (!p || p.graph !== this.g || !units.has(p)) return false;
    if (m.uses().length !== 1 || m.isGraphOutput() || this.plan.activations.get(m)?.kind !== 'calibrated') return false;
    const q = this.params.get(out);
    if (!q) return false;
    // Without a Q on the output (only float consumers read it) nothing would clamp in its place.
    if (!out.isGraphOutput() && out.uses().every((u) => this.plan.floatConsumers.has(u.node))) return false;
    const [lo, hi] = coveredRange(q, this.o.activationType);
    const [cmin, cmax] = clipBounds(n);
    // Half a step of slack: a bound off by float rounding of the scale clamps nothing representable.
    if (!(lo >= cmin - q.scale / 2 && hi <= cmax + q.scale / 2)) return false;
    this.plan.activations.delete(m);
    this.params.delete(m);
    this.g.remove(n, { safe: false });
    p.setOutput(m.index, out);
    const k = this.g.valueInfo.indexOf(m);
    if (k >= 0) this.g.valueInfo.splice(k, 1);
    this.changes.add(`${n.opType} absorbed into the producer's quantization`);
    return true;
  }

  initializer(base: string, t: Tensor): Value {
    return this.g.addInitializer(this.fresh(base), t);
  }

  /** `DequantizeLinear(values, scale, zp[, axis])` inserted before `before`; returns its output. */
  dequantize(base: string, w: QuantizedWeight, before: Node, outName?: string): Value {
    const perChannel = w.axis !== undefined;
    const q = this.initializer(`${base}_quantized`, quantizedTensor(w.values, w.qtype, w.dims, ''));
    const s = this.initializer(`${base}_scale`, scaleTensor(w.scales, perChannel, ''));
    // An int32 bias has zero point 0, DequantizeLinear's default: the input is left out (4 bytes a channel).
    const z =
      w.qtype === 'int32'
        ? null
        : this.initializer(`${base}_zero_point`, zeroPointTensor(w.zeroPoints, w.qtype, perChannel, ''));
    const out = new Value(outName ?? this.fresh(`${base}_DequantizeLinear_Output`), {
      kind: 'tensor',
      elemType: DataType.FLOAT,
      shape: [...w.dims],
    });
    const dq = new Node('DequantizeLinear', z ? [q, s, z] : [q, s], {
      name: this.fresh(`${base}_DequantizeLinear`, 'node'),
      outputs: [out],
      attributes: perChannel ? [{ name: 'axis', type: AttrType.INT, value: BigInt(w.axis!) }] : [],
    });
    this.g.insertBefore(before, dq);
    return out;
  }

  /** Replaces input `i` of `n` (a constant) by its quantized form. */
  replaceConstant(n: Node, i: number, w: QuantizedWeight): void {
    const old = n.inputs[i]!;
    const key = `${old.name}|${w.qtype}|${w.axis ?? ''}|${w.scales.join()}|${w.zeroPoints.join()}`;
    let dq = this.weightCache.get(key);
    if (!dq) {
      dq = this.dequantize(old.name, w, n);
      this.weightCache.set(key, dq);
    }
    n.setInput(i, dq);
    releaseIfUnused(old);
  }

  unit(u: PlannedNode): void {
    const n = u.node;
    const gemm = n.opType === 'Gemm';
    const alpha = gemm ? n.getFloat('alpha', 1) : 1;
    const beta = gemm ? n.getFloat('beta', 1) : 1;
    const biasRole = u.inputs.get(2);
    let weight: QuantizedWeight | undefined;
    for (const [i, role] of u.inputs) {
      if (role.kind === 'weight') {
        const data = toFloat32(role.tensor);
        const signed = this.o.weightType === 'int8';
        let w = quantizeWeight(data, role.tensor.dims, this.o.weightType, {
          ...(role.axis !== undefined ? { axis: role.axis } : {}),
          // Signed weights are symmetric; per-channel ones always (one zero point for all channels).
          symmetric: signed || role.axis !== undefined,
          reduceRange: this.o.reduceRange,
        });
        if (i === 1 && biasRole?.kind === 'bias' && signed) {
          const inScale = this.paramsOf(n.inputs[0]!).scale * alpha;
          const bias = this.biasValues(n, biasRole.tensor, w, beta);
          const adjusted = adjustWeightScalesForBias(w.scales, inScale, bias);
          if (adjusted.some((s, c) => s !== w.scales[c])) {
            const values =
              w.axis !== undefined
                ? quantizeWithChannels(data, w.dims, w.axis, adjusted, w.zeroPoints, w.qtype)
                : quantizeArray(data, { scale: adjusted[0], zeroPoint: w.zeroPoints[0] }, w.qtype);
            w = { ...w, scales: adjusted, values };
            this.changes.add('weight scales enlarged for the int32 bias');
          }
        }
        if (i === 1) weight = w;
        this.replaceConstant(n, i, w);
        this.changes.add(w.axis !== undefined ? 'weights quantized per channel' : 'weights quantized per tensor');
      } else if (role.kind === 'constant') {
        const w = quantizeWeight(toFloat32(role.tensor), role.tensor.dims, this.o.activationType);
        this.replaceConstant(n, i, w);
        this.changes.add('constants quantized');
      }
    }
    if (biasRole?.kind === 'bias') {
      if (!weight) throw new Error(`${n}: bias without a quantized weight`);
      const old = n.inputs[2]!;
      const inScale = this.paramsOf(n.inputs[0]!).scale * alpha;
      const q = quantizeBias(this.biasValues(n, biasRole.tensor, weight, beta), inScale, weight.scales);
      const perChannel = q.scales.length > 1;
      const b: QuantizedWeight = {
        qtype: 'int32',
        dims: [q.values.length],
        values: q.values,
        scales: q.scales,
        zeroPoints: new Int32Array(q.scales.length),
        ...(perChannel ? { axis: 0 } : {}),
      };
      const name = old.name;
      n.setInput(2, null);
      releaseIfUnused(old);
      // The dequantized bias takes the float bias's name when that is free again (contract §3.3).
      const free = old.graph === null;
      n.setInput(2, this.dequantize(name, b, n, free ? name : undefined));
      if (gemm) n.setAttr({ name: 'beta', type: AttrType.FLOAT, value: 1 });
      this.changes.add('biases quantized to int32');
    }
    this.changes.add(`${n.opType} quantized`);
  }

  /** The float bias as one value per output channel (Gemm: β·C broadcast over the columns). */
  biasValues(n: Node, t: Tensor, w: QuantizedWeight, beta: number): Float32Array {
    const b = toFloat32(t);
    if (n.opType !== 'Gemm') return b;
    const columns = n.getInt('transB', 0) ? w.dims[0] : w.dims[1];
    return Float32Array.from({ length: columns }, (_, c) => beta * (b.length === 1 ? b[0] : b[c]));
  }

  /**
   * The Q → DQ pair of one activation tensor; every former use of `x` reads the DQ output, except
   * the nodes that stay float (`floatConsumers`). No pair when nothing would read it.
   */
  activation(x: Value): boolean {
    const uses = x.uses().filter((u) => !this.plan.floatConsumers.has(u.node));
    if (uses.length === 0 && (!x.isGraphOutput() || x.isGraphInput())) return false;
    const root = rootOf(this.plan, x);
    let inits = this.initializers.get(root);
    if (!inits) {
      const p = this.paramsOf(root);
      const t = this.o.activationType;
      inits = {
        scale: this.initializer(`${root.name}_scale`, scaleTensor(Float32Array.of(p.scale), false, '')),
        zeroPoint: this.initializer(
          `${root.name}_zero_point`,
          zeroPointTensor(Int32Array.of(p.zeroPoint), t, false, ''),
        ),
      };
      this.initializers.set(root, inits);
    }
    const name = x.name;
    const qElem = this.o.activationType === 'uint8' ? DataType.UINT8 : DataType.INT8;
    const qOut = new Value(this.fresh(`${name}_QuantizeLinear_Output`), tensorTypeLike(x, qElem));
    const dqOut = new Value(this.fresh(`${name}_DequantizeLinear_Output`), tensorTypeLike(x, DataType.FLOAT));
    const q = new Node('QuantizeLinear', [x, inits.scale, inits.zeroPoint], {
      name: this.fresh(`${name}_QuantizeLinear`, 'node'),
      outputs: [qOut],
    });
    const dq = new Node('DequantizeLinear', [qOut, inits.scale, inits.zeroPoint], {
      name: this.fresh(`${name}_DequantizeLinear`, 'node'),
      outputs: [dqOut],
    });
    if (x.producer && x.producer.graph === this.g) this.g.insertAfter(x.producer, q, dq);
    else if (this.g.firstNode) this.g.insertBefore(this.g.firstNode, q, dq);
    else this.g.append(q, dq);
    for (const u of uses) u.node.setInput(u.index, dqOut);
    const outs = this.g.outputs;
    // (A graph input that is also an output keeps being both: renaming it would change the interface.)
    if (outs.includes(x) && !x.isGraphInput()) {
      // The model's interface keeps its names and float types: the DQ writes the output.
      for (let i = 0; i < outs.length; i++) if (outs[i] === x) outs[i] = dqOut;
      x.name = this.fresh(`${name}_QuantizeLinear_Input`);
      this.floatName.set(x, name);
      dqOut.name = name;
      dqOut.type = x.type;
      dqOut.docString = x.docString;
    }
    return true;
  }
}

/**
 * Rewrites `model` (main graph) as `plan` says, with activation ranges from calibration. Returns the
 * nodes that now run quantized.
 */
export function emitQdq(
  model: Model,
  plan: QdqPlan,
  ranges: ReadonlyMap<string, TensorRange>,
  o: EmitOptions,
  changes: Changes,
): QuantizedNode[] {
  // Ids as the float model names the nodes (an unnamed node is named by its first output, which changes here).
  const ids = new Map(plan.nodes.map((p) => [p.node, nodeId(p.node)]));
  const e = new Emitter(model, plan, o, changes);
  e.computeParams(ranges);
  const units = new Set(plan.nodes.filter((p) => p.kind === 'unit').map((p) => p.node));
  const absorbed = new Set<Node>();
  for (const p of plan.nodes) if (p.kind === 'removable' && e.absorb(p, units)) absorbed.add(p.node);
  for (const p of plan.nodes) if (p.kind === 'unit') e.unit(p);
  // Unnamed quantized nodes take the id the options know them by, so error tables name them the same.
  for (const p of plan.nodes)
    if (!absorbed.has(p.node) && !p.node.name) p.node.name = e.fresh(ids.get(p.node)!, 'node');
  const withPair = new Set<Value>();
  for (const x of [...plan.activations.keys()]) if (e.activation(x)) withPair.add(x);
  changes.add('activations quantized (Q/DQ pairs)', withPair.size);
  const out: QuantizedNode[] = [];
  for (const p of plan.nodes) {
    const o0 = p.node.outputs[0];
    if (absorbed.has(p.node) || !withPair.has(o0)) continue;
    out.push({ node: p.node.name, opType: p.node.opType, output: e.floatName.get(o0) ?? o0.name });
  }
  return out;
}
