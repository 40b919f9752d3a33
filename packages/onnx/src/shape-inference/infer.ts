/**
 * Type and shape inference: walks the nodes of a model in order, asks each op's rule (see
 * registry.ts) for its output types, and writes them into `value.type` where the model did not
 * already say. Subgraphs (If/Loop/Scan bodies, and any other graph attribute) are inferred with the
 * types of what they capture; model-local functions are inferred per call in a scratch overlay.
 *
 * Never guesses and never throws on odd models: an op without a rule leaves its outputs unknown
 * (and is counted in `noRule`), a rule that meets input it cannot make sense of leaves its outputs
 * unknown (and is listed in `failed`).
 *
 * @example
 * ```ts
 * const model = loadModel('ch_PP-OCRv4_rec_infer.onnx');
 * const report = inferShapes(model, { inputShapes: { x: [1, 3, 48, 320] } });
 * console.log(report.inferred, report.noRule, formatShape(shapeOf(model.graph.outputs[0].type)));
 * ```
 */
import { AttrType } from '../ir/attr.js';
import type { Graph } from '../ir/graph.js';
import type { FunctionDef, Model } from '../ir/model.js';
import type { Node } from '../ir/node.js';
import { allGraphs } from '../ir/traversal.js';
import { formatShape, type Dim, type TensorType, type TypeInfo } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { Env, InferContext, asTensor } from './context.js';
import { inferIf, inferLoop, inferScan, inferScan8 } from './control-flow.js';
import { ShapeError } from './dims.js';
import { mergeType } from './merge.js';
import { findRule, normDomain } from './registry.js';

export interface InferOptions {
  /**
   * Shapes for graph inputs by name (e.g. `{ x: [1, 3, 48, 320] }`). They are written into the
   * model's input types before inference, replacing symbolic or unknown dims.
   */
  inputShapes?: Record<string, Dim[]>;
  /** Replace existing types of node outputs with what inference finds (default: only fill gaps). */
  overwrite?: boolean;
  /** List newly typed intermediate values in their graph's `value_info`, so a save keeps them (default true). */
  valueInfo?: boolean;
}

export interface InferReport {
  /** Nodes visited (all graphs, function bodies not included). */
  nodes: number;
  /** Values that had no type and got one. */
  inferred: number;
  /** Values whose type was completed (element type, rank, unknown or symbolic dims) or replaced with `overwrite`. */
  refined: number;
  /** Node outputs with a fully static shape afterwards. */
  static: number;
  /** Node outputs still without a type afterwards. */
  unknown: number;
  /** Nodes whose op has no rule, by op type (`domain::op` outside the default domain). */
  noRule: Record<string, number>;
  /** Nodes whose rule rejected their inputs; their outputs stay unknown. */
  failed: { node: string; opType: string; reason: string }[];
  /** Existing types that disagree with inference (kept unless `overwrite`). */
  conflicts: { value: string; existing: string; inferred: string }[];
}

/**
 * Infers element types and shapes of the node outputs of `model` (main graph, subgraphs, in place)
 * and reports what it did.
 */
export function inferShapes(model: Model, opts: InferOptions = {}): InferReport {
  const report: InferReport = {
    nodes: 0,
    inferred: 0,
    refined: 0,
    static: 0,
    unknown: 0,
    noRule: {},
    failed: [],
    conflicts: [],
  };
  if (opts.inputShapes) applyInputShapes(model.graph, opts.inputShapes);
  const engine = new Engine(model, opts, report);
  const overridable = new Set(model.irVersion >= 4 ? model.graph.inputs.filter((v) => v.const) : []);
  engine.inferGraph(model.graph, new Env(true, undefined, overridable), model.opsetImports);
  for (const g of allGraphs(model, { functions: false })) {
    for (const n of g) {
      for (const o of n.outputs) {
        if (!o.name) continue;
        const t = o.type;
        if (!t || t.kind === 'none') report.unknown++;
        else {
          const s = asTensor(t)?.shape;
          if (s && s.every((d) => typeof d === 'number')) report.static++;
        }
      }
    }
  }
  return report;
}

/** Writes the requested input shapes into the model, after checking every name (a bad one changes nothing). */
function applyInputShapes(g: Graph, shapes: Record<string, Dim[]>): void {
  const updates: [Value, TensorType][] = [];
  for (const [name, dims] of Object.entries(shapes)) {
    const v = g.inputs.find((x) => x.name === name);
    const inputs = g.inputs.map((x) => x.name).join(', ');
    if (!v) throw new Error(`inputShapes: the graph has no input '${name}' (inputs: ${inputs})`);
    const t = asTensor(v.type);
    if (!t || t.elemType === 0) throw new Error(`inputShapes: input '${name}' has no declared element type`);
    const next: TensorType = { ...t, shape: [...dims] };
    delete next.dimDetails;
    updates.push([v, next]);
  }
  for (const [v, t] of updates) v.type = t;
}

