/**
 * `fold-constants`: every ai.onnx node whose inputs are all constant is evaluated **by
 * onnxruntime** (no home-made interpreter) and replaced by initializers holding its outputs.
 *
 * Before:
 * ```
 *   initializer %w16 = <float16 [64, 3, 3, 3]>
 *   %shape = Constant[value=<int64 [2]>]()
 *   %w   = Cast[to=FLOAT](%w16)
 *   %w2  = Reshape(%w, %shape)
 *   %y   = MatMul(%x, %w2)
 * ```
 * After:
 * ```
 *   initializer %w2 = <float32, computed by onnxruntime>
 *   %y = MatMul(%x, %w2)
 * ```
 *
 * Constant means: an initializer that is not a graph input (an IR < 4 style default the caller may
 * override), or the output of a `Constant` node, in the node's graph or captured from an enclosing
 * one. So folding works inside If/Loop/Scan bodies too (Silero). Each round puts every foldable node
 * whose inputs are constant now into one small model (the nodes, their constant inputs as
 * initializers, the model's opset imports), runs it once in onnxruntime-node with graph
 * optimizations off, and turns the results into initializers that keep the folded values' names;
 * rounds repeat until nothing more folds. Initializers and Constant nodes that only the folded nodes
 * used are removed with them. onnxruntime computes with the same kernels it would use at run time,
 * so outputs are bitwise unchanged (tolerance 0).
 *
 * Refuses (node kept, with a note for the size cases):
 * - nodes with subgraphs (If/Loop/Scan), random ops (RandomNormal*, RandomUniform*, Bernoulli,
 *   Multinomial), sequence/optional producers, `Constant` itself, nodes with no inputs, nodes of
 *   other domains, nodes whose outputs are all unused (dead code is another pass's job);
 * - nodes with an output that is a graph output (folding would turn an interface value into an
 *   initializer);
 * - folds that grow the model by more than `maxGrowthBytes` (default 4 KiB: outputs minus the
 *   constant inputs the fold frees), e.g. slices of a weight that other nodes still read;
 * - folds that inflate the model: an output over `maxBytes` (default 1 MiB) is accepted only when
 *   the node's outputs are no larger than its constant inputs (a Transpose or Reshape of a big
 *   weight folds; an Expand, Tile, ConstantOfShape or Range to a big tensor, or a Cast from float16
 *   to float32 of a big weight, does not);
 * - outputs onnxruntime returns in types it has no host array for, and nodes onnxruntime fails on;
 * - models with IR version < 4 (initializers must be graph inputs there) and function bodies.
 */
import {
  constantNodeTensor,
  DataType,
  elemTypeOf,
  Graph,
  Model,
  MemoryTensor,
  Node,
  serializeModel,
  shapeOf,
  staticSize,
  byteLength,
  Value,
  type Tensor,
} from '@edgeforge/onnx';
import { getBackend, type ElemType, type HostTensor } from '../../runtime/index.js';
import { allGraphs, Changes, PassOptionError, type Pass } from '../pass.js';
import { isConstantNode, outputToInitializer } from './constants-to-initializers.js';

export interface FoldConstantsOptions {
  /** Outputs above this many bytes fold only when the node does not grow the model. */
  maxBytes: number;
  /** A fold may add at most this many bytes to the model (outputs minus inputs it frees). */
  maxGrowthBytes: number;
}

/** Default `maxBytes`: 1 MiB. */
export const DEFAULT_FOLD_MAX_BYTES = 1 << 20;
/** Default `maxGrowthBytes`: 4 KiB — shape arithmetic folds, copies of weights do not. */
export const DEFAULT_FOLD_MAX_GROWTH = 4 * 1024;

/** Ops never folded: their result is not a function of their inputs, or is not a tensor. */
export const NON_FOLDABLE_OPS: ReadonlySet<string> = new Set([
  'Constant',
  'RandomNormal',
  'RandomNormalLike',
  'RandomUniform',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
  'SequenceConstruct',
  'SequenceEmpty',
  'SequenceInsert',
  'SequenceErase',
  'SplitToSequence',
  'Optional',
]);

const ELEM_TO_DTYPE: Record<ElemType, number> = {
  float32: DataType.FLOAT,
  uint8: DataType.UINT8,
  int8: DataType.INT8,
  uint16: DataType.UINT16,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  string: DataType.STRING,
  bool: DataType.BOOL,
  float16: DataType.FLOAT16,
  float64: DataType.DOUBLE,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
};

const MiB = (n: number) => `${(n / (1 << 20)).toFixed(1)} MiB`;

