import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { run, ty, withInput } from '../../testing/graphs.js';

describe('pool', () => {
  it('MaxPool with Indices (int64), pads and strides', () => {
    const { b, x } = withInput(['N', 16, 112, 112]);
    const n = b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { outputs: 2 });
    run(b);
    assert.equal(ty(n.outputs[0]), 'float[N,16,56,56]');
    assert.equal(ty(n.outputs[1]), 'int64[N,16,56,56]');
  });

  it('ceil_mode rounds up, but the last window must start inside the input', () => {
    const { b, x } = withInput([1, 1, 5, 6]);
    const floor = b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
    const ceil = b.op('AveragePool', [x], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 });
    // in=5, k=1, s=2, pad_end=1: ceil((6-1)/2)+1 = 4, but window 4 would start at 6 ≥ 5 + 0.
    const dropped = b.op('MaxPool', [x], { kernel_shape: [1, 1], strides: [2, 2], pads: [0, 0, 1, 1], ceil_mode: 1 });
    run(b);
    assert.equal(ty(floor), 'float[1,1,2,3]');
    assert.equal(ty(ceil), 'float[1,1,3,3]');
    assert.equal(ty(dropped), 'float[1,1,3,3]');
  });

  it('SAME_UPPER pools to ⌈in/stride⌉; global pools keep N and C', () => {
    const { b, x } = withInput(['N', 8, 7, 9]);
    const same = b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], auto_pad: 'SAME_UPPER' });
    const gap = b.op('GlobalAveragePool', [x]);
    const gmp = b.op('GlobalMaxPool', [x]);
    const lp = b.op('LpPool', [x], { kernel_shape: [2, 2] });
    run(b);
    assert.equal(ty(same), 'float[N,8,4,5]');
    assert.equal(ty(gap), 'float[N,8,1,1]');
    assert.equal(ty(gmp), 'float[N,8,1,1]');
    assert.equal(ty(lp), 'float[N,8,6,8]');
  });
});
