/**
 * `quantize-dynamic`: int8 weights, activations quantized at run time — ONNX Runtime's
 * `quantize_dynamic` (IntegerOps layout), contract §4 of `reference/quantization-contract.md`.
 *
 * ```
 * MatMul (constant B):
 *   Before:  X ─► MatMul(W) ─► Y
 *   After:   X ─► DynamicQuantizeLinear ─► X_quantized, X_scale, X_zero_point
 *            Mul(X_scale, W_scale) ─► <node>_quant_scales_mul:0
 *            MatMulInteger(X_quantized, W_quantized, X_zero_point, W_zero_point) ─► Y_output_quantized (int32)
 *            Cast(to FLOAT) ─► Mul(·, scales) ─► Y            (Y keeps its name, type and uses)
 * Gemm(A, B, C; alpha, beta, transA, transB):
 *   the MatMul chain on A (Transpose'd when transA) with W = alpha·B (transposed to [K, N] when
 *   transB), then Add(beta·C) ─► Y
 * Conv(X, W, b):
 *   DynamicQuantizeLinear ─► ConvInteger(same attributes) ─► Cast ─► Mul(scales) ─► Add(b as [1, M, 1, …]) ─► Y
 * LSTM(X, W, R, …)
 *   com.microsoft.DynamicQuantizeLSTM(X, W_quantized [D, K, 4H], R_quantized [D, H, 4H], …, scales, zero points)
 * Gather(table, indices)      (a constant float table: embeddings)
 *   Gather(table_quantized, indices) ─► DequantizeLinear(·, table_scale, table_zero_point) ─► Y
 * ```
 *
 * onnxruntime fuses the MatMul chain (and a following constant bias Add) into
 * `com.microsoft.DynamicQuantizeMatMul` when the session loads; Conv stays as written (slower than
 * float on CPU: ConvInteger has no fast path, contract §4).
 *
 * Defaults: MatMul, Gemm, LSTM and Gather — not Conv, unlike ORT's `quantize_dynamic` — and one
 * scale per output channel (unlike ORT, whose default is one per tensor). Conv is rewritten only
 * when `opTypes` names it: dynamic ConvInteger ran 3–23× slower than the float model on
 * onnxruntime-node's CPU (bench/quantize.ts: fashion-resnet 22.9×, mnist-cnn 3.7×, PP-OCR
 * 3.1–6.4×, Silero v5 1.24×), where static QDQ Conv is faster than float; Convs left out get one
 * note pointing to static mode. BatchNorm-folded CNN weights (PP-OCR, Silero) need per-channel
 * scales when Conv is quantized: one scale per tensor erases their small channels (PP-OCR rec
 * reads no line, Silero v5 drifts at 8 kHz), while per channel matches float. `perChannel: false`
 * gives ORT's per-tensor layout; `opTypes` chooses what is rewritten.
 *
 * Weights: int8 symmetric (zero point 0, [−127, 127], scale absmax/127) by default; `uint8` is
 * asymmetric; `reduceRange` uses 7 bits (for CPUs without VNNI, contract §3). Per channel means one
 * scale per output column (MatMul/Gemm: `W_scale`, `W_zero_point` of shape [N], which MatMulInteger
 * accepts at any opset) or per output channel (Conv). onnxruntime's ConvInteger takes only a scalar
 * weight zero point ("Non per-tensor quantization is not supported now", checked on node and wasm),
 * so per-channel Conv weights are symmetric — zero point 0 for int8, 128 for uint8 — and the
 * per-channel scales, stored as [M, 1, …], multiply the output. LSTM weights are always int8
 * symmetric (ORT's `LSTMQuant`), per gate row or, with `perChannel: false`, per direction; a
 * Gather table has one scale (it is dequantized after the Gather). Quantized weights are new
 * initializers `W_quantized`, `W_scale`, `W_zero_point` in the graph that held W (contract §8); a
 * weight shared by several nodes is quantized once. One DynamicQuantizeLinear serves every
 * consumer of an activation in a graph.
 *
 * Handled: weights in initializers, `Constant` nodes (PaddleOCR) and behind `Identity`; nodes in
 * If/Loop/Scan bodies (Silero v5). Models below opset 11 are raised to 11 first with `upgrade-opset`
 * (DynamicQuantizeLinear needs 11; ORT's quantizer does the same), or the pass throws naming what
 * blocks that.
 *
 * Left in float, with a note: MatMul/Gemm whose B is not constant (ORT's `MatMulConstBOnly`),
 * weights that are not float32, MatMul B of rank 1, Conv weights of rank < 3, LSTMs with computed
 * weights or `layout = 1`, nodes excluded by the options, LSTMs when `opTypes` leaves LSTM out,
 * Convs when `opTypes` leaves Conv out (the default; one note for all), GRU and RNN (no
 * onnxruntime kernel). Refused: a model that is already quantized (it has
 * QuantizeLinear, DequantizeLinear, MatMulInteger, ConvInteger, QLinear*, MatMulNBits, …).
 */
