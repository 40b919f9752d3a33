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
 * of every graph whose inputs are constant now into one small model (the nodes, their constant
 * inputs as initializers, the model's opset imports), runs it once in onnxruntime-node with graph
 * optimizations off, and turns the results into initializers; rounds repeat until nothing more
 * folds. Initializers and Constant nodes that only the folded nodes used are removed with them.
 * onnxruntime computes with the same kernels it would use at run time, so outputs are bitwise
 * unchanged (tolerance 0).
 *
 * Where results go: next to the node's largest constant input (the result of a Slice of an outer
 * weight inside an If branch goes to the weight's graph), keeping the folded value's name unless
 * another graph uses it. A result whose contents equal an initializer already visible there is not
 * stored again: its readers read that one. So sibling branches slicing one weight (Silero v5's LSTM
 * weights, sliced and reordered in both branches of an If) share one folded initializer, and the
 * weight itself goes once both branches are folded:
 * ```
 *   initializer %W                          initializer %W_ifco = <W's gates reordered>
 *   If(then: %a = Slice(%W, …); LSTM(…, %a)    →   If(then: LSTM(…, %W_ifco)
 *      else: %b = Slice(%W, …); LSTM(…, %b))          else: LSTM(…, %W_ifco))
 * ```
 *
 * Refuses (node kept, with a note for the size cases):
 * - nodes with subgraphs (If/Loop/Scan), random ops (RandomNormal*, RandomUniform*, Bernoulli,
 *   Multinomial), sequence/optional producers, `Constant` itself, nodes with no inputs, nodes of
 *   other domains, nodes whose outputs are all unused (dead code is another pass's job);
 * - nodes with an output that is a graph output (folding would turn an interface value into an
 *   initializer);
 * - folds that grow the model by more than `maxGrowthBytes` (default 4 KiB), e.g. slices of a
 *   weight that other nodes still read. Growth is counted per round over the folds that free or
 *   share constants only together (new initializers minus the constants nobody reads afterwards),
 *   then, for a group over the cap, per fold; a fold over the cap waits for later rounds (the
 *   weight's other readers may become foldable) and is refused when nothing else folds;
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
import { tensorKey } from './dedupe-initializers.js';

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
    // Nodes of different subgraphs may share a name; one graph may not.
    const copy = new Node(n.opType, ins, {
      domain: n.domain,
      name: `n${g.nodeCount}`,
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
    await new Folder(model, options, changes).run();
    return changes.report();
  },
};

/** A node onnxruntime has computed: its used outputs, their values and content keys. */
interface Fold {
  node: Node;
  outs: Value[];
  tensors: MemoryTensor[];
  keys: string[];
  /** Where the results go (recomputed each round: sharing may rewire the node's inputs). */
  target: Graph;
}

const where = (n: Node) => (n.graph?.parentNode ? ` in ${n.graph.parentNode}/${n.graph.name}` : '');

function depth(g: Graph): number {
  let d = 0;
  for (let s = g.parentGraph; s; s = s.parentGraph) d++;
  return d;
}

/**
 * The graph a folded result is stored in: the one holding its largest constant input (the deeper
 * one on a tie). Sibling If branches that slice the same outer weight then store one shared result
 * next to it, and the weight dies once all its readers are folded. The small index constants such
 * slices also read are usually copied into each branch by exporters; the result does not need
 * them to be visible, so they do not pin it inside the branch.
 */
function placement(n: Node): Graph {
  let best = n.graph!;
  let bytes = -1;
  for (const v of new Set(n.inputs)) {
    const g = v?.graph;
    if (!v || !g) continue;
    const b = constantOf(v)?.nbytes ?? 0;
    if (b > bytes || (b === bytes && depth(g) > depth(best))) [best, bytes] = [g, b];
  }
  return best;
}

/** Values some graph of the model returns: never rewired or freed. */
function returnedValues(model: Model): Set<Value> {
  const out = new Set<Value>();
  for (const g of allGraphs(model, { functions: false })) for (const v of g.outputs) out.add(v);
  return out;
}

/** Whether `name`, read from graph `from`, would resolve to something in a graph below `g`. */
function shadowed(name: string, from: Graph | null, g: Graph): boolean {
  for (let s = from; s && s !== g; s = s.parentGraph) if (s.findValue(name)) return true;
  return false;
}

/** Union-find over fold indices. */
function components(n: number, links: Iterable<number[]>): number[][] {
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  for (const group of links) for (const j of group.slice(1)) parent[find(j)] = find(group[0]);
  const out = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const r = find(i);
    let c = out.get(r);
    if (!c) out.set(r, (c = []));
    c.push(i);
  }
  return [...out.values()];
}

class Folder {
  readonly #refused = new Set<Node>();
  /** onnxruntime's results, kept across rounds for folds deferred by the growth cap. */
  readonly #evaluated = new Map<Node, Omit<Fold, 'target'>>();
  /** Growth a deferred fold would cause on its own, for the note if it never folds. */
  readonly #deferred = new Map<Node, number>();
  readonly #keys = new WeakMap<Tensor, string>();
  #returned = new Set<Value>();

  constructor(
    readonly model: Model,
    readonly opts: FoldConstantsOptions,
    readonly changes: Changes,
  ) {}

  async run(): Promise<void> {
    for (;;) {
      const candidates = this.#candidates();
      if (!candidates.length) break;
      await this.#evaluate(candidates.filter((n) => !this.#evaluated.has(n)));
      const folds: Fold[] = [];
      for (const n of candidates) {
        const e = this.#evaluated.get(n);
        if (e) folds.push({ ...e, target: placement(n) });
      }
      this.#returned = returnedValues(this.model);
      const accepted = this.#withinBudget(folds);
      if (!accepted.length) break;
      this.#apply(accepted);
    }
    for (const [n, growth] of this.#deferred) {
      if (!n.graph || !foldable(n.graph, n)) continue;
      this.changes.note(
        `refused ${n}${where(n)}: folding would add ${kib(growth)} (its inputs stay in use; cap ${kib(this.opts.maxGrowthBytes)})`,
      );
    }
  }

  /** Foldable nodes of every graph not refused yet; refuses those whose declared outputs are too big. */
  #candidates(): Node[] {
    const out: Node[] = [];
    for (const g of allGraphs(this.model, { functions: false })) {
      for (const n of g.nodes()) {
        if (this.#refused.has(n) || !foldable(g, n)) continue;
        if (!this.#evaluated.has(n)) {
          const known = n.outputs.map(declaredBytes);
          const total = known.every((b) => b !== undefined) ? known.reduce((s, b) => s! + b!, 0)! : undefined;
          if (total !== undefined && total > this.opts.maxBytes && total > inputBytes(n)) {
            this.#refuse(n, `outputs would be ${MiB(total)} (cap ${MiB(this.opts.maxBytes)})`);
            continue;
          }
        }
        out.push(n);
      }
    }
    return out;
  }

  #refuse(n: Node, why: string): void {
    this.#refused.add(n);
    this.changes.note(`refused ${n}${where(n)}: ${why}`);
  }

  /** Runs the nodes in onnxruntime (one batch; one by one to find culprits) and keeps usable results. */
  async #evaluate(nodes: Node[]): Promise<void> {
    if (!nodes.length) return;
    let results: Map<Value, HostTensor>;
    try {
      results = await evaluate(this.model, nodes);
    } catch (e) {
      results = new Map();
      // Find the culprit(s) one by one; the rest still fold.
      for (const n of nodes) {
        try {
          if (nodes.length === 1) throw e;
          for (const [v, h] of await evaluate(this.model, [n])) results.set(v, h);
        } catch (e1) {
          this.#refused.add(n);
          this.changes.note(`onnxruntime could not fold ${n}${where(n)}: ${(e1 as Error).message.split('\n')[0]}`);
        }
      }
    }
    for (const n of nodes) {
      if (this.#refused.has(n)) continue;
      const outs = n.outputs.filter((o) => results.has(o));
      const tensors = outs.map((o) => toTensor(results.get(o)!));
      const bad = tensors.findIndex((t) => !t);
      if (bad >= 0) {
        this.#refuse(n, `onnxruntime returned ${results.get(outs[bad])!.type}`);
        continue;
      }
      const total = tensors.reduce((s, t) => s + t!.nbytes, 0);
      if (total > this.opts.maxBytes && total > inputBytes(n)) {
        this.#refuse(
          n,
          `outputs would be ${MiB(total)} from ${MiB(inputBytes(n))} of inputs (cap ${MiB(this.opts.maxBytes)})`,
        );
        continue;
      }
      const ok = tensors as MemoryTensor[];
      this.#evaluated.set(n, { node: n, outs, tensors: ok, keys: ok.map((t) => this.#key(t)) });
    }
  }

  #key(t: Tensor): string {
    let k = this.#keys.get(t);
    if (k === undefined) this.#keys.set(t, (k = tensorKey(t)));
    return k;
  }

  /**
   * An initializer visible from `target` that already holds `key`'s contents and that every reader
   * of `o` would resolve to; undefined when there is none.
   */
  #existing(target: Graph, t: Tensor, key: string, o: Value): Value | undefined {
    for (let s: Graph | null = target; s; s = s.parentGraph) {
      for (const v of s.initializers.values()) {
        const c = v.const;
        if (!c || c.external || c.dtype !== t.dtype || c.dims.length !== t.dims.length) continue;
        if (c.dims.some((d, i) => d !== t.dims[i]) || s.inputs.includes(v) || this.#returned.has(v)) continue;
        if (this.#key(c) !== key) continue;
        if (o.uses().some((u) => shadowed(v.name, u.node.graph, s))) continue;
        return v;
      }
    }
    return undefined;
  }

  /**
   * The net bytes `folds` add when applied together: new initializers (one per content per scope,
   * none where an identical initializer is already visible) minus the constants they free, i.e.
   * those every reader of which is among `folds`.
   */
  #growth(folds: Fold[]): number {
    const inSet = new Set(folds.map((f) => f.node));
    const placed = new Map<Graph, Set<string>>();
    const reused = new Set<Value>();
    let bytes = 0;
    for (const f of [...folds].sort((a, b) => depth(a.target) - depth(b.target))) {
      f.tensors.forEach((t, i) => {
        const hit = this.#existing(f.target, t, f.keys[i], f.outs[i]);
        if (hit) return void reused.add(hit);
        for (let s: Graph | null = f.target; s; s = s.parentGraph) if (placed.get(s)?.has(f.keys[i])) return;
        let set = placed.get(f.target);
        if (!set) placed.set(f.target, (set = new Set()));
        set.add(f.keys[i]);
        bytes += t.nbytes;
      });
    }
    const freed = new Set<Value>();
    for (const f of folds)
      for (const v of f.node.inputs)
        if (v && !freed.has(v) && !reused.has(v) && this.#freeable(v, inSet)) {
          freed.add(v);
          bytes -= constantOf(v)!.nbytes;
        }
    return bytes;
  }

  /** A constant input that folding `nodes` leaves unread, so it goes with them. */
  #freeable(v: Value, nodes: Set<Node>): boolean {
    if (v.isGraphInput() || this.#returned.has(v) || !constantOf(v)) return false;
    return v.uses().every((u) => nodes.has(u.node));
  }

  /**
   * The folds that may be applied this round. Folds that free or share constants only together
   * (sibling branches slicing one weight) are judged together: the group goes when its net growth
   * is within `maxGrowthBytes`; otherwise each of its folds is judged alone, and those over the cap
   * wait for a later round (their inputs may yet become free) and are refused at the end.
   */
  #withinBudget(folds: Fold[]): Fold[] {
    const inRound = new Set(folds.map((f) => f.node));
    const byInput = new Map<Value, number[]>();
    const byKey = new Map<string, number[]>();
    folds.forEach((f, i) => {
      for (const v of new Set(f.node.inputs)) {
        if (!v || !this.#freeable(v, inRound)) continue;
        let l = byInput.get(v);
        if (!l) byInput.set(v, (l = []));
        l.push(i);
      }
      for (const k of new Set(f.keys)) {
        let l = byKey.get(k);
        if (!l) byKey.set(k, (l = []));
        l.push(i);
      }
    });
    const accepted: Fold[] = [];
    const cap = this.opts.maxGrowthBytes;
    for (const comp of components(folds.length, [...byInput.values(), ...byKey.values()])) {
      const group = comp.map((i) => folds[i]);
      if (this.#growth(group) <= cap) {
        accepted.push(...group);
        continue;
      }
      for (const f of group) {
        const alone = this.#growth([f]);
        if (alone <= cap) accepted.push(f);
        else this.#deferred.set(f.node, alone);
      }
    }
    for (const f of accepted) this.#deferred.delete(f.node);
    return accepted;
  }

  #apply(folds: Fold[]): void {
    let names: Map<string, number> | undefined;
    // Outer results first, so inner folds computing the same tensor find and share them.
    for (const f of [...folds].sort((a, b) => depth(a.target) - depth(b.target))) {
      const n = f.node;
      const g = n.graph!;
      f.outs.forEach((o, i) => {
        const t = f.tensors[i];
        const hit = this.#existing(f.target, t, f.keys[i], o);
        if (hit) {
          for (const u of [...o.uses()]) u.node.setInput(u.index, hit);
          dropValueInfo(g, o);
          this.changes.add('folded results shared');
        } else if (f.target === g) {
          outputToInitializer(g, o, t);
        } else {
          names ??= modelNames(this.model);
          const v = f.target.addInitializer(uniqueName(o.name, names), t);
          for (const u of [...o.uses()]) u.node.setInput(u.index, v);
          dropValueInfo(g, o);
        }
      });
      const inputs = [...new Set(n.inputs)].filter((v): v is Value => !!v);
      g.remove(n);
      for (const v of inputs) dropIfOrphaned(v);
      this.changes.add(`${n.opType} folded`);
    }
  }
}

