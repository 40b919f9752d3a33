/**
 * Per-layer quantization error: for every node of a QDQ model that runs between DequantizeLinear
 * inputs and a QuantizeLinear output, how far the tensor it hands on (the dequantized output) is
 * from the float model's tensor of the same name, on the same inputs — the table a sensitivity
 * analysis reads to leave the worst layers in float (after ORT's `qdq_loss_debug`, which pairs
 * tensors by the `_QuantizeLinear_Input` / `_DequantizeLinear_Output` names of contract §8).
 *
 * The error is cumulative (each layer sees its quantized predecessors' outputs, as in deployment);
 * `inputSnrDb` gives the SNR of the node's quantized inputs, so `inputSnrDb − snrDb` is what the
 * layer itself adds. Only running sums are kept, batch by batch.
 */
import { loadModelFromBytes, serializeModel, type Model, type Node } from '@edgeforge/onnx';
import { upgradeOpset } from '../optimize/upgrade-opset.js';
import { getBackend } from '../../runtime/index.js';
import type { BackendName, Feeds, HostTensor } from '../../runtime/types.js';
import { withExtraOutputs } from './calibrate.js';
import { DEFAULT_OP_TYPES } from './qdq-plan.js';

export interface LayerError {
  /** Node name, as `excludeNodes` takes it (quantize-static names unnamed nodes by their float output). */
  node: string;
  opType: string;
  /** The float model's tensor compared. */
  output: string;
  /** 10·log10(Σ f² / Σ (q − f)²), dB (Infinity when equal). */
  snrDb: number;
  /** ‖q − f‖ / ‖f‖ */
  relError: number;
  maxAbsError: number;
  cosine: number;
  /** Lowest SNR among the node's quantized activation inputs (Infinity when it has none). */
  inputSnrDb: number;
  /** Elements compared over all batches. */
  elements: number;
}

export interface LayerErrorOptions {
  backend?: BackendName;
  threads?: number;
}

/** One activation Q → DQ pair: the float tensor and the dequantized tensor that replaces it. */
interface Pair {
  float: string;
  dequantized: string;
}

class Sums {
  ff = 0;
  qq = 0;
  fq = 0;
  ee = 0;
  max = 0;
  n = 0;
  add(f: ArrayLike<number>, q: ArrayLike<number>): void {
    if (f.length !== q.length) throw new Error(`tensor sizes differ (${f.length} vs ${q.length})`);
    for (let i = 0; i < f.length; i++) {
      const e = q[i] - f[i];
      this.ff += f[i] * f[i];
      this.qq += q[i] * q[i];
      this.fq += f[i] * q[i];
      this.ee += e * e;
      const a = Math.abs(e);
      if (a > this.max) this.max = a;
    }
    this.n += f.length;
  }
  get snrDb(): number {
    return this.ee === 0 ? Infinity : 10 * Math.log10(this.ff / this.ee);
  }
}

const isOp = (n: Node | null | undefined, op: string): boolean =>
  !!n && n.opType === op && (n.domain === '' || n.domain === 'ai.onnx');

/** The activation pairs of a QDQ model (DQ fed by a Q), keyed by the DQ output name. */
function activationPairs(q: Model): Map<string, Pair> {
  const pairs = new Map<string, Pair>();
  for (const dq of q.graph) {
    if (!isOp(dq, 'DequantizeLinear')) continue;
    const quant = dq.inputs[0]?.producer;
    if (!quant || !isOp(quant, 'QuantizeLinear')) continue;
    const x = quant.inputs[0]!;
    const out = dq.outputs[0];
    // A graph output: the producer writes `X_QuantizeLinear_Input`, the DQ the float name.
    const float = out.isGraphOutput() ? out.name : x.name;
    pairs.set(out.name, { float, dequantized: out.name });
  }
  return pairs;
}

function floatValues(t: HostTensor | undefined, name: string): Float32Array {
  if (!t) throw new Error(`tensor '${name}' was not produced`);
  if (t.type !== 'float32') throw new Error(`tensor '${name}' is ${t.type}, not float32`);
  return t.data as Float32Array;
}

/**
 * The float model at the quantized model's opset: quantize-static raises old opsets (rewriting
 * some nodes), and the comparison needs the same tensors on both sides. A copy when it changes.
 */
function atOpsetOf(float: Model | Uint8Array, q: Model): Model {
  if ((float instanceof Uint8Array ? loadModelFromBytes(float) : float).opset >= q.opset)
    return float instanceof Uint8Array ? loadModelFromBytes(float) : float;
  const copy = loadModelFromBytes(float instanceof Uint8Array ? float : serializeModel(float));
  upgradeOpset(copy, q.opset);
  return copy;
}