/** The constant tensor behind `v` as the graph sees it, or undefined. */
function constantOf(v: Value): Tensor | undefined {
  if (v.isGraphInput()) return undefined;
  if (v.const) return v.isInitializer() ? v.const : undefined;
  const p = v.producer;
  return p && isConstantNode(p) ? constantNodeTensor(p) : undefined;
}

/** A host tensor from onnxruntime as an IR tensor; undefined for a type ONNX cannot store here. */
function toTensor(h: HostTensor): MemoryTensor | undefined {
  const dtype = ELEM_TO_DTYPE[h.type];
  if (dtype === undefined) return undefined;
  if (Array.isArray(h.data)) {
    const enc = new TextEncoder();
    return new MemoryTensor(
      dtype,
      h.dims,
      h.data.map((s) => enc.encode(s)),
    );
  }
  // Own the bytes: the session's buffers are not ours to keep.
  const bytes = new Uint8Array(h.data.buffer, h.data.byteOffset, h.data.byteLength).slice();
  return new MemoryTensor(dtype, h.dims, bytes);
}

function isStandard(n: Node): boolean {
  return n.domain === '' || n.domain === 'ai.onnx';
}

/** Structural test: could `n` fold, given its inputs? */
function foldable(g: Graph, n: Node): boolean {
  if (!isStandard(n) || NON_FOLDABLE_OPS.has(n.opType) || n.subgraphs().length) return false;
  if (!n.inputs.some((v) => v)) return false;
  if (!n.inputs.every((v) => !v || constantOf(v))) return false;
  const live = n.outputs.filter((o) => o.name);
  if (live.some((o) => g.outputs.includes(o))) return false;
  return live.some((o) => o.uses().length > 0);
}

/** Bytes of constant inputs that only `n` uses: folding `n` frees them. */
function freedBytes(n: Node): number {
  let s = 0;
  for (const v of new Set(n.inputs)) {
    if (!v || v.isGraphInput() || v.isGraphOutput()) continue;
    if (v.uses().every((u) => u.node === n)) s += constantOf(v)?.nbytes ?? 0;
  }
  return s;
}

function inputBytes(n: Node): number {
  let s = 0;
  for (const v of new Set(n.inputs)) if (v) s += constantOf(v)?.nbytes ?? 0;
  return s;
}

/** Bytes of an output whose type is fully static, else undefined. */
function declaredBytes(v: Value): number | undefined {
  const et = elemTypeOf(v.type);
  const size = staticSize(shapeOf(v.type));
  return et === undefined || et === DataType.STRING || size === undefined ? undefined : byteLength(et, size);
}

/** One batch of nodes as a standalone model: constant inputs become initializers. */
function batchModel(model: Model, nodes: Node[]): { bytes: Uint8Array; outputs: Map<string, Value> } {
  const g = new Graph('fold');
  const inputs = new Map<Value, Value>();
  const outputs = new Map<string, Value>();
  let k = 0;
  for (const n of nodes) {
    const ins = n.inputs.map((v) => {
      if (!v) return null;
      let m = inputs.get(v);
      if (!m) {
        m = g.addInitializer(`c${inputs.size}`, constantOf(v)!);
        inputs.set(v, m);
      }
      return m;
    });
    const outs = n.outputs.map((o) => (o.name ? `o${k++}` : ''));
    const copy = new Node(n.opType, ins, {
      domain: n.domain,
      name: n.name,
      attributes: [...n.attributes.values()],
      outputs: outs,
    });
    g.append(copy);
    copy.outputs.forEach((o, i) => {
      if (o.name && n.outputs[i].uses().length > 0) {
        g.outputs.push(o);
        outputs.set(o.name, n.outputs[i]);
      }
    });
  }
  const m = new Model(g, { irVersion: model.irVersion, opsetImports: model.opsetImports });
  m.producerName = 'edgeforge fold-constants';
  return { bytes: serializeModel(m), outputs };
}

/** Runs one batch; results by original Value. Throws what onnxruntime says. */
async function evaluate(model: Model, nodes: Node[]): Promise<Map<Value, HostTensor>> {
  const { bytes, outputs } = batchModel(model, nodes);
  const session = await getBackend('node').createSession(bytes, { threads: 1, graphOptimization: 'disabled' });
  try {
    const res = await session.run({});
    return new Map([...outputs].map(([name, v]) => [v, res[name]]));
  } finally {
    await session.release();
  }
}

