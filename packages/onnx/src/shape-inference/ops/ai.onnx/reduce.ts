/**
 * Reductions: ReduceX (`axes` attribute, or input from opset 13 for ReduceSum and 18 for the
 * rest, with `keepdims` and `noop_with_empty_axes`), ArgMax/ArgMin (int64), TopK (k attribute
 * before opset 10, input after). ReduceProd/ReduceSum/ReduceMax/ReduceMin of a known vector are
 * computed (`ReduceProd(Shape(x))` is the element count).
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { fail, normAxis, productDims, sumDims } from '../../dims.js';
import { known } from '../../values.js';
import { axesOf } from './reshape.js';

const VALUE_FNS: Record<string, (xs: Dim[]) => Dim> = {
  ReduceProd: productDims,
  ReduceSum: sumDims,
  ReduceMax: (xs) => (xs.every((x) => typeof x === 'number') && xs.length ? Math.max(...(xs as number[])) : null),
  ReduceMin: (xs) => (xs.every((x) => typeof x === 'number') && xs.length ? Math.min(...(xs as number[])) : null),
};

function reduce(inputSince: number): (ctx: InferContext) => void {
  return (ctx) => {
    const elem = ctx.elemType(0);
    const x = ctx.shape(0);
    if (!x) {
      ctx.set(0, elem);
      return;
    }
    const keep = ctx.int('keepdims', 1) === 1;
    const noop = ctx.opset >= inputSince && ctx.int('noop_with_empty_axes', 0) === 1;
    const { axes, given, count } = axesOf(ctx, inputSince);
    let out: Dim[] | undefined;
    let all = false;
    if (!given || count === 0) {
      if (noop) out = x;
      else {
        out = keep ? x.map(() => 1) : [];
        all = true;
      }
    } else if (axes) {
      const set = new Set(axes.map((a) => normAxis(a, x.length)));
      out = keep ? x.map((d, i) => (set.has(i) ? 1 : d)) : x.filter((_, i) => !set.has(i));
      all = set.size === x.length;
    } else if (keep) {
      out = x.map((d) => (d === 1 ? 1 : null));
    } else if (count !== undefined) {
      out = new Array<Dim>(Math.max(0, x.length - count)).fill(null);
    }
    ctx.set(0, elem, out);
    const fn = VALUE_FNS[ctx.node.opType];
    const v = ctx.value(0);
    if (fn && v && all && v.shape.length <= 1 && out) ctx.setValue(0, known(out as number[], [fn(v.data)]));
  };
}

function argReduce(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, DataType.INT64);
    return;
  }
  const axis = normAxis(ctx.int('axis', 0), x.length);
  const keep = ctx.int('keepdims', 1) === 1;
  ctx.set(0, DataType.INT64, keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis));
}

function topK(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    ctx.set(1, DataType.INT64);
    return;
  }
  const axis = normAxis(ctx.int('axis', -1), x.length);
  const k = ctx.opset < 10 ? ctx.intOpt('k') : ctx.scalar(1);
  if (k !== undefined && typeof x[axis] === 'number' && k > (x[axis] as number)) fail(`TopK k=${k} exceeds axis size ${x[axis]}`);
  const out = x.map((d, i) => (i === axis ? (k ?? null) : d));
  ctx.set(0, elem, out);
  ctx.set(1, DataType.INT64, out);
}

const REDUCE = ['ReduceMean', 'ReduceMax', 'ReduceMin', 'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare'];

export const reduceRules: OpRule[] = [
  ...rules(REDUCE, reduce(18)),
  ...rules(['ReduceSum'], reduce(13)),
  ...rules(['ArgMax', 'ArgMin'], argReduce),
  ...rules(['TopK'], topK),
];