/** SNR (dB) of each graph output of `quantized` against `float` on `data`, by output name. */
export async function outputSnr(
  float: Model | Uint8Array,
  quantized: Model | Uint8Array,
  data: () => AsyncIterable<Feeds>,
  o: LayerErrorOptions = {},
): Promise<Record<string, number>> {
  const backend = getBackend(o.backend ?? 'node');
  const opts = o.threads ? { threads: o.threads } : {};
  const bytes = (m: Model | Uint8Array) => (m instanceof Uint8Array ? m : serializeModel(m));
  const fs = await backend.createSession(bytes(float), opts);
  const qs = await backend.createSession(bytes(quantized), opts);
  const sums = new Map<string, Sums>();
  try {
    for await (const feeds of data()) {
      const [fo, qo] = [await fs.run(feeds), await qs.run(feeds)];
      for (const [name, t] of Object.entries(fo)) {
        if (t.type !== 'float32') continue;
        let s = sums.get(name);
        if (!s) sums.set(name, (s = new Sums()));
        s.add(floatValues(t, name), floatValues(qo[name], name));
      }
    }
  } finally {
    await fs.release();
    await qs.release();
  }
  return Object.fromEntries([...sums].map(([k, s]) => [k, s.snrDb]));
}

/**
 * Runs the float model and its QDQ version side by side on `data` and returns, for each quantized
 * node of the QDQ model's main graph (in graph order), the error of its output against the float
 * model's tensor of the same name.
 *
 * @example
 * ```ts
 * const table = await layerErrors(floatModel, quantizedModel, calibration);
 * const worst = [...table].sort((a, b) => (b.inputSnrDb - b.snrDb) - (a.inputSnrDb - a.snrDb))[0];
 * // quantize again with excludeNodes: [worst.node]
 * ```
 */
export async function layerErrors(
  float: Model | Uint8Array,
  quantized: Model | Uint8Array,
  data: () => AsyncIterable<Feeds>,
  o: LayerErrorOptions = {},
): Promise<LayerError[]> {
  const qm = quantized instanceof Uint8Array ? loadModelFromBytes(quantized) : quantized;
  const fm = atOpsetOf(float, qm);
  const pairs = activationPairs(qm);
  const floatNames = new Set<string>();
  for (const n of fm.graph) for (const v of n.outputs) floatNames.add(v.name);
  const floatInputs = new Set(fm.graph.inputs.map((v) => v.name));
  // Tensors both models have: the float one under its name, the quantized one as the DQ output.
  const usable = [...pairs.values()].filter((p) => floatNames.has(p.float) || floatInputs.has(p.float));

  interface Row {
    node: Node;
    output: Pair;
    inputs: Pair[];
  }
  const rows: Row[] = [];
  for (const n of qm.graph) {
    // Only op types quantize-static quantizes: a float op between Q/DQ pairs (Div, HardSigmoid) is not a layer to exclude.
    if (!DEFAULT_OP_TYPES.some((op) => isOp(n, op))) continue;
    const out = n.outputs[0];
    const uses = out?.uses() ?? [];
    if (uses.length !== 1 || !isOp(uses[0].node, 'QuantizeLinear')) continue;
    const dqUse = uses[0].node.outputs[0].uses()[0]?.node;
    const pair = dqUse && pairs.get(dqUse.outputs[0].name);
    if (!pair || !usable.includes(pair)) continue;
    const inputs = n.inputs.flatMap((v) => {
      const p = v ? pairs.get(v.name) : undefined;
      return p && usable.includes(p) ? [p] : [];
    });
    if (!n.inputs.some((v) => isOp(v?.producer, 'DequantizeLinear'))) continue;
    rows.push({ node: n, output: pair, inputs });
  }
  const wanted = [...new Set(rows.flatMap((r) => [r.output, ...r.inputs]))];
  const sums = new Map(wanted.map((p) => [p.dequantized, new Sums()]));

  const backend = getBackend(o.backend ?? 'node');
  const opts = { graphOptimization: 'basic' as const, ...(o.threads ? { threads: o.threads } : {}) };
  const fs = await backend.createSession(
    withExtraOutputs(
      fm,
      wanted.map((p) => p.float),
    ),
    opts,
  );
  const qs = await backend.createSession(
    withExtraOutputs(
      qm,
      wanted.map((p) => p.dequantized),
    ),
    opts,
  );
  try {
    const fNames = [...new Set(wanted.map((p) => p.float).filter((n) => !floatInputs.has(n)))];
    const qNames = wanted.map((p) => p.dequantized);
    for await (const feeds of data()) {
      const [fo, qo] = [await fs.run(feeds, fNames), await qs.run(feeds, qNames)];
      for (const p of wanted) {
        const f = floatValues(fo[p.float] ?? feeds[p.float], p.float);
        sums.get(p.dequantized)!.add(f, floatValues(qo[p.dequantized], p.dequantized));
      }
    }
  } finally {
    await fs.release();
    await qs.release();
  }
  return rows.map((r) => {
    const s = sums.get(r.output.dequantized)!;
    return {
      node: r.node.name || r.output.float,
      opType: r.node.opType,
      output: r.output.float,
      snrDb: s.snrDb,
      relError: s.ff === 0 ? (s.ee === 0 ? 0 : Infinity) : Math.sqrt(s.ee / s.ff),
      maxAbsError: s.max,
      cosine: s.ff === 0 || s.qq === 0 ? (s.ee === 0 ? 1 : 0) : s.fq / Math.sqrt(s.ff * s.qq),
      inputSnrDb: Math.min(Infinity, ...r.inputs.map((p) => sums.get(p.dequantized)!.snrDb)),
      elements: s.n,
    };
  });
}
