/**
 * `ssa`: every name is defined once in its scope.
 *
 * In one graph, a name is defined by at most one of: a graph input, an initializer (which may also
 * be a graph input: the IR < 4 style), a sparse initializer, a node output. Empty output names
 * (omitted optional outputs) are skipped. In a subgraph, a node output must not redefine a name
 * visible from the enclosing scopes (their inputs, initializers, and outputs of the nodes before
 * the holding node): ORT refuses it ("Graph must be in single static assignment (SSA) form"). A
 * subgraph input or initializer may shadow an outer name: ORT accepts that, so it is a warning.
 * Node names, when given, are unique within a graph (ORT: "two nodes with same node name").
 */
import type { Value } from '../../ir/value.js';
import type { CheckContext, GraphInfo } from '../context.js';
import { nodeLabel } from '../context.js';
import type { Reporter, Rule } from '../types.js';

export const ssa: Rule = {
  name: 'ssa',
  description:
    'each value name is defined once per scope (subgraph node outputs do not redefine outer names); node names are unique per graph',
  check(ctx, report) {
    const visible = new Map<GraphInfo, Map<string, string>>();
    for (const info of ctx.graphs) checkGraph(ctx, info, report, visible);
  },
};

function checkGraph(
  ctx: CheckContext,
  info: GraphInfo,
  report: Reporter,
  visible: Map<GraphInfo, Map<string, string>>,
): void {
  const g = info.graph;
  const at = { graph: info };
  /** name → what defined it first, for messages. */
  const defs = new Map<string, string>();
  const inputs = new Set<Value>();

  for (const v of g.inputs) {
    if (v.name === '') continue; // graph-io reports unnamed inputs
    if (defs.has(v.name))
      report.error(at, `graph input '${v.name}' is declared twice (ORT: "Duplicate definition-site")`);
    else defs.set(v.name, 'a graph input');
    inputs.add(v);
  }
  for (const [name, v] of g.initializers) {
    if (v.name !== name)
      report.error(at, `initializer stored under '${name}' is a value named '${v.name}' (the two must agree)`);
    const prev = defs.get(name);
    // An initializer may also be a graph input (IR < 4 style, or a default for an overridable input).
    if (prev && prev !== 'a graph input') report.error(at, `initializer '${name}' redefines ${prev} of the same name`);
    else if (!prev) defs.set(name, 'an initializer');
  }
  for (const [name, s] of g.sparseInitializers) {
    const prev = defs.get(name);
    if (prev && prev !== 'a graph input')
      report.error(at, `sparse initializer '${name}' redefines ${prev} of the same name`);
    else if (!prev) defs.set(name, 'a sparse initializer');
    if (s.value.name !== name)
      report.error(at, `sparse initializer stored under '${name}' is a value named '${s.value.name}'`);
  }

  const outer = info.parent ? visibleNames(ctx, info, visible) : undefined;
  if (outer) {
    for (const v of [...g.inputs, ...g.initializers.values()]) {
      const what = outer.get(v.name);
      if (v.name !== '' && what) {
        const kind = inputs.has(v) ? 'subgraph input' : 'subgraph initializer';
        report.warning(
          at,
          `${kind} '${v.name}' shadows ${what} of an enclosing graph (ORT accepts it; inside this subgraph the name now means the inner value)`,
        );
      }
    }
  }

  const nodeNames = new Map<string, number>();
  for (const n of info.nodes) {
    const here = { graph: info, node: n };
    if (n.name) {
      const count = (nodeNames.get(n.name) ?? 0) + 1;
      nodeNames.set(n.name, count);
      if (count === 2)
        report.error(
          here,
          `node name '${n.name}' is used by more than one node in this graph (ORT: "two nodes with same node name")`,
        );
    }
    for (const o of n.outputs) {
      if (o.name === '') continue;
      const prev = defs.get(o.name);
      if (prev)
        report.error(
          here,
          `output %${o.name} redefines ${prev} of the same name (ORT: "Duplicate definition of name")`,
        );
      else defs.set(o.name, `the output of ${nodeLabel(info, n)}`);
      const what = outer?.get(o.name);
      if (what)
        report.error(
          here,
          `output %${o.name} redefines ${what} of an enclosing graph; a subgraph's node outputs must not reuse names visible from outer scopes (ORT: "Graph must be in single static assignment (SSA) form")`,
        );
    }
  }
}

/**
 * Names visible inside a subgraph from its enclosing scopes: each enclosing graph's inputs,
 * initializers, and the outputs of the nodes before the node that holds the subgraph.
 */
function visibleNames(
  ctx: CheckContext,
  info: GraphInfo,
  memo: Map<GraphInfo, Map<string, string>>,
): Map<string, string> {
  const cached = memo.get(info);
  if (cached) return cached;
  const out = new Map<string, string>();
  memo.set(info, out); // guards against a malformed, self-holding graph
  const parent = info.parent;
  if (parent) {
    if (parent.parent) for (const [k, v] of visibleNames(ctx, parent, memo)) out.set(k, v);
    const pg = parent.graph;
    for (const v of pg.inputs) if (v.name) out.set(v.name, `input '${v.name}'`);
    for (const name of pg.initializers.keys()) out.set(name, `initializer '${name}'`);
    for (const name of pg.sparseInitializers.keys()) out.set(name, `sparse initializer '${name}'`);
    const stop = info.holder ? (parent.pos.get(info.holder) ?? parent.nodes.length) : parent.nodes.length;
    for (let i = 0; i < stop; i++) {
      for (const o of parent.nodes[i].outputs)
        if (o.name) out.set(o.name, `%${o.name} (output of ${nodeLabel(parent, parent.nodes[i])})`);
    }
  }
  return out;
}
