/** Gradient rules of MaxPool, AveragePool and GlobalAveragePool. */
import { MemoryTensor, typedArrayFor } from '@edgeforge/onnx';
import type { GradientRule } from '../autodiff.js';
import { convGeometry } from './linear.js';

/**
 * MaxPool, through its Indices output (the autodiff adds it to the forward node): the indices are
 * positions in the flattened input, so the gradient is a scatter of G into zeros. Overlapping windows
 * may pick one input twice, which needs ScatterElements' `add` reduction (opset 16).
 */
const maxPool: GradientRule = (ctx, n, [g]) => {
  const x = n.inputs[0]!;
  const idx = n.outputs[1];
  if (!idx) throw ctx.fail(n, 'needs the Indices output');
  if (n.getInt('storage_order', 0) !== 0) throw ctx.fail(n, 'storage_order 1 is not supported');
  const kernel = n.getInts('kernel_shape')!;
  const strides = n.getInts('strides') ?? kernel.map(() => 1);
  const dil = n.getInts('dilations') ?? kernel.map(() => 1);
  const overlap = kernel.some((k, i) => (k - 1) * dil[i] + 1 > strides[i]);
  if (overlap && ctx.opset < 16)
    throw ctx.fail(n, 'overlapping windows need ScatterElements with reduction (opset 16 or later)');
  const flat = ctx.ints([-1]);
  const zeros = ctx.op('Reshape', [ctx.zerosLike(x), flat]);
  // Before opset 11 the same op is called Scatter.
  const op = ctx.opset >= 11 ? 'ScatterElements' : 'Scatter';
  const scattered = ctx.op(op, [zeros, ctx.op('Reshape', [idx, flat]), ctx.op('Reshape', [g!, flat])], {
    axis: 0,
    ...(overlap ? { reduction: 'add' } : {}),
  });
  return [ctx.reshapeLike(scattered, x)];
};

/**
 * AveragePool: each output's gradient, divided by its window's divisor, is spread over the window by
 * a depthwise ConvTranspose with a kernel of ones. Divisors come from the static geometry, so padded
 * windows without count_include_pad are exact.
 */
const averagePool: GradientRule = (ctx, n, [g]) => {
  const x = n.inputs[0]!;
  const xs = ctx.staticShape(x, n, 1);
  const ys = ctx.staticShape(n.outputs[0], n, 2);
  const kernel = n.getInts('kernel_shape')!;
  if (n.getInt('ceil_mode', 0) !== 0) throw ctx.fail(n, 'ceil_mode 1 is not supported');
  if ((n.getInts('dilations') ?? []).some((d) => d !== 1)) throw ctx.fail(n, 'dilations are not supported');
  const geo = convGeometry(ctx, n, xs, kernel);
  const { spatial: s, strides, pads } = geo;
  const includePad = n.getInt('count_include_pad', 0) === 1;
  const c = xs[1];
  const dtype = ctx.dtype(x);
  const Arr = typedArrayFor(dtype) as Float32ArrayConstructor;
  // Divisor per output position: product over spatial dims of the window's in-bounds length.
  const outSp = ys.slice(2);
  const total = outSp.reduce((a, b) => a * b, 1);
  const div = new Arr(total);
  for (let p = 0; p < total; p++) {
    let rem = p;
    let prod = 1;
    for (let i = s - 1; i >= 0; i--) {
      const o = rem % outSp[i];
      rem = Math.floor(rem / outSp[i]);
      const start = o * strides[i] - pads[i];
      const end = start + kernel[i];
      prod *= includePad ? kernel[i] : Math.min(end, xs[2 + i]) - Math.max(start, 0);
    }
    div[p] = 1 / prod;
  }
  const scale = ctx.constant(dtype, [1, 1, ...outSp], div);
  const ones = new Arr(c * kernel.reduce((a, b) => a * b, 1)).fill(1);
  const w = ctx.model.graph.addInitializer(
    ctx.model.graph.freshName('grad_pool_ones'),
    new MemoryTensor(dtype, [c, 1, ...kernel], ones),
  );
  const outputPadding = kernel.map((k, i) => xs[2 + i] - ((ys[2 + i] - 1) * strides[i] - pads[i] - pads[i + s] + k));
  return [
    ctx.op('ConvTranspose', [ctx.mul(g!, scale), w], {
      strides,
      pads,
      group: c,
      kernel_shape: kernel,
      ...(outputPadding.some((p) => p !== 0) ? { output_padding: outputPadding } : {}),
    }),
  ];
};

const globalAveragePool: GradientRule = (ctx, n, [g]) => {
  const x = n.inputs[0]!;
  const xs = ctx.staticShape(x, n, 2);
  const count = xs.slice(2).reduce((a, b) => a * b, 1);
  return [ctx.mul(ctx.op('Expand', [g!, ctx.op('Shape', [x])]), ctx.scalar(1 / count, x))];
};

/**
 * Resize / Upsample in nearest mode by integer factors, where each input element is copied to a
 * block of the output (the coordinate modes that map blocks back to one source): the gradient sums
 * each block, as a Reshape that splits every spatial axis and a ReduceSum over the block axes.
 */
const resizeNearest: GradientRule = (ctx, n, [g]) => {
  const x = n.inputs[0]!;
  const xs = ctx.staticShape(x, n, 1);
  const ys = ctx.staticShape(n.outputs[0], n, 1);
  if (n.getString('mode', 'nearest') !== 'nearest') throw ctx.fail(n, 'only nearest mode is supported');
  const ctm = n.getString('coordinate_transformation_mode', 'half_pixel');
  const nm = n.getString('nearest_mode', 'round_prefer_floor');
  const blocks =
    n.opType === 'Upsample' ||
    ctx.opset < 11 ||
    (ctm === 'asymmetric' && nm === 'floor') ||
    ((ctm === 'half_pixel' || ctm === 'pytorch_half_pixel') && nm.startsWith('round_prefer'));
  if (!blocks) throw ctx.fail(n, `coordinate mode '${ctm}' with nearest mode '${nm}' is not supported`);
  const factors = xs.map((d, i) => (i < 2 ? 1 : ys[i] / d));
  if (xs[1] !== ys[1] || factors.some((f) => !Number.isInteger(f) || f < 1))
    throw ctx.fail(n, `only integer upscaling of spatial axes is supported ([${xs}] → [${ys}])`);
  const split = [-1, xs[1], ...xs.slice(2).flatMap((d, i) => [d, factors[i + 2]])];
  const blockAxes = xs.slice(2).map((_, i) => 3 + 2 * i);
  const summed = ctx.reduceSum(ctx.op('Reshape', [g!, ctx.ints(split)]), blockAxes, false);
  return [summed, null, null, null];
};

export const POOL_RULES: Record<string, GradientRule> = {
  Resize: resizeNearest,
  Upsample: resizeNearest,
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
};
