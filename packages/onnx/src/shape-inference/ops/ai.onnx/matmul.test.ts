import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, run, ty, withInput } from '../../testing/graphs.js';

describe('matmul', () => {
  it('MatMul: 2-D, batched with broadcast, and the 1-D cases of numpy', () => {
    const { b, x } = withInput(['N', 'T', 64]);
    const w = b.input('w', F, [64, 32]);
    const mm = b.op('MatMul', [x, w]);
    const bb = b.op('MatMul', [b.input('a', F, [2, 1, 3, 4]), b.input('c', F, [5, 4, 6])]);
    const v = b.input('v', F, [64]);
    const vecLeft = b.op('MatMul', [v, w]);
    const vecRight = b.op('MatMul', [x, v]);
    const dot = b.op('MatMul', [v, v]);
    run(b);
    assert.equal(ty(mm), 'float[N,T,32]');
    assert.equal(ty(bb), 'float[2,5,3,6]');
    assert.equal(ty(vecLeft), 'float[32]');
    assert.equal(ty(vecRight), 'float[N,T]');
    assert.equal(ty(dot), 'float[]');
  });

  it('MatMul: mismatched K fails', () => {
    const { b, x } = withInput([2, 3]);
    const y = b.op('MatMul', [x, b.input('w', F, [4, 5])]);
    const { report } = run(b);
    assert.equal(ty(y), '?');
    assert.equal(report.failed[0].opType, 'MatMul');
  });

  it('Gemm with transA/transB', () => {
    const { b, x } = withInput(['N', 128]);
    const g = b.op('Gemm', [x, b.input('w', F, [10, 128]), b.input('c', F, [10])], { transB: 1 });
    const t = b.op('Gemm', [b.input('a', F, [7, 'M']), b.input('w2', F, [7, 3])], { transA: 1 });
    run(b);
    assert.equal(ty(g), 'float[N,10]');
    assert.equal(ty(t), 'float[M,3]');
  });

  it('MatMulInteger gives int32, QLinearMatMul the output zero point’s type', () => {
    const { b, x } = withInput(['N', 16], DataType.UINT8);
    const w = b.input('w', DataType.INT8, [16, 4]);
    const mi = b.op('MatMulInteger', [x, w]);
    const s = b.input('s', F, []);
    const q = b.op('QLinearMatMul', [x, s, b.input('xz', DataType.UINT8, []), w, s, b.input('wz', DataType.INT8, []), s, b.input('yz', DataType.INT8, [])]);
    run(b);
    assert.equal(ty(mi), 'int32[N,4]');
    assert.equal(ty(q), 'int8[N,4]');
  });
});
