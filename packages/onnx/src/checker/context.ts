import { AttrType } from '../ir/attr.js';
import type { Graph } from '../ir/graph.js';
import type { FunctionDef, Model } from '../ir/model.js';
import type { Node } from '../ir/node.js';
import type { Value } from '../ir/value.js';

/** A graph as the checker sees it: where it sits, its nodes in order, and its local names. */
export interface GraphInfo {
  readonly graph: Graph;
  /** `main`, `main/If 'cond'/then_branch`, `function local::MyFn/Loop 'l'/body`. */
  readonly path: string;
  /** `main` is the model's graph; `function` a model function's body; `subgraph` anything held by an attribute. */
  readonly kind: 'main' | 'subgraph' | 'function';
  /** The enclosing graph (null for the main graph and function bodies). */
  readonly parent: GraphInfo | null;
  /** The node whose attribute holds this graph. */
  readonly holder: Node | null;
  /** The model function this graph belongs to (its body or a subgraph inside it). */
  readonly fn: FunctionDef | null;
  /** The nodes in order (a snapshot). */
  readonly nodes: Node[];
  readonly pos: Map<Node, number>;
  /** The graph inputs, for O(1) membership. */
  readonly inputSet: ReadonlySet<Value>;
  /** First definition of each name in this graph: inputs, initializers, sparse initializers, node outputs. */
  readonly local: Map<string, Value>;
}

/** '' and 'ai.onnx' name the same operator set. */
export function normDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

/** `ai.onnx` for the default domain, else the domain itself (for messages). */
export function domainName(domain: string): string {
  return normDomain(domain) === '' ? 'ai.onnx' : domain;
}

/** What the rules share: every graph of the model (main, subgraphs, function bodies) and lookups. */
export class CheckContext {
  readonly graphs: GraphInfo[] = [];
  readonly #info = new Map<Graph, GraphInfo>();
  /** `domain:opType` of every node, used to tell called model functions from dead ones. */
  readonly #called = new Set<string>();

  constructor(readonly model: Model) {
    this.#walk(model.graph, model.graph.name || 'main', 'main', null, null, null);
    for (const f of model.functions)
      this.#walk(f.graph, `function ${f.domain ? `${f.domain}::` : ''}${f.name}`, 'function', null, null, f);
    for (const g of this.graphs) for (const n of g.nodes) this.#called.add(`${normDomain(n.domain)}:${n.opType}`);
  }

  #walk(
    graph: Graph,
    path: string,
    kind: GraphInfo['kind'],
    parent: GraphInfo | null,
    holder: Node | null,
    fn: FunctionDef | null,
  ): void {
    if (this.#info.has(graph)) return; // a graph held twice (malformed IR): check it once
    const nodes = graph.nodes();
    const local = new Map<string, Value>();
    const define = (v: Value) => {
      if (v.name !== '' && !local.has(v.name)) local.set(v.name, v);
    };
    for (const v of graph.inputs) define(v);
    for (const v of graph.initializers.values()) define(v);
    for (const s of graph.sparseInitializers.values()) define(s.value);
    for (const n of nodes) for (const o of n.outputs) define(o);
    const pos = new Map(nodes.map((n, i) => [n, i]));
    const info: GraphInfo = {
      graph,
      path,
      kind,
      parent,
      holder,
      fn,
      nodes,
      pos,
      inputSet: new Set(graph.inputs),
      local,
    };
    this.graphs.push(info);
    this.#info.set(graph, info);
    for (const n of nodes) {
      for (const a of n.attributes.values()) {
        if (a.type === AttrType.GRAPH)
          this.#walk(a.value, `${path}/${nodeLabel(info, n)}/${a.name}`, 'subgraph', info, n, fn);
        else if (a.type === AttrType.GRAPHS)
          a.value.forEach((g, i) =>
            this.#walk(g, `${path}/${nodeLabel(info, n)}/${a.name}[${i}]`, 'subgraph', info, n, fn),
          );
      }
    }
  }

  /** The checker's view of a graph, if it is part of the model. */
  infoOf(graph: Graph | null): GraphInfo | undefined {
    return graph ? this.#info.get(graph) : undefined;
  }

  /** `info` and the graphs enclosing it, innermost first. */
  chain(info: GraphInfo): GraphInfo[] {
    const out: GraphInfo[] = [];
    for (let g: GraphInfo | null = info; g && !out.includes(g); g = g.parent) out.push(g);
    return out;
  }

  /** The operator sets in force in a graph (the model's, or its function's), keyed by normalized domain. */
  opsets(info: GraphInfo): Map<string, number> {
    const src = info.fn ? info.fn.opsetImports : this.model.opsetImports;
    const out = new Map<string, number>();
    for (const [d, v] of src) if (!out.has(normDomain(d))) out.set(normDomain(d), v);
    return out;
  }

  /** The ai.onnx opset in force in a graph, or undefined when it is not imported. */
  onnxOpset(info: GraphInfo): number | undefined {
    return this.opsets(info).get('');
  }

  /** True when `v` is defined in `info`'s graph: a node output there, or one of its inputs or initializers. */
  definesValue(info: GraphInfo, v: Value): boolean {
    const g = info.graph;
    if (v.producer) return v.producer.graph === g;
    if (v.owner !== g) return false;
    return info.inputSet.has(v) || g.initializers.get(v.name) === v || g.sparseInitializers.get(v.name)?.value === v;
  }

  /** The innermost graph of `info`'s scope chain that defines `v` (by identity). */
  homeOf(info: GraphInfo, v: Value): GraphInfo | undefined {
    return this.chain(info).find((g) => this.definesValue(g, v));
  }

  /** Resolves a name through `info`'s scope chain, as a saved model would (ignoring node order). */
  resolveName(info: GraphInfo, name: string): { value: Value; home: GraphInfo } | undefined {
    for (const g of this.chain(info)) {
      const value = g.local.get(name);
      if (value) return { value, home: g };
    }
    return undefined;
  }

  /** A value the decoder could not link (no producer, no owner): a dangling name. */
  isDangling(v: Value): boolean {
    return v.producer === null && v.owner === null;
  }

  /** True when a model function of this node's domain and type exists and some node calls it. */
  isCalled(fn: FunctionDef): boolean {
    return this.#called.has(`${normDomain(fn.domain)}:${fn.name}`);
  }

  /** True when the node calls a model-local function rather than a built-in operator. */
  isFunctionCall(n: Node): boolean {
    return this.model.functions.some((f) => f.name === n.opType && normDomain(f.domain) === normDomain(n.domain));
  }
}

/** `String(node)`, plus its position when it has no name (so unnamed nodes can still be found). */
export function nodeLabel(info: GraphInfo | undefined, n: Node): string {
  if (n.name) return String(n);
  const i = info?.pos.get(n);
  return i === undefined ? String(n) : `${String(n)} (node #${i})`;
}
