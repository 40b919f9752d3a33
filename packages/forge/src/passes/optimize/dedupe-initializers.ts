/**
 * `dedupe-initializers`: merges initializers of one graph that hold the same tensor (same data type,
 * dims and bytes, compared by sha256) into the first of them.
 *
 * Before:
 * ```
 *   A = [1,2,3]   B = [1,2,3]
 *   x ─ Add(x, A) ─ Mul(·, B) ─ y
 * ```
 * After:
 * ```
 *   A = [1,2,3]
 *   x ─ Add(x, A) ─ Mul(·, A) ─ y
 * ```
 *
 * Uses are rewired with `node.setInput`, including uses inside subgraphs that capture the duplicate.
 * Only within one graph: initializers of different graphs are never merged.
 *
 * Refuses (keeps the duplicate): initializers that are graph inputs (overridable at run time) or
 * outputs of some graph; external-data tensors unless `external: true` (reading them costs I/O);
 * a rewire into a subgraph that defines a value with the kept initializer's name (it would be
 * shadowed).
 */
import { createHash } from 'node:crypto';
import { DataType, type Graph, type Tensor, type Value } from '@edgeforge/onnx';
import { Changes, PassOptionError, allGraphs, type Pass } from '../pass.js';

export interface DedupeInitializersOptions {
  /** Also hash tensors stored in external data files (default false). */
  external: boolean;
}

/** Identity of a tensor's contents: data type, dims and sha256 of the bytes (or strings). */
export function tensorKey(t: Tensor): string {
  const h = createHash('sha256');
  if (t.dtype === DataType.STRING) for (const s of t.strings()) h.update(`${s.length}:`).update(s);
  else h.update(t.bytes());
  return `${t.dtype}|${t.dims.join(',')}|${h.digest('hex')}`;
}

/** Whether `name` would resolve to something else than `g`'s value when read from `from`'s scope. */
function shadowed(name: string, from: Graph | null, g: Graph): boolean {
  for (let s = from; s && s !== g; s = s.parentGraph) if (s.findValue(name)) return true;
  return false;
}

export const dedupeInitializers: Pass<DedupeInitializersOptions> = {
  name: 'dedupe-initializers',
  family: 'optimize',
  description: 'Merges identical initializers (same type, shape and bytes) within each graph.',
  idempotent: true,
  tolerance: 0,
  parseOptions(raw) {
    for (const k of Object.keys(raw))
      if (k !== 'external') throw new PassOptionError(`pass 'dedupe-initializers' has no option '${k}'`);
    const external = raw.external ?? false;
    if (typeof external !== 'boolean')
      throw new PassOptionError(`pass 'dedupe-initializers': option 'external' must be a boolean`);
    return { external };
  },
  run(model, options) {
    const changes = new Changes();
    const graphs = [...allGraphs(model)];
    const returned = new Set<Value>(graphs.flatMap((g) => g.outputs));
    for (const g of graphs) {
      const kept = new Map<string, Value>();
      for (const [name, v] of [...g.initializers]) {
        const t = v.const;
        if (!t || g.inputs.includes(v) || returned.has(v)) continue;
        if (t.external && !options.external) continue;
        const key = tensorKey(t);
        const first = kept.get(key);
        if (!first) {
          kept.set(key, v);
          continue;
        }
        if (v.uses().some((u) => shadowed(first.name, u.node.graph, g))) {
          changes.note(`kept initializer '${name}': '${first.name}' is shadowed where it is used`);
          continue;
        }
        for (const u of [...v.uses()]) u.node.setInput(u.index, first);
        g.removeInitializer(name);
        const k = g.valueInfo.indexOf(v);
        if (k >= 0) g.valueInfo.splice(k, 1);
        changes.add('initializers merged');
        changes.add('bytes saved', t.nbytes);
      }
    }
    return changes.report();
  },
};
