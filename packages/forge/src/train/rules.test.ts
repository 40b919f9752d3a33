import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, MemoryTensor, type AttrInit, type Value } from '@edgeforge/onnx';
import type { Feeds } from '../runtime/types.js';
import { gradCheck, randomTensor, rng, weightedSumLoss } from './gradcheck.js';

const F64 = DataType.DOUBLE;
const F32 = DataType.FLOAT;

interface Case {
  name: string;
  dtype?: number;
  opset?: number;
  /** Initializers: name → [dims, lo, hi]. */
  params: Record<string, [number[], number?, number?]>;
  /** Extra constant initializers that are not trained. */
  consts?: Record<string, MemoryTensor>;
  build: (b: GraphBuilder, v: Record<string, Value>) => Value;
  /** Distinct values at least 0.05 apart (max pooling must not switch winners under ±eps). */
  spaced?: boolean;
  eps?: number;
  tol?: number;
  feeds?: Feeds;
}

/** Overwrites a float tensor with a random permutation of 0.05·(i − n/2). */
function spread(bytes: Uint8Array, dtype: number, rand: () => number): void {
  const a =
    dtype === F64
      ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.length / 8)
      : new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const order = [...a.keys()].sort(() => rand() - 0.5);
  order.forEach((k, i) => (a[k] = 0.05 * (i - a.length / 2)));
}

/** Runs one finite-difference check and prints its errors. */
async function check(c: Case): Promise<void> {
  const dtype = c.dtype ?? F64;
  const b = new GraphBuilder(c.name);
  const rand = rng(c.name.length * 31 + 1);
  const v: Record<string, Value> = {};
  for (const [name, [dims, lo, hi]] of Object.entries(c.params)) {
    const t = randomTensor(dtype, dims, rand, lo ?? -1, hi ?? 1);
    if (c.spaced) spread(t.bytes(), dtype, rand);
    v[name] = b.initializer(name, t);
  }
  for (const [name, t] of Object.entries(c.consts ?? {})) v[name] = b.initializer(name, t);
  const y = c.build(b, v);
  b.output(y, 'y');
  const model = b.model({ opset: c.opset ?? 17 });
  const loss = weightedSumLoss(model, 'y');
  const res = await gradCheck(model, loss, c.feeds ?? {}, {
    params: Object.keys(c.params),
    eps: c.eps ?? (dtype === F64 ? 1e-6 : 1e-2),
  });
  const tol = c.tol ?? (dtype === F64 ? 1e-6 : 2e-3);
  for (const r of res) {
    console.log(
      `${c.name.padEnd(34)} d/d${r.param.padEnd(6)} max abs err ${r.maxAbsError.toExponential(2)}  rel ${r.maxRelError.toExponential(2)} (${r.checked} elems, ${dtype === F64 ? 'f64' : 'f32'})`,
    );
    assert.ok(r.maxRelError < tol, `${c.name} d/d${r.param}: rel error ${r.maxRelError} ≥ ${tol}`);
  }
  assert.equal(res.length, Object.keys(c.params).length, 'every parameter got a gradient');
}

const i64 = (xs: number[]) => new MemoryTensor(DataType.INT64, [xs.length], BigInt64Array.from(xs.map(BigInt)));
const op = (b: GraphBuilder, t: string, ins: Value[], attrs: Record<string, AttrInit> = {}) => b.op(t, ins, attrs);

