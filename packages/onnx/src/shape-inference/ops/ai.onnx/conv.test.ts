import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, floatTensor, run, ty, withInput } from '../../testing/graphs.js';

const w = (dims: number[]) => floatTensor(dims);

describe('conv', () => {
  it('Conv: pads, strides, dilations, groups; a symbolic batch passes through', () => {
    const { b, x } = withInput(['N', 16, 32, 30]);
    const y1 = b.op('Conv', [x, b.initializer('w1', w([32, 16, 3, 3]))], { pads: [1, 1, 1, 1], strides: [2, 2] });
    const y2 = b.op('Conv', [x, b.initializer('w2', w([16, 1, 3, 3]))], { group: 16, dilations: [2, 2] });
    const y3 = b.op('Conv', [x, b.initializer('w3', w([8, 16, 1, 1]))]);
    run(b);
    assert.equal(ty(y1), 'float[N,32,16,15]');
    assert.equal(ty(y2), 'float[N,16,28,26]');
    assert.equal(ty(y3), 'float[N,8,32,30]');
  });

  it('Conv: auto_pad SAME_UPPER/VALID, 1-D and 3-D', () => {
    const { b, x } = withInput([1, 4, 11, 10]);
    const same = b.op('Conv', [x, b.initializer('w', w([6, 4, 3, 3]))], { auto_pad: 'SAME_UPPER', strides: [2, 2] });
    const valid = b.op('Conv', [x, b.initializer('w2', w([6, 4, 3, 3]))], { auto_pad: 'VALID', strides: [2, 3] });
    const x1 = b.input('x1', F, [2, 3, 100]);
    const c1 = b.op('Conv', [x1, b.initializer('w3', w([5, 3, 7]))], { strides: [3] });
    const x3 = b.input('x3', F, [1, 2, 5, 6, 7]);
    const c3 = b.op('Conv', [x3, b.initializer('w4', w([4, 2, 3, 3, 3]))], { kernel_shape: [3, 3, 3] });
    run(b);
    assert.equal(ty(same), 'float[1,6,6,5]');
    assert.equal(ty(valid), 'float[1,6,5,3]');
    assert.equal(ty(c1), 'float[2,5,32]');
    assert.equal(ty(c3), 'float[1,4,3,4,5]');
  });

  it('Conv: symbolic spatial dims survive only windows that keep them', () => {
    const { b, x } = withInput(['N', 3, 'H', 'W']);
    const pw = b.op('Conv', [x, b.initializer('w1', w([8, 3, 1, 1]))]);
    const same = b.op('Conv', [x, b.initializer('w2', w([8, 3, 3, 3]))], { auto_pad: 'SAME_LOWER' });
    const strided = b.op('Conv', [x, b.initializer('w3', w([8, 3, 3, 3]))], { pads: [1, 1, 1, 1], strides: [2, 2] });
    run(b);
    assert.equal(ty(pw), 'float[N,8,H,W]');
    assert.equal(ty(same), 'float[N,8,H,W]');
    assert.equal(ty(strided), 'float[N,8,?,?]');
  });

  it('Conv: channel mismatch fails', () => {
    const { b, x } = withInput([1, 3, 8, 8]);
    const y = b.op('Conv', [x, b.initializer('w', w([8, 4, 3, 3]))]);
    const { report } = run(b);
    assert.equal(ty(y), '?');
    assert.equal(report.failed.length, 1);
  });

  it('ConvTranspose: stride, output_padding, pads, groups, SAME, output_shape', () => {
    const { b, x } = withInput(['N', 8, 10, 'W']);
    const up = b.op('ConvTranspose', [x, b.initializer('w', w([8, 4, 2, 2]))], { strides: [2, 2] });
    const op = b.op('ConvTranspose', [x, b.initializer('w2', w([8, 2, 3, 3]))], { strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1], group: 2 });
    const same = b.op('ConvTranspose', [x, b.initializer('w3', w([8, 4, 3, 3]))], { strides: [2, 2], auto_pad: 'SAME_UPPER' });
    const fixed = b.op('ConvTranspose', [x, b.initializer('w4', w([8, 4, 3, 3]))], { strides: [2, 2], output_shape: [21, 21] });
    run(b);
    assert.equal(ty(up), 'float[N,4,20,2*W]');
    assert.equal(ty(op), 'float[N,4,20,2*W]');
    assert.equal(ty(same), 'float[N,4,20,2*W]');
    assert.equal(ty(fixed), 'float[N,4,21,21]');
  });

  it('ConvInteger gives int32, QLinearConv the output zero point’s type', () => {
    const { b, x } = withInput([1, 3, 8, 8], DataType.UINT8);
    const wq = b.input('w', DataType.INT8, [4, 3, 3, 3]);
    const ci = b.op('ConvInteger', [x, wq]);
    const s = b.input('s', F, []);
    const zp = b.input('zp', DataType.UINT8, []);
    const qc = b.op('QLinearConv', [x, s, zp, wq, s, b.input('wzp', DataType.INT8, []), s, zp], { pads: [1, 1, 1, 1] });
    run(b);
    assert.equal(ty(ci), 'int32[1,4,6,6]');
    assert.equal(ty(qc), 'uint8[1,4,8,8]');
  });
});
