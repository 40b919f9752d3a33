import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, run, ty, withInput } from '../../testing/graphs.js';

describe('quantize', () => {
  it('QuantizeLinear takes the zero point’s type (uint8 without one); DequantizeLinear gives float', () => {
    const { b, x } = withInput(['N', 16]);
    const s = b.input('s', F, []);
    const q8 = b.op('QuantizeLinear', [x, s, b.input('z', DataType.INT8, [])]);
    const qu = b.op('QuantizeLinear', [x, s]);
    const dq = b.op('DequantizeLinear', [q8, s, b.input('z2', DataType.INT8, [])]);
    const dyn = b.node('DynamicQuantizeLinear', [x], {}, { outputs: 3 });
    run(b, 13);
    assert.equal(ty(q8), 'int8[N,16]');
    assert.equal(ty(qu), 'uint8[N,16]');
    assert.equal(ty(dq), 'float[N,16]');
    assert.deepEqual(dyn.outputs.map(ty), ['uint8[N,16]', 'float[]', 'uint8[]']);
  });

  it('DequantizeLinear gives the scale’s type from opset 19', () => {
    const { b, x } = withInput([4], DataType.INT8);
    const dq = b.op('DequantizeLinear', [x, b.input('s', DataType.FLOAT16, [])]);
    run(b, 19);
    assert.equal(ty(dq), 'float16[4]');
  });
});
