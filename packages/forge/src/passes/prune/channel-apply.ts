/**
 * Removes chosen channels from a graph analysed by `ChannelTracker`: slices every recorded constant
 * (weights, biases, BatchNormalization parameters, per-channel constants) once along all its
 * pruned axes, rewrites `group`, Reshape and Split sizes, and narrows the declared shapes of the
 * tensors that lost channels. Constants nothing reads any more are released.
 */
import {
  MemoryTensor,
  shapeOf,
  toAttr,
  toTypedArray,
  int64Tensor,
  type Node,
  type Tensor,
  type TypedArray,
  type Value,
} from '@edgeforge/onnx';
import { constantThroughIdentity, releaseIfUnused } from '../optimize/fuse-bn-into-conv.js';
import type { ChannelTracker, ConstSlice } from './channel-groups.js';

/** What is left of each tracked tensor that lost channels. */
export class Survivors {
  readonly #kept = new Map<Value, number[]>();

  constructor(
    readonly tracker: ChannelTracker,
    removed: Uint8Array,
  ) {
    for (const t of tracker.tracks.values()) {
      const kept: number[] = [];
      for (let i = 0; i < t.size; i++) if (!removed[t.base + i]) kept.push(i);
      if (kept.length < t.size) this.#kept.set(t.value, kept);
    }
  }

  /** Kept channel indices of `v`, or undefined when it keeps them all. */
  kept(v: Value): number[] | undefined {
    return this.#kept.get(v);
  }

  /** Channels of `v` after pruning. */
  size(v: Value): number {
    return this.#kept.get(v)?.length ?? this.tracker.tracks.get(v)!.size;
  }

  get narrowed(): ReadonlyMap<Value, number[]> {
    return this.#kept;
  }
}

type TypedArrayCtor = new (n: number) => TypedArray;

/** The sub-tensor of `c` that keeps `keep[axis]` along each axis (all of an axis without a list). */
export function sliceTensor(c: Tensor, keep: readonly (readonly number[] | undefined)[]): MemoryTensor {
  const src = toTypedArray(c);
  const dims = c.dims;
  const outDims = dims.map((d, i) => keep[i]?.length ?? d);
  const out = new (src.constructor as TypedArrayCtor)(outDims.reduce((a, b) => a * b, 1));
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const last = dims.length - 1;
  let o = 0;
  const walk = (axis: number, offset: number): void => {
    const k = keep[axis];
    if (axis === last && !k) {
      out.set(src.subarray(offset, offset + dims[axis]) as never, o);
      o += dims[axis];
      return;
    }
    const n = k ? k.length : dims[axis];
    for (let j = 0; j < n; j++) {
      const at = offset + (k ? k[j] : j) * strides[axis];
      if (axis === last) out[o++] = src[at];
      else walk(axis + 1, at);
    }
  };
  if (dims.length === 0) out[0] = src[0];
  else walk(0, 0);
  return new MemoryTensor(c.dtype, outDims, out as never);
}

/** Points input `input` of `node` at a new initializer holding `tensor`, releasing what it replaced. */
function replaceConstant(node: Node, input: number, tensor: Tensor, tag: string): void {
  const g = node.graph!;
  const old = node.inputs[input]!;
  const v = g.addInitializer(g.freshName(`${old.name}_${tag}`), tensor);
  node.setInput(input, v);
  releaseIfUnused(old);
}

function applySlices(survivors: Survivors, slices: readonly ConstSlice[]): number {
  const byInput = new Map<Node, Map<number, ConstSlice[]>>();
  for (const s of slices) {
    let m = byInput.get(s.node);
    if (!m) byInput.set(s.node, (m = new Map()));
    m.set(s.input, [...(m.get(s.input) ?? []), s]);
  }
  // One copy per distinct (tensor, slicing): a weight shared by two layers pruned alike stays shared.
  const made = new Map<Tensor, Map<string, Value>>();
  let count = 0;
  for (const [node, inputs] of byInput) {
    for (const [input, list] of inputs) {
      const c = constantThroughIdentity(node.inputs[input]);
      if (!c) throw new Error(`${node}: input ${input} is no longer a constant`);
      const keep: (number[] | undefined)[] = c.dims.map(() => undefined);
      for (const s of list) keep[s.axis] = survivors.kept(s.ref);
      if (keep.every((k) => !k)) continue;
      const key = JSON.stringify(keep);
      let cache = made.get(c);
      if (!cache) made.set(c, (cache = new Map()));
      const done = cache.get(key);
      if (done && done.graph === node.graph) {
        const old = node.inputs[input]!;
        node.setInput(input, done);
        releaseIfUnused(old);
      } else {
        replaceConstant(node, input, sliceTensor(c, keep), 'pruned');
        cache.set(key, node.inputs[input]!);
      }
      count++;
    }
  }
  return count;
}

function applyAttrEdits(survivors: Survivors, opset: number): void {
  for (const e of survivors.tracker.attrEdits) {
    const n = e.node;
    if (e.kind === 'group') {
      if (survivors.kept(e.ref)) n.setAttr(toAttr('group', survivors.size(e.ref)));
    } else if (e.kind === 'reshape') {
      if (!survivors.kept(e.ref)) continue;
      const shape = Array.from(toTypedArray(constantThroughIdentity(n.inputs[1])!) as BigInt64Array, Number);
      shape[e.index] = survivors.size(e.ref);
      replaceConstant(n, 1, int64Tensor([shape.length], shape), 'pruned');
    } else {
      if (!n.outputs.some((v) => survivors.kept(v))) continue;
      const sizes = n.outputs.map((v) => survivors.size(v));
      if (opset >= 13) {
        n.attributes.delete('num_outputs');
        const t = int64Tensor([sizes.length], sizes);
        if (n.inputs[1]?.name) replaceConstant(n, 1, t, 'pruned');
        else n.setInput(1, n.graph!.addInitializer(n.graph!.freshName(`${n.outputs[0].name}_split`), t));
      } else n.setAttr(toAttr('split', sizes));
    }
  }
}

/** Narrows the declared channel dim of every tensor that lost channels (unknown and symbolic dims stay). */
function narrowTypes(survivors: Survivors): void {
  for (const [v, kept] of survivors.narrowed) {
    const axis = survivors.tracker.tracks.get(v)!.axis;
    const shape = shapeOf(v.type);
    if (!shape || typeof shape[axis] !== 'number' || v.type?.kind !== 'tensor') continue;
    const next = [...shape];
    next[axis] = kept.length;
    v.type = { ...v.type, shape: next };
  }
}

/** Removes the channels marked in `removed` (by position); returns how many constants were sliced. */
export function removeChannels(tracker: ChannelTracker, removed: Uint8Array, opset: number): number {
  const survivors = new Survivors(tracker, removed);
  if (survivors.narrowed.size === 0) return 0;
  const sliced = applySlices(survivors, tracker.slices);
  applyAttrEdits(survivors, opset);
  narrowTypes(survivors);
  return sliced;
}
