/**
 * Which nodes and tensors static QDQ quantization touches (contract §3, after ORT's `qdq_quantizer`
 * and its per-op quantizers), decided before anything is calibrated or rewritten.
 *
 * Three kinds of planned nodes:
 * - **units**: ops onnxruntime's CPU EP turns into an int8 kernel when every float input comes from a
 *   DequantizeLinear and the output goes to one QuantizeLinear (Conv → QLinearConv, MatMul →
 *   QLinearMatMul, Gemm → QGemm, Add → QLinearAdd, GlobalAveragePool → QLinearGlobalAveragePool…).
 *   Their inputs get a role: activation (calibrated Q/DQ), weight (stored int8, DequantizeLinear),
 *   constant (an element-wise op's initializer: stored with the activation type), bias (int32);
 *   their output gets its own calibrated Q/DQ.
 * - **removable** Relu/Clip after a quantized tensor: absorbed into the Q range of the producer when
 *   that range makes them a no-op (decided once the range is known), else kept between Q/DQ pairs.
 * - **direct** data-movement ops (Reshape, Transpose, MaxPool…) whose input is already quantized:
 *   their output reuses the input's scale and zero point, so onnxruntime drops the Q/DQ pair and
 *   moves int8 data.
 *
 * Only the main graph is planned: calibration observes main-graph tensors only (as ORT's
 * calibrator), so nodes inside If/Loop/Scan bodies stay float and are listed.
 */
import {
  DataType,
  elemTypeOf,
  graphAndSubgraphs,
  type Model,
  type Node,
  type Tensor,
  type Value,
} from '@edgeforge/onnx';
import { constantThroughIdentity, isOnnxOp } from '../optimize/fuse-bn-into-conv.js';

export type ActivationType = 'uint8' | 'int8';
export type WeightType = 'int8' | 'uint8';

/**
 * Ops turned into int8 kernels by onnxruntime's CPU EP (QDQ node units). ConvTranspose is the
 * exception, kept because ORT's quantizer quantizes it too: ORT 1.30's CPU EP has no int8
 * ConvTranspose, so it stays a float op between DequantizeLinear and QuantizeLinear (int8 weights
 * in the file, no speed-up).
 */
export const UNIT_OPS: readonly string[] = [
  'Conv',
  'ConvTranspose',
  'Gemm',
  'MatMul',
  'Add',
  'Mul',
  'Concat',
  'GlobalAveragePool',
  'AveragePool',
  'Sigmoid',
  'Softmax',
  'LeakyRelu',
];
/** Activations absorbed into the producer's Q range. */
export const REMOVABLE_OPS: readonly string[] = ['Relu', 'Clip'];
/** Ops whose Q/DQ onnxruntime drops when input and output share scale and zero point. */
export const DIRECT_OPS: readonly string[] = [
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Flatten',
  'Slice',
  'Gather',
  'GatherElements',
  'Expand',
  'Tile',
  'Resize',
  'Split',
  'MaxPool',
];
export const DEFAULT_OP_TYPES: readonly string[] = [...UNIT_OPS, ...REMOVABLE_OPS, ...DIRECT_OPS];

export interface PlanOptions {
  perChannel: boolean;
  opTypes: ReadonlySet<string>;
  excludeNodes: ReadonlySet<string>;
  includeNodes?: ReadonlySet<string>;
}

export type InputRole =
  | { kind: 'activation' }
  | { kind: 'weight'; tensor: Tensor; axis?: number }
  | { kind: 'constant'; tensor: Tensor }
  | { kind: 'bias'; tensor: Tensor };

export interface PlannedNode {
  node: Node;
  kind: 'unit' | 'removable' | 'direct';
  /** Roles of the inputs that get quantized, by input index. */
  inputs: Map<number, InputRole>;
}

/** Where an activation tensor's scale and zero point come from. */
export type ActivationSource =
  | { kind: 'calibrated' }
  /** Known without calibration (Softmax output: [0, 1]). */
  | { kind: 'fixed'; min: number; max: number }
  /** The same initializers as another quantized tensor (data-movement outputs). */
  | { kind: 'shared'; from: Value };

