/**
 * quantize-static on small built graphs: onnxruntime's optimized graph shows the int8 kernels
 * (QLinearConv, QGemm, QLinearMatMul, QLinearAdd, QLinearGlobalAveragePool), Relu/Clip are absorbed
 * when the Q range makes them a no-op, int32 bias and per-channel weight values and axes are what
 * the contract says, graph inputs/outputs keep names and float types, data movement shares scales,
 * and the refusals are clear.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  checkModel,
  floatTensor,
  int64Tensor,
  loadModelFromBytes,
  serializeModel,
  toFloat32,
  toTypedArray,
  type Model,
  type Value,
} from '@edgeforge/onnx';
import { runPasses } from '../manager.js';
import type { Pass } from '../pass.js';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import { roundHalfEven } from './params.js';
import {
  parseQuantizeStaticOptions,
  quantizeStatic,
  quantizeStaticPass,
  type QuantizeStaticOptions,
} from './quantize-static.js';
import { batchesOf, optimizedOps, rng, snrDb, uniform } from './testing/static-testing.js';

const rand = rng(5);
const randT = (dims: number[], lo = -1, hi = 1) => floatTensor(dims, uniform(rand, dims, lo, hi).data as Float32Array);

async function run(model: Model, feeds: Feeds): Promise<Record<string, HostTensor>> {
  const s = await getBackend('node').createSession(serializeModel(model));
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function calibrationFor(input: string, dims: number[], n = 6, lo = -1, hi = 1): Feeds[] {
  return Array.from({ length: n }, () => ({ [input]: uniform(rand, dims, lo, hi) }));
}

/** Quantizes a copy; checker clean; returns it with the report. */
async function quantize(model: Model, calib: Feeds[], raw: Record<string, unknown> = {}) {
  const q = loadModelFromBytes(serializeModel(model));
  const r = await quantizeStatic(q, parseQuantizeStaticOptions(raw), batchesOf(calib));
  assert.deepEqual(
    checkModel(q).filter((i) => i.severity === 'error'),
    [],
  );
  return { q, ...r };
}

/** SNR of every output of `q` against `model` on `feeds`. */
async function outputSnr(model: Model, q: Model, feeds: Feeds): Promise<Record<string, number>> {
  const [a, b] = [await run(model, feeds), await run(q, feeds)];
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  return Object.fromEntries(
    Object.keys(a).map((k) => [k, snrDb(a[k].data as Float32Array, b[k].data as Float32Array)]),
  );
}

const initializer = (m: Model, name: string) => {
  const v = m.graph.initializers.get(name);
  assert.ok(v?.const, `initializer '${name}'`);
  return v.const;
};
const dqOf = (m: Model, output: string) => m.graph.nodes().find((n) => n.outputs[0]?.name === output)!;

/** x → Conv(W, b) → Relu → GlobalAveragePool → Flatten → Gemm(transB) → y */
function convNet(opset = 13, act: 'Relu' | 'Clip' = 'Relu', clip: [number, number] = [0, 6]): Model {
  const b = new GraphBuilder('convnet');
  const x = b.input('x', DataType.FLOAT, ['N', 3, 8, 8]);
  const conv = b.op(
    'Conv',
    [x, b.initializer('w', randT([8, 3, 3, 3])), b.initializer('b', randT([8], -0.2, 0.2))],
    { pads: [1, 1, 1, 1] },
    { name: 'conv', output: 'conv_out' },
  );
  let a: Value;
  if (act === 'Relu') a = b.op('Relu', [conv], {}, { name: 'relu', output: 'relu_out' });
  else if (opset >= 11)
    a = b.op(
      'Clip',
      [conv, b.initializer('lo', floatTensor([], [clip[0]])), b.initializer('hi', floatTensor([], [clip[1]]))],
      {},
      { name: 'clip', output: 'clip_out' },
    );
  else
    a = b.op(
      'Clip',
      [conv],
      { min: { float: clip[0] }, max: { float: clip[1] } },
      { name: 'clip', output: 'clip_out' },
    );
  const gap = b.op('GlobalAveragePool', [a], {}, { name: 'gap' });
  const flat = b.op('Flatten', [gap], {}, { name: 'flatten' });
  const y = b.op('Gemm', [flat, b.initializer('w2', randT([10, 8])), b.initializer('c2', randT([10], -0.1, 0.1))], {
    transB: 1,
  });
  b.output(y, 'y', DataType.FLOAT, ['N', 10]);
  return b.model({ opset });
}

