/**
 * Control flow: If, Loop, Scan. Their bodies are inferred in place (with what they capture from
 * the enclosing graph), then the node's outputs are derived from the bodies' outputs.
 *
 * - If: both branches are inferred; a known condition picks its branch, otherwise an output takes
 *   the branches' common type (same element type; dims kept where they agree).
 * - Loop/Scan: loop-carried values may change shape across iterations, so the body is first run on
 *   a scratch overlay with the initial types, the carried types are joined with what the body
 *   produces until nothing changes (a fixpoint, at most a few rounds), and only then is the body
 *   inferred for real. Scan outputs gain the iteration dim (Scan: the scanned axis' size; Loop:
 *   the trip count when it is a known constant and the loop cannot stop early, else unknown).
 */
import { AttrType } from '../ir/attr.js';
import { DataType } from '../ir/dtype.js';
import type { Graph } from '../ir/graph.js';
import type { Node } from '../ir/node.js';
import type { Dim, TypeInfo } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { Env, asTensor, joinTypes, type InferContext } from './context.js';
import { fail, normAxis, unifyDim } from './dims.js';
import type { Engine } from './infer.js';
import { mergeType } from './merge.js';

function graphAttr(n: Node, name: string): Graph | undefined {
  const a = n.attributes.get(name);
  return a && a.type === AttrType.GRAPH ? a.value : undefined;
}

export function inferIf(engine: Engine, ctx: InferContext, opsets: Map<string, number>): void {
  const n = ctx.node;
  const thenG = graphAttr(n, 'then_branch');
  const elseG = graphAttr(n, 'else_branch');
  if (!thenG || !elseG) fail('If needs then_branch and else_branch');
  engine.inferGraph(thenG, ctx.env, opsets);
  engine.inferGraph(elseG, ctx.env, opsets);
  const c = ctx.value(0)?.data[0];
  const cond = typeof c === 'number' ? c !== 0 : undefined;
  n.outputs.forEach((_, i) => {
    const t = thenG.outputs[i];
    const e = elseG.outputs[i];
    if (cond !== undefined) {
      const chosen = cond ? t : e;
      if (!chosen) return;
      ctx.setType(i, ctx.env.typeOf(chosen));
      ctx.setValue(i, ctx.env.valueOf(chosen));
      return;
    }
    if (t && e) ctx.setType(i, joinTypes(ctx.env.typeOf(t), ctx.env.typeOf(e)));
  });
}

/** Only the element type (rank unknown) of a tensor type. */
function elemOnly(t: TypeInfo | undefined): TypeInfo | undefined {
  const tt = asTensor(t);
  return tt ? { kind: 'tensor', elemType: tt.elemType } : undefined;
}

