/**
 * `prune-channels`: structured pruning that removes whole channels and neurons, so the model gets
 * smaller and faster as a dense model (not a masked one).
 *
 * ```
 * Before:  X ─► Conv(W₁[32,16,3,3]) ─► BN(32) ─► Relu ─► Conv(W₂[64,32,3,3]) ─► Y
 * After:   X ─► Conv(W₁[16,16,3,3]) ─► BN(16) ─► Relu ─► Conv(W₂[64,16,3,3]) ─► Y     (amount 0.5)
 * ```
 *
 * Channels are grouped first (`channel-groups.ts`, after Torch-Pruning's DependencyGraph): a layer's
 * output channels are coupled with every tensor they flow into through channel-preserving ops
 * (BatchNormalization, activations, per-channel Mul/Add, pools, Pad, Resize, …), with the input
 * channels of the next Conv/Gemm/MatMul, with depthwise Convs (pruned in step, `group` follows),
 * with their offset range of a Concat, with the `H·W` block of a Flatten feeding a Gemm, and across
 * residual Add/Mul with the other branches (one group: every producer loses the same channels). In
 * a squeeze-excitation block the expand Conv joins the trunk's group, the reduce Conv forms its own.
 *
 * In each group with channels of its own (Conv/ConvTranspose with `group = 1`, Gemm, MatMul by a
 * constant) and matching the selection, the `round_half_even(amount · n)` least important coupled
 * channels are removed (torch `ln_structured`'s count), never the last channel of any tensor.
 * With `multipleOf: m > 1` (Torch-Pruning's `round_to`, so kernels that block channels by 4/8/16
 * keep their fast path) the kept count `n − round_half_even(amount · n)` is rounded to the nearest
 * multiple of `m` (a tie keeps more), clamped to `[m, m·⌊n/m⌋]`; nothing is removed when the
 * unrounded count is 0, and a group with fewer than `m` channels is left alone with a note. A group
 * whose size is not a multiple of `m` therefore loses at least `n mod m` channels once any go.
 * Default 1 (bench/prune.ts, onnxruntime-node, batch 8, 25% removed): `m = 8` takes PaddleOCR cls
 * from 1.22× to 0.78× float latency (odd counts fell off the NCHWc Conv kernels) but Fashion ResNet
 * from 0.83× to 0.87× (fewer MACs go), so it is opt-in; `m = 4` gives cls 0.85×, ResNet unchanged.
 * Importance of a coupled channel: the sum over every filter removed with it (each layer's output
 * slice and depthwise filter) of its L1 or L2 norm; `bn-scale` sums |γ| of the BatchNormalizations
 * in the group instead (groups without one fall back to L1). After BN folding the folded weights
 * carry γ/σ, so `l1` ranks by the same scale.
 *
 * Left alone, with a note naming the node: groups that reach a graph input or output, a Reshape or
 * Split/Slice/Gather across the channel axis, an op without a rule, a tensor used inside a
 * subgraph, non-constant weights or parameters. The work happens on a copy that must pass the
 * checker and shape inference and run in onnxruntime with the original's output shapes before it
 * replaces the model; otherwise the pass throws and the model is unchanged. Run the default
 * optimize recipe first: folded constants let more Reshapes be followed.
 */
import {
  inferShapes,
  graphAndSubgraphs,
  loadModelFromBytes,
  serializeModel,
  toFloat32,
  type Graph,
  type Model,
  type TypeInfo,
  type Value,
} from '@edgeforge/onnx';
import { Changes, PassOptionError, type Pass, type PassContext, type PassReport } from '../pass.js';
import { removeChannels } from './channel-apply.js';
import { ChannelTracker, type ChannelGroup } from './channel-groups.js';
import { verifyPruned } from './channel-verify.js';
import { PRUNABLE_OPS, nodePattern } from './select.js';

export const PRUNE_CHANNELS = 'prune-channels';

export const CHANNEL_CRITERIA = ['l1', 'l2', 'bn-scale'] as const;
export type ChannelCriterion = (typeof CHANNEL_CRITERIA)[number];

/** Layers whose output channels can start a group (the prune family's weight ops). */
export const CHANNEL_OP_TYPES: readonly string[] = PRUNABLE_OPS;

