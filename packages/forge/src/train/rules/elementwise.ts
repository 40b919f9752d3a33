/** Gradient rules of elementwise ops: arithmetic with broadcasting and activations. */
import type { Node, Value } from '@edgeforge/onnx';
import type { GradContext, GradientRule } from '../autodiff.js';

const input = (n: Node, i: number): Value => n.inputs[i]!;

/** `Where(cond, g, 0)`: the gradient passes where the condition holds (`like` gives the float type). */
function mask(ctx: GradContext, cond: Value, g: Value, like: Value): Value {
  return ctx.op('Where', [cond, g, ctx.scalar(0, like)]);
}

const add: GradientRule = (ctx, n, [g], needs) => [
  needs[0] ? ctx.reduceTo(g!, input(n, 0), n.outputs[0], n) : null,
  needs[1] ? ctx.reduceTo(g!, input(n, 1), n.outputs[0], n) : null,
];

const sub: GradientRule = (ctx, n, [g], needs) => [
  needs[0] ? ctx.reduceTo(g!, input(n, 0), n.outputs[0], n) : null,
  needs[1] ? ctx.reduceTo(ctx.op('Neg', [g!]), input(n, 1), n.outputs[0], n) : null,
];

const mul: GradientRule = (ctx, n, [g], needs) => [
  needs[0] ? ctx.reduceTo(ctx.mul(g!, input(n, 1)), input(n, 0), n.outputs[0], n) : null,
  needs[1] ? ctx.reduceTo(ctx.mul(g!, input(n, 0)), input(n, 1), n.outputs[0], n) : null,
];

// y = a / b: da = g / b, db = -g * y / b.
const div: GradientRule = (ctx, n, [g], needs) => {
  const [a, b] = [input(n, 0), input(n, 1)];
  const y = n.outputs[0];
  const ga = needs[0] || needs[1] ? ctx.op('Div', [g!, b]) : null;
  return [
    needs[0] ? ctx.reduceTo(ga!, a, y, n) : null,
    needs[1] ? ctx.reduceTo(ctx.op('Neg', [ctx.mul(ga!, y)]), b, y, n) : null,
  ];
};

const neg: GradientRule = (ctx, _n, [g]) => [ctx.op('Neg', [g!])];

const identity: GradientRule = (_ctx, _n, [g]) => [g];

const relu: GradientRule = (ctx, n, [g]) => [
  mask(ctx, ctx.op('Greater', [n.outputs[0], ctx.scalar(0, n.outputs[0])]), g!, n.outputs[0]),
];

const leakyRelu: GradientRule = (ctx, n, [g]) => {
  const x = input(n, 0);
  const alpha = n.getFloat('alpha', 0.01);
  const pos = ctx.op('Greater', [x, ctx.scalar(0, x)]);
  return [ctx.op('Where', [pos, g!, ctx.mul(g!, ctx.scalar(alpha, x))])];
};

// Clip: the gradient passes strictly inside [min, max] (and at the bounds, like PyTorch).
const clip: GradientRule = (ctx, n, [g]) => {
  const x = input(n, 0);
  let lo: Value | null;
  let hi: Value | null;
  if (ctx.opset >= 11) {
    lo = n.inputs[1] ?? null;
    hi = n.inputs[2] ?? null;
  } else {
    const a = n.getFloat('min');
    const b = n.getFloat('max');
    lo = a === undefined ? null : ctx.scalar(a, x);
    hi = b === undefined ? null : ctx.scalar(b, x);
  }
  let out = g!;
  // Not(Less) rather than GreaterOrEqual, which needs opset 12.
  if (lo) out = mask(ctx, ctx.op('Not', [ctx.op('Less', [x, lo])]), out, x);
  if (hi) out = mask(ctx, ctx.op('Not', [ctx.op('Greater', [x, hi])]), out, x);
  return [out, null, null];
};

const sigmoid: GradientRule = (ctx, n, [g]) => {
  const y = n.outputs[0];
  return [ctx.mul(g!, ctx.mul(y, ctx.op('Sub', [ctx.scalar(1, y), y])))];
};

const tanh: GradientRule = (ctx, n, [g]) => {
  const y = n.outputs[0];
  return [ctx.mul(g!, ctx.op('Sub', [ctx.scalar(1, y), ctx.mul(y, y)]))];
};