import { refuseQuantized } from './already-quantized.js';
import {
  DataType,
  MemoryTensor,
  Node,
  Value,
  graphAndSubgraphs,
  toAttr,
  toFloat32,
  type Graph,
  type Model,
  type Tensor,
} from '@edgeforge/onnx';
import { constantThroughIdentity, releaseIfUnused } from '../optimize/fuse-bn-into-conv.js';
import { upgradeOpset } from '../optimize/upgrade-opset.js';
import { Changes, PassOptionError, type Pass, type PassReport } from '../pass.js';
import { ModelNames } from './model-names.js';
import { quantizeWeight, quantizedTensor, scaleTensor, zeroPointTensor, type QuantizedWeight } from './params.js';

export const QUANTIZE_DYNAMIC = 'quantize-dynamic';

/** Op types this mode can rewrite. */
export const DYNAMIC_OP_TYPES = ['MatMul', 'Gemm', 'Conv', 'LSTM', 'Gather'] as const;
export type DynamicOpType = (typeof DYNAMIC_OP_TYPES)[number];
/**
 * Rewritten unless `opTypes` says otherwise: all but Conv (dynamic ConvInteger runs slower than
 * float on onnxruntime's CPU; static QDQ is the fast int8 Conv).
 */
export const DEFAULT_DYNAMIC_OP_TYPES: readonly DynamicOpType[] = ['MatMul', 'Gemm', 'LSTM', 'Gather'];

export interface QuantizeDynamicOptions {
  /** Weight type: 'int8' (symmetric, default) or 'uint8' (asymmetric). */
  weightType: 'int8' | 'uint8';
  /** One scale per output column / channel (default) instead of one per tensor (`false`, ORT's default). */
  perChannel: boolean;
  /** 7-bit weights (VPMADDUBSW saturation on x86 without VNNI). */
  reduceRange: boolean;
  /** Op types to rewrite (default DEFAULT_DYNAMIC_OP_TYPES: all but Conv). */
  opTypes: DynamicOpType[];
  /** Node names to leave in float. */
  excludeNodes: string[];
  /** When non-empty, only these nodes are quantized. */
  includeNodes: string[];
}

/** DynamicQuantizeLinear exists from this opset on. */
const MIN_OPSET = 11;

const isOnnx = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** A node this pass will rewrite, with everything read before any rewrite. */
interface Candidate {
  node: Node;
  graph: Graph;
  kind: DynamicOpType;
  /** The value feeding the weight input (what the cache keys on). */
  weightValue: Value;
  weight: Tensor;
  /** LSTM: the recurrence weight R. */
  recurrent?: { value: Value; tensor: Tensor };
}

function parseStringList(raw: unknown, key: string, what = 'node names'): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string'))
    throw new PassOptionError(`pass '${QUANTIZE_DYNAMIC}': ${key} must be a list of ${what}`);
  return [...(raw as string[])];
}

function parseBool(raw: unknown, key: string, fallback: boolean): boolean {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'boolean') throw new PassOptionError(`pass '${QUANTIZE_DYNAMIC}': ${key} must be true or false`);
  return raw;
}

