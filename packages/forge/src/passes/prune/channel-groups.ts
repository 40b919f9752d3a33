/**
 * Channel dependency groups: which channels of which tensors must be removed together, after
 * Torch-Pruning's DependencyGraph (Fang et al., "DepGraph", CVPR 2023), rebuilt on the ONNX graph.
 *
 * Every tensor that carries prunable channels is *tracked* along one axis; each of its channels is a
 * *position*. Operators couple positions (a union-find joins them): an elementwise op joins channel
 * c of its inputs and output, a Concat joins input channel c with output channel `offset + c`, a
 * Flatten joins channel c with its `H·W` block of the flattened axis, a depthwise Conv joins its
 * input and output channels. A connected set of positions is one *coupled channel*: removing it
 * removes every position in it, so the pruned graph stays consistent by construction. Coupled
 * channels that touch the same tensors form a *group* (the unit `amount` applies to); a Conv whose
 * outputs feed a residual Add shares its group with every other branch of that Add.
 *
 * Alongside the coupling, operator rules (`channel-rules.ts`) record what removing channels means
 * for constants and attributes: weight slices (`ConstSlice`), `group`, Reshape and Split sizes
 * (`AttrEdit`), and where importance comes from (`Filter`, `BnScale`). A tensor the rules cannot
 * follow (a graph input or output, a Reshape across the channel axis, an unknown op, a use inside a
 * subgraph) is *blocked* with a reason, and every group that touches it is left alone.
 */
import { constantTensor, shapeOf, type Dim, type Graph, type Node, type Tensor, type Value } from '@edgeforge/onnx';
import { constantThroughIdentity } from '../optimize/fuse-bn-into-conv.js';
import { handlerFor } from './channel-rules.js';

/** A tensor tracked along its channel axis; its channels are positions `base … base + size − 1`. */
export interface Track {
  readonly value: Value;
  readonly axis: number;
  readonly size: number;
  readonly base: number;
  /** Rank when known (from the inferred type or a constant's dims). */
  readonly rank?: number;
}

/** Removing channels of `ref` removes the same indices of constant input `input` of `node` along `axis`. */
export interface ConstSlice {
  readonly node: Node;
  readonly input: number;
  readonly axis: number;
  readonly ref: Value;
}

/** Attributes and shape constants that follow the new channel counts. */
export type AttrEdit =
  /** Depthwise Conv: `group` = new channel count of `ref` (its input). */
  | { readonly kind: 'group'; readonly node: Node; readonly ref: Value }
  /** Reshape: entry `index` of the shape constant = new size of `ref` (its output) along the tracked axis. */
  | { readonly kind: 'reshape'; readonly node: Node; readonly index: number; readonly ref: Value }
  /** Split along the channel axis: sizes = new sizes of the outputs. */
  | { readonly kind: 'split'; readonly node: Node };

/** A weight whose slices along `axis` are removed with the channels of `ref`: importance comes from them. */
export interface Filter {
  readonly node: Node;
  readonly input: number;
  readonly axis: number;
  readonly ref: Value;
  /** `root`: a layer's own output channels (Conv, ConvTranspose, Gemm, MatMul); `depthwise`: a depthwise Conv in step. */
  readonly kind: 'root' | 'depthwise';
}

/** A BatchNormalization over the channels of `ref` (its input): `bn-scale` ranks by its γ. */
export interface BnScale {
  readonly node: Node;
  readonly ref: Value;
}

/** One group: coupled channels that touch the same tensors. */
export interface ChannelGroup {
  /** Positions of each coupled channel, coupled channels in graph order. */
  readonly channels: number[][];
  /** Tensors the group touches. */
  readonly values: Value[];
  /** Layers whose own output channels are in the group. */
  readonly roots: Node[];
  /** Why the group must be left alone (names the node), when it must. */
  readonly blocked?: string;
}