// HardSigmoid y = max(0, min(1, αx + β)): slope α where 0 < αx + β < 1.
const hardSigmoid: GradientRule = (ctx, n, [g]) => {
  const x = input(n, 0);
  const alpha = n.getFloat('alpha', 0.2);
  const beta = n.getFloat('beta', 0.5);
  const z = ctx.op('Add', [ctx.mul(x, ctx.scalar(alpha, x)), ctx.scalar(beta, x)]);
  const inside = ctx.op('And', [ctx.op('Greater', [z, ctx.scalar(0, x)]), ctx.op('Less', [z, ctx.scalar(1, x)])]);
  return [mask(ctx, inside, ctx.mul(g!, ctx.scalar(alpha, x)), x)];
};

// HardSwish y = x·hardsigmoid(x) (α = 1/6, β = 0.5): dy/dx = 0 below −3, 1 above 3, (2x + 3)/6 between.
const hardSwish: GradientRule = (ctx, n, [g]) => {
  const x = input(n, 0);
  const mid = ctx.op('Add', [ctx.mul(x, ctx.scalar(1 / 3, x)), ctx.scalar(0.5, x)]);
  const upper = ctx.op('Where', [ctx.op('Greater', [x, ctx.scalar(3, x)]), ctx.scalar(1, x), mid]);
  const slope = ctx.op('Where', [ctx.op('Less', [x, ctx.scalar(-3, x)]), ctx.scalar(0, x), upper]);
  return [ctx.mul(g!, slope)];
};

// d erf(x)/dx = 2/√π · exp(−x²).
const erf: GradientRule = (ctx, n, [g]) => {
  const x = input(n, 0);
  const e = ctx.op('Exp', [ctx.op('Neg', [ctx.mul(x, x)])]);
  return [ctx.mul(g!, ctx.mul(e, ctx.scalar(2 / Math.sqrt(Math.PI), x)))];
};

const exp: GradientRule = (ctx, n, [g]) => [ctx.mul(g!, n.outputs[0])];

const log: GradientRule = (ctx, n, [g]) => [ctx.op('Div', [g!, input(n, 0)])];

const sqrt: GradientRule = (ctx, n, [g]) => {
  const y = n.outputs[0];
  return [ctx.op('Div', [ctx.mul(g!, ctx.scalar(0.5, y)), y])];
};

// y = a^b: da = g·b·a^(b−1); db = g·y·ln a (only when the exponent itself is trained).
const pow: GradientRule = (ctx, n, [g], needs) => {
  const [a, b] = [input(n, 0), input(n, 1)];
  const y = n.outputs[0];
  const bf = ctx.dtype(b) === ctx.dtype(a) ? b : ctx.op('Cast', [b], { to: ctx.dtype(a) });
  const da = needs[0] ? ctx.mul(g!, ctx.mul(bf, ctx.op('Pow', [a, ctx.op('Sub', [bf, ctx.scalar(1, a)])]))) : null;
  const db = needs[1] ? ctx.reduceTo(ctx.mul(g!, ctx.mul(y, ctx.op('Log', [a]))), b, y, n) : null;
  return [da ? ctx.reduceTo(da, a, y, n) : null, db];
};

const where: GradientRule = (ctx, n, [g], needs) => {
  const [cond, a, b] = [input(n, 0), input(n, 1), input(n, 2)];
  const y = n.outputs[0];
  const zero = ctx.scalar(0, y);
  return [
    null,
    needs[1] ? ctx.reduceTo(ctx.op('Where', [cond, g!, zero]), a, y, n) : null,
    needs[2] ? ctx.reduceTo(ctx.op('Where', [cond, zero, g!]), b, y, n) : null,
  ];
};

// Float-to-float casts: the gradient goes back to the input's precision.
const cast: GradientRule = (ctx, n, [g]) => [ctx.op('Cast', [g!], { to: ctx.dtype(input(n, 0)) })];

const expand: GradientRule = (ctx, n, [g]) => [ctx.reduceTo(g!, input(n, 0), n.outputs[0], n), null];

const abs: GradientRule = (ctx, n, [g]) => [ctx.mul(g!, ctx.op('Sign', [input(n, 0)]))];

const reciprocal: GradientRule = (ctx, n, [g]) => {
  const y = n.outputs[0];
  return [ctx.op('Neg', [ctx.mul(g!, ctx.mul(y, y))])];
};