function typeLabel(t: TypeInfo | undefined): string {
  const tt = asTensor(t);
  if (tt) return `${tt.elemType}${formatShape(tt.shape)}`;
  return t ? t.kind : 'unknown';
}

/** Walks graphs and applies rules; shared with control-flow.ts. */
export class Engine {
  readonly #functions = new Map<string, FunctionDef>();
  readonly #active = new Set<FunctionDef>();

  constructor(
    readonly model: Model,
    readonly opts: InferOptions,
    readonly report: InferReport,
  ) {
    for (const f of model.functions) this.#functions.set(`${normDomain(f.domain)}::${f.name}::${f.overload}`, f);
  }

  inferGraph(g: Graph, env: Env, opsets: Map<string, number>): void {
    for (const n of g) this.inferNode(n, env, opsets);
  }

  opsetOf(domain: string, opsets: Map<string, number>): number {
    const d = normDomain(domain);
    return opsets.get(d) ?? (d === '' ? opsets.get('ai.onnx') : undefined) ?? 1;
  }

  inferNode(n: Node, env: Env, opsets: Map<string, number>): void {
    if (env.commit) this.report.nodes++;
    const opset = this.opsetOf(n.domain, opsets);
    const ctx = new InferContext(n, opset, env);
    const onnx = normDomain(n.domain) === '';
    try {
      if (onnx && n.opType === 'If') inferIf(this, ctx, opsets);
      else if (onnx && n.opType === 'Loop') inferLoop(this, ctx, opsets);
      else if (onnx && n.opType === 'Scan') (opset >= 9 ? inferScan : inferScan8)(this, ctx, opsets);
      else {
        for (const sub of n.subgraphs()) this.inferGraph(sub, env, opsets);
        const rule = findRule(n.domain, n.opType, opset);
        if (rule) rule(ctx);
        else if (!this.#callFunction(ctx)) {
          if (env.commit) this.report.noRule[n.qualifiedType] = (this.report.noRule[n.qualifiedType] ?? 0) + 1;
          return;
        }
      }
    } catch (e) {
      if (env.commit) {
        const reason = e instanceof ShapeError ? e.message : `internal: ${e instanceof Error ? e.message : String(e)}`;
        this.report.failed.push({ node: n.name || n.outputs[0]?.name || '', opType: n.qualifiedType, reason });
      }
      return;
    }
    n.outputs.forEach((o, i) => {
      if (!o.name) return;
      const t = ctx.outTypes[i];
      if (t) this.apply(o, t, env);
      const v = ctx.outValues[i];
      if (v) env.values.set(o, v);
    });
  }

  /** Merges `proposed` into the type of `v` (the IR when committing, the overlay otherwise). */
  apply(v: Value, proposed: TypeInfo, env: Env): void {
    const { type, status, conflict } = mergeType(env.typeOf(v), proposed, this.opts.overwrite ?? false);
    if (conflict && env.commit) {
      this.report.conflicts.push({ value: v.name, existing: typeLabel(env.typeOf(v)), inferred: typeLabel(proposed) });
    }
    if (status === 'none') return;
    if (!env.commit) {
      env.types.set(v, type);
      return;
    }
    v.type = type;
    if (status === 'inferred') this.report.inferred++;
    else this.report.refined++;
    if (this.opts.valueInfo ?? true) {
      const g = v.producer?.graph;
      if (g && !g.outputs.includes(v) && !g.valueInfo.includes(v)) g.valueInfo.push(v);
    }
  }

  /** A call of a model-local function: its body is inferred with the call's input types, in a scratch overlay. */
  #callFunction(ctx: InferContext): boolean {
    const n = ctx.node;
    const f = this.#functions.get(`${normDomain(n.domain)}::${n.opType}::${n.overload}`);
    if (!f || this.#active.has(f) || usesAttributeRefs(f.graph)) return false;
    const scratch = new Env(false);
    f.graph.inputs.forEach((formal, i) => {
      const t = ctx.type(i);
      if (t) scratch.types.set(formal, t);
      const v = ctx.value(i);
      if (v) scratch.values.set(formal, v);
    });
    const opsets = new Map(f.opsetImports.size ? f.opsetImports : this.model.opsetImports);
    this.#active.add(f);
    try {
      this.inferGraph(f.graph, scratch, opsets);
    } finally {
      this.#active.delete(f);
    }
    f.graph.outputs.forEach((o, i) => {
      ctx.setType(i, scratch.typeOf(o));
      ctx.setValue(i, scratch.valueOf(o));
    });
    return true;
  }
}

function usesAttributeRefs(g: Graph): boolean {
  for (const n of g) {
    for (const a of n.attributes.values()) {
      if (a.refAttrName) return true;
      if (a.type === AttrType.GRAPH && usesAttributeRefs(a.value)) return true;
      if (a.type === AttrType.GRAPHS && a.value.some(usesAttributeRefs)) return true;
    }
  }
  return false;
}
