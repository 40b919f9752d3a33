import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, serializeModel } from '@edgeforge/onnx';
import { ort } from '../../../../onnx/src/testing/ort.js';
import {
  adjustWeightScalesForBias,
  computeQParams,
  dequantizeWeight,
  packValues,
  qRange,
  quantizeArray,
  quantizeBias,
  quantizeWeight,
  roundHalfEven,
  scaleTensor,
  zeroPointTensor,
  type QType,
} from './params.js';

// The worked examples of quantization-contract.md §2.
describe('quantization parameters (contract §2)', () => {
  it('rounds ties to even, like numpy.round and ORT QuantizeLinear', () => {
    assert.deepEqual(
      [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfEven),
      [0, 2, 2, 4, 0, -2, -2, 2, 3],
    );
  });

  it('has the qmin/qmax table', () => {
    assert.deepEqual(qRange('int8'), [-128, 127]);
    assert.deepEqual(qRange('int8', { symmetric: true }), [-127, 127]);
    assert.deepEqual(qRange('int8', { reduceRange: true }), [-64, 64]);
    assert.deepEqual(qRange('uint8', { reduceRange: true }), [0, 127]);
    assert.deepEqual(qRange('int16', { symmetric: true }), [-32767, 32767]);
    assert.deepEqual(qRange('int4', { symmetric: true }), [-8, 7]);
    assert.deepEqual(qRange('uint4', { reduceRange: true }), [0, 7]);
  });

  it('computes scale and zero point for rmin=-1, rmax=3', () => {
    assert.deepEqual(computeQParams(-1, 3, 'uint8'), { scale: Math.fround(4 / 255), zeroPoint: 64 });
    assert.deepEqual(computeQParams(-1, 3, 'int8', { symmetric: true }), { scale: Math.fround(3 / 127), zeroPoint: 0 });
    assert.deepEqual(computeQParams(-1, 3, 'uint8', { symmetric: true }), {
      scale: Math.fround(6 / 255),
      zeroPoint: 128,
    });
    assert.deepEqual(computeQParams(-1, 3, 'uint16', { symmetric: true }).zeroPoint, 32768);
    assert.deepEqual(computeQParams(-1, 3, 'int4', { symmetric: true }).zeroPoint, 0);
  });

  it('widens all-positive data to include 0', () => {
    const p = computeQParams(0.5, 2, 'uint8');
    assert.deepEqual(p, { scale: Math.fround(2 / 255), zeroPoint: 0 });
    assert.deepEqual([...quantizeArray([0.5, 1, 2], p, 'uint8')], [64, 127, 255]);
  });

  it('gives scale 1, zero point 0 for an empty range', () => {
    assert.deepEqual(computeQParams(0, 0, 'uint8'), { scale: 1, zeroPoint: 0 });
    assert.deepEqual(computeQParams(0, 0, 'int8', { symmetric: true }), { scale: 1, zeroPoint: 0 });
  });

  it('refuses non-finite or inverted ranges', () => {
    assert.throws(() => computeQParams(-Infinity, 1, 'uint8'), /non-finite/);
    assert.throws(() => computeQParams(2, 1, 'uint8'), /inverted/);
  });

  it('rounds first, then adds the zero point, and saturates', () => {
    assert.deepEqual(
      [...quantizeArray([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -300], { scale: 1, zeroPoint: 0 }, 'int8')],
      [0, 2, 2, 4, 0, -2, -128],
    );
    // round(0.5) + 1 = 1, not round(1.5) = 2
    assert.deepEqual([...quantizeArray([0.5], { scale: 1, zeroPoint: 1 }, 'uint8')], [1]);
  });

  it('quantizes per channel, symmetric, and dequantizes within half a step', () => {
    const data = Float32Array.from([1, -2, 0.5, 0.25, 0.1, -0.05]);
    const w = quantizeWeight(data, [2, 3], 'int8', { axis: 0, symmetric: true });
    assert.deepEqual([...w.scales], [Math.fround(2 / 127), Math.fround(0.25 / 127)]);
    assert.deepEqual([...w.zeroPoints], [0, 0]);
    assert.deepEqual([...w.values], [64, -127, 32, 127, 51, -25]);
    const back = dequantizeWeight(w);
    for (let i = 0; i < data.length; i++) assert.ok(Math.abs(back[i] - data[i]) <= w.scales[i < 3 ? 0 : 1] / 2 + 1e-9);
    const last = quantizeWeight(data, [3, 2], 'int8', { axis: 1, symmetric: true });
    assert.deepEqual([...last.scales], [Math.fround(1 / 127), Math.fround(2 / 127)]);
  });

  it('quantizes the int32 bias with input × weight scale', () => {
    const b = quantizeBias(Float32Array.of(0.5, -1), 0.1, Float32Array.of(0.01, 0.02));
    assert.deepEqual([...b.values], [500, -500]);
    assert.deepEqual([...b.scales], [Math.fround(0.1 * Math.fround(0.01)), Math.fround(0.1 * Math.fround(0.02))]);
  });

  it('enlarges a weight scale that would overflow the int32 bias', () => {
    const bias = Float32Array.of(1e6, 1);
    const scales = adjustWeightScalesForBias(Float32Array.of(1e-9, 0.01), 1e-6, bias);
    assert.ok(scales[0] > 1e-9);
    assert.equal(scales[1], Math.fround(0.01));
    const q = quantizeBias(bias, 1e-6, scales);
    assert.ok(Math.abs(q.values[0]) < 2 ** 31);
    assert.ok(Math.abs(q.values[0] * 1e-6 * scales[0] - 1e6) / 1e6 < 1e-3);
  });

  it('packs int4 two per byte, low nibble first', () => {
    assert.deepEqual([...packValues(Int32Array.of(1, -1, 7, -8, 3), 'int4')], [0xf1, 0x87, 0x03]);
    assert.deepEqual([...packValues(Int32Array.of(15, 0, 9), 'uint4')], [0x0f, 0x09]);
    assert.deepEqual([...packValues(Int32Array.of(-1, 2), 'int8')], [0xff, 0x02]);
  });

  // ORT's own QuantizeLinear must agree with quantizeArray byte for byte.
  for (const [t, dtype] of [
    ['uint8', DataType.UINT8],
    ['int8', DataType.INT8],
  ] as [QType, number][]) {
    it(`matches onnxruntime QuantizeLinear (${t}, per tensor and per channel)`, async () => {
      const rows = 4;
      const cols = 33;
      const data = new Float32Array(rows * cols);
      let seed = 7;
      for (let i = 0; i < data.length; i++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        // ties land on exact .5 steps for some values
        data[i] = i % 5 === 0 ? ((i % 11) - 5) * 0.5 * 0.03125 : (seed / 2 ** 31 - 0.4) * 3;
      }
      for (const axis of [undefined, 0, 1]) {
        const w = quantizeWeight(data, [rows, cols], t, {
          ...(axis === undefined ? {} : { axis }),
          symmetric: t === 'int8',
        });
        const perChannel = axis !== undefined;
        const b = new GraphBuilder('q');
        const x = b.input('x', DataType.FLOAT, [rows, cols]);
        const s = b.initializer('s', scaleTensor(w.scales, perChannel, 's'));
        const z = b.initializer('z', zeroPointTensor(w.zeroPoints, t, perChannel, 'z'));
        b.output(b.op('QuantizeLinear', [x, s, z], perChannel ? { axis } : {}), 'y', dtype, [rows, cols]);
        const sess = await ort.InferenceSession.create(serializeModel(b.model({ opset: 13 })), { logSeverityLevel: 4 });
        const out = await sess.run({ x: new ort.Tensor('float32', data, [rows, cols]) });
        await sess.release();
        assert.deepEqual([...(out.y.data as Int8Array | Uint8Array)], [...w.values], `axis ${axis}`);
      }
    });
  }
});
