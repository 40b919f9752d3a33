import type { SparseTensor } from './attr.js';
import type { MetadataProps, ProtoExtras } from './extras.js';
import { Node } from './node.js';
import type { Tensor } from './tensor.js';
import type { TypeInfo } from './types.js';
import { Value } from './value.js';

/** Values created with a node by count (not by name) get a fresh name when inserted. */
const unnamed = new WeakSet<Value>();
export function markUnnamed(v: Value): void {
  unnamed.add(v);
}

/**
 * A graph: inputs, outputs, initializers and nodes in a doubly linked list (O(1) insert/remove;
 * iteration works on a snapshot, so passes may edit while they walk). A subgraph knows the node
 * that holds it; its nodes may use values of enclosing graphs directly.
 */
export class Graph {
  name: string;
  docString = '';
  metadataProps: MetadataProps = [];
  extras?: ProtoExtras;
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  /** Initializers by name, in file order. */
  readonly initializers = new Map<string, Value>();
  /** Sparse initializers by name, in file order. Their values are also graph-level constants. */
  readonly sparseInitializers = new Map<string, { value: Value; tensor: SparseTensor }>();
  /** Values that carry a `value_info` entry, in file order. */
  readonly valueInfo: Value[] = [];
  /** Opaque quantization annotations, kept for the round trip. */
  quantizationAnnotation?: unknown;
  /** The node whose attribute holds this graph (null for a main graph or function body). */
  parentNode: Node | null = null;
  #first: Node | null = null;
  #last: Node | null = null;
  #count = 0;
  #names: Set<string> | null = null;
  #counter = 0;

  constructor(name = '') {
    this.name = name;
  }

  /** The graph enclosing this subgraph, if any. */
  get parentGraph(): Graph | null {
    return this.parentNode?.graph ?? null;
  }

  get nodeCount(): number {
    return this.#count;
  }

  get firstNode(): Node | null {
    return this.#first;
  }

  get lastNode(): Node | null {
    return this.#last;
  }

  /** Nodes in order, over a snapshot: removing or inserting nodes while iterating is safe. */
  *[Symbol.iterator](): IterableIterator<Node> {
    for (const n of this.nodes()) if (n._graph === this) yield n;
  }