export class ChannelTracker {
  readonly tracks = new Map<Value, Track>();
  readonly blocked = new Map<Value, string>();
  readonly #slices = new Map<string, ConstSlice>();
  readonly #attrEdits = new Map<string, AttrEdit>();
  readonly #filters = new Map<string, Filter>();
  readonly #bnScales = new Map<Node, BnScale>();
  /** Union-find parent of each position. */
  readonly #parent: number[] = [];
  /** Track of each position. */
  readonly #owner: Track[] = [];
  readonly #queue: [Node, Value][] = [];
  readonly #done = new Map<Node, Set<Value>>();
  readonly #ids = new Map<Node, number>();
  /** Why the rule being applied failed, if it did. */
  #failure: string | undefined;

  constructor(
    readonly graph: Graph,
    readonly opset: number,
  ) {}

  // ---- what rules read ----

  /** The constant behind `v` (initializer, Constant node, through Identity), unless it can be overridden. */
  constant(v: Value | null | undefined): Tensor | undefined {
    return v ? constantThroughIdentity(v) : undefined;
  }

  /** Dims as far as known: a tracked size wins, then a constant's dims, then the inferred type. */
  shape(v: Value): Dim[] | undefined {
    const c = v.const ?? (v.producer ? constantTensor(v) : undefined);
    const s: Dim[] | undefined = c ? [...c.dims] : shapeOf(v.type) ? [...shapeOf(v.type)!] : undefined;
    const t = this.tracks.get(v);
    if (t && s && t.axis < s.length) s[t.axis] = t.size;
    return s;
  }

  rank(v: Value): number | undefined {
    return this.tracks.get(v)?.rank ?? this.shape(v)?.length;
  }

  /** Static size of `v` along `axis`, when known. */
  dim(v: Value, axis: number): number | undefined {
    const t = this.tracks.get(v);
    if (t && t.axis === axis) return t.size;
    const d = this.shape(v)?.[axis];
    return typeof d === 'number' ? d : undefined;
  }

  axisOf(v: Value): number | undefined {
    return this.tracks.get(v)?.axis;
  }

  // ---- what rules write ----

  /**
   * Tracks `v` along `axis` with `size` channels. Returns false (and blocks `v`) when it is already
   * tracked along another axis or with another size, or its type disagrees.
   */
  track(v: Value, axis: number, size: number): boolean {
    const old = this.tracks.get(v);
    if (old) {
      if (old.axis === axis && old.size === size) return true;
      this.block(v, `'${v.name}' is coupled along axis ${old.axis} (${old.size}) and axis ${axis} (${size})`);
      return false;
    }
    const s = shapeOf(v.type) ?? (v.const ?? (v.producer ? constantTensor(v) : undefined))?.dims;
    const rank = s?.length;
    const t: Track = { value: v, axis, size, base: this.#parent.length, ...(rank !== undefined ? { rank } : {}) };
    this.tracks.set(v, t);
    for (let i = 0; i < size; i++) {
      this.#parent.push(t.base + i);
      this.#owner.push(t);
    }
    if (rank !== undefined && axis >= rank) this.block(v, `'${v.name}' has rank ${rank}, no axis ${axis}`);
    const d = s?.[axis];
    if (typeof d === 'number' && d !== size)
      this.block(v, `'${v.name}' has ${d} entries along axis ${axis}, the coupling expects ${size}`);
    this.#enqueue(v);
    return true;
  }

  /** Couples channel `i` of `a` with channel `j` of `b` (both tracked). */
  unify(a: Value, i: number, b: Value, j: number): void {
    const ta = this.tracks.get(a);
    const tb = this.tracks.get(b);
    if (!ta || !tb) throw new Error(`unify: '${(ta ? b : a).name}' is not tracked`);
    const x = this.#find(ta.base + i);
    const y = this.#find(tb.base + j);
    if (x !== y) this.#parent[Math.max(x, y)] = Math.min(x, y);
  }

  /** Tracks `b` like `a` and couples them channel by channel. */
  same(a: Value, b: Value): boolean {
    const ta = this.tracks.get(a)!;
    if (!this.track(b, ta.axis, ta.size)) return false;
    for (let i = 0; i < ta.size; i++) this.unify(a, i, b, i);
    return true;
  }

  /** Tracks `b` along `axis` with `a`'s size and couples them channel by channel. */
  sameAt(a: Value, b: Value, axis: number): boolean {
    const ta = this.tracks.get(a)!;
    if (!this.track(b, axis, ta.size)) return false;
    for (let i = 0; i < ta.size; i++) this.unify(a, i, b, i);
    return true;
  }

  /** A rule cannot follow the channels of `v`: every group touching it (and the node's other tensors) stays. */
  block(v: Value, reason: string): void {
    this.#failure ??= reason;
    this.#mark(v, reason);
  }

  #mark(v: Value, reason: string): void {
    if (!this.blocked.has(v)) this.blocked.set(v, reason);
  }

