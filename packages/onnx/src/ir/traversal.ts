import type { Graph } from './graph.js';
import type { Model } from './model.js';
import type { Node } from './node.js';
import { DataType } from './dtype.js';
import { AttrType } from './attr.js';
import { MemoryTensor, type Tensor } from './tensor.js';
import type { Value } from './value.js';

/** The main graph and every subgraph below it (depth first), optionally function bodies too. */
export function* allGraphs(model: Model, opts: { functions?: boolean } = {}): IterableIterator<Graph> {
  yield* graphAndSubgraphs(model.graph);
  if (opts.functions ?? true) for (const f of model.functions) yield* graphAndSubgraphs(f.graph);
}

export function* graphAndSubgraphs(g: Graph): IterableIterator<Graph> {
  yield g;
  for (const n of g) for (const sub of n.subgraphs()) yield* graphAndSubgraphs(sub);
}

/** Every node of the graph and of its subgraphs. */
export function* allNodes(g: Graph): IterableIterator<Node> {
  for (const sg of graphAndSubgraphs(g)) yield* sg;
}

/**
 * The constant tensor behind a value: an initializer, or the output of a `Constant` node (PaddleOCR
 * and Silero keep all weights there). `value_float(s)`/`value_int(s)` become small memory tensors.
 */
export function constantTensor(v: Value): Tensor | undefined {
  if (v.const) return v.const;
  const p = v.producer;
  if (!p || p.opType !== 'Constant' || (p.domain !== '' && p.domain !== 'ai.onnx')) return undefined;
  return constantNodeTensor(p);
}

export function constantNodeTensor(p: Node): Tensor | undefined {
  const t = p.getTensor('value');
  if (t) return t;
  const a =
    p.attributes.get('value_float') ??
    p.attributes.get('value_floats') ??
    p.attributes.get('value_int') ??
    p.attributes.get('value_ints');
  if (!a) return undefined;
  switch (a.type) {
    case AttrType.FLOAT:
      return new MemoryTensor(DataType.FLOAT, [], new Float32Array([a.value]));
    case AttrType.FLOATS:
      return new MemoryTensor(DataType.FLOAT, [a.value.length], new Float32Array(a.value));
    case AttrType.INT:
      return new MemoryTensor(DataType.INT64, [], new BigInt64Array([a.value]));
    case AttrType.INTS:
      return new MemoryTensor(DataType.INT64, [a.value.length], new BigInt64Array(a.value));
    default:
      return undefined;
  }
}

/** Where a weight tensor lives, for reports. */
export interface WeightRef {
  tensor: Tensor;
  /** Value name (initializer or Constant output). */
  name: string;
  source: 'initializer' | 'constant-node' | 'sparse-initializer';
  graph: Graph;
  node?: Node;
}

/** Every stored tensor in a graph and its subgraphs: initializers and Constant-node tensors. */
export function* weights(g: Graph): IterableIterator<WeightRef> {
  for (const sg of graphAndSubgraphs(g)) {
    for (const v of sg.initializers.values())
      if (v.const) yield { tensor: v.const, name: v.name, source: 'initializer', graph: sg };
    for (const s of sg.sparseInitializers.values())
      yield { tensor: s.tensor.values, name: s.value.name, source: 'sparse-initializer', graph: sg };
    for (const n of sg) {
      if (n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx')) {
        const t = constantNodeTensor(n);
        if (t) yield { tensor: t, name: n.outputs[0]?.name ?? n.name, source: 'constant-node', graph: sg, node: n };
      }
    }
  }
}