const kib = (n: number) => (Math.abs(n) < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : MiB(n));

/** How many values of the model's graphs (not function bodies) carry each name. */
function modelNames(model: Model): Map<string, number> {
  const out = new Map<string, number>();
  for (const g of allGraphs(model, { functions: false }))
    for (const v of g.values()) out.set(v.name, (out.get(v.name) ?? 0) + 1);
  return out;
}

/**
 * The name for a result moved to an enclosing graph: its own when no other value of the model
 * carries it (the folded output, going away, is the one), else a fresh one, so it clashes with
 * nothing in that graph's scope or in any of its subgraphs.
 */
function uniqueName(name: string, names: Map<string, number>): string {
  if ((names.get(name) ?? 0) <= 1) return name;
  let fresh = `${name}_folded`;
  for (let k = 1; names.has(fresh); k++) fresh = `${name}_folded_${k}`;
  names.set(fresh, 1);
  return fresh;
}

function dropValueInfo(g: Graph, v: Value): void {
  const k = g.valueInfo.indexOf(v);
  if (k >= 0) g.valueInfo.splice(k, 1);
}

/** Removes a constant the folded node was the last user of (initializer or Constant node). */
function dropIfOrphaned(v: Value): void {
  if (v.uses().length || v.isGraphOutput() || v.isGraphInput()) return;
  if (v.isInitializer()) v.owner!.removeInitializer(v.name);
  else if (v.producer && isConstantNode(v.producer)) v.producer.graph?.remove(v.producer);
}
