/**
 * What the opset adapters share: the context they read (types inferred at the source opset), and
 * small builders for the nodes they add. Added nodes are written in the form of the *target* opset
 * (a Squeeze with an `axes` input when the model ends at ≥ 13), so nothing added needs upgrading
 * again; constants go into `Constant` nodes, which are legal in every graph, subgraph and function.
 */
import {
  AttrType,
  DataType,
  MemoryTensor,
  Node,
  Value,
  attr,
  constantTensor,
  createNode,
  elemTypeOf,
  shapeOf,
  type Attr,
  type Dim,
  type Graph,
  type Tensor,
  type TypeInfo,
} from '@edgeforge/onnx';
import { floatToHalf } from '../../../runtime/tensor.js';
import { constantThroughIdentity } from '../fuse-bn-into-conv.js';

export interface UpgradeContext {
  /** The opset the model ends at: nodes the adapters add are written in its form. */
  readonly target: number;
  /** Type of a value of the original model (declared, or inferred at the source opset). */
  typeOf(v: Value | null | undefined): TypeInfo | undefined;
  /** Resize nodes made from an Upsample (their scales are ≥ 1 by the Upsample schema). */
  readonly fromUpsample: WeakSet<Node>;
}

/** One node that cannot be carried across a since-version of its op. */
export interface Refusal {
  /** `Op 'name'` (and the graph, when it has a name). */
  node: string;
  op: string;
  /** Schema versions: the one the node has, and the one it cannot cross into. */
  from: number;
  to: number;
  reason: string;
}

/** Thrown when a model cannot be carried to the target opset; nothing has been changed. */
export class OpsetUpgradeError extends Error {
  override name = 'OpsetUpgradeError';
  constructor(
    message: string,
    /** Every node that refused (empty for errors about the request itself). */
    readonly refusals: readonly Refusal[] = [],
  ) {
    super(message);
  }
}

// ---- reading ----

/** Rank of a value: from its (inferred) type, or from the tensor behind it. */
export function rankOf(v: Value | null | undefined, ctx: UpgradeContext): number | undefined {
  if (!v) return undefined;
  const s = shapeOf(ctx.typeOf(v));
  if (s) return s.length;
  return constantThroughIdentity(v)?.dims.length;
}

export function shapeOfValue(v: Value | null | undefined, ctx: UpgradeContext): readonly Dim[] | undefined {
  if (!v) return undefined;
  return shapeOf(ctx.typeOf(v)) ?? constantThroughIdentity(v)?.dims;
}

export function elemTypeOfValue(v: Value | null | undefined, ctx: UpgradeContext): number | undefined {
  if (!v) return undefined;
  return elemTypeOf(ctx.typeOf(v)) ?? constantTensor(v)?.dtype ?? constantThroughIdentity(v)?.dtype;
}

/** An INTS attribute as the exact int64 values (Slice ends of INT64_MAX must survive). */
export function rawInts(n: Node, name: string): bigint[] | undefined {
  const a = n.attr(name);
  return a && a.type === AttrType.INTS ? [...a.value] : undefined;
}

export function removeAttr(n: Node, ...names: string[]): boolean {
  let removed = false;
  for (const k of names) removed = n.attributes.delete(k) || removed;
  return removed;
}

// ---- building ----

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE]);

export function isFloatType(t: number | undefined): t is number {
  return t !== undefined && FLOAT_TYPES.has(t);
}

export function int64s(values: readonly (number | bigint)[], dims: number[] = [values.length]): MemoryTensor {
  return new MemoryTensor(
    DataType.INT64,
    dims,
    BigInt64Array.from(values, (x) => BigInt(x)),
  );
}

/** A tensor of float type `dtype` (float, float16 or double). */
export function floatTensorOf(
  dtype: number,
  values: readonly number[],
  dims: number[] = [values.length],
): MemoryTensor {
  if (dtype === DataType.FLOAT16) return new MemoryTensor(dtype, dims, Uint16Array.from(values, floatToHalf));
  if (dtype === DataType.DOUBLE) return new MemoryTensor(dtype, dims, Float64Array.from(values));
  if (dtype === DataType.FLOAT) return new MemoryTensor(dtype, dims, Float32Array.from(values));
  throw new Error(`not a float type: ${dtype}`);
}

