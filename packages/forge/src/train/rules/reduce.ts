/** Gradient rules of reductions and of Softmax / LogSoftmax. */
import type { Node, Value } from '@edgeforge/onnx';
import type { GradContext, GradientRule } from '../autodiff.js';
import { constInts } from './shape.js';

/** Normalized reduction axes of a ReduceSum/ReduceMean node, or null for "no reduction". */
function reduceAxes(ctx: GradContext, n: Node, axesAsInput: boolean): number[] | null {
  const r = ctx.rank(n.inputs[0]!, n);
  let axes: number[] | undefined;
  if (axesAsInput) {
    if (n.inputs[1] && !(axes = constInts(n.inputs[1]))) throw ctx.fail(n, 'needs constant axes');
  } else axes = n.getInts('axes');
  if (!axes || axes.length === 0) {
    if (axesAsInput && n.getInt('noop_with_empty_axes', 0) === 1) return null;
    return [...Array(r).keys()];
  }
  return axes.map((a) => (a + r) % r).sort((a, b) => a - b);
}

function reduceRule(mean: boolean, inputSince: number): GradientRule {
  return (ctx, n, [g]) => {
    const x = n.inputs[0]!;
    const axes = reduceAxes(ctx, n, ctx.opset >= inputSince);
    if (axes === null) return [g, null];
    const keep = n.getInt('keepdims', 1) === 1 ? g! : ctx.unsqueeze(g!, axes);
    let dx: Value = ctx.op('Expand', [keep, ctx.op('Shape', [x])]);
    if (mean) {
      const t = ctx.dtype(x);
      const ratio = ctx.op('Div', [
        ctx.op('Cast', [ctx.op('Size', [n.outputs[0]])], { to: t }),
        ctx.op('Cast', [ctx.op('Size', [x])], { to: t }),
      ]);
      dx = ctx.mul(dx, ratio);
    }
    return [dx, null];
  };
}

function softmaxAxis(ctx: GradContext, n: Node): number {
  const r = ctx.rank(n.inputs[0]!, n);
  const axis = (n.getInt('axis', ctx.opset >= 13 ? -1 : 1) + r) % r;
  // Before opset 13 the op flattens to 2-D around the axis; that equals the per-axis form only on the last axis.
  if (ctx.opset < 13 && axis !== r - 1) throw ctx.fail(n, 'before opset 13 only the last axis is supported');
  return axis;
}

// y = softmax(x): dx = y·(g − Σ g·y).
const softmax: GradientRule = (ctx, n, [g]) => {
  const axis = softmaxAxis(ctx, n);
  const y = n.outputs[0];
  const s = ctx.reduceSum(ctx.mul(g!, y), [axis], true);
  return [ctx.mul(y, ctx.op('Sub', [g!, s]))];
};

// y = log softmax(x): dx = g − exp(y)·Σ g.
const logSoftmax: GradientRule = (ctx, n, [g]) => {
  const axis = softmaxAxis(ctx, n);
  const s = ctx.reduceSum(g!, [axis], true);
  return [ctx.op('Sub', [g!, ctx.mul(ctx.op('Exp', [n.outputs[0]]), s)])];
};

export const REDUCE_RULES: Record<string, GradientRule> = {
  ReduceSum: reduceRule(false, 13),
  ReduceMean: reduceRule(true, 18),
  Softmax: softmax,
  LogSoftmax: logSoftmax,
};
