/**
 * `upgrade-opset`: moves a model to a newer ai.onnx opset, rewriting every node whose operator
 * changed meaning on the way, so the model computes exactly what it did.
 *
 * ```
 * Before (opset 11)                           After (opset 13)
 * X ─► Squeeze(axes=[0]) ─► S                 X ─► Squeeze(X, Constant [0]) ─► S
 * S ─► Softmax(axis=1) ─► Y    (S of rank 3)  S ─► Flatten(axis=1) ─► Softmax(axis=1) ─► Reshape(·, Shape(S)) ─► Y
 * ```
 * (Softmax before 13 normalizes over all of S's dims from `axis` on; from 13, over `axis` alone.)
 *
 * Every node of the default domain is visited, in the main graph, in subgraphs (If/Loop/Scan
 * bodies) and in model-local function bodies (each from its own ai.onnx import). For each
 * since-version of its op crossed between the source and the target opset (`OP_VERSIONS`), the
 * adapter for that version (`upgrade-opset/adapters.ts`, after ONNX's version converter) rewrites
 * it: attributes that became inputs (Squeeze/Unsqueeze/ReduceSum/Split at 13, the other Reduce*
 * at 18, Slice at 10, Pad/Clip at 11, TopK at 10, Dropout at 12), Softmax/LogSoftmax/Hardmax's
 * coerce-to-2D rule at 13, Upsample → Resize at 10 and Resize-10 → 11 with opset-10 coordinates
 * and rounding, legacy broadcasting at 7, Scan-8's batch axis at 9 and more. Version changes that
 * only add types or attributes with backward-compatible defaults need nothing.
 *
 * All or nothing: every node is checked first, and any node that cannot be carried across (e.g.
 * GroupNormalization across 21, nearest Resize-10 with non-constant scales, BatchNormalization
 * training outputs across 14, an attribute a function body takes from its caller, an op version
 * onnxruntime 1.30 has no CPU kernel for such as RoiAlign-22) refuses the whole upgrade with one
 * error naming the op, the node and the versions; the model is unchanged.
 * Never downgrades: a model already at or above the target is left as it is. The IR version
 * becomes the lowest that covers the new opset (`irVersionForOpset`), or stays if already higher.
 *
 * Types the adapters need (ranks, element types of Clip/Pad inputs, Scan batch sizes) come from
 * `inferShapes` at the source opset, run without touching the model's declared types.
 */
import {
  allGraphs,
  graphAndSubgraphs,
  inferShapes,
  irVersionForOpset,
  OP_VERSIONS,
  schemaVersion,
  versionsCrossed,
  type FunctionDef,
  type Graph,
  type Model,
  type Node,
  type TypeInfo,
  type Value,
} from '@edgeforge/onnx';
import { Changes, PassOptionError, type Pass } from '../pass.js';
import { adapterFor, referencedAttrs, type Adapter } from './upgrade-opset/adapters.js';
import { OpsetUpgradeError, type Refusal, type UpgradeContext } from './upgrade-opset/build.js';
import { ORT_CPU_MISSING } from './upgrade-opset/op-versions.js';

export { OpsetUpgradeError, type Refusal } from './upgrade-opset/build.js';

export const UPGRADE_OPSET = 'upgrade-opset';

/**
 * Highest ai.onnx opset onnxruntime 1.30 loads (the checker's `ORT_MAX_OPSET`: "Current official
 * support for domain ai.onnx is till opset 26").
 */
export const MAX_TARGET_OPSET = 26;

export interface UpgradeResult {
  /** ai.onnx opset of the model before. */
  from: number;
  /** ai.onnx opset after (`from` when the model was already at or above the target). */
  to: number;
  /** Nodes rewritten, by `Op-version: what changed`. */
  rewritten: Record<string, number>;
  /** Model-local functions whose own ai.onnx import was raised to the target. */
  functions: number;
}

