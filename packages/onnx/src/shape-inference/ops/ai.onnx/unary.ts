/**
 * Ops whose output has the input's shape: activations, math functions, Softmax and friends,
 * Identity, Cast/CastLike (new element type), Dropout (optional mask), IsNaN/IsInf (bool).
 * Integer-exact ops (Identity, Neg, Abs, Floor, Ceil, Round, Sign, Not, Cast) carry known values.
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import type { KnownValue } from '../../values.js';

const SAME = [
  'Relu',
  'Sigmoid',
  'Tanh',
  'Exp',
  'Log',
  'Sqrt',
  'Abs',
  'Neg',
  'Erf',
  'Floor',
  'Ceil',
  'Round',
  'Reciprocal',
  'Sin',
  'Cos',
  'Tan',
  'Asin',
  'Acos',
  'Atan',
  'Sinh',
  'Cosh',
  'Asinh',
  'Acosh',
  'Atanh',
  'Softplus',
  'Softsign',
  'HardSigmoid',
  'HardSwish',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Mish',
  'ThresholdedRelu',
  'Shrink',
  'Clip',
  'Sign',
  'Not',
  'BitwiseNot',
  'Softmax',
  'LogSoftmax',
  'Hardmax',
  'CumSum',
  'Trilu',
  'ReverseSequence',
  'Scatter',
  'ScatterElements',
  'ScatterND',
];

const num = (x: Dim): x is number => typeof x === 'number';

/** Value maps for integer-exact unary ops (symbols are non-negative integers). */
const VALUE_FNS: Record<string, (x: Dim) => Dim> = {
  Neg: (x) => (num(x) ? -x : null),
  Abs: (x) => (num(x) ? Math.abs(x) : x),
  Floor: (x) => (num(x) ? Math.floor(x) : x),
  Ceil: (x) => (num(x) ? Math.ceil(x) : x),
  Round: (x) => (num(x) ? roundHalfEven(x) : x),
  Sign: (x) => (num(x) ? Math.sign(x) : null),
  Not: (x) => (num(x) ? (x ? 0 : 1) : null),
  Relu: (x) => (num(x) ? Math.max(0, x) : x),
};

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function mapValue(v: KnownValue | undefined, fn: (x: Dim) => Dim): KnownValue | undefined {
  return v ? { shape: v.shape, data: v.data.map(fn) } : undefined;
}

function same(ctx: InferContext): void {
  ctx.set(0, ctx.elemType(0), ctx.shape(0));
  const fn = VALUE_FNS[ctx.node.opType];
  if (fn) ctx.setValue(0, mapValue(ctx.value(0), fn));
}

function toBool(ctx: InferContext): void {
  ctx.set(0, DataType.BOOL, ctx.shape(0));
}

/** Identity passes any type through (tensors, sequences, optionals), and its value. */
function identity(ctx: InferContext): void {
  ctx.setType(0, ctx.type(0));
  ctx.setValue(0, ctx.value(0));
}

const INT_RANGES: Record<number, [number, number]> = {
  [DataType.INT8]: [-128, 127],
  [DataType.UINT8]: [0, 255],
  [DataType.INT16]: [-32768, 32767],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT32]: [-(2 ** 31), 2 ** 31 - 1],
  [DataType.UINT32]: [0, 2 ** 32 - 1],
  [DataType.INT64]: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  [DataType.UINT64]: [0, Number.MAX_SAFE_INTEGER],
};

/** What a cast does to one known entry (null when it cannot be told exactly). */
export function castEntry(x: Dim, to: number): Dim {
  if (x === null) return null;
  const range = INT_RANGES[to];
  if (typeof x === 'string') return range || to === DataType.FLOAT || to === DataType.DOUBLE ? x : null;
  if (!Number.isFinite(x)) return to === DataType.FLOAT || to === DataType.DOUBLE ? x : null;
  if (range) {
    const t = Math.trunc(x);
    return t >= range[0] && t <= range[1] ? t : null;
  }
  if (to === DataType.BOOL) return x !== 0 ? 1 : 0;
  if (to === DataType.FLOAT) return Math.fround(x);
  if (to === DataType.DOUBLE) return x;
  if (to === DataType.FLOAT16 || to === DataType.BFLOAT16) return Number.isInteger(x) && Math.abs(x) <= 256 ? x : null;
  return null;
}

function cast(ctx: InferContext): void {
  const to = ctx.intOpt('to');
  // Opset 1-5 spelled `to` as a string ('FLOAT', 'INT64', …).
  const toName = to === undefined ? ctx.node.getString('to') : undefined;
  const elem = to ?? (toName ? (DataType as Record<string, number>)[toName.toUpperCase()] : undefined);
  if (elem === undefined) return;
  ctx.set(0, elem, ctx.shape(0));
  ctx.setValue(0, mapValue(ctx.value(0), (x) => castEntry(x, elem)));
}

function castLike(ctx: InferContext): void {
  const elem = ctx.elemType(1);
  ctx.set(0, elem, ctx.shape(0));
  if (elem !== undefined) ctx.setValue(0, mapValue(ctx.value(0), (x) => castEntry(x, elem)));
}

/** Dropout: Y like X; the mask is bool from opset 10 (the input's type before). */
function dropout(ctx: InferContext): void {
  const shape = ctx.shape(0);
  ctx.set(0, ctx.elemType(0), shape);
  if (ctx.wants(1)) ctx.set(1, ctx.opset >= 10 ? DataType.BOOL : ctx.elemType(0), shape);
}

export const unaryRules: OpRule[] = [
  ...rules(SAME, same),
  ...rules(['IsNaN', 'IsInf'], toBool),
  ...rules(['Identity'], identity),
  ...rules(['Cast'], cast),
  ...rules(['CastLike'], castLike),
  ...rules(['Dropout'], dropout),
];