describe('quantize-static: int8 kernels in onnxruntime', () => {
  it('Conv+Relu+GAP+Gemm: QLinearConv, QLinearGlobalAveragePool, QGemm; Relu absorbed; I/O kept', async () => {
    const model = convNet();
    const { q, report, quantized } = await quantize(model, calibrationFor('x', [4, 3, 8, 8]));
    console.log('conv net:', JSON.stringify(report.counts));
    assert.equal(report.counts["Relu absorbed into the producer's quantization"], 1);
    assert.equal(report.counts['weights quantized per channel'], 2);
    assert.equal(report.counts['biases quantized to int32'], 2);
    const ops = await optimizedOps(q);
    console.log('conv net, onnxruntime optimized:', JSON.stringify(ops));
    assert.equal(ops.QLinearConv, 1);
    assert.equal(ops['com.microsoft::QLinearGlobalAveragePool'], 1);
    assert.equal(ops['com.microsoft::QGemm'], 1);
    for (const float of ['Conv', 'Gemm', 'Relu', 'GlobalAveragePool']) assert.equal(ops[float], undefined, float);
    // The interface: same names, float types and shapes.
    assert.deepEqual(
      q.graph.inputs.map((v) => [v.name, v.type]),
      model.graph.inputs.map((v) => [v.name, v.type]),
    );
    assert.deepEqual(
      q.graph.outputs.map((v) => [v.name, v.type]),
      model.graph.outputs.map((v) => [v.name, v.type]),
    );
    assert.deepEqual(
      quantized.map((n) => [n.opType, n.node, n.output]),
      [
        ['Conv', 'conv', 'relu_out'],
        ['GlobalAveragePool', 'gap', 'gap_out0'],
        ['Flatten', 'flatten', 'flatten_out0'],
        ['Gemm', 'y', 'y'],
      ],
    );
    const snr = await outputSnr(model, q, { x: uniform(rand, [3, 3, 8, 8]) });
    console.log(`conv net output SNR ${snr.y.toFixed(1)} dB`);
    assert.ok(snr.y > 25, `SNR ${snr.y}`);
  });

  it('MLP of MatMul + Add: QLinearMatMul and QLinearAdd; Gemm MLP: QGemm', async () => {
    const b = new GraphBuilder('mlp');
    const x = b.input('x', DataType.FLOAT, ['N', 16]);
    const h = b.op('Add', [
      b.op('MatMul', [x, b.initializer('w1', randT([16, 32]))]),
      b.initializer('b1', randT([32])),
    ]);
    const r = b.op('Relu', [h]);
    const y = b.op('Add', [b.op('MatMul', [r, b.initializer('w2', randT([32, 4]))]), b.initializer('b2', randT([4]))]);
    b.output(y, 'y', DataType.FLOAT, ['N', 4]);
    const mlp = b.model({ opset: 13 });
    const calib = calibrationFor('x', [8, 16]);
    const { q, report } = await quantize(mlp, calib);
    const ops = await optimizedOps(q);
    console.log('MatMul MLP, onnxruntime optimized:', JSON.stringify(ops), JSON.stringify(report.counts));
    assert.equal(ops.QLinearMatMul, 2);
    assert.equal(ops['com.microsoft::QLinearAdd'], 2);
    assert.equal(ops.MatMul, undefined);
    assert.equal(report.counts['constants quantized'], 2);
    const snr = await outputSnr(mlp, q, { x: uniform(rand, [5, 16]) });
    assert.ok(snr.y > 25, `SNR ${snr.y}`);

    const g = new GraphBuilder('gemm-mlp');
    const gx = g.input('x', DataType.FLOAT, ['N', 16]);
    const g1 = g.op('Gemm', [gx, g.initializer('w1', randT([16, 32])), g.initializer('c1', randT([1, 32]))], {
      beta: 0.5,
    });
    const g2 = g.op(
      'Gemm',
      [g.op('Relu', [g1]), g.initializer('w2', randT([4, 32])), g.initializer('c2', randT([4]))],
      {
        transB: 1,
      },
    );
    g.output(g2, 'y', DataType.FLOAT, ['N', 4]);
    const gm = g.model({ opset: 13 });
    const gq = await quantize(gm, calib);
    const gops = await optimizedOps(gq.q);
    assert.equal(gops['com.microsoft::QGemm'], 2, JSON.stringify(gops));
    // beta went into the int32 bias; the Gemm itself now has beta = 1 (QGemm's condition).
    for (const n of gq.q.graph) if (n.opType === 'Gemm') assert.equal(n.getFloat('beta', 1), 1);
    const gsnr = await outputSnr(gm, gq.q, { x: uniform(rand, [5, 16]) });
    assert.ok(gsnr.y > 25, `SNR ${gsnr.y}`);
  });

  it('Sigmoid, LeakyRelu, Concat, AveragePool, Softmax fuse; ConvTranspose stays float between DQ and Q', async () => {
    const b = new GraphBuilder('unary');
    const x = b.input('x', DataType.FLOAT, [1, 4, 5, 5]);
    const t = b.op('ConvTranspose', [x, b.initializer('w', randT([4, 6, 2, 2])), b.initializer('b', randT([6]))], {
      strides: [2, 2],
    });
    const l = b.op('LeakyRelu', [b.op('Sigmoid', [t])], { alpha: 0.1 });
    const ap = b.op('AveragePool', [b.op('Concat', [l, l], { axis: 1 })], { kernel_shape: [2, 2] });
    b.output(b.op('Softmax', [ap], { axis: 1 }), 'y');
    const model = b.model({ opset: 13 });
    const { q } = await quantize(model, calibrationFor('x', [1, 4, 5, 5]));
    const ops = await optimizedOps(q);
    console.log('unary ops, onnxruntime optimized:', JSON.stringify(ops));
    for (const op of ['QLinearSigmoid', 'QLinearLeakyRelu', 'QLinearConcat', 'QLinearAveragePool', 'QLinearSoftmax'])
      assert.equal(ops[`com.microsoft::${op}`], 1, op);
    // onnxruntime 1.30's CPU EP has no int8 ConvTranspose: the weights are stored int8 (a smaller
    // file) and dequantized for a float ConvTranspose.
    assert.equal(ops.ConvTranspose, 1);
    const snr = await outputSnr(model, q, { x: uniform(rand, [1, 4, 5, 5]) });
    assert.ok(snr.y > 25, `SNR ${snr.y}`);
  });

  it('int8 activations (S8S8) fuse too; int8 activations with uint8 weights are refused', async () => {
    const model = convNet();
    const { q } = await quantize(model, calibrationFor('x', [4, 3, 8, 8]), { activationType: 'int8' });
    const zp = initializer(q, 'x_zero_point');
    assert.equal(zp.dtype, DataType.INT8);
    const ops = await optimizedOps(q);
    assert.equal(ops.QLinearConv, 1, JSON.stringify(ops));
    assert.equal(ops['com.microsoft::QGemm'], 1);
    assert.throws(
      () => parseQuantizeStaticOptions({ activationType: 'int8', weightType: 'uint8' }),
      /int8 activations need int8 weights/,
    );
  });
});

