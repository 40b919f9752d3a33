import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, floatTensor, run, ty, withInput } from '../../testing/graphs.js';

const MS = { domain: 'com.microsoft' };

describe('com.microsoft contrib ops', () => {
  it('MatMulNBits: [..., K] → [..., N]', () => {
    const { b, x } = withInput(['B', 'T', 256]);
    const packed = b.input('w', DataType.UINT8, [512, 8, 16]);
    const y = b.op(
      'MatMulNBits',
      [x, packed, b.input('s', F, [512, 8])],
      { K: 256, N: 512, bits: 4, block_size: 32 },
      MS,
    );
    const bad = b.op('MatMulNBits', [x, packed], { K: 128, N: 512, bits: 4, block_size: 32 }, MS);
    const { report } = run(b, 21, {}, { 'com.microsoft': 1 });
    assert.equal(ty(y), 'float[B,T,512]');
    assert.equal(ty(bad), '?', 'K disagrees with A');
    assert.equal(report.failed.length, 1);
  });

  it('FusedConv, FusedMatMul, QLinearAdd, Gelu, SkipLayerNormalization', () => {
    const { b, x } = withInput(['N', 8, 16, 16]);
    const fc = b.op(
      'FusedConv',
      [x, b.initializer('w', floatTensor([4, 8, 3, 3]))],
      { pads: [1, 1, 1, 1], activation: 'Relu' },
      MS,
    );
    const fm = b.op('FusedMatMul', [b.input('a', F, ['B', 5, 3]), b.input('c', F, ['B', 7, 3])], { transB: 1 }, MS);
    const u8 = b.input('q', DataType.UINT8, ['N', 1, 4]);
    const s = b.input('s', F, []);
    const qa = b.op('QLinearAdd', [u8, s, null, b.input('q2', DataType.UINT8, [3, 1]), s, null, s, null], {}, MS);
    const ge = b.op('Gelu', [x], {}, MS);
    const sk = b.op(
      'SkipLayerNormalization',
      [b.input('h', F, ['B', 'T', 64]), b.input('k', F, ['B', 'T', 64]), b.input('g', F, [64])],
      {},
      MS,
    );
    run(b, 17, {}, { 'com.microsoft': 1 });
    assert.equal(ty(fc), 'float[N,4,16,16]');
    assert.equal(ty(fm), 'float[B,5,7]');
    assert.equal(ty(qa), 'uint8[N,3,4]');
    assert.equal(ty(ge), 'float[N,8,16,16]');
    assert.equal(ty(sk), 'float[B,T,64]');
  });
});
