/**
 * What a shape rule sees: the node, its opset, the types and known contents of its inputs, and a
 * place to put what it infers. Rules never write to the IR themselves: the driver merges their
 * proposals into the model (or into a scratch overlay when it explores a loop body or a function).
 */
import { DataType } from '../ir/dtype.js';
import type { Node } from '../ir/node.js';
import { constantTensor } from '../ir/traversal.js';
import { shapeOf, type Dim, type TensorType, type TypeInfo } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { cleanDim, fail, joinDim } from './dims.js';
import { knownFromTensor, type KnownValue } from './values.js';

/**
 * Types and known values as seen by one inference run. A committing env reads and writes the IR
 * (`value.type`); a scratch env keeps its own overlay on top of its parent.
 */
export class Env {
  readonly types = new Map<Value, TypeInfo>();
  readonly values = new Map<Value, KnownValue>();
  constructor(
    readonly commit: boolean,
    readonly parent?: Env,
    /** Initializers that are also graph inputs (IR ≥ 4): a caller may feed other values, so their contents are not known. */
    readonly overridable?: ReadonlySet<Value>,
  ) {}

  typeOf(v: Value): TypeInfo | undefined {
    return this.types.get(v) ?? (this.parent ? this.parent.typeOf(v) : v.type);
  }

  valueOf(v: Value): KnownValue | undefined {
    const k = this.values.get(v);
    if (k) return k;
    if (this.parent) return this.parent.valueOf(v);
    if (this.overridable?.has(v)) return undefined;
    const t = constantTensor(v);
    return t ? knownFromTensor(t) : undefined;
  }
}

/** The tensor type of a TypeInfo, when it is a (dense or sparse) tensor with a known element type. */
export function asTensor(t: TypeInfo | undefined): TensorType | undefined {
  return t && (t.kind === 'tensor' || t.kind === 'sparse_tensor') ? t : undefined;
}

/** The common type of several tensors: same element type, shapes joined (undefined if they disagree on type). */
export function joinTensorTypes(types: readonly (TensorType | undefined)[]): TensorType | undefined {
  let out: TensorType | undefined;
  for (const t of types) {
    if (!t || t.elemType === 0) return undefined;
    if (!out) {
      out = { kind: 'tensor', elemType: t.elemType, ...(t.shape ? { shape: [...t.shape] } : {}) };
      continue;
    }
    if (out.elemType !== t.elemType) return undefined;
    if (!out.shape || !t.shape || out.shape.length !== t.shape.length) delete out.shape;
    else out.shape = out.shape.map((d, i) => joinDim(d, t.shape![i]));
  }
  return out;
}

/** The common type of two values seen from two sides (If branches, loop iterations); undefined if they disagree. */
export function joinTypes(a: TypeInfo | undefined, b: TypeInfo | undefined): TypeInfo | undefined {
  const ta = asTensor(a);
  const tb = asTensor(b);
  if (ta && tb) return ta.kind === tb.kind ? joinTensorTypes([ta, tb]) : undefined;
  if (a && b && JSON.stringify(a) === JSON.stringify(b)) return a;
  return undefined;
}

/** The context handed to a rule for one node. */
export class InferContext {
  /** Proposed types by output index. */
  readonly outTypes: (TypeInfo | undefined)[] = [];
  /** Known contents by output index. */
  readonly outValues: (KnownValue | undefined)[] = [];

  constructor(
    readonly node: Node,
    /** Opset version of the node's domain. */
    readonly opset: number,
    readonly env: Env,
  ) {}

  get inputCount(): number {
    return this.node.inputs.length;
  }

  /** True when input `i` is given (not omitted). */
  has(i: number): boolean {
    return i < this.node.inputs.length && this.node.inputs[i] !== null;
  }

  input(i: number): Value | null {
    return this.node.inputs[i] ?? null;
  }

  type(i: number): TypeInfo | undefined {
    const v = this.input(i);
    if (!v) return undefined;
    const t = this.env.typeOf(v);
    if (t && t.kind !== 'none') return t;
    const c = constantTensor(v);
    return c ? { kind: 'tensor', elemType: c.dtype, shape: [...c.dims] } : undefined;
  }

  tensor(i: number): TensorType | undefined {
    return asTensor(this.type(i));
  }

  /** Element type of input `i` (undefined when unknown). */
  elemType(i: number): number | undefined {
    const t = this.tensor(i);
    return t && t.elemType !== 0 ? t.elemType : undefined;
  }

  /** Shape of input `i` (undefined when unknown rank). */
  shape(i: number): Dim[] | undefined {
    const s = shapeOf(this.tensor(i));
    return s ? [...s] : undefined;
  }

  rank(i: number): number | undefined {
    return this.shape(i)?.length;
  }

  /** Known contents of input `i` (constants, shape computations). */
  value(i: number): KnownValue | undefined {
    const v = this.input(i);
    return v ? this.env.valueOf(v) : undefined;
  }

  /** Known contents of input `i` as dims (entries may be symbolic or null). */
  dims(i: number): Dim[] | undefined {
    return this.value(i)?.data;
  }

  /** Known contents of input `i` when every entry is a number. */
  ints(i: number): number[] | undefined {
    const d = this.dims(i);
    if (!d || !d.every((x) => typeof x === 'number')) return undefined;
    return d as number[];
  }

  /** Known single number of input `i` (a scalar or one-element tensor). */
  scalar(i: number): number | undefined {
    const d = this.ints(i);
    return d && d.length === 1 ? d[0] : undefined;
  }

  // ---- attributes ----
  int(name: string, def: number): number {
    return this.node.getInt(name, def);
  }
  intOpt(name: string): number | undefined {
    return this.node.getInt(name);
  }
  intList(name: string): number[] | undefined {
    return this.node.getInts(name);
  }
  float(name: string, def: number): number {
    return this.node.getFloat(name, def);
  }
  floatList(name: string): number[] | undefined {
    return this.node.getFloats(name);
  }
  str(name: string, def: string): string {
    return this.node.getString(name, def);
  }

  // ---- results ----
  /** True when output `i` exists (named) and so is worth inferring. */
  wants(i: number): boolean {
    const o = this.node.outputs[i];
    return o !== undefined && o.name !== '';
  }

  /** Proposes a tensor type for output `i`; nothing happens without an element type. */
  set(i: number, elemType: number | undefined, shape?: readonly Dim[]): void {
    if (elemType === undefined || elemType === DataType.UNDEFINED) return;
    this.outTypes[i] =
      shape === undefined ? { kind: 'tensor', elemType } : { kind: 'tensor', elemType, shape: shape.map(cleanDim) };
  }

  /** Proposes any type (sequences, optionals) for output `i`. */
  setType(i: number, t: TypeInfo | undefined): void {
    if (t && t.kind !== 'none') this.outTypes[i] = t;
  }

  /** Records the known contents of output `i`. */
  setValue(i: number, v: KnownValue | undefined): void {
    if (v) this.outValues[i] = v;
  }

  fail(message: string): never {
    return fail(message);
  }
}

/** A shape rule: reads the context, proposes output types. Throwing leaves every output unknown. */
export type Rule = (ctx: InferContext) => void;

/** One registry entry: `opType` in `domain` from opset `since` on (until the next entry). */
export interface OpRule {
  domain: string;
  opType: string;
  since: number;
  infer: Rule;
}

/** Declares rules for several op types sharing one implementation. */
export function rules(
  opTypes: readonly string[],
  infer: Rule,
  opts: { since?: number; domain?: string } = {},
): OpRule[] {
  return opTypes.map((opType) => ({ domain: opts.domain ?? '', opType, since: opts.since ?? 1, infer }));
}
