import { dtypeName } from '../ir/dtype.js';
import type { Model } from '../ir/model.js';
import { allGraphs, weights } from '../ir/traversal.js';
import { formatShape, type Dim, type TypeInfo } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { inferShapes } from '../shape-inference/infer.js';
import { modelMacs } from '../shape-inference/macs.js';

/** A graph input or output as users see it. */
export interface IoSummary {
  name: string;
  /** `float32`-style element type, or the kind (`sequence`, `map`, …) for non-tensors. */
  type: string;
  /** Dims: numbers, symbolic names, null for unknown; absent when the rank is unknown. */
  shape?: Dim[];
}

export interface DtypeStats {
  /** Elements stored (parameters). */
  count: number;
  bytes: number;
  tensors: number;
}

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  bytes: number;
  source: 'initializer' | 'constant-node' | 'sparse-initializer';
  /** Side file (relative location) when the tensor is stored as external data. */
  external?: string;
  /** Graph path for tensors inside subgraphs (`main/If 'x'/then_branch`). */
  graph: string;
}

/**
 * What `edgeforge inspect` reports about a model: stable, JSON-serializable, no I/O beyond the
 * already-loaded model (external tensors are described from their metadata, never read).
 */
export interface ModelSummary {
  irVersion: number;
  producer: { name: string; version: string };
  domain: string;
  modelVersion: number;
  opsets: Record<string, number>;
  metadata: Record<string, string>;
  inputs: IoSummary[];
  outputs: IoSummary[];
  parameters: {
    total: number;
    bytes: number;
    /** Elements of floating-point tensors: what people mean by "parameters". */
    float: number;
    byDtype: Record<string, DtypeStats>;
    bySource: { initializer: number; constantNode: number; sparseInitializer: number };
  };
  nodes: number;
  graphs: number;
  functions: number;
  operators: Record<string, number>;
  /** Estimated multiply-accumulates of Conv/Gemm/MatMul-like nodes with known shapes (symbolic dims taken as 1). */
  macs?: { total: number; byOp: Record<string, number>; unknownNodes: number };
  largestTensors: TensorEntry[];
  externalData: { location: string; tensors: number; bytes: number }[];
}

function typeString(t: TypeInfo | undefined): string {
  if (!t) return 'unknown';
  switch (t.kind) {
    case 'tensor':
      return dtypeLabel(t.elemType);
    case 'sparse_tensor':
      return `sparse(${dtypeLabel(t.elemType)})`;
    case 'sequence':
      return `sequence(${typeString(t.elem)})`;
    case 'optional':
      return `optional(${typeString(t.elem)})`;
    case 'map':
      return `map(${dtypeLabel(t.keyType)},${typeString(t.valueType)})`;
    default:
      return 'unknown';
  }
}

/** `float32` rather than ONNX's `float`, so widths are explicit in reports. */
export function dtypeLabel(dtype: number): string {
  const n = dtypeName(dtype);
  return n === 'float' ? 'float32' : n === 'double' ? 'float64' : n;
}

function io(v: Value): IoSummary {
  const t = v.type;
  const shape = t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') ? t.shape : undefined;
  return { name: v.name, type: typeString(t), ...(shape ? { shape: [...shape] } : {}) };
}

function graphPath(model: Model): Map<unknown, string> {
  const paths = new Map<unknown, string>();
  for (const g of allGraphs(model)) {
    if (g === model.graph) paths.set(g, 'main');
    else if (g.parentNode) {
      const parent = paths.get(g.parentNode.graph) ?? '?';
      const attrName =
        [...g.parentNode.attributes.values()].find(
          (a) => a.value === g || (Array.isArray(a.value) && a.value.includes(g as never)),
        )?.name ?? 'body';
      paths.set(g, `${parent}/${String(g.parentNode)}/${attrName}`);
    } else {
      const f = model.functions.find((x) => x.graph === g);
      paths.set(g, f ? `function ${f.domain}.${f.name}` : '?');
    }
  }
  return paths;
}

const isFloatName = (d: string) => d.startsWith('float') || d === 'bfloat16';