function label(n: Node): string {
  return n.name || n.outputs[0]?.name || n.opType.toLowerCase();
}

/** A `Constant` node holding `t`, inserted before `at`; returns its output. */
export function constantBefore(at: Node, t: Tensor, what: string): Value {
  const g = at.graph as Graph;
  const c = new Node('Constant', [], {
    domain: at.domain,
    name: g.freshName(`${label(at)}_${what}`),
    attributes: [{ name: 'value', type: AttrType.TENSOR, value: t }],
    outputs: [g.freshName(`${label(at)}_${what}`)],
  });
  g.insertBefore(at, c);
  return c.outputs[0];
}

/** Adds a node `op(inputs)` before `at` with one fresh output and returns that output. */
export function opBefore(at: Node, op: string, inputs: (Value | null)[], attrs: Attr[], what: string): Value {
  const g = at.graph as Graph;
  const n = new Node(op, inputs, {
    domain: at.domain,
    name: g.freshName(`${label(at)}_${what}`),
    attributes: attrs,
    outputs: [g.freshName(`${label(at)}_${what}`)],
  });
  g.insertBefore(at, n);
  return n.outputs[0];
}

/**
 * `Squeeze` / `Unsqueeze` of `x` on `axes` in the target opset's form (with its axes `Constant`
 * from 13 on), not yet inserted; it writes `out`, or a fresh value.
 */
export function axesNodes(
  at: Node,
  op: 'Squeeze' | 'Unsqueeze',
  x: Value,
  axes: number[],
  ctx: UpgradeContext,
  what: string,
  out?: Value,
): Node[] {
  const g = at.graph as Graph;
  const name = g.freshName(`${label(at)}_${what}`);
  const outputs = [out ?? g.freshName(`${label(at)}_${what}`)];
  if (ctx.target < 13)
    return [new Node(op, [x], { domain: at.domain, name, attributes: [attr.ints('axes', axes)], outputs })];
  const c = new Node('Constant', [], {
    domain: at.domain,
    name: g.freshName(`${name}_axes`),
    attributes: [{ name: 'value', type: AttrType.TENSOR, value: int64s(axes) }],
    outputs: [g.freshName(`${name}_axes`)],
  });
  return [c, new Node(op, [x, c.outputs[0]], { domain: at.domain, name, outputs })];
}

/** `axesNodes` inserted before `at`; returns the result. */
export function axesOpBefore(
  at: Node,
  op: 'Squeeze' | 'Unsqueeze',
  x: Value,
  axes: number[],
  ctx: UpgradeContext,
  what: string,
): Value {
  const nodes = axesNodes(at, op, x, axes, ctx, what);
  (at.graph as Graph).insertBefore(at, ...nodes);
  return nodes[nodes.length - 1].outputs[0];
}

/**
 * Moves `node`'s output `i` behind new nodes: `node` writes a fresh value, and `make(fresh, out)`
 * builds the nodes (inserted right after `node`, in order) whose last one produces the original
 * Value again, so its name, type, uses and graph-output role stay as they were.
 */
export function rerouteOutput(node: Node, i: number, what: string, make: (fresh: Value, out: Value) => Node[]): void {
  const g = node.graph as Graph;
  const out = node.outputs[i];
  const fresh = new Value(g.freshName(`${out.name}_${what}`));
  node.setOutput(i, fresh);
  g.insertAfter(node, ...make(fresh, out));
}

/**
 * Replaces `old` by a node of type `op` on `inputs` with `attributes`, taking over its outputs
 * (same Values) and its place; returns the new node.
 */
export function replaceNode(old: Node, op: string, inputs: (Value | null)[], attributes: Attr[]): Node {
  const g = old.graph as Graph;
  const outs = [...old.outputs];
  const n = createNode(op, inputs, {
    domain: old.domain,
    name: old.name,
    attributes,
    outputs: [],
    docString: old.docString,
  });
  n.metadataProps = old.metadataProps;
  g.insertBefore(old, n);
  outs.forEach((_, i) => old.setOutput(i, new Value('')));
  g.remove(old, { safe: false });
  for (const o of outs) n.addOutput(o);
  return n;
}
