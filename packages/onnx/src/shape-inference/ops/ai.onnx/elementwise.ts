/**
 * Elementwise ops with multidirectional broadcasting: arithmetic (Add Sub Mul Div Pow Mod Max Min
 * Mean Sum BitShift PRelu …), comparisons and logic (bool out), Where.
 *
 * Small known values are computed too (`Shape(x)[0] * 2`, `Equal(shape, -1)`, `Where(…)`), with
 * symbolic entries where the answer is exact: `N + 0`, `N * 3` → `3*N`, `N == -1` → false (dims are
 * never negative).
 */
import { DataType, isIntegerType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { broadcastShapes, divDim, mulDim } from '../../dims.js';
import { mapBroadcast, type KnownValue } from '../../values.js';

/** Broadcast shape of the given inputs (undefined when any has unknown rank). */
export function broadcastInputs(ctx: InferContext, indices: readonly number[]): Dim[] | undefined {
  const shapes: Dim[][] = [];
  for (const i of indices) {
    const s = ctx.shape(i);
    if (!s) return undefined;
    shapes.push(s);
  }
  return broadcastShapes(shapes);
}

/** The first known element type among the given inputs. */
export function firstElemType(ctx: InferContext, indices: readonly number[]): number | undefined {
  for (const i of indices) {
    const t = ctx.elemType(i);
    if (t !== undefined) return t;
  }
  return undefined;
}

function presentInputs(ctx: InferContext): number[] {
  const out: number[] = [];
  for (let i = 0; i < ctx.inputCount; i++) if (ctx.has(i)) out.push(i);
  return out;
}

type BinFn = (a: Dim, b: Dim, integer: boolean) => Dim;

const num = (x: Dim): x is number => typeof x === 'number';

const VALUE_FNS: Record<string, BinFn> = {
  Add: (a, b) => (num(a) && num(b) ? a + b : a === 0 ? b : b === 0 ? a : null),
  Sub: (a, b) => (num(a) && num(b) ? a - b : b === 0 ? a : a !== null && a === b ? 0 : null),
  Mul: (a, b, integer) => (num(a) && num(b) ? a * b : integer ? mulDim(a, b) : null),
  Div: (a, b, integer) => {
    if (num(a) && num(b)) return b === 0 ? null : integer ? Math.trunc(a / b) : a / b;
    return integer ? divDim(a, b) : b === 1 ? a : null;
  },
  Max: (a, b) => (num(a) && num(b) ? Math.max(a, b) : num(b) && b <= 0 ? a : num(a) && a <= 0 ? b : a === b ? a : null),
  Min: (a, b) => (num(a) && num(b) ? Math.min(a, b) : num(b) && b <= 0 ? b : num(a) && a <= 0 ? a : a === b ? a : null),
  Equal: (a, b) => {
    if (num(a) && num(b)) return a === b ? 1 : 0;
    if (a !== null && a === b) return 1;
    // Symbols are dims, which are never negative.
    if ((num(a) && a < 0 && typeof b === 'string') || (num(b) && b < 0 && typeof a === 'string')) return 0;
    return null;
  },
  Less: (a, b) => (num(a) && num(b) ? (a < b ? 1 : 0) : typeof a === 'string' && num(b) && b <= 0 ? 0 : null),
  Greater: (a, b) => (num(a) && num(b) ? (a > b ? 1 : 0) : typeof a === 'string' && num(b) && b < 0 ? 1 : null),
  LessOrEqual: (a, b) => (num(a) && num(b) ? (a <= b ? 1 : 0) : null),
  GreaterOrEqual: (a, b) => (num(a) && num(b) ? (a >= b ? 1 : 0) : typeof a === 'string' && num(b) && b <= 0 ? 1 : null),
  And: (a, b) => (num(a) && num(b) ? (a && b ? 1 : 0) : a === 0 || b === 0 ? 0 : null),
  Or: (a, b) => (num(a) && num(b) ? (a || b ? 1 : 0) : (num(a) && a !== 0) || (num(b) && b !== 0) ? 1 : null),
  Xor: (a, b) => (num(a) && num(b) ? ((a !== 0) !== (b !== 0) ? 1 : 0) : null),
};

/** Known result of a value computation over the given inputs, if all are known. */
function computeValue(ctx: InferContext, indices: readonly number[], fn: (xs: Dim[]) => Dim): KnownValue | undefined {
  const vals: KnownValue[] = [];
  for (const i of indices) {
    const v = ctx.value(i);
    if (!v) return undefined;
    vals.push(v);
  }
  return mapBroadcast(vals, fn);
}

function binary(kind: 'same' | 'bool'): (ctx: InferContext) => void {
  return (ctx) => {
    const ins = presentInputs(ctx);
    const elem = kind === 'bool' ? DataType.BOOL : firstElemType(ctx, ins);
    if (ctx.opset < 7) {
      // Before opset 7, B is broadcast to A (legacy `broadcast`/`axis` attributes): Y has A's shape.
      ctx.set(0, elem, ctx.shape(0));
      return;
    }
    ctx.set(0, elem, broadcastInputs(ctx, ins));
    const fn = VALUE_FNS[ctx.node.opType];
    if (fn && ins.length === 2) {
      const integer = isIntegerType(firstElemType(ctx, ins));
      ctx.setValue(0, computeValue(ctx, ins, ([a, b]) => fn(a, b, integer)));
    }
  };
}

/** Sum, Mean, Max, Min: variadic, broadcasting (Max/Min values too). */
function variadic(ctx: InferContext): void {
  const ins = presentInputs(ctx);
  ctx.set(0, firstElemType(ctx, ins), broadcastInputs(ctx, ins));
  const fn = VALUE_FNS[ctx.node.opType];
  if (fn && ins.length >= 1) {
    const integer = isIntegerType(firstElemType(ctx, ins));
    ctx.setValue(0, computeValue(ctx, ins, (xs) => xs.reduce((a, b) => fn(a, b, integer))));
  }
}

function where(ctx: InferContext): void {
  ctx.set(0, firstElemType(ctx, [1, 2]), broadcastInputs(ctx, [0, 1, 2]));
  ctx.setValue(0, computeValue(ctx, [0, 1, 2], ([c, x, y]) => (c === null ? (x === y ? x : null) : c ? x : y)));
}

/** PRelu: the slope broadcasts to X (unidirectional; per channel before opset 7), so Y has X's shape. */
function prelu(ctx: InferContext): void {
  ctx.set(0, ctx.elemType(0), ctx.shape(0));
}

export const elementwiseRules: OpRule[] = [
  ...rules(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Mod', 'BitShift', 'BitwiseAnd', 'BitwiseOr', 'BitwiseXor'], binary('same')),
  ...rules(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor'], binary('bool')),
  ...rules(['Sum', 'Mean', 'Max', 'Min'], variadic),
  ...rules(['Where'], where),
  ...rules(['PRelu'], prelu),
];