describe('quantize-static: values', () => {
  for (const [reduceRange, steps] of [
    [undefined, 128],
    [false, 254],
  ] as const)
    it(`per-channel int8 weights are round(W / (2·absmax_c/${steps})) (reduceRange ${String(reduceRange)}); int32 bias is round(b / (x_scale·w_scale_c))`, async () => {
      // Default: 7-bit weights [−64, 64], as u8×s8 saturates on AVX2 CPUs without VNNI; 8 bits on request.
      const model = convNet();
      const { q } = await quantize(
        model,
        calibrationFor('x', [4, 3, 8, 8]),
        reduceRange === undefined ? {} : { reduceRange },
      );
      const w = toFloat32(initializer(model, 'w'));
      const wq = toTypedArray(initializer(q, 'w_quantized')) as Int8Array;
      const ws = toFloat32(initializer(q, 'w_scale'));
      assert.equal(ws.length, 8);
      assert.equal(dqOf(q, 'w_DequantizeLinear_Output').getInt('axis'), 0);
      for (let c = 0; c < 8; c++) {
        const slice = w.subarray(c * 27, (c + 1) * 27);
        const absmax = Math.max(...Array.from(slice, Math.abs));
        assert.equal(ws[c], Math.fround((2 * absmax) / steps));
        for (let i = 0; i < 27; i++) assert.equal(wq[c * 27 + i], roundHalfEven(Math.fround(slice[i] / ws[c])));
      }
      assert.deepEqual([...toTypedArray(initializer(q, 'w_zero_point'))], new Array(8).fill(0));
      const b = toFloat32(initializer(model, 'b'));
      const bq = toTypedArray(initializer(q, 'b_quantized')) as Int32Array;
      const bs = toFloat32(initializer(q, 'b_scale'));
      const xs = toFloat32(initializer(q, 'x_scale'))[0];
      assert.equal(initializer(q, 'b_quantized').dtype, DataType.INT32);
      for (let c = 0; c < 8; c++) {
        assert.equal(bs[c], Math.fround(xs * ws[c]));
        assert.equal(bq[c], roundHalfEven(b[c] / (xs * ws[c])));
      }
      // The dequantized bias takes the float bias's name; its DequantizeLinear has axis 0 and no zero point (0).
      const bdq = dqOf(q, 'b');
      assert.equal(bdq.opType, 'DequantizeLinear');
      assert.equal(bdq.getInt('axis'), 0);
      assert.equal(bdq.inputs.length, 2);
    });

  it('enlarges weight scales when x_scale·w_scale would push the bias out of int32', async () => {
    const b = new GraphBuilder('tiny-w');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const w = floatTensor([2, 2, 1, 1], [1e-9, -2e-9, 3e-9, 1e-9]);
    b.output(b.op('Conv', [x, b.initializer('w', w), b.initializer('b', floatTensor([2], [1000, -500]))]), 'y');
    const model = b.model({ opset: 13 });
    const { q, report } = await quantize(model, calibrationFor('x', [1, 2, 4, 4]));
    assert.equal(report.counts['weight scales enlarged for the int32 bias'], 1);
    const bq = toTypedArray(initializer(q, 'b_quantized')) as Int32Array;
    const bs = toFloat32(initializer(q, 'b_scale'));
    // Both biases are still represented (not clipped at ±2^31), to float32 precision of the stored scale.
    assert.ok(Math.abs(bq[0] * bs[0] - 1000) <= 1e-3, `${bq[0]} × ${bs[0]}`);
    assert.ok(Math.abs(bq[1] * bs[1] + 500) <= 1e-3, `${bq[1]} × ${bs[1]}`);
    assert.ok(Math.abs(bq[0]) < 2 ** 31 - 1);
  });

  it('per-channel axes: Conv 0, ConvTranspose 1 (grouped: per tensor), Gemm transB 0 / 1, MatMul 1', async () => {
    const b = new GraphBuilder('axes');
    const x = b.input('x', DataType.FLOAT, [1, 4, 5, 5]);
    const c = b.op('Conv', [x, b.initializer('wc', randT([6, 4, 3, 3]))]);
    const t = b.op('ConvTranspose', [c, b.initializer('wt', randT([6, 5, 2, 2]))]);
    const tg = b.op('ConvTranspose', [t, b.initializer('wg', randT([5, 1, 1, 1]))], { group: 5 });
    const f = b.op('Flatten', [tg]);
    const g1 = b.op('Gemm', [f, b.initializer('wg1', randT([7, 80]))], { transB: 1 });
    const g2 = b.op('Gemm', [g1, b.initializer('wg2', randT([7, 3]))]);
    b.output(b.op('MatMul', [g2, b.initializer('wm', randT([3, 2]))]), 'y');
    const model = b.model({ opset: 13 });
    const { q } = await quantize(model, calibrationFor('x', [1, 4, 5, 5]));
    const expect: [string, number | undefined, number][] = [
      ['wc', 0, 6],
      ['wt', 1, 5],
      ['wg', undefined, 1],
      ['wg1', 0, 7],
      ['wg2', 1, 3],
      ['wm', 1, 2],
    ];
    for (const [w, axis, scales] of expect) {
      assert.equal(dqOf(q, `${w}_DequantizeLinear_Output`).getInt('axis'), axis, w);
      assert.equal(initializer(q, `${w}_scale`).size, scales, w);
    }
    // Six random layers at 7-bit weights (the default): the output still tracks the float one.
    const snr = await outputSnr(model, q, { x: uniform(rand, [1, 4, 5, 5]) });
    console.log(`per-channel axes chain: output SNR ${snr.y.toFixed(1)} dB`);
    assert.ok(snr.y > 5, `SNR ${snr.y}`);
    const perTensor = await quantize(model, calibrationFor('x', [1, 4, 5, 5]), { perChannel: false });
    for (const [w] of expect) {
      assert.equal(dqOf(perTensor.q, `${w}_DequantizeLinear_Output`).getInt('axis'), undefined, w);
      assert.deepEqual(initializer(perTensor.q, `${w}_scale`).dims, [], w);
    }
  });

  it('Clip(0, 6) is absorbed; Clip(0.5, 6) stays between Q/DQ pairs (0 must stay representable)', async () => {
    for (const [opset, clip, absorbed] of [
      [13, [0, 6], true],
      [10, [0, 6], true],
      [13, [0.5, 6], false],
    ] as const) {
      const model = convNet(opset, 'Clip', [clip[0], clip[1]]);
      const { q, report } = await quantize(model, calibrationFor('x', [4, 3, 8, 8], 6, -3, 3), { perChannel: false });
      const clips = q.graph.nodes().filter((n) => n.opType === 'Clip').length;
      assert.equal(clips, absorbed ? 0 : 1, `opset ${opset} Clip(${clip})`);
      assert.equal(report.counts["Clip absorbed into the producer's quantization"] ?? 0, absorbed ? 1 : 0);
      const snr = await outputSnr(model, q, { x: uniform(rand, [2, 3, 8, 8], -3, 3) });
      assert.ok(snr.y > 20, `opset ${opset} Clip(${clip}): SNR ${snr.y}`);
    }
  });

  it('MaxPool, Reshape share the scale of their input: onnxruntime moves uint8 through them', async () => {
    const b = new GraphBuilder('pool');
    const x = b.input('x', DataType.FLOAT, [2, 3, 8, 8]);
    const c = b.op(
      'Relu',
      [b.op('Conv', [x, b.initializer('w', randT([4, 3, 3, 3]))], { pads: [1, 1, 1, 1] })],
      {},
      {
        output: 'act',
      },
    );
    const p = b.op('MaxPool', [c], { kernel_shape: [2, 2], strides: [2, 2] }, { output: 'pooled' });
    const r = b.op('Reshape', [p, b.initializer('shape', int64Tensor([2], [2, 64]))], {}, { output: 'flat' });
    b.output(b.op('Gemm', [r, b.initializer('w2', randT([64, 5]))]), 'y');
    const model = b.model({ opset: 13 });
    const { q } = await quantize(model, calibrationFor('x', [2, 3, 8, 8]));
    for (const t of ['pooled', 'flat']) {
      const qn = q.graph.nodes().find((n) => n.opType === 'QuantizeLinear' && n.inputs[0]?.name === t)!;
      assert.equal(qn.inputs[1]?.name, 'act_scale', t);
      assert.equal(qn.inputs[2]?.name, 'act_zero_point', t);
    }
    const ops = await optimizedOps(q);
    console.log('Conv → MaxPool → Reshape → Gemm, onnxruntime optimized:', JSON.stringify(ops));
    assert.deepEqual(ops, {
      QuantizeLinear: 1,
      QLinearConv: 1,
      MaxPool: 1,
      Reshape: 1,
      'com.microsoft::QGemm': 1,
      DequantizeLinear: 1,
    });
  });
});

