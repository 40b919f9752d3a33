import type { MetadataProps, ProtoExtras } from './extras.js';
import type { Graph } from './graph.js';
import type { Node } from './node.js';
import type { Tensor } from './tensor.js';
import type { TypeInfo } from './types.js';

/** One consumer of a value: input slot `index` of `node`. */
export interface Use {
  readonly node: Node;
  readonly index: number;
}

/**
 * A named value flowing through a graph (after onnx/ir-py): it knows its producer (a node output,
 * or nothing for graph inputs and initializers) and its uses. Uses are edited only by `Node`, so the
 * two sides never disagree.
 */
export class Value {
  /** The node whose output this is, or null. */
  producer: Node | null = null;
  /** Output slot in the producer. */
  index = 0;
  /** Initializer data, when this value is an initializer. */
  const: Tensor | undefined;
  /** The graph that declares this value as input or initializer (producer.graph otherwise). */
  owner: Graph | null = null;
  /** Doc string / metadata / extras from the value_info (or graph input/output) entry. */
  docString = '';
  metadataProps: MetadataProps = [];
  extras?: ProtoExtras;
  /** @internal Maintained by Node. */
  readonly _uses: Use[] = [];

  constructor(
    public name: string,
    public type?: TypeInfo,
  ) {}

  /** Consumers of this value (nodes in this graph and in subgraphs that capture it). */
  uses(): readonly Use[] {
    return this._uses;
  }

  /** The graph this value belongs to. */
  get graph(): Graph | null {
    return this.producer ? this.producer.graph : this.owner;
  }

  /** True when this value is an initializer of its graph. */
  isInitializer(): boolean {
    return this.owner !== null && this.owner.initializers.get(this.name) === this;
  }

  isGraphInput(): boolean {
    return this.owner !== null && this.owner.inputs.includes(this);
  }

  isGraphOutput(): boolean {
    const g = this.graph;
    return g !== null && g.outputs.includes(this);
  }

  toString(): string {
    return `%${this.name}`;
  }
}