export interface PruneChannelsOptions {
  /** Fraction of each selected group's channels removed, in [0, 1). */
  amount: number;
  criterion: ChannelCriterion;
  /** A group is selected when one of its layers has one of these op types (default: all four). */
  opTypes: string[];
  /** … and, when given, a name matching one of these patterns (`select.ts`: a glob, or `/regex/flags`). */
  nodes: string[];
  /** Groups with fewer channels are left alone. */
  minChannels: number;
  /** The kept channel count of each pruned group is a multiple of this (default 1: any count). */
  multipleOf: number;
}

const KEYS = ['amount', 'criterion', 'opTypes', 'nodes', 'minChannels', 'multipleOf'];

function stringList(raw: unknown, key: string): string[] {
  const list = typeof raw === 'string' ? raw.split(',').map((s) => s.trim()) : raw;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0))
    throw new PassOptionError(`${PRUNE_CHANNELS}: ${key} must be a list of names`);
  return list as string[];
}

export function parsePruneChannelsOptions(raw: Record<string, unknown>): PruneChannelsOptions {
  const unknown = Object.keys(raw).filter((k) => !KEYS.includes(k));
  if (unknown.length)
    throw new PassOptionError(`${PRUNE_CHANNELS}: unknown option ${unknown.join(', ')} (options: ${KEYS.join(', ')})`);
  const amount = typeof raw.amount === 'string' ? Number(raw.amount) : raw.amount;
  if (typeof amount !== 'number' || !(amount >= 0 && amount < 1))
    throw new PassOptionError(`${PRUNE_CHANNELS}: amount must be a number in [0, 1), got ${String(raw.amount)}`);
  const criterion = (raw.criterion ?? 'l1') as ChannelCriterion;
  if (!CHANNEL_CRITERIA.includes(criterion))
    throw new PassOptionError(
      `${PRUNE_CHANNELS}: criterion must be ${CHANNEL_CRITERIA.join(', ')}, got ${String(raw.criterion)}`,
    );
  const opTypes = raw.opTypes === undefined ? [...CHANNEL_OP_TYPES] : stringList(raw.opTypes, 'opTypes');
  const bad = opTypes.filter((op) => !CHANNEL_OP_TYPES.includes(op));
  if (bad.length)
    throw new PassOptionError(
      `${PRUNE_CHANNELS}: opTypes ${bad.join(', ')} have no channels to prune (choose from ${CHANNEL_OP_TYPES.join(', ')})`,
    );
  const nodes = raw.nodes === undefined ? [] : stringList(raw.nodes, 'nodes');
  for (const p of nodes) {
    try {
      nodePattern(p);
    } catch (e) {
      throw new PassOptionError(
        `${PRUNE_CHANNELS}: nodes pattern ${JSON.stringify(p)} is not a valid regular expression: ${(e as Error).message}`,
      );
    }
  }
  const minRaw = typeof raw.minChannels === 'string' ? Number(raw.minChannels) : (raw.minChannels ?? 1);
  if (typeof minRaw !== 'number' || !Number.isInteger(minRaw) || minRaw < 1)
    throw new PassOptionError(`${PRUNE_CHANNELS}: minChannels must be an integer ≥ 1, got ${String(raw.minChannels)}`);
  const multipleOf = typeof raw.multipleOf === 'string' ? Number(raw.multipleOf) : (raw.multipleOf ?? 1);
  if (typeof multipleOf !== 'number' || !Number.isInteger(multipleOf) || multipleOf < 1)
    throw new PassOptionError(`${PRUNE_CHANNELS}: multipleOf must be an integer ≥ 1, got ${String(raw.multipleOf)}`);
  return { amount, criterion, opTypes, nodes, minChannels: minRaw, multipleOf };
}

/** Python's `round` (half to even), as torch's pruning counts use. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Channels to remove from `n` at `amount`: `ln_structured`'s count keeping at least one; with
 * `multipleOf` m > 1 the kept count rounds to the nearest multiple of m (ties keep more) within
 * `[m, m·⌊n/m⌋]`, and nothing goes when `n < m` or the unrounded count is 0.
 */