export interface QdqPlan {
  nodes: PlannedNode[];
  /** Every tensor that gets a Q/DQ pair, in the order first planned. */
  activations: Map<Value, ActivationSource>;
  /** Nodes of quantizable types left float, with the reason. */
  leftFloat: { node: string; reason: string }[];
  /**
   * Main-graph nodes of unit types that are not quantized (excluded, not chosen, not quantizable):
   * they keep reading float tensors, never a DequantizeLinear output. Fed by a DQ, onnxruntime would
   * quantize them anyway — it fuses DQ → Add → Q into QLinearAdd, and its WeightBiasQuantization
   * rewrite gives a Conv/ConvTranspose/Gemm after a DQ int8 per-tensor weights at session load.
   */
  floatConsumers: Set<Node>;
  /** Nodes inside subgraphs (never quantized). */
  subgraphNodes: number;
}

/** How the options name a node: its name, or its first output's name when it has none. */
export function nodeId(n: Node): string {
  return n.name || n.outputs[0]?.name || n.opType;
}

/** Whether `names` names `n` (by node name or by its first output). */
export function named(names: ReadonlySet<string>, n: Node): boolean {
  return (!!n.name && names.has(n.name)) || names.has(n.outputs[0]?.name ?? '');
}

function isFloat32(v: Value | null | undefined): boolean {
  if (!v) return false;
  const t = constantThroughIdentity(v);
  if (t) return t.dtype === DataType.FLOAT;
  return elemTypeOf(v.type) === DataType.FLOAT;
}

/** A constant float32 tensor behind `v` (initializer or Constant node, also through Identity). */
function floatConstant(v: Value | null | undefined): Tensor | undefined {
  const t = v ? constantThroughIdentity(v) : undefined;
  return t && t.dtype === DataType.FLOAT ? t : undefined;
}

/** Gemm C that is one value per output column ([N], [1, N], a scalar). */
function perColumnBias(c: Tensor, columns: number): boolean {
  const d = c.dims;
  if (c.size === 1) return true;
  return c.size === columns && (d.length === 1 || (d.length === 2 && d[0] === 1));
}

/** Per-channel axis of a unit's weight (contract §3.4), or undefined for per-tensor. */
function weightAxis(n: Node, w: Tensor, perChannel: boolean): number | undefined {
  if (!perChannel) return undefined;
  switch (n.opType) {
    case 'Conv':
      return w.dims.length >= 3 ? 0 : undefined;
    case 'ConvTranspose':
      // Axis 1 holds the output channels only without groups; grouped ones stay per tensor.
      return w.dims.length >= 3 && n.getInt('group', 1) === 1 ? 1 : undefined;
    case 'Gemm':
      return w.dims.length === 2 ? (n.getInt('transB', 0) ? 0 : 1) : undefined;
    case 'MatMul':
      return w.dims.length === 2 ? 1 : undefined;
    default:
      return undefined;
  }
}

/** Roles for a unit's inputs, or why it stays float. */
function unitInputs(n: Node, perChannel: boolean): Map<number, InputRole> | string {
  const roles = new Map<number, InputRole>();
  const activation = (i: number): string | undefined => {
    const v = n.inputs[i];
    if (!isFloat32(v)) return `input '${v?.name}' is not float32`;
    roles.set(i, { kind: 'activation' });
    return undefined;
  };
  const out = n.outputs[0];
  if (!out || !isFloat32(out)) return `output '${out?.name}' is not float32 (or its type is unknown)`;
  switch (n.opType) {
    case 'Conv':
    case 'ConvTranspose':
    case 'Gemm':
    case 'MatMul': {
      const w = floatConstant(n.inputs[1]);
      if (!w && n.opType.startsWith('Conv')) return `weight '${n.inputs[1]?.name}' is not a float32 constant`;
      if (n.opType === 'MatMul' && floatConstant(n.inputs[0])) {
        roles.set(0, { kind: 'weight', tensor: floatConstant(n.inputs[0])! });
      } else {
        const why = activation(0);
        if (why) return why;
      }
      if (w) {
        const axis = weightAxis(n, w, perChannel);
        roles.set(1, { kind: 'weight', tensor: w, ...(axis !== undefined ? { axis } : {}) });
      } else {
        const why = activation(1);
        if (why) return why;
      }
      const c = n.inputs[2];
      if (c && n.opType !== 'MatMul') {
        const t = floatConstant(c);
        if (!t) return `bias '${c.name}' is not a float32 constant`;
        if (n.opType === 'Gemm') {
          if (!w) return `bias needs a constant weight to share its scale`;
          const columns = n.getInt('transB', 0) ? w.dims[0] : w.dims[1];
          if (!perColumnBias(t, columns)) return `Gemm C of shape [${t.dims.join(',')}] is not one value per column`;
        }
        roles.set(2, { kind: 'bias', tensor: t });
      }
      return roles;
    }
    case 'Add':
    case 'Mul':
    case 'Concat': {
      for (let i = 0; i < n.inputs.length; i++) {
        const v = n.inputs[i];
        const t = floatConstant(v);
        if (t) roles.set(i, { kind: 'constant', tensor: t });
        else {
          const why = activation(i);
          if (why) return why;
        }
      }
      return roles;
    }
    default: {
      const why = activation(0);
      return why ?? roles;
    }
  }
}