function sameType(a: TypeInfo | undefined, b: TypeInfo | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The type a body formal input gets: what the model declares, completed by what we know. */
function formalType(engine: Engine, formal: Value, t: TypeInfo | undefined): TypeInfo | undefined {
  if (!t) return formal.type;
  return mergeType(formal.type, t, engine.opts.overwrite ?? false).type;
}

interface BodySpec {
  body: Graph;
  /** Types of body inputs that do not loop (iteration number, condition, scan slices), by input index. */
  fixed: Map<number, TypeInfo | undefined>;
  /** Loop-carried values: body input index, body output index, initial type. */
  carried: { input: number; output: number; init: TypeInfo | undefined }[];
}

/**
 * Finds the loop-carried types (fixpoint on a scratch overlay), then infers the body for real in
 * `env`. Returns the carried types.
 */
function solveBody(engine: Engine, env: Env, opsets: Map<string, number>, spec: BodySpec): (TypeInfo | undefined)[] {
  const { body, fixed, carried } = spec;
  const bind = (target: Env, types: (TypeInfo | undefined)[], commit: boolean) => {
    const set = (idx: number, t: TypeInfo | undefined) => {
      const formal = body.inputs[idx];
      if (!formal || !t) return;
      const ft = formalType(engine, formal, t);
      if (!ft) return;
      if (commit) engine.apply(formal, t, target);
      else target.types.set(formal, ft);
    };
    for (const [idx, t] of fixed) set(idx, t);
    carried.forEach((c, i) => set(c.input, types[i]));
  };
  let types = carried.map((c) => c.init);
  let converged = false;
  // Nested loops multiply the rounds: past a few levels of scratch overlays, carried values keep only their element type.
  let depth = 0;
  for (let e: Env | undefined = env; e; e = e.parent) if (!e.commit) depth++;
  const rounds = depth < 3 ? 4 : 0;
  for (let round = 0; round < rounds && !converged; round++) {
    const scratch = new Env(false, env);
    bind(scratch, types, false);
    engine.inferGraph(body, scratch, opsets);
    const next = carried.map((c, i) => {
      const out = body.outputs[c.output];
      const produced = out ? scratch.typeOf(out) : undefined;
      return produced ? joinTypes(types[i], produced) : elemOnly(types[i]);
    });
    converged = next.every((t, i) => sameType(t, types[i]));
    types = next;
  }
  if (!converged) types = types.map(elemOnly);
  bind(env, types, true);
  engine.inferGraph(body, env, opsets);
  return types;
}

export function inferLoop(engine: Engine, ctx: InferContext, opsets: Map<string, number>): void {
  const n = ctx.node;
  const body = graphAttr(n, 'body');
  if (!body) fail('Loop needs a body');
  const nCarried = Math.max(0, ctx.inputCount - 2);
  const fixed = new Map<number, TypeInfo | undefined>([
    [0, { kind: 'tensor', elemType: DataType.INT64, shape: [] }],
    [1, { kind: 'tensor', elemType: DataType.BOOL, shape: [] }],
  ]);
  const carried = Array.from({ length: nCarried }, (_, i) => ({ input: 2 + i, output: 1 + i, init: ctx.type(2 + i) }));
  const types = solveBody(engine, ctx.env, opsets, { body, fixed, carried });
  types.forEach((t, i) => ctx.setType(i, t));
  // Trip count: known when M is a constant and the loop cannot stop early.
  const m = ctx.has(0) ? ctx.scalar(0) : undefined;
  const condIn = ctx.has(1) ? ctx.scalar(1) : 1;
  const condOut = body.outputs[0];
  const bodyKeepsGoing =
    condOut !== undefined && (passesThrough(condOut, body.inputs[1]) || ctx.env.valueOf(condOut)?.data[0] === 1);
  const trip: Dim = m !== undefined && condIn === 1 && bodyKeepsGoing ? m : null;
  for (let k = 1 + nCarried; k < body.outputs.length; k++) {
    const t = asTensor(ctx.env.typeOf(body.outputs[k]));
    if (!t || t.elemType === 0) continue;
    ctx.set(k - 1, t.elemType, t.shape ? [trip, ...t.shape] : undefined);
  }
}

/** True when `v` is `source` itself or reaches it through Identity nodes. */
function passesThrough(v: Value, source: Value | undefined): boolean {
  for (let cur: Value | undefined = v, hops = 0; cur && hops < 64; hops++) {
    if (cur === source) return true;
    const p: Node | null = cur.producer;
    cur =
      p && p.opType === 'Identity' && (p.domain === '' || p.domain === 'ai.onnx')
        ? (p.inputs[0] ?? undefined)
        : undefined;
  }
  return false;
}

/** Scan (opset 9+): states, then `num_scan_inputs` scanned inputs. */
export function inferScan(engine: Engine, ctx: InferContext, opsets: Map<string, number>): void {
  const n = ctx.node;
  const body = graphAttr(n, 'body');
  if (!body) fail('Scan needs a body');
  const m = ctx.int('num_scan_inputs', 0);
  const nStates = ctx.inputCount - m;
  if (m <= 0 || nStates < 0) fail('Scan needs num_scan_inputs ≥ 1');
  const inAxes = ctx.intList('scan_input_axes') ?? new Array<number>(m).fill(0);
  let seqLen: Dim = null;
  const fixed = new Map<number, TypeInfo | undefined>();
  for (let j = 0; j < m; j++) {
    const t = ctx.tensor(nStates + j);
    if (!t) continue;
    if (!t.shape) {
      fixed.set(nStates + j, { kind: 'tensor', elemType: t.elemType });
      continue;
    }
    const axis = normAxis(inAxes[j] ?? 0, t.shape.length);
    seqLen = unifyDim(seqLen, t.shape[axis]);
    fixed.set(nStates + j, { kind: 'tensor', elemType: t.elemType, shape: t.shape.filter((_, i) => i !== axis) });
  }
  const carried = Array.from({ length: nStates }, (_, i) => ({ input: i, output: i, init: ctx.type(i) }));
  const types = solveBody(engine, ctx.env, opsets, { body, fixed, carried });
  types.forEach((t, i) => ctx.setType(i, t));
  const outAxes = ctx.intList('scan_output_axes');
  for (let k = nStates; k < body.outputs.length; k++) {
    const t = asTensor(ctx.env.typeOf(body.outputs[k]));
    if (!t || t.elemType === 0) continue;
    if (!t.shape) {
      ctx.set(k, t.elemType);
      continue;
    }
    const axis = normAxis(outAxes?.[k - nStates] ?? 0, t.shape.length + 1);
    const shape = [...t.shape];
    shape.splice(axis, 0, seqLen);
    ctx.set(k, t.elemType, shape);
  }
}

/** Drops the leading `k` dims of a tensor type (Scan-8 batch and sequence axes). */
function dropLeading(t: TypeInfo | undefined, k: number): TypeInfo | undefined {
  const tt = asTensor(t);
  if (!tt) return undefined;
  if (!tt.shape) return { kind: 'tensor', elemType: tt.elemType };
  if (tt.shape.length < k) fail(`Scan input of rank ${tt.shape.length} lacks batch/sequence axes`);
  return { kind: 'tensor', elemType: tt.elemType, shape: tt.shape.slice(k) };
}

/** Scan opset 8: optional sequence_lens, then states and scan inputs, all batch-major (`[batch, seq, …]` for scans). */
export function inferScan8(engine: Engine, ctx: InferContext, opsets: Map<string, number>): void {
  const n = ctx.node;
  const body = graphAttr(n, 'body');
  if (!body) fail('Scan needs a body');
  const m = ctx.int('num_scan_inputs', 0);
  const nStates = ctx.inputCount - 1 - m;
  if (m <= 0 || nStates < 0) fail('Scan needs num_scan_inputs ≥ 1');
  let batch: Dim = null;
  let seqLen: Dim = null;
  const fixed = new Map<number, TypeInfo | undefined>();
  for (let j = 0; j < m; j++) {
    const s = ctx.shape(1 + nStates + j);
    if (s && s.length >= 2) {
      batch = unifyDim(batch, s[0]);
      seqLen = unifyDim(seqLen, s[1]);
    }
    fixed.set(nStates + j, dropLeading(ctx.type(1 + nStates + j), 2));
  }
  const carried = Array.from({ length: nStates }, (_, i) => {
    const s = ctx.shape(1 + i);
    if (s && s.length >= 1) batch = unifyDim(batch, s[0]);
    return { input: i, output: i, init: dropLeading(ctx.type(1 + i), 1) };
  });
  // With sequence_lens, sequences may be shorter than the padded axis: the scan outputs keep the padded length.
  const types = solveBody(engine, ctx.env, opsets, { body, fixed, carried });
  types.forEach((t, i) => {
    const tt = asTensor(t);
    if (tt) ctx.set(i, tt.elemType, tt.shape ? [batch, ...tt.shape] : undefined);
  });
  for (let k = nStates; k < body.outputs.length; k++) {
    const t = asTensor(ctx.env.typeOf(body.outputs[k]));
    if (!t || t.elemType === 0) continue;
    ctx.set(k, t.elemType, t.shape ? [batch, seqLen, ...t.shape] : undefined);
  }
}