export function parseQuantizeDynamicOptions(raw: Record<string, unknown>): QuantizeDynamicOptions {
  const known = ['weightType', 'perChannel', 'reduceRange', 'opTypes', 'excludeNodes', 'includeNodes'];
  const extra = Object.keys(raw).filter((k) => !known.includes(k));
  if (extra.length)
    throw new PassOptionError(
      `pass '${QUANTIZE_DYNAMIC}': unknown option(s) ${extra.join(', ')} (options: ${known.join(', ')})`,
    );
  const weightType = raw.weightType ?? 'int8';
  if (weightType !== 'int8' && weightType !== 'uint8')
    throw new PassOptionError(
      `pass '${QUANTIZE_DYNAMIC}': weightType must be 'int8' or 'uint8' (got ${String(weightType)})`,
    );
  let opTypes: DynamicOpType[] = [...DEFAULT_DYNAMIC_OP_TYPES];
  if (raw.opTypes !== undefined) {
    const list = parseStringList(raw.opTypes, 'opTypes', 'op types');
    const bad = list.filter((t) => !(DYNAMIC_OP_TYPES as readonly string[]).includes(t));
    if (bad.length || list.length === 0)
      throw new PassOptionError(
        `pass '${QUANTIZE_DYNAMIC}': opTypes must be a non-empty list of ${DYNAMIC_OP_TYPES.join(', ')}` +
          (bad.length ? ` (got ${bad.join(', ')})` : ''),
      );
    opTypes = [...new Set(list)] as DynamicOpType[];
  }
  return {
    weightType,
    perChannel: parseBool(raw.perChannel, 'perChannel', true),
    // u8 activations × s8 weights saturate on x86 CPUs without VNNI (AVX2, VPMADDUBSW); 7-bit weights
    // cannot, so that is the default wherever the model may run (contract §3).
    reduceRange: parseBool(raw.reduceRange, 'reduceRange', weightType === 'int8'),
    opTypes,
    excludeNodes: parseStringList(raw.excludeNodes, 'excludeNodes'),
    includeNodes: parseStringList(raw.includeNodes, 'includeNodes'),
  };
}

/** Matches `n` as a candidate, or says why it stays in float. */
function analyze(n: Node, g: Graph, kind: DynamicOpType): Candidate | string | undefined {
  if (kind === 'LSTM') return analyzeLstm(n, g);
  if (kind === 'Gather') return analyzeGather(n, g);
  const wv = n.inputs[1];
  if (!wv) return `${n}: no weight input`;
  const w = constantThroughIdentity(wv);
  const which = kind === 'Conv' ? 'weight' : 'B';
  if (!w) return `${n}: ${which} '${wv.name}' is not constant (only constant weights are quantized)`;
  if (w.dtype !== DataType.FLOAT) return `${n}: ${which} '${wv.name}' is not float32`;
  const rank = w.dims.length;
  if (kind === 'MatMul' && rank < 2) return `${n}: B '${wv.name}' has rank ${rank}`;
  if (kind === 'Gemm' && rank !== 2) return `${n}: B '${wv.name}' has rank ${rank}`;
  if (kind === 'Conv' && rank < 3) return `${n}: weight '${wv.name}' has rank ${rank}`;
  if (w.dims.some((d) => d === 0)) return `${n}: ${which} '${wv.name}' is empty`;
  return { node: n, graph: g, kind, weightValue: wv, weight: w };
}

/** A Gather from a constant float table (an embedding); Gathers from computed data are not weights. */
function analyzeGather(n: Node, g: Graph): Candidate | string | undefined {
  const dv = n.inputs[0];
  const t = dv ? constantThroughIdentity(dv) : undefined;
  if (!dv || !t || t.dtype !== DataType.FLOAT || t.size < 2) return undefined;
  return { node: n, graph: g, kind: 'Gather', weightValue: dv, weight: t };
}

function analyzeLstm(n: Node, g: Graph): Candidate | string {
  if (n.getInt('layout', 0) !== 0) return `${n}: layout = 1 (DynamicQuantizeLSTM has no batch-first layout)`;
  const found: { value: Value; tensor: Tensor }[] = [];
  for (const [i, what] of [
    [1, 'W'],
    [2, 'R'],
  ] as const) {
    const v = n.inputs[i];
    const t = v ? constantThroughIdentity(v) : undefined;
    if (!v || !t) return `${n}: ${what} '${v?.name ?? ''}' is not constant (fold-constants first)`;
    if (t.dtype !== DataType.FLOAT) return `${n}: ${what} '${v.name}' is not float32`;
    if (t.dims.length !== 3) return `${n}: ${what} '${v.name}' has rank ${t.dims.length}`;
    found.push({ value: v, tensor: t });
  }
  return { node: n, graph: g, kind: 'LSTM', weightValue: found[0].value, weight: found[0].tensor, recurrent: found[1] };
}

