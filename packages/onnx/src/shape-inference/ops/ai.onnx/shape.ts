/**
 * Shape-producing ops: Shape (start/end from opset 15) and Size (both carry known values, so
 * symbolic dims flow into later shape computations), Constant, ConstantOfShape, Range, EyeLike,
 * NonZero (`[rank, ?]`), OneHot (depth from its constant).
 */
import { AttrType } from '../../../ir/attr.js';
import { DataType, isIntegerType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { fail, isStaticShape, normAxis, productDims } from '../../dims.js';
import { known, knownFromTensor } from '../../values.js';
import { shapeInput } from './reshape.js';

function shape(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, DataType.INT64, [null]);
    return;
  }
  const r = x.length;
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
  const start = ctx.opset >= 15 ? clamp(ctx.int('start', 0)) : 0;
  const end = ctx.opset >= 15 ? clamp(ctx.int('end', r)) : r;
  const dims = x.slice(start, Math.max(start, end));
  ctx.set(0, DataType.INT64, [dims.length]);
  ctx.setValue(0, known([dims.length], dims));
}

function size(ctx: InferContext): void {
  ctx.set(0, DataType.INT64, []);
  const x = ctx.shape(0);
  if (x) ctx.setValue(0, known([], [productDims(x)]));
}

function constant(ctx: InferContext): void {
  const n = ctx.node;
  for (const a of n.attributes.values()) {
    switch (a.name) {
      case 'value':
        if (a.type === AttrType.TENSOR) ctx.set(0, a.value.dtype, [...a.value.dims]);
        return;
      case 'sparse_value':
        if (a.type === AttrType.SPARSE_TENSOR) ctx.set(0, a.value.values.dtype, [...a.value.dims]);
        return;
      case 'value_float':
        ctx.set(0, DataType.FLOAT, []);
        return;
      case 'value_floats':
        if (a.type === AttrType.FLOATS) ctx.set(0, DataType.FLOAT, [a.value.length]);
        return;
      case 'value_int':
        ctx.set(0, DataType.INT64, []);
        return;
      case 'value_ints':
        if (a.type === AttrType.INTS) ctx.set(0, DataType.INT64, [a.value.length]);
        return;
      case 'value_string':
        ctx.set(0, DataType.STRING, []);
        return;
      case 'value_strings':
        if (a.type === AttrType.STRINGS) ctx.set(0, DataType.STRING, [a.value.length]);
        return;
    }
  }
}

function constantOfShape(ctx: InferContext): void {
  const t = ctx.node.getTensor('value');
  const elem = t?.dtype ?? DataType.FLOAT;
  const target = shapeInput(ctx, 0);
  if (target?.some((d) => typeof d === 'number' && (d < 0 || !Number.isInteger(d)))) fail(`bad shape ${target}`);
  ctx.set(0, elem, target);
  if (isStaticShape(target)) {
    const fill = t ? knownFromTensor(t)?.data[0] : 0;
    if (fill !== undefined) ctx.setValue(0, known(target, new Array<Dim>(target.reduce((a, b) => a * b, 1)).fill(fill)));
  }
}

function range(ctx: InferContext): void {
  const elem = ctx.elemType(0) ?? ctx.elemType(1) ?? ctx.elemType(2);
  const [start, limit, delta] = [0, 1, 2].map((i) => {
    const d = ctx.dims(i);
    return d && d.length === 1 ? d[0] : null;
  });
  if (typeof start === 'number' && typeof limit === 'number' && typeof delta === 'number') {
    if (delta === 0) fail('Range delta cannot be 0');
    // onnxruntime: ceil((double)(limit - start computed in T) / delta).
    const diff = elem === DataType.FLOAT ? Math.fround(limit - start) : limit - start;
    const n = Math.max(Math.ceil(diff / delta), 0);
    ctx.set(0, elem, [n]);
    if (isIntegerType(elem)) ctx.setValue(0, known([n], Array.from({ length: n }, (_, i) => start + i * delta)));
    return;
  }
  ctx.set(0, elem, [start === 0 && delta === 1 && typeof limit === 'string' ? limit : null]);
}

function eyeLike(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (x && x.length !== 2) fail(`EyeLike needs a 2-D input, got rank ${x.length}`);
  ctx.set(0, ctx.intOpt('dtype') ?? ctx.elemType(0), x);
}

function nonZero(ctx: InferContext): void {
  const x = ctx.shape(0);
  const v = ctx.value(0);
  const count = v && v.data.every((d) => typeof d === 'number') ? v.data.filter((d) => d !== 0).length : null;
  ctx.set(0, DataType.INT64, [x ? x.length : v ? v.shape.length : null, count]);
}

function oneHot(ctx: InferContext): void {
  const idx = ctx.shape(0);
  const elem = ctx.elemType(2);
  if (!idx) {
    ctx.set(0, elem);
    return;
  }
  const depthV = ctx.dims(1);
  const depth = depthV && depthV.length === 1 && typeof depthV[0] === 'number' ? Math.trunc(depthV[0]) : null;
  const axis = normAxis(ctx.int('axis', -1), idx.length + 1);
  const out = [...idx];
  out.splice(axis, 0, depth);
  ctx.set(0, elem, out);
}

export const shapeRules: OpRule[] = [
  ...rules(['Shape'], shape),
  ...rules(['Size'], size),
  ...rules(['Constant'], constant),
  ...rules(['ConstantOfShape'], constantOfShape),
  ...rules(['Range'], range),
  ...rules(['EyeLike'], eyeLike),
  ...rules(['NonZero'], nonZero),
  ...rules(['OneHot'], oneHot),
];