/**
 * Plans QDQ quantization of `model`'s main graph. Value types come from the model (run shape
 * inference first so that intermediate tensors have them).
 */
export function planQdq(model: Model, o: PlanOptions): QdqPlan {
  const g = model.graph;
  const plan: QdqPlan = {
    nodes: [],
    activations: new Map(),
    leftFloat: [],
    subgraphNodes: 0,
    floatConsumers: new Set(),
  };
  for (const n of g)
    for (const sg of n.subgraphs()) for (const s of graphAndSubgraphs(sg)) plan.subgraphNodes += s.nodeCount;
  const leave = (n: Node, reason: string) => plan.leftFloat.push({ node: `${n.opType} '${nodeId(n)}'`, reason });
  const quantized = (v: Value | null | undefined): v is Value => !!v && plan.activations.has(v);
  const addActivation = (v: Value, source: ActivationSource = { kind: 'calibrated' }) => {
    if (!plan.activations.has(v)) plan.activations.set(v, source);
  };

  for (const n of g) {
    if (n.domain !== '' && n.domain !== 'ai.onnx') continue;
    if (!o.opTypes.has(n.opType)) continue;
    if (named(o.excludeNodes, n)) continue;
    if (o.includeNodes && !named(o.includeNodes, n)) continue;

    if (UNIT_OPS.includes(n.opType)) {
      const roles = unitInputs(n, o.perChannel);
      if (typeof roles === 'string') {
        leave(n, roles);
        continue;
      }
      for (const [i, r] of roles) if (r.kind === 'activation') addActivation(n.inputs[i]!);
      addActivation(n.outputs[0], isOnnxOp(n, 'Softmax') ? { kind: 'fixed', min: 0, max: 1 } : { kind: 'calibrated' });
      plan.nodes.push({ node: n, kind: 'unit', inputs: roles });
    } else if (REMOVABLE_OPS.includes(n.opType)) {
      // Only after a quantized tensor: otherwise there is nothing to absorb it into.
      if (!quantized(n.inputs[0])) continue;
      if (n.opType === 'Clip' && n.inputs.slice(1).some((v) => v && !floatConstant(v))) {
        leave(n, 'Clip bounds are not constant');
        continue;
      }
      addActivation(n.outputs[0]);
      plan.nodes.push({ node: n, kind: 'removable', inputs: new Map([[0, { kind: 'activation' }]]) });
    } else if (DIRECT_OPS.includes(n.opType)) {
      const x = n.inputs[0];
      if (!quantized(x)) continue;
      if (n.opType === 'MaxPool' && model.opset < 12) {
        leave(n, `8-bit MaxPool needs opset 12 (model has ${model.opset})`);
        continue;
      }
      if (n.opType === 'MaxPool' && n.outputs.length > 1 && n.outputs[1].name) {
        leave(n, 'MaxPool indices output is used');
        continue;
      }
      for (const out of n.outputs) if (out.name) addActivation(out, { kind: 'shared', from: x });
      plan.nodes.push({ node: n, kind: 'direct', inputs: new Map([[0, { kind: 'activation' }]]) });
    }
  }
  const units = new Set(plan.nodes.filter((p) => p.kind === 'unit').map((p) => p.node));
  for (const n of g) if (isUnitType(n) && !units.has(n)) plan.floatConsumers.add(n);
  return plan;
}

function isUnitType(n: Node): boolean {
  return (n.domain === '' || n.domain === 'ai.onnx') && UNIT_OPS.includes(n.opType);
}

/** Follows shared activations to the tensor whose range decides them. */
export function rootOf(plan: QdqPlan, v: Value): Value {
  let cur = v;
  for (let s = plan.activations.get(cur); s?.kind === 'shared'; s = plan.activations.get(cur)) cur = s.from;
  return cur;
}

/** Tensors whose range calibration must measure. */
export function tensorsToCalibrate(plan: QdqPlan): string[] {
  return [...plan.activations].filter(([, s]) => s.kind === 'calibrated').map(([v]) => v.name);
}