/** Emits the rewrite; shared state: names, one DynamicQuantizeLinear per (graph, activation), weight cache. */
class Rewriter {
  readonly #dql = new Map<Graph, Map<Value, Value[]>>();
  readonly #weights = new Map<Value, Map<string, { q: Value; scale: Value; zp: Value }>>();
  readonly released = new Set<Value>();
  constructor(
    readonly names: ModelNames,
    readonly o: QuantizeDynamicOptions,
    readonly changes: Changes,
  ) {}

  /** The shared DynamicQuantizeLinear outputs [quantized, scale, zero point] of `x` in `g`. */
  dynamicQuantize(x: Value, g: Graph, before: Node): Value[] {
    let perGraph = this.#dql.get(g);
    if (!perGraph) this.#dql.set(g, (perGraph = new Map()));
    const hit = perGraph.get(x);
    if (hit) return hit;
    const base = x.name || 'input';
    const node = new Node('DynamicQuantizeLinear', [x], {
      name: this.names.node(`${base}_QuantizeLinear`),
      outputs: [`${base}_quantized`, `${base}_scale`, `${base}_zero_point`].map((s) => this.names.value(s)),
    });
    g.insertBefore(before, node);
    this.changes.add('DynamicQuantizeLinear added');
    perGraph.set(x, [...node.outputs]);
    return perGraph.get(x)!;
  }

  /**
   * The quantized weight for `c` (computed once per weight value and variant), as initializers
   * in the graph that holds the weight. `data`/`dims` are the float weight as the integer op will
   * read it (Gemm: alpha applied, transposed to [K, N]).
   */
  quantizedWeight(
    c: Candidate,
    variant: string,
    make: () => { data: Float32Array; dims: number[] },
  ): { q: Value; scale: Value; zp: Value } {
    let perValue = this.#weights.get(c.weightValue);
    if (!perValue) this.#weights.set(c.weightValue, (perValue = new Map()));
    // A table a Gather reads is quantized per tensor: never share it with a per-channel MatMul.
    const key = c.kind === 'Gather' ? `gather:${variant}` : variant;
    const hit = perValue.get(key);
    if (hit) return hit;
    const { data, dims } = make();
    const t = this.o.weightType;
    const rank = dims.length;
    let qw: QuantizedWeight;
    let scaleT: MemoryTensor;
    let zpT: MemoryTensor;
    const base = variant === '' ? c.weightValue.name : `${c.weightValue.name}_${variant}`;
    const qName = this.names.value(`${base}_quantized`);
    const sName = this.names.value(`${base}_scale`);
    const zName = this.names.value(`${base}_zero_point`);
    const reduce = this.o.reduceRange ? { reduceRange: true } : {};
    // A gathered table is dequantized after the Gather: one scale for the whole table.
    if (!this.o.perChannel || c.kind === 'Gather') {
      // A table takes no integer matmul, so it cannot saturate: it keeps all 8 bits.
      qw = quantizeWeight(data, dims, t, { symmetric: t === 'int8', ...(c.kind === 'Gather' ? {} : reduce) });
      scaleT = scaleTensor(qw.scales, false, sName);
      zpT = zeroPointTensor(qw.zeroPoints, t, false, zName);
    } else if (c.kind === 'Conv') {
      // ConvInteger takes one zero point: symmetric per channel (0 or 128 everywhere).
      qw = quantizeWeight(data, dims, t, { axis: 0, symmetric: true, ...reduce });
      const scaleDims = [dims[0], ...Array<number>(rank - 2).fill(1)];
      scaleT = new MemoryTensor(DataType.FLOAT, scaleDims, Float32Array.from(qw.scales), sName);
      zpT = zeroPointTensor(qw.zeroPoints.subarray(0, 1), t, false, zName);
    } else if (rank === 2) {
      qw = quantizeWeight(data, dims, t, { axis: 1, symmetric: t === 'int8', ...reduce });
      scaleT = scaleTensor(qw.scales, true, sName);
      zpT = zeroPointTensor(qw.zeroPoints, t, true, zName);
    } else {
      qw = quantizeWeight(data, dims, t, { symmetric: t === 'int8', ...reduce });
      scaleT = scaleTensor(qw.scales, false, sName);
      zpT = zeroPointTensor(qw.zeroPoints, t, false, zName);
      this.changes.note(`${c.node}: B of rank ${rank} quantized per tensor (per-column scales need a 2-D B)`);
    }
    const home = c.weightValue.graph ?? c.graph;
    const out = {
      q: home.addInitializer(qName, quantizedTensor(qw.values, t, dims, qName)),
      scale: home.addInitializer(sName, scaleT),
      zp: home.addInitializer(zName, zpT),
    };
    perValue.set(key, out);
    this.released.add(c.weightValue);
    this.changes.add('weights quantized');
    return out;
  }