const cases: Case[] = [
  // ---- linear ----
  ...[
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ].map(([ta, tb]): Case => ({
    name: `Gemm transA=${ta} transB=${tb}`,
    params: { a: [ta ? [4, 3] : [3, 4]], w: [tb ? [5, 4] : [4, 5]], c: [[5]] },
    build: (b, v) => op(b, 'Gemm', [v.a, v.w, v.c], { transA: ta, transB: tb, alpha: 0.7, beta: 1.3 }),
  })),
  {
    name: 'Gemm bias [1,5]',
    params: { a: [[3, 4]], w: [[4, 5]], c: [[1, 5]] },
    build: (b, v) => op(b, 'Gemm', [v.a, v.w, v.c]),
  },
  {
    name: 'MatMul batched, B broadcast',
    params: { a: [[2, 3, 4]], w: [[4, 5]] },
    build: (b, v) => op(b, 'MatMul', [v.a, v.w]),
  },
  {
    name: 'MatMul A broadcast',
    params: { a: [[3, 4]], w: [[2, 4, 5]] },
    build: (b, v) => op(b, 'MatMul', [v.a, v.w]),
  },
  // ---- elementwise with broadcasting ----
  ...['Add', 'Sub', 'Mul', 'Div'].map((t): Case => ({
    name: `${t} broadcast [2,3,4]·[3,1]`,
    params: { a: [[2, 3, 4]], w: [[3, 1], 0.5, 1.5] },
    build: (b, v) => op(b, t, [v.a, v.w]),
  })),
  {
    name: 'Mul same operand twice',
    params: { a: [[3, 4]] },
    build: (b, v) => op(b, 'Mul', [v.a, v.a]),
  },
  // ---- activations ----
  ...(
    [
      ['Relu', {}],
      ['LeakyRelu', { alpha: 0.1 }],
      ['Sigmoid', {}],
      ['Tanh', {}],
      ['Exp', {}],
      ['Neg', {}],
    ] as [string, Record<string, AttrInit>][]
  ).map(([t, attrs]): Case => ({
    name: t,
    params: { x: [[4, 6], -2, 2] },
    build: (b, v) => op(b, t, [v.x], attrs),
  })),
  // onnxruntime has no float64 kernels for these.
  { name: 'Erf', dtype: F32, params: { x: [[4, 6], -2, 2] }, build: (b, v) => op(b, 'Erf', [v.x]) },
  {
    name: 'HardSigmoid',
    dtype: F32,
    params: { x: [[4, 6], -5, 5] },
    build: (b, v) => op(b, 'HardSigmoid', [v.x], { alpha: 0.3, beta: 0.4 }),
  },
  { name: 'HardSwish', dtype: F32, params: { x: [[4, 6], -5, 5] }, build: (b, v) => op(b, 'HardSwish', [v.x]) },
  { name: 'Log', params: { x: [[4, 6], 0.5, 2] }, build: (b, v) => op(b, 'Log', [v.x]) },
  { name: 'Sqrt', params: { x: [[4, 6], 0.5, 2] }, build: (b, v) => op(b, 'Sqrt', [v.x]) },
  {
    name: 'Pow (exponent trained too)',
    params: { x: [[4, 6], 0.5, 2], p: [[6], 1, 3] },
    build: (b, v) => op(b, 'Pow', [v.x, v.p]),
  },
  {
    name: 'Clip (Relu6 form)',
    params: { x: [[4, 6], -3, 9] },
    build: (b) => {
      const v = b.graph.initializers.get('x')!;
      return op(b, 'Clip', [
        v,
        b.constant(new MemoryTensor(F64, [], Float64Array.of(0))),
        b.constant(new MemoryTensor(F64, [], Float64Array.of(6))),
      ]);
    },
  },
  {
    name: 'Where (mask) with broadcast branch',
    params: { a: [[3, 4]], w: [[4]] },
    consts: {
      m: new MemoryTensor(
        DataType.BOOL,
        [3, 4],
        Uint8Array.from({ length: 12 }, (_, i) => ((i * 7) % 3) & 1),
      ),
    },
    build: (b, v) => op(b, 'Where', [v.m, v.a, v.w]),
  },
  {
    name: 'Cast float64 → float32 → float64',
    params: { x: [[3, 4]] },
    build: (b, v) =>
      op(b, 'Cast', [op(b, 'Mul', [op(b, 'Cast', [v.x], { to: F32 }), op(b, 'Cast', [v.x], { to: F32 })])], {
        to: F64,
      }),
    // The float32 step rounds: a wide central difference is still exact for a square.
    eps: 1e-2,
    tol: 1e-4,
  },
  {
    name: 'Expand [3,1] → [2,3,4]',
    params: { x: [[3, 1]] },
    consts: { s: i64([2, 3, 4]) },
    build: (b, v) => op(b, 'Expand', [v.x, v.s]),
  },
  { name: 'Abs', params: { x: [[4, 6]] }, build: (b, v) => op(b, 'Abs', [v.x]) },
  { name: 'Reciprocal', params: { x: [[4, 6], 0.5, 2] }, build: (b, v) => op(b, 'Reciprocal', [v.x]) },
  {
    name: 'Gelu exact (opset 20)',
    dtype: F32,
    opset: 20,
    params: { x: [[4, 6], -3, 3] },
    build: (b, v) => op(b, 'Gelu', [v.x]),
  },
  {
    name: 'Gelu tanh (opset 20)',
    dtype: F32,
    opset: 20,
    params: { x: [[4, 6], -3, 3] },
    build: (b, v) => op(b, 'Gelu', [v.x], { approximate: 'tanh' }),
  },
  {
    name: 'PRelu (slope trained, broadcast)',
    params: { x: [[2, 3, 4], -2, 2], p: [[3, 1], 0.1, 0.5] },
    build: (b, v) => op(b, 'PRelu', [v.x, v.p]),
  },
  { name: 'Elu', dtype: F32, params: { x: [[4, 6], -2, 2] }, build: (b, v) => op(b, 'Elu', [v.x], { alpha: 0.7 }) },
  { name: 'Softplus', dtype: F32, params: { x: [[4, 6], -3, 3] }, build: (b, v) => op(b, 'Softplus', [v.x]) },
  ...['Max', 'Min'].map((t): Case => ({
    name: `${t} of two`,
    params: { a: [[3, 4]], w: [[4]] },
    build: (b, v) => op(b, t, [v.a, v.w]),
  })),
  {
    name: 'Sum of three (broadcast)',
    params: { a: [[3, 4]], w: [[4]], c: [[3, 1]] },
    build: (b, v) => op(b, 'Sum', [v.a, v.w, v.c]),
  },
  {
    name: 'Pad constant',
    params: { x: [[2, 3, 4]] },
    consts: { pads: i64([0, 1, 2, 1, 0, 3]) },
    build: (b, v) => op(b, 'Pad', [v.x, v.pads]),
  },
  // ---- shape ops ----
  {
    name: 'Reshape + Flatten',
    params: { x: [[2, 3, 4]] },
    consts: { s: i64([4, 6]) },
    build: (b, v) => op(b, 'Flatten', [op(b, 'Reshape', [v.x, v.s])], { axis: 1 }),
  },
  { name: 'Transpose', params: { x: [[2, 3, 4]] }, build: (b, v) => op(b, 'Transpose', [v.x], { perm: [2, 0, 1] }) },
  {
    name: 'Squeeze/Unsqueeze',
    params: { x: [[2, 1, 4]] },
    consts: { a1: i64([1]), a0: i64([0]) },
    build: (b, v) => op(b, 'Unsqueeze', [op(b, 'Squeeze', [v.x, v.a1]), v.a0]),
  },
  {
    name: 'Concat axis 1',
    params: { a: [[2, 3]], w: [[2, 5]] },
    build: (b, v) => op(b, 'Concat', [v.a, v.w, v.a], { axis: 1 }),
  },
  {
    name: 'Split (one part unused)',
    params: { x: [[2, 7]] },
    consts: { sp: i64([3, 4]) },
    build: (b, v) => {
      const n = b.node('Split', [v.x, v.sp], { axis: 1 }, { outputs: 2 });
      return op(b, 'Mul', [n.outputs[0], n.outputs[0]]);
    },
  },
  {
    name: 'Slice',
    params: { x: [[4, 6]] },
    consts: { st: i64([1, -4]), en: i64([3, 100]), ax: i64([0, 1]) },
    build: (b, v) => op(b, 'Slice', [v.x, v.st, v.en, v.ax]),
  },
  {
    name: 'Slice with computed starts/ends',
    params: { x: [[4, 6]] },
    consts: { ax: i64([1]), k: i64([3]), two: i64([2]) },
    build: (b, v) => {
      // torch's export form: x[:, d/3 : 2d/3] with d = Shape(x)[1].
      const d = op(b, 'Gather', [op(b, 'Shape', [v.x]), v.ax]);
      const third = op(b, 'Div', [d, v.k]);
      return op(b, 'Slice', [v.x, third, op(b, 'Mul', [third, v.two]), v.ax]);
    },
  },
  {
    name: 'Gather axis 0 (repeated indices)',
    params: { x: [[5, 3]] },
    consts: { idx: new MemoryTensor(DataType.INT64, [2, 2], BigInt64Array.of(1n, 3n, 1n, -1n)) },
    build: (b, v) => op(b, 'Gather', [v.x, v.idx]),
  },
  {
    name: 'Dropout (inference mode)',
    params: { x: [[4, 6]] },
    consts: {
      ratio: new MemoryTensor(F64, [], Float64Array.of(0.5)),
      mode: new MemoryTensor(DataType.BOOL, [], Uint8Array.of(0)),
    },
    build: (b, v) => op(b, 'Dropout', [v.x, v.ratio, v.mode]),
  },
  // ---- reductions, softmax ----
  {
    name: 'ReduceSum axes [1] keepdims 0',
    params: { x: [[2, 3, 4]] },
    consts: { ax: i64([1]) },
    build: (b, v) => op(b, 'ReduceSum', [v.x, v.ax], { keepdims: 0 }),
  },
  {
    name: 'ReduceMean axes [0,2] (opset 17)',
    params: { x: [[2, 3, 4]] },
    build: (b, v) => op(b, 'ReduceMean', [v.x], { axes: [0, 2], keepdims: 1 }),
  },
  {
    name: 'ReduceMean axes input (opset 18)',
    opset: 18,
    params: { x: [[2, 3, 4]] },
    consts: { ax: i64([-1]) },
    build: (b, v) => op(b, 'ReduceMean', [v.x, v.ax], { keepdims: 0 }),
  },
  { name: 'Softmax axis 1', params: { x: [[2, 5, 3], -2, 2] }, build: (b, v) => op(b, 'Softmax', [v.x], { axis: 1 }) },
  { name: 'LogSoftmax', params: { x: [[3, 5], -2, 2] }, build: (b, v) => op(b, 'LogSoftmax', [v.x]) },
  // ---- older opsets: axes, split and clip bounds as attributes ----
  {
    name: 'opset 11: ReduceSum axes attribute, Concat/Split',
    opset: 11,
    params: { a: [[2, 3]], w: [[2, 5]] },
    build: (b, v) => op(b, 'ReduceSum', [op(b, 'Concat', [v.a, v.w], { axis: 1 })], { axes: [0], keepdims: 0 }),
  },
  {
    name: 'opset 11: Softmax on the last axis, Unsqueeze',
    opset: 11,
    params: { x: [[3, 5], -2, 2] },
    build: (b, v) => op(b, 'Unsqueeze', [op(b, 'Softmax', [v.x], { axis: 1 })], { axes: [0] }),
  },
  {
    name: 'opset 10: Clip with attribute bounds',
    dtype: F32,
    opset: 10,
    params: { x: [[4, 6], -3, 9] },
    build: (b, v) => op(b, 'Clip', [v.x], { min: { float: 0 }, max: { float: 6 } }),
  },
  // ---- normalization ----
  {
    name: 'LayerNormalization axis -1',
    params: { x: [[2, 3, 6]], s: [[6]], bb: [[6]] },
    build: (b, v) => op(b, 'LayerNormalization', [v.x, v.s, v.bb], { axis: -1, epsilon: 1e-5 }),
  },
  {
    name: 'LayerNormalization axis 1',
    params: { x: [[2, 3, 4]], s: [[3, 4]] },
    build: (b, v) => op(b, 'LayerNormalization', [v.x, v.s], { axis: 1 }),
  },
  // ---- conv and pools (float32: onnxruntime's Conv kernels are float only) ----
  ...(
    [
      ['Conv 3x3 pad 1', { pads: [1, 1, 1, 1] }, [4, 2, 3, 3], 1],
      ['Conv stride 2 pad 1', { pads: [1, 1, 1, 1], strides: [2, 2] }, [4, 2, 3, 3], 1],
      ['Conv stride 2 no pad (odd input)', { strides: [2, 2] }, [3, 2, 2, 2], 1],
      ['Conv dilation 2', { dilations: [2, 2], pads: [2, 1, 0, 2] }, [3, 2, 3, 3], 1],
      ['Conv groups 2', { group: 2, pads: [1, 1, 1, 1] }, [4, 1, 3, 3], 2],
      ['Conv depthwise stride 2', { group: 2, strides: [2, 2], pads: [1, 1, 1, 1] }, [2, 1, 3, 3], 2],
      ['Conv SAME_UPPER stride 2', { auto_pad: 'SAME_UPPER', strides: [2, 2] }, [3, 2, 3, 3], 1],
    ] as [string, Record<string, AttrInit>, number[], number][]
  ).map(([name, attrs, ws]): Case => ({
    name,
    dtype: F32,
    params: { x: [[2, 2, 7, 7]], w: [ws], bias: [[ws[0]]] },
    build: (b, v) => op(b, 'Conv', [v.x, v.w, v.bias], { kernel_shape: ws.slice(2), ...attrs }),
  })),
  ...(
    [
      ['ConvTranspose stride 2 pad 1', { strides: [2, 2], pads: [1, 1, 1, 1] }, [2, 3, 3, 3]],
      [
        'ConvTranspose stride 2 output_padding 1',
        { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1] },
        [2, 3, 3, 3],
      ],
      ['ConvTranspose dilation 2', { dilations: [2, 2] }, [2, 3, 2, 2]],
      ['ConvTranspose stride 2 kernel 2', { strides: [2, 2] }, [2, 4, 2, 2]],
    ] as [string, Record<string, AttrInit>, number[]][]
  ).map(([name, attrs, ws]): Case => ({
    name,
    dtype: F32,
    params: { x: [[2, 2, 4, 5]], w: [ws], bias: [[ws[1]]] },
    build: (b, v) => op(b, 'ConvTranspose', [v.x, v.w, v.bias], { kernel_shape: ws.slice(2), ...attrs }),
  })),
  {
    name: 'Conv1d stride 2',
    dtype: F32,
    params: { x: [[2, 3, 9]], w: [[4, 3, 3]] },
    build: (b, v) => op(b, 'Conv', [v.x, v.w], { kernel_shape: [3], strides: [2] }),
  },
  {
    name: 'MaxPool 2x2 stride 2 (opset 13)',
    dtype: F32,
    spaced: true,
    opset: 13,
    params: { x: [[2, 3, 6, 6]] },
    build: (b, v) => op(b, 'MaxPool', [v.x], { kernel_shape: [2, 2], strides: [2, 2] }),
  },
  {
    name: 'MaxPool 3x3 stride 2 pad 1 (overlap)',
    dtype: F32,
    spaced: true,
    params: { x: [[2, 3, 7, 7]] },
    build: (b, v) => op(b, 'MaxPool', [v.x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  {
    name: 'AveragePool 3x3 s2 pad 1 excl. pad',
    dtype: F32,
    params: { x: [[2, 3, 7, 7]] },
    build: (b, v) => op(b, 'AveragePool', [v.x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
  },
  {
    name: 'AveragePool 2x2 incl. pad',
    dtype: F32,
    params: { x: [[1, 2, 5, 5]] },
    build: (b, v) => op(b, 'AveragePool', [v.x], { kernel_shape: [2, 2], pads: [1, 0, 0, 1], count_include_pad: 1 }),
  },
  ...(
    [
      ['Resize nearest ×2×3 (half_pixel, round_prefer_floor)', {}],
      [
        'Resize nearest ×2×3 (asymmetric, floor)',
        { coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' },
      ],
    ] as [string, Record<string, AttrInit>][]
  ).map(([name, attrs]): Case => ({
    name,
    dtype: F32,
    params: { x: [[2, 3, 3, 4]] },
    consts: { scales: new MemoryTensor(F32, [4], Float32Array.of(1, 1, 2, 3)) },
    build: (b, v) => b.op('Resize', [v.x, null, v.scales], { mode: 'nearest', ...attrs }),
  })),
  {
    name: 'Upsample nearest ×2 (opset 9), MaxPool via Scatter',
    dtype: F32,
    opset: 9,
    spaced: true,
    params: { x: [[1, 2, 4, 4]] },
    consts: { scales: new MemoryTensor(F32, [4], Float32Array.of(1, 1, 2, 2)) },
    build: (b, v) =>
      op(b, 'MaxPool', [op(b, 'Upsample', [v.x, v.scales], { mode: 'nearest' })], {
        kernel_shape: [3, 3],
        strides: [3, 3],
      }),
  },
  {
    name: 'GlobalAveragePool',
    dtype: F32,
    params: { x: [[2, 3, 4, 5]] },
    build: (b, v) => op(b, 'GlobalAveragePool', [v.x]),
  },
  {
    name: 'BatchNormalization (inference)',
    dtype: F32,
    params: { x: [[2, 3, 4, 4]], s: [[3]], bb: [[3]] },
    consts: {
      mean: randomTensor(F32, [3], rng(5)),
      var: randomTensor(F32, [3], rng(6), 0.5, 2),
    },
    build: (b, v) => op(b, 'BatchNormalization', [v.x, v.s, v.bb, v.mean, v.var], { epsilon: 1e-3 }),
  },
];

describe('gradient rules against finite differences', () => {
  for (const c of cases) it(c.name, () => check(c));
});
