/**
 * `dedupe-initializers`: initializers that hold the same tensor (same data type, dims and bytes,
 * compared by sha256) are stored once.
 *
 * Within one graph, the copies merge into the first of them:
 * ```
 *   A = [1,2,3]   B = [1,2,3]                      A = [1,2,3]
 *   x ─ Add(x, A) ─ Mul(·, B) ─ y          →       x ─ Add(x, A) ─ Mul(·, A) ─ y
 * ```
 * Across graphs (the branches of an If, a Loop body and its parent), one copy moves to the lowest
 * graph that encloses all of them and every reader reads it from there:
 * ```
 *   If(then: a = [1]; Unsqueeze(x, a)              a = [1]
 *      else: b = [1]; Unsqueeze(y, b))      →      If(then: Unsqueeze(x, a)  else: Unsqueeze(y, a))
 * ```
 * The kept copy keeps its name unless a value of that name is defined in its graph, a graph
 * enclosing it, or a graph below it (a subgraph node output may not reuse an outer name, and an
 * inner definition would hide it from a reader); then it gets a name no graph of the model uses.
 *
 * A copy moves across graphs only when every reader is known to get the same onnxruntime kernel
 * with a weight of an enclosing graph ({@link sameKernelFromOuterGraph}): onnxruntime's optimizer
 * looks for some weights only in the node's own graph. Measured (onnxruntime 1.30, CPU, default
 * 'all' level): a 2-D Conv whose weight comes from the enclosing graph is not rewritten to the
 * NCHWc layout, so its outputs are no longer bitwise equal and it runs ~6% slower; LSTM/GRU/RNN
 * weights, MatMul/Gemm weights and 1-D Conv weights get the same kernels and bitwise the same
 * outputs (the test checks each), as do integer tensors read by shape arithmetic and indexing
 * ops, which compute exactly whatever the kernel. Silero legacy: its LSTM weights, copied in
 * sibling branches, are stored once (1.54 → 1.01 MB after the default recipe), same kernels,
 * same latency.
 *
 * Refuses (keeps the duplicate): initializers that are graph inputs (overridable at run time) or
 * outputs of some graph; external-data tensors unless `external: true` (reading them costs I/O).
 * Across graphs: tensors with another reader (a 2-D Conv weight, a float scalar of an Add…),
 * models of IR version < 4 (an initializer must also be a graph input there), `acrossGraphs:
 * false`. Function bodies are deduplicated within each graph only.
 */
import { createHash } from 'node:crypto';
import { DataType, isIntegerType, type Graph, type Node, type Tensor, type Value } from '@edgeforge/onnx';
import { Changes, PassOptionError, allGraphs, type Pass } from '../pass.js';

export interface DedupeInitializersOptions {
  /** Also hash tensors stored in external data files (default false). */
  external: boolean;
  /** Also share tensors between graphs, in their common enclosing graph (default true). */
  acrossGraphs: boolean;
}

/** Identity of a tensor's contents: data type, dims and sha256 of the bytes (or strings). */
export function tensorKey(t: Tensor): string {
  const h = createHash('sha256');
  if (t.dtype === DataType.STRING) for (const s of t.strings()) h.update(`${s.length}:`).update(s);
  else h.update(t.bytes());
  return `${t.dtype}|${t.dims.join(',')}|${h.digest('hex')}`;
}

/**
 * ai.onnx ops that may read an integer tensor of an enclosing graph: shape arithmetic, indexing,
 * data movement, comparisons and integer arithmetic (exact whatever kernel onnxruntime picks).
 * Not, e.g., DequantizeLinear or QLinearConv (int8 weights that onnxruntime fuses or prepacks).
 */