  /**
   * DynamicQuantizeLinear(x) → integer op → Cast → Mul(x_scale·w_scale) → `out`: the nodes are
   * inserted before `at`; returns them.
   */
  integerChain(
    c: Candidate,
    op: 'MatMulInteger' | 'ConvInteger',
    x: Value,
    w: { q: Value; scale: Value; zp: Value },
    out: Value,
    at: Node,
    attributes = c.node.attributes,
  ): void {
    const g = c.graph;
    const [xq, xs, xz] = this.dynamicQuantize(x, g, at);
    const base = c.node.name || out.name;
    const mulName = this.names.node(`${base}_quant_scales_mul`);
    const scales = new Node('Mul', [xs, w.scale], { name: mulName, outputs: [this.names.value(`${mulName}:0`)] });
    const yq = this.names.value(`${out.name}_output_quantized`);
    const integer = new Node(op, [xq, w.q, xz, w.zp], {
      name: this.names.node(`${base}_quant`),
      outputs: [yq],
      attributes: [...attributes.values()].map((a) => ({ ...a })),
    });
    const cast = new Node('Cast', [integer.outputs[0]], {
      name: this.names.node(`${yq}_cast`),
      outputs: [this.names.value(`${yq}_cast_output`)],
      attributes: [toAttr('to', DataType.FLOAT)],
    });
    const scaled = new Node('Mul', [cast.outputs[0], scales.outputs[0]], {
      name: this.names.node(`${base}_quant_output_scale_mul`),
      outputs: [out],
    });
    g.insertBefore(at, scales, integer, cast, scaled);
  }

  /** Detaches `n`'s output so a new node can produce it; returns it. */
  static takeOutput(n: Node): Value {
    const y = n.outputs[0];
    n.setOutput(0, new Value(''));
    return y;
  }

  matmul(c: Candidate): void {
    const n = c.node;
    const w = this.quantizedWeight(c, '', () => ({ data: toFloat32(c.weight), dims: [...c.weight.dims] }));
    const y = Rewriter.takeOutput(n);
    this.integerChain(c, 'MatMulInteger', n.inputs[0]!, w, y, n, new Map());
    c.graph.remove(n);
    this.changes.add('MatMul → MatMulInteger');
  }

