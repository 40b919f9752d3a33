/**
 * `topological-order`: every node comes after the producers of the values it reads, including
 * the values its subgraphs capture from this graph, and no node depends on itself.
 *
 * ORT refuses cycles ("the graph is not acyclic") and unsorted subgraphs or function bodies
 * ("Nodes in a graph must be topologically sorted"), but it sorts the main graph itself: an
 * unsorted main graph loads, so there it is a warning (the ONNX spec still requires the order).
 * The fix in both cases is `graph.topologicalSort()`.
 */
import type { Node } from '../../ir/node.js';
import type { Value } from '../../ir/value.js';
import type { CheckContext, GraphInfo } from '../context.js';
import { nodeLabel } from '../context.js';
import type { Reporter, Rule } from '../types.js';

export const topologicalOrder: Rule = {
  name: 'topological-order',
  description:
    'nodes are topologically sorted (errors in subgraphs and functions, a warning in the main graph, which ORT sorts) and acyclic',
  check(ctx, report) {
    for (const info of ctx.graphs) checkGraph(ctx, info, report);
  },
};

interface Dep {
  producer: Node;
  value: string;
  /** The subgraph that reads it, when it is a capture. */
  via?: GraphInfo;
}

function checkGraph(ctx: CheckContext, info: GraphInfo, report: Reporter): void {
  const deps = new Map<Node, Dep[]>();
  for (const n of info.nodes) deps.set(n, dependencies(ctx, info, n));

  // Kahn's algorithm: whatever cannot be scheduled sits on a cycle (or behind one).
  const indegree = new Map<Node, number>();
  const users = new Map<Node, Node[]>();
  for (const [n, ds] of deps) {
    const producers = new Set(ds.map((d) => d.producer));
    indegree.set(n, producers.size);
    for (const p of producers) {
      const u = users.get(p);
      if (u) u.push(n);
      else users.set(p, [n]);
    }
  }
  const ready = info.nodes.filter((n) => indegree.get(n) === 0);
  let done = 0;
  while (ready.length) {
    const n = ready.pop()!;
    done++;
    for (const u of users.get(n) ?? []) {
      const d = indegree.get(u)! - 1;
      indegree.set(u, d);
      if (d === 0) ready.push(u);
    }
  }
  if (done < info.nodes.length) {
    const stuck = info.nodes.filter((n) => indegree.get(n)! > 0);
    const shown = stuck.slice(0, 4).map((n) => nodeLabel(info, n));
    report.error(
      { graph: info, node: stuck[0] },
      `nodes depend on each other in a cycle (${shown.join(', ')}${stuck.length > 4 ? `, … ${stuck.length} nodes` : ''}); ORT: "the graph is not acyclic"`,
    );
    return;
  }

  for (const n of info.nodes) {
    const i = info.pos.get(n)!;
    const late = deps.get(n)!.find((d) => info.pos.get(d.producer)! > i);
    if (!late) continue;
    const reader = late.via ? `its subgraph ${late.via.path.slice(info.path.length + 1)} reads` : 'reads';
    const text = `${reader} %${late.value} before ${nodeLabel(info, late.producer)} produces it; nodes must be topologically sorted (fix: graph.topologicalSort())`;
    if (info.kind === 'main')
      report.warning(
        { graph: info, node: n },
        `${text}. ORT sorts the main graph itself and loads it, but the ONNX spec requires the order`,
      );
    else
      report.error(
        { graph: info, node: n },
        `${text}. ORT refuses unsorted ${info.kind === 'function' ? 'function bodies' : 'subgraphs'}`,
      );
  }
}

/** The nodes of `info` whose outputs `n` reads, directly or through its subgraphs' captures. */
function dependencies(ctx: CheckContext, info: GraphInfo, n: Node): Dep[] {
  const out: Dep[] = [];
  const add = (v: Value, reader: GraphInfo, via?: GraphInfo) => {
    let p: Node | null = null;
    if (v.producer && v.producer.graph === info.graph) p = v.producer;
    else if (ctx.isDangling(v)) {
      // A name the decoder could not link: it means whatever the scope chain resolves it to.
      const r = ctx.resolveName(reader, v.name);
      if (r && r.home === info && r.value.producer?.graph === info.graph) p = r.value.producer;
    }
    if (p) out.push({ producer: p, value: v.name, ...(via ? { via } : {}) });
  };
  for (const v of n.inputs) if (v) add(v, info);
  const seen = new Set<GraphInfo>();
  const visit = (sub: GraphInfo, via: GraphInfo) => {
    if (seen.has(sub)) return;
    seen.add(sub);
    for (const m of sub.nodes) {
      for (const v of m.inputs) if (v) add(v, sub, via);
      for (const s of m.subgraphs()) {
        const si = ctx.infoOf(s);
        if (si) visit(si, via);
      }
    }
    for (const v of sub.graph.outputs) add(v, sub, via);
  };
  for (const s of n.subgraphs()) {
    const si = ctx.infoOf(s);
    if (si) visit(si, si);
  }
  return out;
}