export function channelsToRemove(amount: number, n: number, multipleOf = 1): number {
  const want = Math.max(0, Math.min(n - 1, roundHalfEven(amount * n)));
  if (multipleOf <= 1 || want === 0) return want;
  const m = multipleOf;
  if (n < m) return 0;
  const kept = Math.min(Math.floor(n / m) * m, Math.max(m, Math.floor((n - want) / m + 0.5) * m));
  return n - kept;
}

function describe(g: ChannelGroup): string {
  return `${g.roots.map(String).join(' + ')} (${g.channels.length} channels)`;
}

/** Per-index norms of `w` along `axis` (l1: Σ|w|, l2: √Σw²). */
function norms(w: Float32Array, dims: readonly number[], axis: number, l2: boolean): Float64Array {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const n = dims[axis];
  const out = new Float64Array(n);
  for (let i = 0; i < w.length; i++) {
    const c = Math.floor(i / inner) % n;
    out[c] += l2 ? w[i] * w[i] : Math.abs(w[i]);
  }
  if (l2) for (let c = 0; c < n; c++) out[c] = Math.sqrt(out[c]);
  return out;
}

/** Importance of each coupled channel of `g`. */
function scores(t: ChannelTracker, g: ChannelGroup, criterion: ChannelCriterion, changes: Changes): Float64Array {
  const index = new Map(g.channels.map((ps, k) => [t.rep(ps[0]), k]));
  const values = new Set(g.values);
  const out = new Float64Array(g.channels.length);
  const add = (ref: Value, per: ArrayLike<number>) => {
    for (let i = 0; i < per.length; i++) {
      const k = index.get(t.channelOf(ref, i));
      if (k !== undefined) out[k] += Math.abs(per[i]);
    }
  };
  const bns = t.bnScales.filter((b) => values.has(b.ref));
  if (criterion === 'bn-scale' && bns.length) {
    for (const b of bns) add(b.ref, toFloat32(t.constant(b.node.inputs[1])!));
    return out;
  }
  if (criterion === 'bn-scale') changes.add('groups ranked by l1 (no BatchNormalization)');
  for (const f of t.filters) {
    if (!values.has(f.ref)) continue;
    const w = t.constant(f.node.inputs[f.input])!;
    add(f.ref, norms(toFloat32(w), w.dims, f.axis, criterion === 'l2'));
  }
  return out;
}

type Matcher = (name: string) => boolean;

function selected(g: ChannelGroup, o: PruneChannelsOptions, patterns: Matcher[]): boolean {
  return g.roots.some((n) => o.opTypes.includes(n.opType) && (!patterns.length || patterns.some((p) => p(n.name))));
}

interface GraphOutcome {
  matched: number;
  removed: number;
}

/** Chooses and removes channels in one graph (analysed in `t`). */
function pruneGraph(t: ChannelTracker, o: PruneChannelsOptions, patterns: Matcher[], changes: Changes): GraphOutcome {
  const removed = new Uint8Array(t.positions);
  const left = new Map([...t.tracks].map(([v, tr]) => [v, tr.size]));
  let matched = 0;
  let total = 0;
  for (const g of t.groups()) {
    if (!g.roots.length || !selected(g, o, patterns)) continue;
    matched++;
    if (g.blocked) {
      changes.add('channel groups left alone');
      changes.note(`left alone: ${describe(g)}: ${g.blocked}`);
      continue;
    }
    const n = g.channels.length;
    if (n < o.minChannels) continue;
    if (n < o.multipleOf && channelsToRemove(o.amount, n) > 0) {
      changes.add('channel groups smaller than multipleOf');
      changes.note(`left alone: ${describe(g)}: fewer than multipleOf ${o.multipleOf} channels`);
      continue;
    }
    const want = channelsToRemove(o.amount, n, o.multipleOf);
    if (!want) continue;
    const s = scores(t, g, o.criterion, changes);
    const order = [...s.keys()].sort((a, b) => s[a] - s[b] || a - b);
    let done = 0;
    for (const k of order) {
      if (done === want) break;
      // Never empty a tensor (a Split output or Concat input can hold few of the group's channels).
      const per = new Map<Value, number>();
      for (const p of g.channels[k]) {
        const v = t.at(p)[0].value;
        per.set(v, (per.get(v) ?? 0) + 1);
      }
      if ([...per].some(([v, c]) => left.get(v)! - c < 1)) continue;
      for (const [v, c] of per) left.set(v, left.get(v)! - c);
      for (const p of g.channels[k]) removed[p] = 1;
      done++;
    }
    if (done && done < want && o.multipleOf > 1)
      changes.note(
        `${describe(g)}: kept ${n - done} channels, not a multiple of ${o.multipleOf} (a tensor would empty)`,
      );
    if (done) {
      changes.add('channel groups pruned');
      changes.add('channels removed', done);
    }
    total += done;
  }
  if (total) changes.add('constants sliced', removeChannels(t, removed, t.opset));
  return { matched, removed: total };
}