  gemm(c: Candidate): void {
    const n = c.node;
    const g = c.graph;
    const alpha = n.getFloat('alpha', 1);
    const beta = n.getFloat('beta', 1);
    const transA = n.getInt('transA', 0) !== 0;
    const transB = n.getInt('transB', 0) !== 0;
    const variant = [transB ? 'T' : '', alpha !== 1 ? `alpha${alpha}` : ''].filter(Boolean).join('_');
    const w = this.quantizedWeight(c, variant, () => {
      const src = toFloat32(c.weight);
      const [r, k] = c.weight.dims;
      const data = new Float32Array(src.length);
      if (transB) for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) data[j * r + i] = alpha * src[i * k + j];
      else for (let i = 0; i < src.length; i++) data[i] = alpha * src[i];
      return { data, dims: transB ? [k, r] : [r, k] };
    });
    const base = n.name || n.outputs[0].name;
    const cIn = n.inputs[2] && n.inputs[2].name && beta !== 0 ? n.inputs[2] : null;
    let a = n.inputs[0]!;
    if (transA) {
      const tr = new Node('Transpose', [a], {
        name: this.names.node(`${base}_TransposeA`),
        outputs: [this.names.value(`${a.name}_transposed`)],
        attributes: [toAttr('perm', [1, 0])],
      });
      g.insertBefore(n, tr);
      a = tr.outputs[0];
    }
    const y = Rewriter.takeOutput(n);
    const mm = cIn ? new Value(this.names.value(`${y.name}_MatMul`)) : y;
    this.integerChain(c, 'MatMulInteger', a, w, mm, n, new Map());
    if (cIn) {
      let bias = cIn;
      if (beta !== 1) {
        const cT = constantThroughIdentity(cIn);
        if (cT && cT.dtype === DataType.FLOAT) {
          const name = this.names.value(`${cIn.name}_beta`);
          const scaled = Float32Array.from(toFloat32(cT), (v) => beta * v);
          bias = g.addInitializer(name, new MemoryTensor(DataType.FLOAT, [...cT.dims], scaled, name));
          this.released.add(cIn);
        } else {
          const bName = this.names.value(`${base}_beta`);
          const betaT = g.addInitializer(bName, new MemoryTensor(DataType.FLOAT, [], Float32Array.of(beta), bName));
          const mul = new Node('Mul', [cIn, betaT], {
            name: this.names.node(`${base}_beta_mul`),
            outputs: [this.names.value(`${cIn.name}_times_beta`)],
          });
          g.insertBefore(n, mul);
          bias = mul.outputs[0];
        }
      }
      g.insertBefore(n, new Node('Add', [mm, bias], { name: this.names.node(`${base}_Add`), outputs: [y] }));
    }
    for (const v of n.inputs.slice(2)) if (v) this.released.add(v);
    g.remove(n);
    this.changes.add('Gemm → MatMulInteger');
  }

  conv(c: Candidate): void {
    const n = c.node;
    const g = c.graph;
    const w = this.quantizedWeight(c, '', () => ({ data: toFloat32(c.weight), dims: [...c.weight.dims] }));
    const y = Rewriter.takeOutput(n);
    const b = n.inputs[2] && n.inputs[2].name ? n.inputs[2] : null;
    const scaled = b ? new Value(this.names.value(`${y.name}quant_scaled_output`)) : y;
    this.integerChain(c, 'ConvInteger', n.inputs[0]!, w, scaled, n);
    if (b) {
      const rank = c.weight.dims.length;
      const shape = [1, -1, ...Array<number>(rank - 2).fill(1)];
      const bT = constantThroughIdentity(b);
      let bias: Value;
      if (bT) {
        // A constant bias is stored already broadcastable: no Reshape node at run time.
        const name = this.names.value(`${y.name}_bias_reshape_output`);
        const dims = [1, bT.size, ...Array<number>(rank - 2).fill(1)];
        bias = g.addInitializer(name, new MemoryTensor(bT.dtype, dims, toFloat32(bT), name));
        this.released.add(b);
      } else {
        const sName = this.names.value(`${y.name}_bias_reshape_shape`);
        const shapeT = g.addInitializer(
          sName,
          new MemoryTensor(
            DataType.INT64,
            [rank],
            BigInt64Array.from(shape, (d) => BigInt(d)),
            sName,
          ),
        );
        const reshape = new Node('Reshape', [b, shapeT], {
          name: this.names.node(`${y.name}_bias_reshape`),
          outputs: [this.names.value(`${y.name}_bias_reshape_output`)],
        });
        g.insertBefore(n, reshape);
        bias = reshape.outputs[0];
      }
      g.insertBefore(n, new Node('Add', [scaled, bias], { name: this.names.node(`${y.name}_bias_add`), outputs: [y] }));
    }
    g.remove(n);
    this.changes.add('Conv → ConvInteger');
  }
  /**
   * Gather from a quantized table, then DequantizeLinear (ORT's `GatherQuant`): the table is stored
   * as 8-bit integers and only the gathered rows are turned back into float.
   */
  gather(c: Candidate): void {
    const n = c.node;
    const w = this.quantizedWeight(c, '', () => ({
      data: toFloat32(c.weight),
      dims: [...c.weight.dims],
    }));
    const y = Rewriter.takeOutput(n);
    const gq = new Node('Gather', [w.q, n.inputs[1]], {
      name: this.names.node(`${n.name || y.name}_quant`),
      outputs: [this.names.value(`${y.name}_quantized`)],
      attributes: [...n.attributes.values()].map((a) => ({ ...a })),
    });
    const dq = new Node('DequantizeLinear', [gq.outputs[0], w.scale, w.zp], {
      name: this.names.node(`${y.name}_DequantizeLinear`),
      outputs: [y],
    });
    c.graph.insertBefore(n, gq, dq);
    c.graph.remove(n);
    this.changes.add('Gather → Gather(int8) + DequantizeLinear');
  }

  /**
   * An LSTM weight [D, 4H, K] as DynamicQuantizeLSTM reads it: int8 symmetric, one scale per
   * direction ([D]) or per gate row ([D, 4H]) — ORT's `LSTMQuant` — stored transposed to [D, K, 4H].
   */
  lstmWeight(c: Candidate, v: Value, t: Tensor): { q: Value; scale: Value; zp: Value } {
    let perValue = this.#weights.get(v);
    if (!perValue) this.#weights.set(v, (perValue = new Map()));
    const hit = perValue.get('lstm');
    if (hit) return hit;
    const [d, rows, k] = t.dims;
    const reduce = this.o.reduceRange ? { reduceRange: true } : {};
    const qw = this.o.perChannel
      ? quantizeWeight(toFloat32(t), [d * rows, k], 'int8', { axis: 0, symmetric: true, ...reduce })
      : quantizeWeight(toFloat32(t), [d, rows, k], 'int8', { axis: 0, symmetric: true, ...reduce });
    const transposed = new Int32Array(qw.values.length);
    for (let dir = 0; dir < d; dir++)
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < k; j++) transposed[(dir * k + j) * rows + r] = qw.values[(dir * rows + r) * k + j];
    const qName = this.names.value(`${v.name}_quantized`);
    const sName = this.names.value(`${v.name}_scale`);
    const zName = this.names.value(`${v.name}_zero_point`);
    const pDims = this.o.perChannel ? [d, rows] : [d];
    const home = v.graph ?? c.graph;
    const out = {
      q: home.addInitializer(qName, quantizedTensor(transposed, 'int8', [d, k, rows], qName)),
      scale: home.addInitializer(sName, new MemoryTensor(DataType.FLOAT, pDims, Float32Array.from(qw.scales), sName)),
      zp: home.addInitializer(zName, quantizedTensor(qw.zeroPoints, 'int8', pDims, zName)),
    };
    perValue.set('lstm', out);
    this.released.add(v);
    this.changes.add('weights quantized');
    return out;
  }

  lstm(c: Candidate, model: Model): void {
    const n = c.node;
    const w = this.lstmWeight(c, c.weightValue, c.weight);
    const r = this.lstmWeight(c, c.recurrent!.value, c.recurrent!.tensor);
    const optional = [3, 4, 5, 6, 7].map((i) => n.inputs[i] ?? null);
    const outs = n.outputs.map((_, i) => {
      const y = n.outputs[i];
      n.setOutput(i, new Value(''));
      return y;
    });
    const q = new Node('DynamicQuantizeLSTM', [n.inputs[0], w.q, r.q, ...optional, w.scale, w.zp, r.scale, r.zp], {
      domain: 'com.microsoft',
      name: this.names.node(`${n.name || outs[0].name}_quant`),
      outputs: outs,
      attributes: [...n.attributes.values()].filter((a) => a.name !== 'layout').map((a) => ({ ...a })),
    });
    c.graph.insertBefore(n, q);
    c.graph.remove(n);
    if (!model.opsetImports.has('com.microsoft')) model.opsetImports.set('com.microsoft', 1);
    this.changes.add('LSTM → DynamicQuantizeLSTM');
  }
}