  /** Edits are recorded once whichever tensor of the node they were reached from. */
  addSlice(s: ConstSlice): void {
    const key = `${this.#id(s.node)}:${s.input}:${s.axis}`;
    if (!this.#slices.has(key)) this.#slices.set(key, s);
  }

  addAttrEdit(e: AttrEdit): void {
    const key = `${this.#id(e.node)}:${e.kind}`;
    if (!this.#attrEdits.has(key)) this.#attrEdits.set(key, e);
  }

  addFilter(f: Filter): void {
    const key = `${this.#id(f.node)}:${f.input}:${f.axis}`;
    if (!this.#filters.has(key)) this.#filters.set(key, f);
  }

  addBnScale(b: BnScale): void {
    if (!this.#bnScales.has(b.node)) this.#bnScales.set(b.node, b);
  }

  get slices(): ConstSlice[] {
    return [...this.#slices.values()];
  }

  get attrEdits(): AttrEdit[] {
    return [...this.#attrEdits.values()];
  }

  get filters(): Filter[] {
    return [...this.#filters.values()];
  }

  get bnScales(): BnScale[] {
    return [...this.#bnScales.values()];
  }

  // ---- the walk ----

  /** Starts from every layer with prunable output channels and follows every coupling to closure. */
  walk(): this {
    for (const n of this.graph) if (handlerFor(n, this).sided && n.outputs[0]) this.#queue.push([n, n.outputs[0]]);
    this.#run();
    return this;
  }

  /**
   * Applies the rule of each node once per tensor it is reached from (rules are idempotent). When a
   * rule fails on a node whose tensors share channels, all of them are blocked: the tensors it did
   * not get to couple must not be pruned apart from the others.
   */
  #run(): void {
    let head = 0;
    while (head < this.#queue.length) {
      const [node, anchor] = this.#queue[head++];
      let done = this.#done.get(node);
      if (!done) this.#done.set(node, (done = new Set()));
      if (done.has(anchor)) continue;
      done.add(anchor);
      const handler = handlerFor(node, this);
      this.#failure = undefined;
      handler.couple(this, node, anchor);
      const failure = this.#failure as string | undefined;
      if (failure && !handler.sided)
        for (const v of [...node.inputs, ...node.outputs]) if (v && this.tracks.has(v)) this.#mark(v, failure);
    }
    this.#queue.length = 0;
  }

  #enqueue(v: Value): void {
    if (v.isGraphOutput()) this.#mark(v, `'${v.name}' is a graph output`);
    const p = v.producer;
    if (!p) this.#mark(v, `'${v.name}' is ${v.isGraphInput() ? 'a graph input' : 'not computed in this graph'}`);
    else if (p.graph !== this.graph) this.#mark(v, `'${v.name}' comes from an enclosing graph`);
    else this.#queue.push([p, v]);
    for (const u of v.uses()) {
      if (u.node.graph !== this.graph)
        this.#mark(v, `'${v.name}' is used inside a subgraph of ${this.#holder(u.node)}`);
      else this.#queue.push([u.node, v]);
    }
  }

  #holder(n: Node): string {
    let g = n.graph;
    while (g?.parentNode && g.parentNode.graph !== this.graph) g = g.parentNode.graph;
    return g?.parentNode ? String(g.parentNode) : 'another graph';
  }

  #id(n: Node): number {
    let id = this.#ids.get(n);
    if (id === undefined) this.#ids.set(n, (id = this.#ids.size));
    return id;
  }

  #find(p: number): number {
    const parent = this.#parent;
    let r = p;
    while (parent[r] !== r) r = parent[r];
    while (parent[p] !== r) [p, parent[p]] = [parent[p], r];
    return r;
  }

  // ---- results ----

  get positions(): number {
    return this.#parent.length;
  }

  /** Track and channel index of a position. */
  at(p: number): [Track, number] {
    const t = this.#owner[p];
    return [t, p - t.base];
  }

  /** The coupled channel (its representative position) of position `p`. */
  rep(p: number): number {
    return this.#find(p);
  }

  /** The coupled channel (its representative) a channel of a tracked tensor belongs to. */
  channelOf(v: Value, i: number): number {
    return this.#find(this.tracks.get(v)!.base + i);
  }

  /** Coupled channels grouped by the set of tensors they touch, in graph order. */
  groups(): ChannelGroup[] {
    const members = new Map<number, number[]>();
    for (let p = 0; p < this.#parent.length; p++) {
      const r = this.#find(p);
      let m = members.get(r);
      if (!m) members.set(r, (m = []));
      m.push(p);
    }
    const rootsOf = new Map<Value, Node[]>();
    for (const f of this.#filters.values())
      if (f.kind === 'root') rootsOf.set(f.ref, [...(rootsOf.get(f.ref) ?? []), f.node]);
    // Coupled channels touching the same tensors form a group; groups that share a layer's output
    // (a Split of it) are one: `amount` applies to each layer's channels as a whole.
    const order = [...this.tracks.values()];
    const index = new Map(order.map((t, i) => [t, i]));
    const parent = order.map((_, i) => i);
    const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
    const bySignature = new Map<string, { channels: number[][]; tracks: Track[] }>();
    for (const positions of members.values()) {
      const ts = [...new Set(positions.map((p) => this.#owner[p]))].sort((a, b) => index.get(a)! - index.get(b)!);
      const key = ts.map((t) => index.get(t)).join(',');
      let g = bySignature.get(key);
      if (!g) bySignature.set(key, (g = { channels: [], tracks: ts }));
      g.channels.push(positions);
      const own = ts.filter((t) => rootsOf.has(t.value)).map((t) => find(index.get(t)!));
      for (const r of own) parent[r] = own[0];
    }
    const merged = new Map<number, { channels: number[][]; tracks: Set<Track> }>();
    for (const g of bySignature.values()) {
      const own = g.tracks.find((t) => rootsOf.has(t.value));
      const key = own ? find(index.get(own)!) : -1 - merged.size;
      let m = merged.get(key);
      if (!m) merged.set(key, (m = { channels: [], tracks: new Set() }));
      m.channels.push(...g.channels);
      for (const t of g.tracks) m.tracks.add(t);
    }
    const out: ChannelGroup[] = [];
    for (const g of merged.values()) {
      g.channels.sort((a, b) => a[0] - b[0]);
      const values = [...g.tracks].sort((a, b) => index.get(a)! - index.get(b)!).map((t) => t.value);
      const reasons = [...new Set(values.map((v) => this.blocked.get(v)).filter((r): r is string => !!r))];
      out.push({
        channels: g.channels,
        values,
        roots: [...new Set(values.flatMap((v) => rootsOf.get(v) ?? []))],
        ...(reasons.length ? { blocked: reasons.join('; ') } : {}),
      });
    }
    return out.sort((a, b) => a.channels[0][0] - b.channels[0][0]);
  }
}
