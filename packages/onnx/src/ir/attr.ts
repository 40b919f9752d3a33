import type { ProtoExtras } from './extras.js';
import type { Graph } from './graph.js';
import type { Tensor } from './tensor.js';
import type { TypeInfo } from './types.js';

/** AttributeProto.AttributeType wire values. */
export const AttrType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  SPARSE_TENSOR: 11,
  TYPE_PROTO: 13,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSORS: 12,
  TYPE_PROTOS: 14,
} as const;

/** A sparse tensor (COO): `values` [NNZ], `indices` [NNZ] (linearized) or [NNZ, rank]. */
export interface SparseTensor {
  values: Tensor;
  indices: Tensor;
  dims: number[];
  extras?: ProtoExtras;
}

export type AttrValue =
  | { type: typeof AttrType.FLOAT; value: number }
  | { type: typeof AttrType.INT; value: bigint }
  | { type: typeof AttrType.STRING; value: Uint8Array }
  | { type: typeof AttrType.TENSOR; value: Tensor }
  | { type: typeof AttrType.GRAPH; value: Graph }
  | { type: typeof AttrType.SPARSE_TENSOR; value: SparseTensor }
  | { type: typeof AttrType.TYPE_PROTO; value: TypeInfo }
  | { type: typeof AttrType.FLOATS; value: number[] }
  | { type: typeof AttrType.INTS; value: bigint[] }
  | { type: typeof AttrType.STRINGS; value: Uint8Array[] }
  | { type: typeof AttrType.TENSORS; value: Tensor[] }
  | { type: typeof AttrType.GRAPHS; value: Graph[] }
  | { type: typeof AttrType.SPARSE_TENSORS; value: SparseTensor[] }
  | { type: typeof AttrType.TYPE_PROTOS; value: TypeInfo[] }
  | { type: typeof AttrType.UNDEFINED; value: undefined };

/**
 * A node attribute. Integers are kept as bigint (int64 on the wire: Slice ends of INT64_MAX must
 * survive), strings as bytes; the `Node` accessors give numbers and text.
 */
export type Attr = AttrValue & {
  name: string;
  /** Set in function bodies: the value comes from the calling node's attribute of this name. */
  refAttrName?: string;
  docString?: string;
  extras?: ProtoExtras;
};

const utf8 = new TextDecoder();
const enc = new TextEncoder();

export const attr = {
  float: (name: string, value: number): Attr => ({ name, type: AttrType.FLOAT, value }),
  int: (name: string, value: number | bigint): Attr => ({ name, type: AttrType.INT, value: BigInt(value) }),
  string: (name: string, value: string): Attr => ({ name, type: AttrType.STRING, value: enc.encode(value) }),
  tensor: (name: string, value: Tensor): Attr => ({ name, type: AttrType.TENSOR, value }),
  graph: (name: string, value: Graph): Attr => ({ name, type: AttrType.GRAPH, value }),
  floats: (name: string, value: number[]): Attr => ({ name, type: AttrType.FLOATS, value: [...value] }),
  ints: (name: string, value: (number | bigint)[]): Attr => ({
    name,
    type: AttrType.INTS,
    value: value.map((v) => BigInt(v)),
  }),
  strings: (name: string, value: string[]): Attr => ({
    name,
    type: AttrType.STRINGS,
    value: value.map((s) => enc.encode(s)),
  }),
};

/** bigint → number, saturating at ±2^53 (INT64_MAX "to the end" markers stay huge). */
export function int64ToNumber(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
  if (v < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
  return Number(v);
}

export function bytesToString(b: Uint8Array): string {
  return utf8.decode(b);
}

/** Graphs held by an attribute (GRAPH or GRAPHS), for subgraph traversal. */
export function attrGraphs(a: Attr): Graph[] {
  if (a.type === AttrType.GRAPH) return [a.value];
  if (a.type === AttrType.GRAPHS) return a.value;
  return [];
}
