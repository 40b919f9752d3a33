/**
 * Indexing: Slice (attributes before opset 10, inputs with steps after), Gather, GatherElements,
 * GatherND, Compress. Gather and Slice on small known vectors compute the result (the heart of
 * `Shape → Gather/Slice → Concat → Reshape` chains).
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { fail, normAxis } from '../../dims.js';
import { known, sliceValue } from '../../values.js';

/** Clamped [start, end) walk of one axis of size `dim` (numbers only). */
export function sliceRange(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  if (step === 0) fail('Slice step cannot be 0');
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = Math.min(Math.max(s, 0), dim - 1);
  e = Math.min(Math.max(e, -1), dim - 1);
  return { start: s, count: Math.max(0, Math.ceil((s - e) / -step)) };
}

/** "Up to the end": exporters write INT64_MAX, INT32_MAX or similar. */
const TO_END = 2 ** 31 - 1;

function slice(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  let starts: Dim[] | undefined;
  let ends: Dim[] | undefined;
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (ctx.opset < 10) {
    starts = ctx.intList('starts');
    ends = ctx.intList('ends');
    axes = ctx.intList('axes');
  } else {
    starts = ctx.dims(1);
    ends = ctx.dims(2);
    if (ctx.has(3)) {
      axes = ctx.ints(3);
      if (!axes) {
        ctx.set(0, elem, x.map(() => null));
        return;
      }
    }
    if (ctx.has(4)) {
      steps = ctx.ints(4);
      if (!steps) {
        // Unknown steps: only the untouched axes are known.
        const touched = new Set((axes ?? x.map((_, i) => i)).map((a) => normAxis(a, x.length)));
        ctx.set(0, elem, x.map((d, i) => (touched.has(i) ? null : d)));
        return;
      }
    }
  }
  const n = starts?.length ?? ends?.length ?? axes?.length;
  const axisList = (axes ?? (n !== undefined ? Array.from({ length: n }, (_, i) => i) : x.map((_, i) => i))).map((a) =>
    normAxis(a, x.length),
  );
  if (starts && ends && starts.length !== ends.length) fail('Slice starts and ends differ in length');
  if (starts && starts.length !== axisList.length) fail('Slice starts and axes differ in length');
  const out = [...x];
  axisList.forEach((axis, k) => {
    const d = x[axis];
    const st = starts?.[k];
    const en = ends?.[k];
    const step = steps?.[k] ?? 1;
    if (typeof st === 'number' && typeof en === 'number') {
      if (typeof d === 'number') {
        out[axis] = sliceRange(d, st, en, step).count;
        return;
      }
      // A symbolic dim survives a whole-axis slice.
      out[axis] = st === 0 && en >= TO_END && step === 1 ? d : null;
      return;
    }
    if (st === 0 && en !== undefined && en !== null && en === d && step === 1) {
      out[axis] = d;
      return;
    }
    out[axis] = null;
  });
  ctx.set(0, elem, out);
  const v = ctx.value(0);
  if (v && starts && ends && starts.every((d) => typeof d === 'number') && ends.every((d) => typeof d === 'number')) {
    const full = v.shape.map((d) => ({ start: 0, count: d, step: 1 }));
    axisList.forEach((axis, k) => {
      const step = steps?.[k] ?? 1;
      full[axis] = { ...sliceRange(v.shape[axis], starts[k] as number, ends[k] as number, step), step };
    });
    ctx.setValue(0, sliceValue(v, full));
  }
}

function gather(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const data = ctx.shape(0);
  const idx = ctx.shape(1);
  if (!data || !idx) {
    ctx.set(0, elem);
    return;
  }
  if (data.length === 0) fail('Gather data must have rank ≥ 1');
  const axis = normAxis(ctx.int('axis', 0), data.length);
  ctx.set(0, elem, [...data.slice(0, axis), ...idx, ...data.slice(axis + 1)]);
  const dv = ctx.value(0);
  const iv = ctx.ints(1);
  if (dv && iv && dv.shape.length === 1 && ctx.value(1)!.shape.length <= 1) {
    const d = dv.shape[0];
    const picked = iv.map((i) => {
      const k = i < 0 ? i + d : i;
      if (k < 0 || k >= d) fail(`Gather index ${i} out of range for ${d}`);
      return dv.data[k];
    });
    ctx.setValue(0, known([...ctx.value(1)!.shape], picked));
  }
}

function gatherElements(ctx: InferContext): void {
  ctx.set(0, ctx.elemType(0), ctx.shape(1));
}

function gatherND(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const data = ctx.shape(0);
  const idx = ctx.shape(1);
  if (!data || !idx) {
    ctx.set(0, elem);
    return;
  }
  const b = ctx.int('batch_dims', 0);
  const k = idx[idx.length - 1];
  if (typeof k !== 'number') {
    ctx.set(0, elem);
    return;
  }
  if (b + k > data.length) fail(`GatherND index depth ${k} too deep for rank ${data.length}`);
  ctx.set(0, elem, [...idx.slice(0, -1), ...data.slice(b + k)]);
}

function compress(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const axisAttr = ctx.intOpt('axis');
  const cond = ctx.ints(1);
  if (axisAttr === undefined) {
    const total = x ? x.reduce<Dim>((a, d) => (typeof a === 'number' && typeof d === 'number' ? a * d : null), 1) : null;
    const kept = cond && typeof total === 'number' ? cond.slice(0, total).filter((c) => c !== 0).length : null;
    ctx.set(0, elem, [kept]);
    return;
  }
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  const axis = normAxis(axisAttr, x.length);
  const d = x[axis];
  const out = [...x];
  out[axis] = cond && typeof d === 'number' ? cond.slice(0, d).filter((c) => c !== 0).length : null;
  ctx.set(0, elem, out);
}

export const sliceRules: OpRule[] = [
  ...rules(['Slice'], slice),
  ...rules(['Gather'], gather),
  ...rules(['GatherElements'], gatherElements),
  ...rules(['GatherND'], gatherND),
  ...rules(['Compress'], compress),
];