/** The candidates in the main graph and its subgraphs, in graph order; notes what stays float. */
function findCandidates(model: Model, o: QuantizeDynamicOptions, changes: Changes): Candidate[] {
  const include = new Set(o.includeNodes);
  const exclude = new Set(o.excludeNodes);
  const seen = new Set<string>();
  const out: Candidate[] = [];
  const recurrent = new Map<string, number>();
  const convOff = !o.opTypes.includes('Conv');
  let floatConvs = 0;
  for (const g of graphAndSubgraphs(model.graph)) {
    for (const n of g) {
      if (!isOnnx(n)) continue;
      if (n.name) seen.add(n.name);
      if (convOff && n.opType === 'Conv') floatConvs++;
      const lstmOff = n.opType === 'LSTM' && !o.opTypes.includes('LSTM');
      if (lstmOff || n.opType === 'GRU' || n.opType === 'RNN') {
        recurrent.set(n.opType, (recurrent.get(n.opType) ?? 0) + 1);
        continue;
      }
      if (!(o.opTypes as string[]).includes(n.opType)) continue;
      if (include.size && !include.has(n.name)) continue;
      if (exclude.has(n.name)) {
        changes.note(`${n}: excluded (excludeNodes)`);
        continue;
      }
      const c = analyze(n, g, n.opType as DynamicOpType);
      if (typeof c === 'string') changes.note(c);
      else if (c) out.push(c);
    }
  }
  for (const [op, k] of recurrent)
    changes.note(
      `${k} ${op} node(s) left in float (` +
        (op === 'LSTM'
          ? "add 'LSTM' to opTypes for com.microsoft.DynamicQuantizeLSTM)"
          : 'onnxruntime has no dynamic int8 kernel)'),
    );
  if (floatConvs)
    changes.note(
      `${floatConvs} Conv left float: dynamic ConvInteger runs slower than float on onnxruntime's CPU ` +
        '(3–23× in bench/quantize.ts); use --mode static for CNNs, or add Conv to opTypes to store them int8 anyway',
    );
  for (const [key, list] of [
    ['includeNodes', o.includeNodes],
    ['excludeNodes', o.excludeNodes],
  ] as const) {
    const missing = list.filter((name) => !seen.has(name));
    if (missing.length) changes.note(`${key} names no node: ${missing.join(', ')}`);
  }
  const inFunctions = model.functions.reduce(
    (k, f) => k + [...f.graph].filter((n) => isOnnx(n) && (o.opTypes as string[]).includes(n.opType)).length,
    0,
  );
  if (inFunctions) changes.note(`${inFunctions} node(s) in model-local function bodies left in float`);
  return out;
}