describe('quantize-static: interface, Constant weights, subgraphs, options, refusals', () => {
  it('a graph output that is also used inside keeps its name and type; Constant-node weights are read', async () => {
    const b = new GraphBuilder('io');
    const x = b.input('x', DataType.FLOAT, ['N', 2, 6, 6]);
    const feat = b.op(
      'Conv',
      [x, b.constant(randT([4, 2, 3, 3]), 'wconst'), b.constant(randT([4]), 'bconst')],
      {},
      {
        output: 'feat',
      },
    );
    b.output(feat, 'feat', DataType.FLOAT, ['N', 4, 4, 4]);
    b.output(b.op('GlobalAveragePool', [feat]), 'pooled', DataType.FLOAT, ['N', 4, 1, 1]);
    const model = b.model({ opset: 13 });
    const { q } = await quantize(model, calibrationFor('x', [3, 2, 6, 6]));
    assert.deepEqual(
      q.graph.outputs.map((v) => [v.name, v.type]),
      model.graph.outputs.map((v) => [v.name, v.type]),
    );
    assert.equal(q.graph.outputs[0].producer?.opType, 'DequantizeLinear');
    assert.ok(q.graph.findValue('feat_QuantizeLinear_Input'));
    assert.equal(q.graph.nodes().filter((n) => n.opType === 'Constant').length, 0, 'Constant weights replaced');
    assert.ok(initializer(q, 'wconst_quantized'));
    const ops = await optimizedOps(q);
    assert.equal(ops.QLinearConv, 1, JSON.stringify(ops));
    const snr = await outputSnr(model, q, { x: uniform(rand, [2, 2, 6, 6]) });
    // A mean over signed values is small against the rounding noise it averages: a lower bound there.
    assert.ok(snr.feat > 30 && snr.pooled > 20, JSON.stringify(snr));
  });

  it('a graph input that is also a graph output stays both, untouched', async () => {
    const b = new GraphBuilder('passthrough');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    b.output(x);
    b.output(b.op('Conv', [x, b.initializer('w', randT([3, 2, 1, 1]))]), 'y');
    const model = b.model({ opset: 13 });
    const { q } = await quantize(model, calibrationFor('x', [1, 2, 4, 4]));
    assert.deepEqual(
      q.graph.outputs.map((v) => v.name),
      ['x', 'y'],
    );
    assert.equal(q.graph.outputs[0], q.graph.inputs[0]);
    const feeds = { x: uniform(rand, [1, 2, 4, 4]) };
    const out = await run(q, feeds);
    assert.deepEqual(out.x.data, feeds.x.data);
  });

  it('nodes inside an If body stay float and are counted; the model still runs', async () => {
    const then = new GraphBuilder('then');
    const outer = new GraphBuilder('main');
    const x = outer.input('x', DataType.FLOAT, [1, 8]);
    const cond = outer.input('cond', DataType.BOOL, []);
    const h = outer.op('MatMul', [x, outer.initializer('w', randT([8, 8]))], {}, { output: 'h' });
    then.output(then.op('Mul', [h, then.initializer('two', floatTensor([], [2]))]), 'then_out', DataType.FLOAT, [1, 8]);
    const els = new GraphBuilder('else');
    els.output(els.op('Neg', [h]), 'else_out', DataType.FLOAT, [1, 8]);
    const y = outer.op('If', [cond], { then_branch: then.graph, else_branch: els.graph });
    outer.output(y, 'y', DataType.FLOAT, [1, 8]);
    const model = outer.model({ opset: 13 });
    const calib = Array.from({ length: 3 }, () => ({
      x: uniform(rand, [1, 8]),
      cond: { type: 'bool', dims: [], data: Uint8Array.of(1) } as HostTensor,
    }));
    const { q, report } = await quantize(model, calib);
    assert.equal(report.counts['MatMul quantized'], 1);
    assert.ok(
      report.notes?.some((n) => /2 nodes inside If\/Loop\/Scan bodies left float/.test(n)),
      String(report.notes),
    );
    const snr = await outputSnr(model, q, calib[0]);
    assert.ok(snr.y > 25, `SNR ${snr.y}`);
  });

  it('excludeNodes / includeNodes / opTypes choose the nodes', async () => {
    const model = convNet();
    const calib = calibrationFor('x', [4, 3, 8, 8]);
    const ex = await quantize(model, calib, { excludeNodes: ['y'] });
    assert.equal(ex.report.counts['Gemm quantized'], undefined);
    // The excluded Gemm reads the float tensor, not a DequantizeLinear: otherwise onnxruntime's
    // WeightBiasQuantization would give it int8 weights at load (and a DQ node for them).
    const exOps = await optimizedOps(ex.q);
    console.log('Gemm excluded, onnxruntime optimized:', JSON.stringify(exOps));
    assert.deepEqual(exOps, {
      QuantizeLinear: 1,
      QLinearConv: 1,
      'com.microsoft::QLinearGlobalAveragePool': 1,
      DequantizeLinear: 1,
      Flatten: 1,
      Gemm: 1,
    });
    const inc = await quantize(model, calib, { includeNodes: ['conv', 'relu'] });
    assert.deepEqual(
      inc.quantized.map((n) => n.opType),
      ['Conv'],
    );
    const ops = await optimizedOps(inc.q);
    assert.equal(ops.QLinearConv, 1);
    assert.equal(ops.Gemm, 1);
    const only = await quantize(model, calib, { opTypes: ['Gemm'] });
    assert.deepEqual(
      only.quantized.map((n) => n.opType),
      ['Gemm'],
    );
  });

  it('opset 9 and 11 are raised to 13 for per-channel weights; perChannel: false keeps 11, raises 9 to 11', async () => {
    const calib = calibrationFor('x', [2, 3, 8, 8]);
    for (const [opset, raw, expect, perChannel] of [
      [11, {}, 13, true],
      [9, {}, 13, true],
      [11, { perChannel: false }, 11, false],
      [9, { perChannel: false }, 11, false],
    ] as const) {
      const model = convNet(opset, 'Clip');
      const r = await quantize(model, calib, raw);
      assert.equal(r.q.opset, expect, `opset ${opset} ${JSON.stringify(raw)}`);
      const axes = r.q.graph.nodes().filter((n) => n.getInt('axis') !== undefined).length;
      assert.equal(axes > 0, perChannel);
      if (expect !== opset) assert.ok(r.report.notes?.some((n) => n.startsWith(`ai.onnx opset ${opset} → ${expect}`)));
      const snr = await outputSnr(model, r.q, { x: uniform(rand, [2, 3, 8, 8]) });
      assert.ok(snr.y > 25, `opset ${opset}: SNR ${snr.y}`);
    }
  });

  it('a model below opset 10 that upgrade-opset cannot raise is refused, naming why', async () => {
    // BatchNormalization with spatial = 0 (per-activation statistics) has no opset-9 form.
    const b = new GraphBuilder('bn');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const c = b.op('Conv', [x, b.initializer('w', randT([2, 2, 1, 1]))]);
    const p = ['s', 'b', 'm', 'v'].map((k) => b.initializer(k, randT([2, 4, 4], 0.5, 1)));
    b.output(b.op('BatchNormalization', [c, ...p], { spatial: 0 }), 'y');
    const calib: Feeds[] = [{ x: uniform(rand, [1, 2, 4, 4]) }];
    for (const raw of [{}, { perChannel: false }])
      await assert.rejects(
        quantize(b.model({ opset: 8 }), calib, raw),
        /quantization needs opset 10 and the model \(opset 8\) cannot be raised: cannot upgrade .*spatial = 0/,
      );
  });

  it('refuses an already quantized model, a run without calibration data and bad options', async () => {
    const { q } = await quantize(convNet(), calibrationFor('x', [2, 3, 8, 8]));
    await assert.rejects(
      quantizeStatic(q, parseQuantizeStaticOptions({}), batchesOf([])),
      /already quantized \(\d+ QuantizeLinear, \d+ DequantizeLinear\)/,
    );
    await assert.rejects(
      runPasses(convNet(), [{ pass: 'quantize-static', options: {} }], {
        registry: new Map([['quantize-static', quantizeStaticPass as unknown as Pass<never>]]),
      }),
      /needs calibration data \(--calib <data spec>\)/,
    );
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ calibrateMethod: 'kl' }, /calibrateMethod must be one of minmax, percentile, entropy/],
      [{ percentile: 0 }, /percentile must be a number in \(0, 100\]/],
      [{ opTypes: ['Conv', 'LSTM'] }, /got LSTM/],
      [{ perChannel: 'yes' }, /perChannel must be true or false/],
      [{ typo: 1 }, /unknown option\(s\) typo/],
    ];
    for (const [raw, re] of bad) assert.throws(() => parseQuantizeStaticOptions(raw), re);
    const o: QuantizeStaticOptions = parseQuantizeStaticOptions({});
    assert.equal(o.activationType, 'uint8');
    assert.equal(o.calibrateMethod, 'minmax');
  });
});