export interface SummaryOptions {
  /** How many of the largest tensors to list (default 10). */
  top?: number;
  /**
   * Estimate MACs: runs shape inference first, which annotates the model's values with types
   * (and fixes the given input shapes in it). Nodes whose shapes stay symbolic are not counted.
   */
  macs?: boolean | { inputShapes?: Record<string, Dim[]> };
}

/** Summarizes a loaded model. Inputs and outputs are reported as declared, before any inference. */
export function summarizeModel(model: Model, opts: SummaryOptions = {}): ModelSummary {
  const inputs = model.graph.inputs.filter((v) => !v.isInitializer()).map(io);
  const outputs = model.graph.outputs.map(io);
  const byDtype: Record<string, DtypeStats> = {};
  const bySource = { initializer: 0, constantNode: 0, sparseInitializer: 0 };
  const tensors: TensorEntry[] = [];
  const ext = new Map<string, { tensors: number; bytes: number }>();
  const paths = graphPath(model);
  let total = 0;
  let bytes = 0;
  let float = 0;
  const seen = new Set<unknown>();
  for (const g of [model.graph, ...model.functions.map((f) => f.graph)]) {
    for (const w of weights(g)) {
      if (seen.has(w.tensor)) continue;
      seen.add(w.tensor);
      const t = w.tensor;
      const d = dtypeLabel(t.dtype);
      const s = (byDtype[d] ??= { count: 0, bytes: 0, tensors: 0 });
      s.count += t.size;
      s.bytes += t.nbytes;
      s.tensors++;
      total += t.size;
      bytes += t.nbytes;
      if (isFloatName(d)) float += t.size;
      if (w.source === 'initializer') bySource.initializer += t.size;
      else if (w.source === 'constant-node') bySource.constantNode += t.size;
      else bySource.sparseInitializer += t.size;
      const entry: TensorEntry = {
        name: w.name,
        dtype: d,
        shape: [...t.dims],
        bytes: t.nbytes,
        source: w.source,
        graph: paths.get(w.graph) ?? 'main',
      };
      if (t.external) {
        entry.external = t.external.location;
        const e = ext.get(t.external.location) ?? { tensors: 0, bytes: 0 };
        e.tensors++;
        e.bytes += t.external.length;
        ext.set(t.external.location, e);
      }
      tensors.push(entry);
    }
  }
  const operators: Record<string, number> = {};
  let nodes = 0;
  let graphs = 0;
  for (const g of allGraphs(model)) {
    graphs++;
    for (const n of g) {
      nodes++;
      operators[n.qualifiedType] = (operators[n.qualifiedType] ?? 0) + 1;
    }
  }
  const sortedOps = Object.fromEntries(Object.entries(operators).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
  tensors.sort((a, b) => b.bytes - a.bytes || (a.name < b.name ? -1 : 1));
  let macs: ModelSummary['macs'];
  if (opts.macs) {
    const inputShapes = typeof opts.macs === 'object' ? opts.macs.inputShapes : undefined;
    inferShapes(model, { ...(inputShapes ? { inputShapes } : {}), valueInfo: false });
    const m = modelMacs(model);
    macs = { total: m.total, byOp: m.byOp, unknownNodes: m.unknownNodes };
  }
  return {
    irVersion: model.irVersion,
    producer: { name: model.producerName, version: model.producerVersion },
    domain: model.domain,
    modelVersion: model.modelVersion,
    opsets: Object.fromEntries(model.opsetImports),
    metadata: Object.fromEntries(model.metadataProps),
    inputs,
    outputs,
    parameters: {
      total,
      bytes,
      float,
      byDtype: Object.fromEntries(Object.entries(byDtype).sort((a, b) => b[1].bytes - a[1].bytes)),
      bySource,
    },
    nodes,
    graphs,
    functions: model.functions.length,
    operators: sortedOps,
    ...(macs ? { macs } : {}),
    largestTensors: tensors.slice(0, opts.top ?? 10),
    externalData: [...ext].map(([location, e]) => ({ location, ...e })),
  };
}

export { formatShape };