const INTEGER_READERS: ReadonlySet<string> = new Set([
  ...['Shape', 'Size', 'Reshape', 'Unsqueeze', 'Squeeze', 'Flatten', 'Expand', 'Tile', 'Pad', 'Identity'],
  ...['Slice', 'Gather', 'GatherElements', 'GatherND', 'Concat', 'Split', 'Transpose', 'Range', 'ConstantOfShape'],
  ...['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'Where', 'Cast'],
  ...['Add', 'Sub', 'Mul', 'Div', 'Mod', 'Max', 'Min', 'Neg', 'Abs', 'If', 'Loop'],
]);

/** Weight inputs (by op) whose onnxruntime kernel is the same when the weight is in an enclosing graph. */
const WEIGHT_INPUTS: Readonly<Record<string, readonly number[]>> = {
  LSTM: [1, 2, 3],
  GRU: [1, 2, 3],
  RNN: [1, 2, 3],
  MatMul: [1],
  Gemm: [1, 2],
};

/**
 * Whether `tensor`, read as input `index` of `node`, gets the same onnxruntime kernels (and so
 * bitwise the same outputs) when it comes from an enclosing graph: integer tensors read by
 * {@link INTEGER_READERS}, recurrent and MatMul/Gemm weights, and 1-D Conv weights (onnxruntime's
 * NCHWc rewrite, which needs the weight in the Conv's own graph, handles only 2-D convolutions).
 */
export function sameKernelFromOuterGraph(node: Node, index: number, tensor: Tensor): boolean {
  if (node.domain !== '' && node.domain !== 'ai.onnx') return false;
  if (isIntegerType(tensor.dtype)) return INTEGER_READERS.has(node.opType);
  if (node.opType === 'Conv') return index === 1 && tensor.dims.length === 3;
  return WEIGHT_INPUTS[node.opType]?.includes(index) ?? false;
}

export const dedupeInitializers: Pass<DedupeInitializersOptions> = {
  name: 'dedupe-initializers',
  family: 'optimize',
  description: 'Stores identical initializers (same type, shape and bytes) once, across subgraphs too.',
  idempotent: true,
  tolerance: 0,
  parseOptions(raw) {
    for (const k of Object.keys(raw))
      if (k !== 'external' && k !== 'acrossGraphs')
        throw new PassOptionError(`pass 'dedupe-initializers' has no option '${k}'`);
    const external = raw.external ?? false;
    if (typeof external !== 'boolean')
      throw new PassOptionError(`pass 'dedupe-initializers': option 'external' must be a boolean`);
    const acrossGraphs = raw.acrossGraphs ?? true;
    if (typeof acrossGraphs !== 'boolean')
      throw new PassOptionError(`pass 'dedupe-initializers': option 'acrossGraphs' must be a boolean`);
    return { external, acrossGraphs };
  },
  run(model, options) {
    const changes = new Changes();
    const returned = new Set<Value>([...allGraphs(model)].flatMap((g) => g.outputs));
    const apart = new Map<string, { tensors: number; bytes: number; example: string }>();
    // Across graphs in the main graph's tree only; function bodies within each graph.
    const blocked = !options.acrossGraphs
      ? false
      : model.irVersion < 4
        ? `the model's IR version is ${model.irVersion} (< 4: initializers must also be graph inputs)`
        : undefined;
    const main = [...allGraphs(model, { functions: false })];
    dedupeTree(main, blocked, returned, options.external, changes, apart);
    for (const f of model.functions) dedupeTree(graphTree(f.graph), false, returned, options.external, changes, apart);
    for (const [why, a] of apart)
      changes.note(
        `kept ${a.tensors} tensor${a.tensors === 1 ? '' : 's'} (${a.bytes} bytes of copies, e.g. '${a.example}') ` +
          `apart in their graphs: ${why}`,
      );
    return changes.report();
  },
};

/**
 * Dedupes the initializers of one tree of graphs: each group of identical tensors goes to the
 * graphs' common ancestor unless `blocked` (false: silently; a string: the reason) or
 * {@link refusal} finds a reason; then it is merged within each graph only (the reason counted in
 * `apart`).
 */
function dedupeTree(
  tree: Graph[],
  blocked: string | false | undefined,
  returned: Set<Value>,
  external: boolean,
  changes: Changes,
  apart: Map<string, { tensors: number; bytes: number; example: string }>,
): void {
  const names = new NameIndex(tree);
  for (const copies of duplicateGroups(tree, returned, external)) {
    const home = commonAncestor(copies.map((c) => c.owner!));
    const graphs = new Set(copies.map((c) => c.owner!)).size;
    const why = graphs === 1 ? undefined : blocked === undefined ? refusal(copies, home) : blocked;
    if (why === undefined) {
      share(copies, home, names, changes);
      continue;
    }
    if (why) {
      const a = apart.get(why) ?? { tensors: 0, bytes: 0, example: copies[0].name };
      a.tensors++;
      a.bytes += (graphs - 1) * copies[0].const!.nbytes;
      apart.set(why, a);
    }
    for (const sub of sameGraphGroups(copies)) share(sub, sub[0].owner!, names, changes);
  }
}

/** Why identical tensors in several graphs stay apart, or undefined when they may share. */
function refusal(copies: Value[], home: Graph): string | undefined {
  const t = copies[0].const!;
  for (const c of copies) {
    if (c.owner === home) continue;
    for (const u of c.uses())
      if (!sameKernelFromOuterGraph(u.node, u.index, t))
        return `read by ${u.node.opType} (input ${u.index}), which onnxruntime may run with other kernels when the tensor is in an enclosing graph`;
  }
  return undefined;
}

/**
 * Stores `copies` (identical tensors, all in `home` or below it) once in `home`: the copy held
 * by `home` if any, else a new initializer there; renamed when its name is defined elsewhere in
 * its scope or below it. Rewires every reader and removes the other copies.
 */
function share(copies: Value[], home: Graph, names: NameIndex, changes: Changes): void {
  if (copies.length < 2) return;
  const t = copies[0].const!;
  const group = new Set(copies);
  let kept = copies.find((c) => c.owner === home);
  const local = copies.filter((c) => c.owner === home).length;
  let name = (kept ?? copies[0]).name;
  if (names.clashes(name, home, group)) {
    name = names.fresh(name);
    changes.add('initializers renamed');
  }
  if (kept) {
    if (kept.name !== name) {
      const old = kept.name;
      home.rename(kept, name);
      names.renamed(kept, old);
    }
  } else {
    const first = copies[0];
    kept = home.addInitializer(name, t, first.type);
    kept.docString = first.docString;
    names.add(kept, home);
  }
  for (const c of copies) {
    if (c === kept) continue;
    for (const u of [...c.uses()]) u.node.setInput(u.index, kept);
    const g = c.owner!;
    g.removeInitializer(c.name);
    const k = g.valueInfo.indexOf(c);
    if (k >= 0) g.valueInfo.splice(k, 1);
    names.remove(c);
  }
  const merged = Math.max(local - 1, 0);
  changes.add('initializers merged', merged);
  changes.add('initializers shared across graphs', copies.length - 1 - merged);
  changes.add('bytes saved', (copies.length - 1) * t.nbytes);
}

/**
 * Groups of eligible initializers with identical contents (two or more per group), in graph order.
 * Eligible: holds data, is neither a graph input nor a graph output, and is in memory (or
 * `external` allows reading it).
 */
function duplicateGroups(tree: Graph[], returned: Set<Value>, external: boolean): Value[][] {
  const byKey = new Map<string, Value[]>();
  for (const g of tree) {
    for (const v of g.initializers.values()) {
      const t = v.const;
      if (!t || g.inputs.includes(v) || returned.has(v)) continue;
      if (t.external && !external) continue;
      const key = tensorKey(t);
      const l = byKey.get(key);
      if (l) l.push(v);
      else byKey.set(key, [v]);
    }
  }
  return [...byKey.values()].filter((l) => l.length > 1);
}

/** `values` split by the graph that holds them, keeping only groups of two or more. */
function sameGraphGroups(values: Value[]): Value[][] {
  const by = new Map<Graph, Value[]>();
  for (const v of values) {
    const l = by.get(v.owner!);
    if (l) l.push(v);
    else by.set(v.owner!, [v]);
  }
  return [...by.values()].filter((l) => l.length > 1);
}

/** `g` and its ancestors, innermost first. */
function chain(g: Graph): Graph[] {
  const out: Graph[] = [];
  for (let s: Graph | null = g; s; s = s.parentGraph) out.push(s);
  return out;
}

/** The lowest graph that is `g` or encloses it for every `g` of `graphs` (all of one tree). */
function commonAncestor(graphs: Graph[]): Graph {
  let candidates = chain(graphs[0]);
  for (const g of graphs.slice(1)) {
    const up = new Set(chain(g));
    candidates = candidates.filter((c) => up.has(c));
  }
  return candidates[0];
}

function encloses(outer: Graph, g: Graph): boolean {
  for (let s: Graph | null = g; s; s = s.parentGraph) if (s === outer) return true;
  return false;
}

/** `g` and every graph below it. */
function graphTree(g: Graph): Graph[] {
  const out = [g];
  for (const n of g) for (const sub of n.subgraphs()) out.push(...graphTree(sub));
  return out;
}

/** Every value name defined in a tree of graphs, with the graph defining it. */
class NameIndex {
  readonly #defs = new Map<string, Map<Value, Graph>>();

  constructor(tree: Graph[]) {
    for (const g of tree) {
      for (const v of g.inputs) this.add(v, g);
      for (const v of g.initializers.values()) this.add(v, g);
      for (const s of g.sparseInitializers.values()) this.add(s.value, g);
      for (const n of g) for (const o of n.outputs) if (o.name) this.add(o, g);
    }
  }

  add(v: Value, g: Graph): void {
    let m = this.#defs.get(v.name);
    if (!m) this.#defs.set(v.name, (m = new Map()));
    m.set(v, g);
  }

  remove(v: Value, name = v.name): void {
    this.#defs.get(name)?.delete(v);
  }

  renamed(v: Value, old: string): void {
    const g = this.#defs.get(old)?.get(v);
    this.remove(v, old);
    if (g) this.add(v, g);
  }

  /**
   * Whether a value other than `mine` named `name` is defined in `home`, a graph enclosing it
   * (it would be shadowed or shadow), or a graph below it (a reader there would see it instead).
   */
  clashes(name: string, home: Graph, mine: Set<Value>): boolean {
    for (const [v, g] of this.#defs.get(name) ?? [])
      if (!mine.has(v) && (encloses(g, home) || encloses(home, g))) return true;
    return false;
  }

  /** A name from `base` that no graph of the tree defines. */
  fresh(base: string): string {
    for (let i = 1; ; i++) {
      const name = `${base}_${i}`;
      if (!this.#defs.get(name)?.size) return name;
    }
  }
}
