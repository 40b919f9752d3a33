/**
 * `constants-to-initializers`: `Constant` nodes become initializers of the graph they live in
 * (main graph and subgraphs). PaddleOCR and Silero keep every weight in a Constant node;
 * onnxruntime handles initializers better (they are shared, pre-packed and need no kernel).
 *
 * Before:
 * ```
 *   %w = Constant[value=<tensor>]()
 *   %y = MatMul(%x, %w)
 * ```
 * After:
 * ```
 *   initializer %w = <tensor>
 *   %y = MatMul(%x, %w)
 * ```
 *
 * The value keeps its name and its identity (every use, capture by a subgraph and graph output
 * stays as it was). Handled attributes: `value` (any dtype), `value_float(s)`, `value_int(s)`.
 *
 * Refuses (the node stays, with a note):
 * - models with IR version < 4, where every initializer must also be a graph input;
 * - `sparse_value`, `value_string(s)` Constants;
 * - Constants in function bodies (functions have no initializers).
 */
import { AttrType, constantNodeTensor, Node, Value, type Graph, type Tensor } from '@edgeforge/onnx';
import { allGraphs, Changes, noOptions, type Pass } from '../pass.js';

/** Whether `n` is an ai.onnx `Constant` node. */
export function isConstantNode(n: Node): boolean {
  return n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx');
}

/**
 * Turns `v`, an output of a node in `g`, into an initializer of `g` holding `tensor`, keeping the
 * Value (name, uses, graph outputs). The producer loses that output (a placeholder takes its slot);
 * the caller removes the producer once all its outputs are handled.
 */
export function outputToInitializer(g: Graph, v: Value, tensor: Tensor): void {
  const p = v.producer;
  if (!p || p.graph !== g) throw new Error(`value '${v.name}' is not produced in graph '${g.name}'`);
  if (g.initializers.has(v.name)) throw new Error(`graph '${g.name}' already has an initializer '${v.name}'`);
  p.setOutput(v.index, new Value(`${v.name}__detached`));
  v.index = 0;
  v.owner = g;
  v.const = tensor;
  v.type = { kind: 'tensor', elemType: tensor.dtype, shape: [...tensor.dims] };
  g.initializers.set(v.name, v);
}

/** Replaces a Constant node by an initializer of its graph; false (nothing changed) if it cannot. */
export function constantToInitializer(g: Graph, n: Node): boolean {
  const t = constantNodeTensor(n);
  const v = n.outputs[0];
  if (!t || !v || n.outputs.length !== 1 || n.inputs.length > 0 || !v.name) return false;
  if (g.initializers.has(v.name)) return false;
  outputToInitializer(g, v, t);
  g.remove(n);
  return true;
}

/** The attribute that makes a Constant unconvertible, for the note. */
function unsupportedKind(n: Node): string {
  for (const a of n.attributes.values()) {
    if (a.type === AttrType.SPARSE_TENSOR) return 'sparse_value';
    if (a.name === 'value_string' || a.name === 'value_strings') return a.name;
  }
  return 'unsupported attributes';
}

export const constantsToInitializers: Pass<Record<string, never>> = {
  name: 'constants-to-initializers',
  family: 'optimize',
  description: 'Constant nodes become initializers of the graph they live in (main graph and subgraphs)',
  idempotent: true,
  tolerance: 0,
  parseOptions: noOptions('constants-to-initializers'),
  run(model) {
    const changes = new Changes();
    const graphs = [...allGraphs(model, { functions: false })];
    if (model.irVersion < 4) {
      const n = graphs.reduce((s, g) => s + g.nodes().filter(isConstantNode).length, 0);
      if (n)
        changes.note(`IR version ${model.irVersion} < 4: initializers must be graph inputs; ${n} Constant(s) kept`);
      return changes.report();
    }
    for (const g of graphs) {
      for (const n of g) {
        if (!isConstantNode(n)) continue;
        if (constantToInitializer(g, n))
          changes.add(g.parentNode ? 'Constant → subgraph initializer' : 'Constant → initializer');
        else changes.note(`kept ${n} (${unsupportedKind(n)})`);
      }
    }
    if (model.functions.some((f) => f.graph.nodes().some(isConstantNode)))
      changes.note('Constant nodes in function bodies kept (functions have no initializers)');
    return changes.report();
  },
};
