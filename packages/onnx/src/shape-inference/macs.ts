/**
 * Multiply-accumulate counts of the compute-heavy ops, from the (inferred) static shapes:
 *
 *   Conv            N·Cout·Hout·Wout·(Cin/group)·kH·kW   = |Y| · W[1] · |kernel|
 *   ConvTranspose   N·Cin·Hin·Win·(Cout/group)·kH·kW     = |X| · W[1] · |kernel|
 *   Gemm            M·N·K
 *   MatMul          |Y| · K (batched and broadcast; 1-D operands as numpy)
 *   MatMulNBits     |Y| · K
 *   RNN/GRU/LSTM    seq·batch·dirs·gates·hidden·(input + hidden)
 *
 * plus their integer and quantized forms (ConvInteger, QLinearConv, MatMulInteger, QLinearMatMul,
 * com.microsoft FusedConv/FusedMatMul/MatMulIntegerToFloat/DynamicQuantizeMatMul). Other ops count
 * 0. Run `inferShapes` first: an op above whose shapes are not fully static gives `undefined`
 * (unless `assumeSymbolic` stands in for symbolic dims).
 */
import type { Model } from '../ir/model.js';
import type { Node } from '../ir/node.js';
import { allGraphs, constantTensor } from '../ir/traversal.js';
import type { Value } from '../ir/value.js';
import { asTensor } from './context.js';
import { normDomain } from './registry.js';

export interface MacsOptions {
  /** A number to use for every symbolic dim (e.g. 1 for a batch of one); unknown dims stay unknown. */
  assumeSymbolic?: number;
}

export interface ModelMacs {
  /** Sum over every node whose count is known (main graph and subgraphs; both If branches count). */
  total: number;
  /** Totals by op type (`domain::op` outside the default domain), ops with a non-zero count only. */
  byOp: Record<string, number>;
  /** Compute-heavy nodes whose shapes were not static enough to count. */
  unknownNodes: number;
}

function staticShape(v: Value | null | undefined, opts: MacsOptions): number[] | undefined {
  if (!v) return undefined;
  const s = asTensor(v.type)?.shape ?? constantTensor(v)?.dims;
  if (!s) return undefined;
  const out: number[] = [];
  for (const d of s) {
    if (typeof d === 'number') out.push(d);
    else if (typeof d === 'string' && opts.assumeSymbolic !== undefined) out.push(opts.assumeSymbolic);
    else return undefined;
  }
  return out;
}

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function convMacs(node: Node, wi: number, opts: MacsOptions): number | undefined {
  const y = staticShape(node.outputs[0], opts);
  const w = staticShape(node.inputs[wi], opts);
  if (!y || !w || w.length < 3) return undefined;
  return prod(y) * w[1] * prod(w.slice(2));
}

function matmulMacs(node: Node, ai: number, opts: MacsOptions, k?: number): number | undefined {
  const y = staticShape(node.outputs[0], opts);
  const a = staticShape(node.inputs[ai], opts);
  const kk = k ?? (a && a.length ? a[a.length - 1] : undefined);
  if (!y || kk === undefined) return undefined;
  return prod(y) * kk;
}

function rnnMacs(node: Node, opts: MacsOptions): number | undefined {
  const x = staticShape(node.inputs[0], opts);
  const w = staticShape(node.inputs[1], opts);
  const r = staticShape(node.inputs[2], opts);
  if (!x || !w || !r || x.length !== 3 || w.length !== 3 || r.length !== 3) return undefined;
  // W [dirs, gates·hidden, input], R [dirs, gates·hidden, hidden]: per step and batch row, dirs·gates·hidden·(input + hidden).
  const steps = x[0] * x[1];
  return steps * w[0] * w[1] * (w[2] + r[2]);
}

/**
 * Multiply-accumulates of one node: a number (0 for ops that are not counted), or undefined when
 * the op is counted but its shapes are not static.
 */
export function estimateMacs(node: Node, opts: MacsOptions = {}): number | undefined {
  const domain = normDomain(node.domain);
  if (domain === '') {
    switch (node.opType) {
      case 'Conv':
      case 'ConvInteger':
        return convMacs(node, 1, opts);
      case 'QLinearConv':
        return convMacs(node, 3, opts);
      case 'ConvTranspose': {
        const x = staticShape(node.inputs[0], opts);
        const w = staticShape(node.inputs[1], opts);
        if (!x || !w || w.length < 3) return undefined;
        return prod(x) * w[1] * prod(w.slice(2));
      }
      case 'Gemm': {
        const a = staticShape(node.inputs[0], opts);
        const y = staticShape(node.outputs[0], opts);
        if (!a || !y || a.length !== 2) return undefined;
        const k = node.getInt('transA', 0) ? a[0] : a[1];
        return prod(y) * k;
      }
      case 'MatMul':
      case 'MatMulInteger':
        return matmulMacs(node, 0, opts);
      case 'QLinearMatMul':
        return matmulMacs(node, 0, opts);
      case 'RNN':
      case 'GRU':
      case 'LSTM':
        return rnnMacs(node, opts);
      default:
        return 0;
    }
  }
  if (domain === 'com.microsoft') {
    switch (node.opType) {
      case 'FusedConv':
        return convMacs(node, 1, opts);
      case 'MatMulNBits':
        return matmulMacs(node, 0, opts, node.getInt('K'));
      case 'FusedMatMul': {
        const a = staticShape(node.inputs[0], opts);
        if (!a || !a.length) return undefined;
        const k = node.getInt('transA', 0) && a.length >= 2 ? a[a.length - 2] : a[a.length - 1];
        return matmulMacs(node, 0, opts, k);
      }
      case 'MatMulIntegerToFloat':
      case 'DynamicQuantizeMatMul':
        return matmulMacs(node, 0, opts);
      default:
        return 0;
    }
  }
  return 0;
}

/** Multiply-accumulates of a whole model (main graph and every subgraph). */
export function modelMacs(model: Model, opts: MacsOptions = {}): ModelMacs {
  const out: ModelMacs = { total: 0, byOp: {}, unknownNodes: 0 };
  for (const g of allGraphs(model, { functions: false })) {
    for (const n of g) {
      const m = estimateMacs(n, opts);
      if (m === undefined) {
        out.unknownNodes++;
        continue;
      }
      if (m === 0) continue;
      out.total += m;
      out.byOp[n.qualifiedType] = (out.byOp[n.qualifiedType] ?? 0) + m;
    }
  }
  return out;
}
