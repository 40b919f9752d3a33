import { AttrType, attrGraphs, bytesToString, int64ToNumber, type Attr } from './attr.js';
import type { MetadataProps, ProtoExtras } from './extras.js';
import type { Graph } from './graph.js';
import type { Tensor } from './tensor.js';
import { Value, type Use } from './value.js';

export interface NodeInit {
  domain?: string;
  name?: string;
  attributes?: Attr[];
  /** Number of outputs to create (named by the graph when inserted), or explicit Values / names. */
  outputs?: number | (Value | string)[];
  overload?: string;
  docString?: string;
}

/**
 * An operator application. Inputs are Values (or null for an omitted optional input); outputs are
 * Values this node produces. Every input edit goes through `setInput`, which keeps uses in step.
 */
export class Node {
  domain: string;
  name: string;
  overload: string;
  docString: string;
  metadataProps: MetadataProps = [];
  extras?: ProtoExtras;
  /** Opaque wire data this IR does not model (device_configurations). */
  opaque?: unknown;
  /** Attributes in file order. */
  readonly attributes: Map<string, Attr>;
  readonly #inputs: (Value | null)[] = [];
  readonly #outputs: Value[] = [];
  /** @internal Graph membership and list links, maintained by Graph. */
  _graph: Graph | null = null;
  /** @internal */
  _prev: Node | null = null;
  /** @internal */
  _next: Node | null = null;

  constructor(
    public opType: string,
    inputs: readonly (Value | null)[] = [],
    init: NodeInit = {},
  ) {
    this.domain = init.domain ?? '';
    this.name = init.name ?? '';
    this.overload = init.overload ?? '';
    this.docString = init.docString ?? '';
    this.attributes = new Map((init.attributes ?? []).map((a) => [a.name, a]));
    for (const a of this.attributes.values()) for (const g of attrGraphs(a)) g.parentNode = this;
    for (const v of inputs) this.appendInput(v);
    const outs = init.outputs ?? 1;
    const list = typeof outs === 'number' ? Array.from({ length: outs }, () => '') : outs;
    for (const o of list) this.addOutput(typeof o === 'string' ? new Value(o) : o);
  }

  get graph(): Graph | null {
    return this._graph;
  }

  get inputs(): readonly (Value | null)[] {
    return this.#inputs;
  }

  get outputs(): readonly Value[] {
    return this.#outputs;
  }

  /** Sets input `i` (extending the list with nulls if needed), updating uses on both values. */
  setInput(i: number, v: Value | null): void {
    while (this.#inputs.length <= i) this.#inputs.push(null);
    const old = this.#inputs[i];
    if (old === v) return;
    if (old) removeUse(old, this, i);
    this.#inputs[i] = v;
    if (v) v._uses.push({ node: this, index: i });
  }

  appendInput(v: Value | null): void {
    this.setInput(this.#inputs.length, v);
  }

  /** Removes trailing inputs from index `n` on. */
  truncateInputs(n: number): void {
    for (let i = this.#inputs.length - 1; i >= n; i--) {
      const old = this.#inputs[i];
      if (old) removeUse(old, this, i);
      this.#inputs.pop();
    }
  }

  /** Replaces every occurrence of `from` among the inputs by `to`. */
  replaceInput(from: Value, to: Value | null): void {
    for (let i = 0; i < this.#inputs.length; i++) if (this.#inputs[i] === from) this.setInput(i, to);
  }

  /** Adds an output value; the value must not already have a producer. */
  addOutput(v: Value): Value {
    if (v.producer && v.producer !== this) throw new Error(`value '${v.name}' is already produced by another node`);
    v.producer = this;
    v.index = this.#outputs.length;
    v.owner = null;
    this.#outputs.push(v);
    return v;
  }

  /** Replaces output `i` with a fresh value; the old one loses its producer. */
  setOutput(i: number, v: Value): void {
    const old = this.#outputs[i];
    if (old) old.producer = null;
    v.producer = this;
    v.index = i;
    this.#outputs[i] = v;
  }

  /** Detaches all inputs (used when a node leaves a graph for good). */
  clearInputs(): void {
    this.truncateInputs(0);
  }

  // ---- attributes ----
  attr(name: string): Attr | undefined {
    return this.attributes.get(name);
  }
  /** Sets an attribute; graphs it holds become subgraphs of this node. */
  setAttr(a: Attr): void {
    this.attributes.set(a.name, a);
    for (const g of attrGraphs(a)) g.parentNode = this;
  }
  getInt(name: string): number | undefined;
  getInt(name: string, def: number): number;
  getInt(name: string, def?: number): number | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.INT ? int64ToNumber(a.value) : def;
  }
  getInts(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.INTS ? a.value.map(int64ToNumber) : undefined;
  }
  getFloat(name: string): number | undefined;
  getFloat(name: string, def: number): number;
  getFloat(name: string, def?: number): number | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.FLOAT ? a.value : def;
  }
  getFloats(name: string): number[] | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.FLOATS ? a.value : undefined;
  }
  getString(name: string): string | undefined;
  getString(name: string, def: string): string;
  getString(name: string, def?: string): string | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.STRING ? bytesToString(a.value) : def;
  }
  getTensor(name: string): Tensor | undefined {
    const a = this.attributes.get(name);
    return a && a.type === AttrType.TENSOR ? a.value : undefined;
  }

  /** Graphs held in this node's attributes (If branches, Loop/Scan bodies). */
  subgraphs(): Graph[] {
    const out: Graph[] = [];
    for (const a of this.attributes.values()) out.push(...attrGraphs(a));
    return out;
  }

  /** `domain::opType` for custom domains, `opType` for the default one. */
  get qualifiedType(): string {
    return this.domain === '' || this.domain === 'ai.onnx' ? this.opType : `${this.domain}::${this.opType}`;
  }

  toString(): string {
    return `${this.qualifiedType}${this.name ? ` '${this.name}'` : ''}`;
  }
}

function removeUse(v: Value, node: Node, index: number): void {
  const uses = v._uses as Use[];
  const k = uses.findIndex((u) => u.node === node && u.index === index);
  if (k >= 0) uses.splice(k, 1);
}
