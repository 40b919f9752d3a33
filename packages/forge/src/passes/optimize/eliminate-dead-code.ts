/**
 * `eliminate-dead-code`: removes nodes nobody reads, then initializers nobody reads, to a fixed point,
 * in the main graph, every subgraph and every function body.
 *
 * Before:
 * ```
 *   x ─ Relu ─ a ─ Sigmoid ─ y (output)
 *        └──────── Exp ─ b            (b unused)
 *   W (initializer, unused)
 * ```
 * After:
 * ```
 *   x ─ Relu ─ a ─ Sigmoid ─ y (output)
 * ```
 *
 * A node is dead when none of its outputs is consumed (by a node of this graph or of a subgraph that
 * captures it) or is an output of any graph (a subgraph may return an outer value directly). ONNX
 * operators have no side effects, so this holds for every domain, custom ones included. Removing a
 * node with subgraphs releases the outer values those subgraphs captured, so their producers may die
 * next.
 *
 * Refuses (keeps): graph inputs and outputs of every graph (the main graph's interface, and the
 * signatures of If branches and Loop/Scan bodies, which their parent op fixes); initializers that are
 * also graph inputs (overridable at run time); sparse initializers.
 */
import { graphAndSubgraphs, type Graph, type Node, type Value } from '@edgeforge/onnx';
import { Changes, allGraphs, noOptions, type Model, type Pass } from '../pass.js';

/** Values some graph of the model returns (a subgraph may return a value of an enclosing graph). */
function returnedValues(model: Model): Set<Value> {
  const out = new Set<Value>();
  for (const g of allGraphs(model)) for (const v of g.outputs) out.add(v);
  return out;
}

/** Detaches every input of every node inside `n`'s subgraphs, so captured outer values lose those uses. */
function releaseSubgraphs(n: Node): void {
  for (const sub of n.subgraphs()) for (const g of graphAndSubgraphs(sub)) for (const m of g) m.clearInputs();
}

function dropValueInfo(g: Graph, dead: Set<Value>): void {
  for (let i = g.valueInfo.length - 1; i >= 0; i--) if (dead.has(g.valueInfo[i])) g.valueInfo.splice(i, 1);
}

/** False for a subgraph whose holder (or an ancestor's holder) has been removed this round. */
function attached(g: Graph): boolean {
  for (let n = g.parentNode; n; n = n.graph?.parentNode ?? null) if (!n.graph) return false;
  return true;
}

function sweepNodes(g: Graph, returned: Set<Value>, changes: Changes): boolean {
  let changed = false;
  const dead = new Set<Value>();
  const nodes = g.nodes();
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (n.outputs.some((o) => o.uses().length > 0 || returned.has(o))) continue;
    releaseSubgraphs(n);
    g.remove(n);
    for (const o of n.outputs) dead.add(o);
    changes.add('nodes removed');
    changed = true;
  }
  if (dead.size) dropValueInfo(g, dead);
  return changed;
}

function sweepInitializers(g: Graph, returned: Set<Value>, changes: Changes): boolean {
  const dead = new Set<Value>();
  for (const [name, v] of [...g.initializers]) {
    if (v.uses().length > 0 || returned.has(v) || g.inputs.includes(v)) continue;
    g.removeInitializer(name);
    dead.add(v);
    changes.add('initializers removed');
  }
  if (dead.size) dropValueInfo(g, dead);
  return dead.size > 0;
}

/** Removes dead nodes and unused initializers; returns the report. Exposed for other passes' cleanups. */
export function removeDeadCode(model: Model, changes = new Changes()): Changes {
  for (;;) {
    const returned = returnedValues(model);
    let changed = false;
    // Graphs are listed afresh each round: removing a node drops its subgraphs from the walk.
    for (const g of [...allGraphs(model)]) {
      if (attached(g) && sweepNodes(g, returned, changes)) changed = true;
    }
    for (const g of [...allGraphs(model)]) {
      if (sweepInitializers(g, returned, changes)) changed = true;
    }
    if (!changed) return changes;
  }
}

export const eliminateDeadCode: Pass<Record<string, never>> = {
  name: 'eliminate-dead-code',
  family: 'optimize',
  description: 'Removes nodes whose outputs nobody reads and unused initializers, in every graph.',
  idempotent: true,
  tolerance: 0,
  parseOptions: noOptions('eliminate-dead-code'),
  run(model) {
    return removeDeadCode(model).report();
  },
};
