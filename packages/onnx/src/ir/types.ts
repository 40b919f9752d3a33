import type { ProtoExtras } from './extras.js';

/**
 * One dimension of a tensor shape: a number (static), a string (symbolic, `dim_param`), or `null`
 * (unknown). `denotation` and wire details ride along in `DimDetail` when present.
 */
export type Dim = number | string | null;

/** Extra per-dimension information (denotation, wire extras), indexed like `dims`. */
export interface DimDetail {
  denotation?: string;
  extras?: ProtoExtras;
}

export interface TensorType {
  kind: 'tensor' | 'sparse_tensor';
  elemType: number;
  /** `undefined` means unknown rank; `[]` is a scalar. */
  shape?: Dim[];
  /** Per-dimension extras (sparse: most entries undefined). */
  dimDetails?: (DimDetail | undefined)[];
  denotation?: string;
  extras?: ProtoExtras;
  /** Extras of the inner Tensor / TensorShape messages. */
  innerExtras?: ProtoExtras;
  shapeExtras?: ProtoExtras;
}
export interface SequenceType {
  kind: 'sequence';
  elem?: TypeInfo;
  denotation?: string;
  extras?: ProtoExtras;
  innerExtras?: ProtoExtras;
}
export interface MapType {
  kind: 'map';
  keyType: number;
  valueType?: TypeInfo;
  denotation?: string;
  extras?: ProtoExtras;
  innerExtras?: ProtoExtras;
}
export interface OptionalType {
  kind: 'optional';
  elem?: TypeInfo;
  denotation?: string;
  extras?: ProtoExtras;
  innerExtras?: ProtoExtras;
}
/** A TypeProto with no value set (legal on the wire, e.g. in some function value_infos). */
export interface EmptyType {
  kind: 'none';
  denotation?: string;
  extras?: ProtoExtras;
}
export type TypeInfo = TensorType | SequenceType | MapType | OptionalType | EmptyType;

/** A dense tensor type; the common case when building graphs. */
export function tensorType(elemType: number, shape?: Dim[]): TensorType {
  return shape === undefined ? { kind: 'tensor', elemType } : { kind: 'tensor', elemType, shape: [...shape] };
}

/** Shape of a value if it is a tensor of known rank, else undefined. */
export function shapeOf(t: TypeInfo | undefined): Dim[] | undefined {
  return t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') ? t.shape : undefined;
}

/** Element type of a tensor value, or undefined. */
export function elemTypeOf(t: TypeInfo | undefined): number | undefined {
  return t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') && t.elemType !== 0 ? t.elemType : undefined;
}

/** Product of static dims, or undefined when any dim is symbolic or unknown. */
export function staticSize(shape: readonly Dim[] | undefined): number | undefined {
  if (!shape) return undefined;
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/** `[1,3,'N',?]` style rendering of a shape. */
export function formatShape(shape: readonly Dim[] | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}