/** One node's way to the target: the adapters it crosses, in order. */
interface Plan {
  node: Node;
  steps: { key: string; adapter: Adapter }[];
}

const isDefaultDomain = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** Plans every default-domain node of `graphs` from opset `from`; refusals are collected, not thrown. */
function planGraphs(
  graphs: Graph[],
  from: number,
  target: number,
  ctx: UpgradeContext,
  plans: Plan[],
  refusals: Refusal[],
): void {
  for (const g of graphs) {
    for (const node of g) {
      if (!isDefaultDomain(node)) continue;
      const out = node.outputs[0]?.name;
      const who = node.name || !out ? `${node}` : `${node.opType} → '${out}'`;
      const where = `${who}${g.name ? ` in graph '${g.name}'` : ''}`;
      let op = node.opType;
      const first = schemaVersion(op, from);
      if (!OP_VERSIONS[op] || first === undefined) {
        refusals.push({
          node: where,
          op,
          from,
          to: target,
          reason: `${op} is not an ai.onnx operator at opset ${from}`,
        });
        continue;
      }
      const steps: Plan['steps'] = [];
      let at = first;
      for (;;) {
        const next: number | undefined = versionsCrossed(op, at, target)[0];
        if (next === undefined) break;
        const adapter = adapterFor(op, next);
        if (adapter) {
          const why = adapter.refuse?.(node, ctx);
          if (why) refusals.push({ node: where, op, from: at, to: next, reason: why });
          steps.push({ key: `${op}-${next}`, adapter });
          if (adapter.becomes) op = adapter.becomes;
        }
        at = next;
      }
      if (at !== first && ORT_CPU_MISSING[op]?.includes(at)) {
        const reason = `onnxruntime 1.30 has no CPU kernel for ${op}-${at} (choose a target below ${at})`;
        refusals.push({ node: where, op, from: first, to: at, reason });
      }
      if (!steps.length) continue;
      const refs = referencedAttrs(node);
      if (refs.length)
        refusals.push({
          node: where,
          op: node.opType,
          from: first,
          to: target,
          reason: `attribute(s) ${refs.join(', ')} come from the calling function, so the rewrites (${steps.map((s) => s.key).join(', ')}) cannot read them`,
        });
      plans.push({ node, steps });
    }
  }
}

/** Types as inferred at the source opset; the model's declared types are restored afterwards. */
function inferredTypes(model: Model): Map<Value, TypeInfo> {
  const declared = new Map<Value, TypeInfo | undefined>();
  for (const g of allGraphs(model, { functions: false })) for (const v of g.values()) declared.set(v, v.type);
  const out = new Map<Value, TypeInfo>();
  try {
    inferShapes(model, { valueInfo: false });
    for (const v of declared.keys()) if (v.type) out.set(v, v.type);
  } finally {
    for (const [v, t] of declared) v.type = t;
  }
  return out;
}

/**
 * Upgrades `model`'s ai.onnx opset to `target` in place (see the file comment). Throws
 * `OpsetUpgradeError`, changing nothing, when some node cannot be carried across.
 */