/** Snapshot of every declared type, so that analysis-only inference leaves no trace. */
function snapshotTypes(graphs: readonly Graph[]): Map<Value, TypeInfo | undefined> {
  const types = new Map<Value, TypeInfo | undefined>();
  for (const g of graphs) for (const v of [...g.values(), ...g.outputs]) types.set(v, v.type);
  return types;
}

/** Prunes channels of `model` in place; throws (leaving it unchanged) when the result would not be sound. */
export async function pruneChannels(model: Model, o: PruneChannelsOptions, ctx: PassContext = {}): Promise<PassReport> {
  const changes = new Changes();
  const original = serializeModel(model);
  const work = loadModelFromBytes(original);
  const graphs = [...graphAndSubgraphs(work.graph)];
  const types = snapshotTypes(graphs);
  inferShapes(work, { valueInfo: false, ...(ctx.inputShapes ? { inputShapes: ctx.inputShapes } : {}) });
  const trackers = graphs.map((g) => new ChannelTracker(g, work.opset).walk());
  for (const [v, type] of types) v.type = type;
  const patterns = o.nodes.map(nodePattern);
  let matched = 0;
  let removed = 0;
  for (const t of trackers) {
    const r = pruneGraph(t, o, patterns, changes);
    matched += r.matched;
    removed += r.removed;
  }
  if (!matched && (o.nodes.length || o.opTypes.length < CHANNEL_OP_TYPES.length))
    throw new Error(
      `${PRUNE_CHANNELS}: no ${o.opTypes.join('/')} layer with prunable channels matches${o.nodes.length ? ` ${o.nodes.join(', ')}` : ''}`,
    );
  if (!matched) changes.note('no Conv, ConvTranspose, Gemm or MatMul with constant weights');
  // Groups left alone are counted, but only removed channels change the model.
  if (!removed) return { ...changes.report(), changed: false };
  try {
    await verifyPruned(work, original, ctx.inputShapes);
  } catch (e) {
    throw new Error(`${PRUNE_CHANNELS}: refused, ${(e as Error).message}`);
  }
  model.graph = work.graph;
  return changes.report();
}

export const pruneChannelsPass: Pass<PruneChannelsOptions> = {
  name: PRUNE_CHANNELS,
  family: 'prune',
  description: 'Remove the least important channels and neurons of each channel group (structured pruning)',
  idempotent: false,
  tolerance: Infinity,
  parseOptions: parsePruneChannelsOptions,
  run: pruneChannels,
};

/** A channel group as reports show it. */
export interface ChannelGroupSummary {
  /** The layers whose output channels are in the group (`Conv 'name'`). */
  layers: string[];
  channels: number;
  /** Why the group is left alone, naming the node. */
  blocked?: string;
}

/** Channel groups of the main graph, for reports: layers, channel count, and why a group is left alone. */
export function channelGroups(model: Model, ctx: PassContext = {}): ChannelGroupSummary[] {
  const work = loadModelFromBytes(serializeModel(model));
  inferShapes(work, { valueInfo: false, ...(ctx.inputShapes ? { inputShapes: ctx.inputShapes } : {}) });
  return new ChannelTracker(work.graph, work.opset)
    .walk()
    .groups()
    .filter((g) => g.roots.length)
    .map((g) => ({
      layers: g.roots.map(String),
      channels: g.channels.length,
      ...(g.blocked ? { blocked: g.blocked } : {}),
    }));
}