  /** A snapshot array of the nodes, in order. */
  nodes(): Node[] {
    const out: Node[] = [];
    for (let n = this.#first; n; n = n._next) out.push(n);
    return out;
  }

  // ---- inputs, outputs, initializers ----
  addInput(v: Value): Value {
    v.owner = this;
    this.inputs.push(v);
    this.#names?.add(v.name);
    return v;
  }

  /** Adds (or replaces the data of) an initializer named `name`. */
  addInitializer(name: string, tensor: Tensor, type?: TypeInfo): Value {
    let v = this.initializers.get(name);
    if (!v) {
      v = new Value(name, type ?? { kind: 'tensor', elemType: tensor.dtype, shape: [...tensor.dims] });
      v.owner = this;
      this.initializers.set(name, v);
      this.#names?.add(name);
    }
    v.const = tensor;
    return v;
  }

  /** Removes an initializer; refuses while it is still used, unless `force`. */
  removeInitializer(name: string, force = false): void {
    const v = this.initializers.get(name);
    if (!v) return;
    if (!force && (v.uses().length > 0 || this.outputs.includes(v))) {
      throw new Error(`initializer '${name}' is still used`);
    }
    this.initializers.delete(name);
    v.const = undefined;
    const k = this.inputs.indexOf(v);
    if (k < 0) v.owner = null;
  }

  /** Renames a value, keeping the initializer table in step. Refuses a name already in scope. */
  rename(v: Value, name: string): void {
    if (v.name === name) return;
    if (this.names().has(name)) throw new Error(`cannot rename '${v.name}' to '${name}': name in use`);
    if (this.initializers.get(v.name) === v) {
      const entries = [...this.initializers].map(([k, x]) => [k === v.name ? name : k, x] as const);
      this.initializers.clear();
      for (const [k, x] of entries) this.initializers.set(k, x);
    }
    v.name = name;
    this.#names?.add(name);
  }

  // ---- nodes ----
  /** Appends nodes at the end. */
  append(...nodes: Node[]): void {
    for (const n of nodes) this.#link(n, this.#last, null);
  }

  /** Inserts nodes before `ref` (in the order given). */
  insertBefore(ref: Node, ...nodes: Node[]): void {
    this.#assertMine(ref);
    for (const n of nodes) this.#link(n, ref._prev, ref);
  }

  /** Inserts nodes after `ref` (in the order given). */
  insertAfter(ref: Node, ...nodes: Node[]): void {
    this.#assertMine(ref);
    let at = ref;
    for (const n of nodes) {
      this.#link(n, at, at._next);
      at = n;
    }
  }

  /**
   * Removes a node. With `safe` (the default) it refuses, changing nothing, when an output is still
   * used or is a graph output; the node's inputs are released either way.
   */
  remove(node: Node, opts: { safe?: boolean } = {}): void {
    this.#assertMine(node);
    if (opts.safe ?? true) {
      for (const o of node.outputs) {
        if (o.uses().some((u) => u.node !== node))
          throw new Error(`cannot remove ${node}: output '${o.name}' is still used`);
        if (this.outputs.includes(o)) throw new Error(`cannot remove ${node}: output '${o.name}' is a graph output`);
      }
    }
    node.clearInputs();
    if (node._prev) node._prev._next = node._next;
    else this.#first = node._next;
    if (node._next) node._next._prev = node._prev;
    else this.#last = node._prev;
    node._prev = node._next = null;
    node._graph = null;
    this.#count--;
  }

  /**
   * Points every use of `from` (in this graph and its subgraphs) at `to`; graph outputs too unless
   * `outputs: false`. A graph output keeps its name: when `from` was an output, `to` takes over the
   * name if it is not itself an input, initializer or output, so the model's interface is unchanged.
   */
  replaceAllUsesWith(from: Value, to: Value, opts: { outputs?: boolean } = {}): void {
    for (const u of [...from.uses()]) u.node.setInput(u.index, to);
    if (opts.outputs ?? true) {
      let replaced = false;
      for (let i = 0; i < this.outputs.length; i++) {
        if (this.outputs[i] === from) {
          this.outputs[i] = to;
          replaced = true;
        }
      }
      if (replaced && to.producer && !to.isGraphInput() && !to.isInitializer()) {
        const name = from.name;
        from.name = `${name}__replaced`;
        to.name = name;
      }
    }
  }

  /** Every name defined in this graph and the graphs enclosing it. */
  names(): Set<string> {
    if (!this.#names) {
      const s = new Set<string>();
      for (const v of this.inputs) s.add(v.name);
      for (const k of this.initializers.keys()) s.add(k);
      for (const k of this.sparseInitializers.keys()) s.add(k);
      for (let n = this.#first; n; n = n._next) for (const o of n.outputs) s.add(o.name);
      this.#names = s;
    }
    const parent = this.parentGraph;
    if (!parent) return this.#names;
    return new Set([...parent.names(), ...this.#names]);
  }

  /** A name not defined in this graph's scope, built from `base`. */
  freshName(base: string): string {
    const names = this.names();
    if (base && !names.has(base)) {
      this.#names?.add(base);
      return base;
    }
    let name: string;
    do name = `${base || 'v'}_${++this.#counter}`;
    while (names.has(name));
    this.#names?.add(name);
    return name;
  }

  /** Values defined here: inputs, initializers, node outputs. */
  *values(): IterableIterator<Value> {
    const seen = new Set<Value>();
    const all = [
      ...this.inputs,
      ...this.initializers.values(),
      ...[...this.sparseInitializers.values()].map((s) => s.value),
      ...this.nodes().flatMap((n) => n.outputs),
    ];
    for (const v of all) {
      if (seen.has(v)) continue;
      seen.add(v);
      yield v;
    }
  }

  /** Finds a value by name in this graph (not in enclosing ones). */
  findValue(name: string): Value | undefined {
    for (const v of this.values()) if (v.name === name) return v;
    return undefined;
  }

  /**
   * Reorders nodes so every node comes after the producers of its inputs, including values that
   * its subgraphs capture. Stable: already-sorted graphs keep their order. Throws on a cycle.
   */
  topologicalSort(): void {
    const nodes = this.nodes();
    const pos = new Map(nodes.map((n, i) => [n, i]));
    const deps = new Map<Node, Set<Node>>();
    const users = new Map<Node, Node[]>();
    for (const n of nodes) {
      const d = new Set<Node>();
      for (const v of nodeDependencies(n)) {
        const p = v.producer;
        if (p && p !== n && pos.has(p)) d.add(p);
      }
      deps.set(n, d);
      for (const p of d) {
        let u = users.get(p);
        if (!u) users.set(p, (u = []));
        u.push(n);
      }
    }
    // Kahn's algorithm with a min-heap on original position keeps the order stable.
    const ready: Node[] = nodes.filter((n) => deps.get(n)!.size === 0);
    const heapPush = (n: Node) => {
      ready.push(n);
      ready.sort((a, b) => pos.get(a)! - pos.get(b)!);
    };
    ready.sort((a, b) => pos.get(a)! - pos.get(b)!);
    const order: Node[] = [];
    const remaining = new Map([...deps].map(([n, d]) => [n, d.size]));
    while (ready.length) {
      const n = ready.shift()!;
      order.push(n);
      for (const u of users.get(n) ?? []) {
        const r = remaining.get(u)! - 1;
        remaining.set(u, r);
        if (r === 0) heapPush(u);
      }
    }
    if (order.length !== nodes.length) {
      const stuck = nodes.filter((n) => !order.includes(n)).slice(0, 3);
      throw new Error(`graph '${this.name}' has a cycle through ${stuck.map(String).join(', ')}`);
    }
    this.#first = this.#last = null;
    for (const n of order) {
      n._prev = this.#last;
      n._next = null;
      if (this.#last) this.#last._next = n;
      else this.#first = n;
      this.#last = n;
    }
  }

  #assertMine(n: Node): void {
    if (n._graph !== this) throw new Error(`${n} is not in graph '${this.name}'`);
  }

  #link(n: Node, prev: Node | null, next: Node | null): void {
    if (n._graph) throw new Error(`${n} is already in a graph`);
    n._graph = this;
    n._prev = prev;
    n._next = next;
    if (prev) prev._next = n;
    else this.#first = n;
    if (next) next._prev = n;
    else this.#last = n;
    this.#count++;
    for (const o of n.outputs) {
      if (unnamed.has(o)) {
        unnamed.delete(o);
        o.name = this.freshName(n.name ? `${n.name}_out${o.index}` : `${n.opType.toLowerCase()}_out`);
      }
      this.#names?.add(o.name);
    }
  }
}

/** Values a node reads: its inputs and whatever its subgraphs capture from enclosing scopes. */
export function nodeDependencies(n: Node): Set<Value> {
  const out = new Set<Value>();
  for (const v of n.inputs) if (v) out.add(v);
  for (const g of n.subgraphs()) for (const v of capturedValues(g)) out.add(v);
  return out;
}

/** Values used inside `g` (recursively) that are defined outside it. */
export function capturedValues(g: Graph): Set<Value> {
  const defined = new Set<Value>(g.values());
  const out = new Set<Value>();
  for (const n of g) {
    for (const v of nodeDependencies(n)) if (!defined.has(v)) out.add(v);
  }
  for (const v of g.outputs) if (!defined.has(v)) out.add(v);
  return out;
}

/** Creates a node whose outputs will be named when it enters a graph. */
export function createNode(
  opType: string,
  inputs: (Value | null)[],
  init: ConstructorParameters<typeof Node>[2] = {},
): Node {
  const n = new Node(opType, inputs, init);
  if (init.outputs === undefined || typeof init.outputs === 'number') for (const o of n.outputs) markUnnamed(o);
  return n;
}
