/**
 * `initializers-to-constants`: the reverse of `constants-to-initializers`. Initializers of the
 * main graph and of subgraphs become `Constant` nodes at the top of their graph (for tools and
 * runtimes that only read weights from Constant nodes).
 *
 * Before:
 * ```
 *   initializer %w = <tensor>
 *   %y = MatMul(%x, %w)
 * ```
 * After:
 * ```
 *   %w = Constant[value=<tensor>]()
 *   %y = MatMul(%x, %w)
 * ```
 *
 * The value keeps its name and identity. Refuses (with a note): initializers that are also graph
 * inputs (their value is only a default the caller may override, as in every IR < 4 model), and
 * sparse initializers.
 */
import { AttrType, Node } from '@edgeforge/onnx';
import { allGraphs, Changes, noOptions, type Pass } from '../pass.js';

export const initializersToConstants: Pass<Record<string, never>> = {
  name: 'initializers-to-constants',
  family: 'optimize',
  description: 'Initializers become Constant nodes at the top of their graph (main graph and subgraphs)',
  idempotent: true,
  tolerance: 0,
  parseOptions: noOptions('initializers-to-constants'),
  run(model) {
    const changes = new Changes();
    for (const g of [...allGraphs(model, { functions: false })]) {
      const created: Node[] = [];
      let overridable = 0;
      for (const [name, v] of [...g.initializers]) {
        const t = v.const;
        if (!t) continue;
        if (v.isGraphInput()) {
          overridable++;
          continue;
        }
        g.initializers.delete(name);
        v.const = undefined;
        v.owner = null;
        created.push(
          new Node('Constant', [], {
            attributes: [{ name: 'value', type: AttrType.TENSOR, value: t }],
            outputs: [v],
          }),
        );
      }
      const first = g.firstNode;
      if (first) g.insertBefore(first, ...created);
      else g.append(...created);
      changes.add(g.parentNode ? 'subgraph initializer → Constant' : 'initializer → Constant', created.length);
      if (overridable) changes.note(`graph '${g.name}': ${overridable} initializer(s) that are also inputs kept`);
      if (g.sparseInitializers.size) changes.note(`graph '${g.name}': sparse initializers kept`);
    }
    return changes.report();
  },
};