export function upgradeOpset(model: Model, target: number): UpgradeResult {
  if (!Number.isInteger(target) || target < 1 || target > MAX_TARGET_OPSET)
    throw new OpsetUpgradeError(`target opset must be an integer in 1..${MAX_TARGET_OPSET} (got ${target})`);
  const from = model.opset;
  const keys = ['', 'ai.onnx'].filter((k) => model.opsetImports.has(k));
  if (!keys.length) {
    const n = [...allGraphs(model, { functions: false })].flatMap((g) => g.nodes()).find(isDefaultDomain);
    if (n) throw new OpsetUpgradeError(`cannot upgrade: the model uses ai.onnx (${n}) but does not import it`);
  }
  const main = !keys.length || from < target;
  // Function bodies carry their own ai.onnx import.
  const importOf = (f: FunctionDef) => f.opsetImports.get('') ?? f.opsetImports.get('ai.onnx');
  const functions = model.functions.filter((f) => (importOf(f) ?? target) < target);
  if (!main && !functions.length) return { from, to: from, rewritten: {}, functions: 0 };

  let types: Map<Value, TypeInfo> | undefined;
  const typeMap = () => (types ??= inferredTypes(model));
  const ctx: UpgradeContext = {
    target,
    typeOf: (v) => (v ? (typeMap().get(v) ?? v.type) : undefined),
    fromUpsample: new WeakSet(),
  };
  const plans: Plan[] = [];
  const refusals: Refusal[] = [];
  if (main && keys.length) planGraphs([...allGraphs(model, { functions: false })], from, target, ctx, plans, refusals);
  for (const f of functions) planGraphs([...graphAndSubgraphs(f.graph)], importOf(f)!, target, ctx, plans, refusals);
  if (refusals.length) {
    const say = (r: Refusal) => `${r.node} (${r.op}-${r.from} → ${r.op}-${r.to}): ${r.reason}`;
    const rest = refusals.slice(1, 4).map(say).join('; ');
    const more =
      refusals.length > 1 ? ` (and ${refusals.length - 1} more: ${rest}${refusals.length > 4 ? '; …' : ''})` : '';
    throw new OpsetUpgradeError(
      `cannot upgrade ai.onnx opset ${from} → ${target}: ${say(refusals[0])}${more}`,
      refusals,
    );
  }

  // Types are read before the first rewrite: later ones must see the model as it was.
  if (plans.length) typeMap();
  const rewritten: Record<string, number> = {};
  for (const { node, steps } of plans) {
    let n = node;
    for (const { key, adapter } of steps) {
      const next = adapter.apply(n, ctx);
      if (!next) continue;
      n = next;
      const what = `${key}: ${adapter.label}`;
      rewritten[what] = (rewritten[what] ?? 0) + 1;
    }
  }

  for (const f of functions) for (const k of ['', 'ai.onnx']) if (f.opsetImports.has(k)) f.opsetImports.set(k, target);
  if (!main) return { from, to: from, rewritten, functions: functions.length };
  for (const k of keys) model.opsetImports.set(k, target);
  if (!keys.length) model.opsetImports.set('', target);
  model.irVersion = Math.max(model.irVersion, irVersionForOpset(target));
  return { from, to: target, rewritten, functions: functions.length };
}

/** The pass: `upgrade-opset` with `{ to }`. */
export const upgradeOpsetPass: Pass<{ to: number }> = {
  name: UPGRADE_OPSET,
  family: 'optimize',
  description: 'Upgrade the ai.onnx opset, rewriting ops whose meaning changed (refuses what it cannot carry)',
  idempotent: true,
  tolerance: 0,
  parseOptions(raw) {
    const { to, ...rest } = raw;
    const extra = Object.keys(rest);
    if (extra.length) throw new PassOptionError(`pass '${UPGRADE_OPSET}': unknown option(s) ${extra.join(', ')}`);
    const n = typeof to === 'string' && /^\d+$/.test(to) ? Number(to) : to;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_TARGET_OPSET)
      throw new PassOptionError(
        `pass '${UPGRADE_OPSET}': option 'to' must be an opset in 1..${MAX_TARGET_OPSET} (got ${String(to)})`,
      );
    return { to: n };
  },
  run(model, { to }) {
    const changes = new Changes();
    const r = upgradeOpset(model, to);
    if (r.to !== r.from) changes.add(`ai.onnx opset ${r.from} → ${r.to}`);
    else if (r.from > to) changes.note(`model is at ai.onnx opset ${r.from} ≥ ${to}: left as it is (no downgrade)`);
    changes.add(`function bodies raised to ai.onnx opset ${to}`, r.functions);
    for (const [what, n] of Object.entries(r.rewritten)) changes.add(what, n);
    return changes.report();
  },
};