// Gelu (opset 20): exact, dy/dx = Φ(x) + x·φ(x); tanh form, differentiated as written.
const gelu: GradientRule = (ctx, n, [g]) => {
  const x = input(n, 0);
  const c = (v: number) => ctx.scalar(v, x);
  if (n.getString('approximate', 'none') === 'tanh') {
    const k = Math.sqrt(2 / Math.PI);
    const x2 = ctx.mul(x, x);
    const u = ctx.mul(c(k), ctx.op('Add', [x, ctx.mul(c(0.044715), ctx.mul(x2, x))]));
    const t = ctx.op('Tanh', [u]);
    const du = ctx.mul(c(k), ctx.op('Add', [c(1), ctx.mul(c(3 * 0.044715), x2)]));
    const left = ctx.mul(c(0.5), ctx.op('Add', [c(1), t]));
    const right = ctx.mul(ctx.mul(c(0.5), x), ctx.mul(ctx.op('Sub', [c(1), ctx.mul(t, t)]), du));
    return [ctx.mul(g!, ctx.op('Add', [left, right]))];
  }
  const cdf = ctx.mul(c(0.5), ctx.op('Add', [c(1), ctx.op('Erf', [ctx.mul(x, c(Math.SQRT1_2))])]));
  const pdf = ctx.mul(c(1 / Math.sqrt(2 * Math.PI)), ctx.op('Exp', [ctx.mul(ctx.mul(x, x), c(-0.5))]));
  return [ctx.mul(g!, ctx.op('Add', [cdf, ctx.mul(x, pdf)]))];
};

const prelu: GradientRule = (ctx, n, [g], needs) => {
  const [x, slope] = [input(n, 0), input(n, 1)];
  const y = n.outputs[0];
  const pos = ctx.op('Greater', [x, ctx.scalar(0, x)]);
  const zero = ctx.scalar(0, x);
  return [
    needs[0] ? ctx.reduceTo(ctx.op('Where', [pos, g!, ctx.mul(g!, slope)]), x, y, n) : null,
    needs[1] ? ctx.reduceTo(ctx.op('Where', [pos, zero, ctx.mul(g!, x)]), slope, y, n) : null,
  ];
};

// Elu: y = x for x > 0, α(eˣ − 1) otherwise, where dy/dx = y + α.
const elu: GradientRule = (ctx, n, [g]) => {
  const [x, y] = [input(n, 0), n.outputs[0]];
  const alpha = n.getFloat('alpha', 1);
  const pos = ctx.op('Greater', [x, ctx.scalar(0, x)]);
  return [ctx.op('Where', [pos, g!, ctx.mul(g!, ctx.op('Add', [y, ctx.scalar(alpha, y)]))])];
};

const softplus: GradientRule = (ctx, n, [g]) => [ctx.mul(g!, ctx.op('Sigmoid', [input(n, 0)]))];

/** Max/Min of two inputs: the gradient goes to the selected one (the first on ties). */
function select(loses: 'Less' | 'Greater'): GradientRule {
  return (ctx, n, [g], needs) => {
    if (n.inputs.length !== 2) throw ctx.fail(n, 'only two inputs are supported');
    const [a, b] = [input(n, 0), input(n, 1)];
    const y = n.outputs[0];
    const first = ctx.op('Not', [ctx.op(loses, [a, b])]);
    const zero = ctx.scalar(0, y);
    return [
      needs[0] ? ctx.reduceTo(ctx.op('Where', [first, g!, zero]), a, y, n) : null,
      needs[1] ? ctx.reduceTo(ctx.op('Where', [first, zero, g!]), b, y, n) : null,
    ];
  };
}

const sum: GradientRule = (ctx, n, [g], needs) =>
  n.inputs.map((v, i) => (needs[i] ? ctx.reduceTo(g!, v!, n.outputs[0], n) : null));

export const ELEMENTWISE_RULES: Record<string, GradientRule> = {
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Neg: neg,
  Identity: identity,
  Relu: relu,
  LeakyRelu: leakyRelu,
  Clip: clip,
  Sigmoid: sigmoid,
  Tanh: tanh,
  HardSigmoid: hardSigmoid,
  HardSwish: hardSwish,
  Erf: erf,
  Exp: exp,
  Log: log,
  Sqrt: sqrt,
  Pow: pow,
  Where: where,
  Cast: cast,
  Expand: expand,
  Abs: abs,
  Reciprocal: reciprocal,
  Gelu: gelu,
  PRelu: prelu,
  Elu: elu,
  Softplus: softplus,
  Max: select('Less'),
  Min: select('Greater'),
  Sum: sum,
};
