/**
 * Test helpers for shape-inference tests (not part of the package build): tiny graphs and a
 * compact rendering of inferred types (`float[N,16,?]`).
 */
import { DataType, dtypeName } from '../../ir/dtype.js';
import { GraphBuilder, int64Tensor, floatTensor } from '../../ir/builder.js';
import type { Model } from '../../ir/model.js';
import type { Dim, TypeInfo } from '../../ir/types.js';
import type { Value } from '../../ir/value.js';
import { inferShapes, type InferOptions, type InferReport } from '../infer.js';

export { DataType, GraphBuilder, int64Tensor, floatTensor };

export const F = DataType.FLOAT;
export const I64 = DataType.INT64;

/** `float[N,3,?]`, `int64[]`, `float` (unknown rank), `?` (no type), `seq(float[2])`. */
export function typeStr(t: TypeInfo | undefined): string {
  if (!t || t.kind === 'none') return '?';
  if (t.kind === 'sequence') return `seq(${typeStr(t.elem)})`;
  if (t.kind === 'optional') return `opt(${typeStr(t.elem)})`;
  if (t.kind === 'map') return 'map';
  const name = dtypeName(t.elemType);
  return t.shape ? `${name}[${t.shape.map((d) => (d === null ? '?' : String(d))).join(',')}]` : name;
}

export function ty(v: Value): string {
  return typeStr(v.type);
}

/** A builder with one float input `x` of the given shape. */
export function withInput(shape: Dim[] | undefined, elemType: number = F): { b: GraphBuilder; x: Value } {
  const b = new GraphBuilder('t');
  const x = b.input('x', elemType, shape);
  return { b, x };
}

/** An int64 constant (as a Constant node, like PaddleOCR and PyTorch exports). */
export function ints(b: GraphBuilder, values: number[], dims: number[] = [values.length]): Value {
  return b.constant(int64Tensor(dims, values));
}

/** A float constant (as a Constant node). */
export function floats(b: GraphBuilder, values: number[], dims: number[] = [values.length]): Value {
  return b.constant(floatTensor(dims, values));
}

/** Builds the model, runs inference, returns both. */
export function run(
  b: GraphBuilder,
  opset = 17,
  opts: InferOptions = {},
  opsets: Record<string, number> = {},
): { model: Model; report: InferReport } {
  const model = b.model({ opset, opsets });
  const report = inferShapes(model, opts);
  return { model, report };
}

/** The inferred type string of `v` after inferring the builder's graph at `opset`. */
export function infer1(b: GraphBuilder, v: Value, opset = 17): string {
  run(b, opset);
  return ty(v);
}