export const foldConstants: Pass<FoldConstantsOptions> = {
  name: 'fold-constants',
  family: 'optimize',
  description: 'Nodes whose inputs are all constant are computed by onnxruntime and become initializers',
  idempotent: true,
  tolerance: 0,
  parseOptions(raw) {
    const { maxBytes = DEFAULT_FOLD_MAX_BYTES, maxGrowthBytes = DEFAULT_FOLD_MAX_GROWTH, ...rest } = raw;
    const extra = Object.keys(rest);
    if (extra.length) throw new PassOptionError(`pass 'fold-constants': unknown option(s) ${extra.join(', ')}`);
    for (const [k, v] of [
      ['maxBytes', maxBytes],
      ['maxGrowthBytes', maxGrowthBytes],
    ] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        throw new PassOptionError(`pass 'fold-constants': ${k} must be a non-negative integer (got ${v})`);
    }
    return { maxBytes: maxBytes as number, maxGrowthBytes: maxGrowthBytes as number };
  },
  async run(model, options) {
    const changes = new Changes();
    if (model.irVersion < 4) {
      changes.note(`IR version ${model.irVersion} < 4: initializers must be graph inputs; nothing folded`);
      return changes.report();
    }
    for (const g of [...allGraphs(model, { functions: false })]) await foldGraph(model, g, options, changes);
    return changes.report();
  },
};

async function foldGraph(model: Model, g: Graph, opts: FoldConstantsOptions, changes: Changes): Promise<void> {
  const refused = new Set<Node>();
  const where = g.parentNode ? ` in ${g.parentNode}/${g.name}` : '';
  for (;;) {
    const batch = g.nodes().filter((n) => !refused.has(n) && foldable(g, n));
    if (!batch.length) return;
    const ok: Node[] = [];
    for (const n of batch) {
      const known = n.outputs.map(declaredBytes);
      const total = known.every((b) => b !== undefined) ? known.reduce((s, b) => s! + b!, 0)! : undefined;
      if (total !== undefined && total > opts.maxBytes && total > inputBytes(n)) {
        refused.add(n);
        changes.note(`refused ${n}${where}: outputs would be ${MiB(total)} (cap ${MiB(opts.maxBytes)})`);
      } else ok.push(n);
    }
    if (!ok.length) continue;
    let results: Map<Value, HostTensor>;
    try {
      results = await evaluate(model, ok);
    } catch (e) {
      if (ok.length > 1) {
        // Find the culprit(s) one by one; the rest still fold.
        results = new Map();
        for (const n of ok) {
          try {
            for (const [v, h] of await evaluate(model, [n])) results.set(v, h);
          } catch (e1) {
            refused.add(n);
            changes.note(`onnxruntime could not fold ${n}${where}: ${(e1 as Error).message.split('\n')[0]}`);
          }
        }
      } else {
        ok.forEach((n) => refused.add(n));
        changes.note(`onnxruntime could not fold ${ok[0]}${where}: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
    }
    for (const n of ok) {
      if (refused.has(n)) continue;
      const outs = n.outputs.filter((o) => results.has(o));
      const tensors = outs.map((o) => toTensor(results.get(o)!));
      const bad = tensors.findIndex((t) => !t);
      if (bad >= 0) {
        refused.add(n);
        changes.note(`refused ${n}${where}: onnxruntime returned ${results.get(outs[bad])!.type}`);
        continue;
      }
      const total = tensors.reduce((s, t) => s + t!.nbytes, 0);
      if (total > opts.maxBytes && total > inputBytes(n)) {
        refused.add(n);
        changes.note(
          `refused ${n}${where}: outputs would be ${MiB(total)} from ${MiB(inputBytes(n))} of inputs (cap ${MiB(opts.maxBytes)})`,
        );
        continue;
      }
      // Inputs still used elsewhere stay: a fold that copies a large slice of them grows the model
      // (Silero v5 slices one RNN weight in two sibling If branches).
      const growth = total - freedBytes(n);
      if (growth > opts.maxGrowthBytes) {
        refused.add(n);
        changes.note(
          `refused ${n}${where}: folding would add ${MiB(growth)} (its inputs stay in use; cap ${MiB(opts.maxGrowthBytes)})`,
        );
        continue;
      }
      const inputs = [...new Set(n.inputs)].filter((v): v is Value => !!v);
      outs.forEach((o, i) => outputToInitializer(g, o, tensors[i]!));
      g.remove(n);
      for (const v of inputs) dropIfOrphaned(v);
      changes.add(`${n.opType} folded`);
    }
  }
}

/** Removes a constant the folded node was the last user of (initializer or Constant node). */
function dropIfOrphaned(v: Value): void {
  if (v.uses().length || v.isGraphOutput() || v.isGraphInput()) return;
  if (v.isInitializer()) v.owner!.removeInitializer(v.name);
  else if (v.producer && isConstantNode(v.producer)) v.producer.graph?.remove(v.producer);
}
