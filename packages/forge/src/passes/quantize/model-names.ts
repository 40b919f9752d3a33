import { allGraphs, type Model } from '@edgeforge/onnx';

/**
 * Fresh value and node names, unique across the whole model (main graph, every subgraph, function
 * bodies): a name added to one subgraph must not shadow or be shadowed by another scope, and ORT
 * refuses two nodes with one name in a graph. Names follow ORT's quantizer (`W_quantized`, …) when
 * they are free; otherwise `_1`, `_2`… is appended.
 */
export class ModelNames {
  readonly #values = new Set<string>();
  readonly #nodes = new Set<string>();

  constructor(model: Model) {
    for (const g of allGraphs(model)) {
      for (const v of g.values()) this.#values.add(v.name);
      for (const v of g.outputs) this.#values.add(v.name);
      for (const n of g) if (n.name) this.#nodes.add(n.name);
    }
  }

  value(base: string): string {
    return fresh(this.#values, base);
  }

  node(base: string): string {
    return fresh(this.#nodes, base);
  }
}

function fresh(taken: Set<string>, base: string): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}