/** Removes a float weight nothing uses any more, and its value_info entry. */
function release(v: Value): void {
  const g = v.graph;
  releaseIfUnused(v);
  const gone = !v.isInitializer() && !v.producer?.graph;
  const k = g && gone && v.uses().length === 0 ? g.valueInfo.indexOf(v) : -1;
  if (k >= 0) g!.valueInfo.splice(k, 1);
}

export function quantizeDynamicModel(model: Model, o: QuantizeDynamicOptions): PassReport {
  const changes = new Changes();
  refuseQuantized(model, QUANTIZE_DYNAMIC);
  const candidates = findCandidates(model, o, changes);
  if (candidates.length === 0) return changes.report();
  if (model.opset < MIN_OPSET) {
    let up: ReturnType<typeof upgradeOpset>;
    try {
      up = upgradeOpset(model, MIN_OPSET);
    } catch (e) {
      throw new Error(
        `${QUANTIZE_DYNAMIC}: DynamicQuantizeLinear needs ai.onnx opset ${MIN_OPSET}; ${(e as Error).message}`,
      );
    }
    changes.note(`ai.onnx opset ${up.from} → ${up.to} first (DynamicQuantizeLinear needs ${MIN_OPSET})`);
    for (const [what, k] of Object.entries(up.rewritten)) changes.add(`opset upgrade ${what}`, k);
  }
  // After the upgrade: its new constants hold names too.
  const names = new ModelNames(model);
  const r = new Rewriter(names, o, changes);
  for (const c of candidates) {
    if (c.kind === 'MatMul') r.matmul(c);
    else if (c.kind === 'Gemm') r.gemm(c);
    else if (c.kind === 'Conv') r.conv(c);
    else if (c.kind === 'Gather') r.gather(c);
    else r.lstm(c, model);
  }
  for (const v of r.released) release(v);
  return changes.report();
}

/** Dynamic (IntegerOps) quantization of MatMul, Gemm, LSTM, embedding (and on request Conv) weights, after ORT's `quantize_dynamic`. */
export const quantizeDynamic: Pass<QuantizeDynamicOptions> = {
  name: QUANTIZE_DYNAMIC,
  family: 'quantize',
  description:
    'Quantize MatMul/Gemm/LSTM weights and embedding tables (Conv on request: slower than float on CPU) to int8 per channel, their inputs at run time (DynamicQuantizeLinear + integer ops)',
  // A second run refuses: the model is then quantized.
  idempotent: false,
  // Fidelity is measured by `edgeforge quantize` and the tests, not bounded per pass.
  tolerance: Infinity,
  parseOptions: parseQuantizeDynamicOptions,
  run: (model, options) => quantizeDynamicModel(model, options),
};
