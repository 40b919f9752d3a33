import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, I64, ints, run, ty, withInput } from '../../testing/graphs.js';

const END = Number.MAX_SAFE_INTEGER;

describe('slice and gather', () => {
  it('Slice from opset 10: inputs, negative indices, steps, clamping, whole symbolic axes', () => {
    const { b, x } = withInput(['N', 20, 10]);
    const s1 = b.op('Slice', [x, ints(b, [2, -5]), ints(b, [END, 100]), ints(b, [1, 2])]);
    const s2 = b.op('Slice', [x, ints(b, [0]), ints(b, [END]), ints(b, [0])]);
    const s3 = b.op('Slice', [x, ints(b, [-1]), ints(b, [-END]), ints(b, [1]), ints(b, [-3])]);
    const s4 = b.op('Slice', [x, ints(b, [1, 0]), ints(b, [7, 10]), ints(b, [1, 2]), ints(b, [3, 2])]);
    const s5 = b.op('Slice', [x, ints(b, [0]), ints(b, [2]), ints(b, [0])]);
    run(b);
    assert.equal(ty(s1), 'float[N,18,5]');
    assert.equal(ty(s2), 'float[N,20,10]');
    assert.equal(ty(s3), 'float[N,7,10]', 'axis 1 walked back from 19 by 3: 19,16,…,1');
    assert.equal(ty(s4), 'float[N,2,5]');
    assert.equal(ty(s5), 'float[?,20,10]', 'a symbolic dim cut short is unknown');
  });

  it('Slice before opset 10 reads attributes', () => {
    const { b, x } = withInput([20, 10, 5]);
    const y = b.op('Slice', [x], { starts: [0, 1], ends: [3, 1000], axes: [0, 1] });
    run(b, 9);
    assert.equal(ty(y), 'float[3,9,5]');
  });

  it('Slice with unknown starts keeps the untouched axes', () => {
    const { b, x } = withInput([4, 8]);
    const y = b.op('Slice', [x, b.input('s', I64, [1]), b.input('e', I64, [1]), ints(b, [1])]);
    run(b);
    assert.equal(ty(y), 'float[4,?]');
  });

  it('Gather, GatherElements, GatherND', () => {
    const { b, x } = withInput([5, 'N', 7]);
    const g = b.op('Gather', [x, b.input('i', I64, [2, 3])], { axis: 1 });
    const scalar = b.op('Gather', [x, ints(b, [0], [])]);
    const ge = b.op('GatherElements', [x, b.input('j', I64, [5, 2, 7])], { axis: 1 });
    const gnd = b.op('GatherND', [x, b.input('k', I64, [4, 2])]);
    const gb = b.op('GatherND', [x, b.input('m', I64, [5, 3, 1])], { batch_dims: 1 });
    run(b);
    assert.equal(ty(g), 'float[5,2,3,7]');
    assert.equal(ty(scalar), 'float[N,7]');
    assert.equal(ty(ge), 'float[5,2,7]');
    assert.equal(ty(gnd), 'float[4,7]');
    assert.equal(ty(gb), 'float[5,3,7]');
  });

  it('Compress: unknown count unless the condition is known', () => {
    const { b, x } = withInput([3, 2]);
    const c = b.op('Compress', [x, b.input('c', DataType.BOOL, [3])], { axis: 0 });
    const flat = b.op('Compress', [x, b.input('d', DataType.BOOL, [6])]);
    run(b);
    assert.equal(ty(c), 'float[?,2]');
    assert.equal(ty(flat), 'float[?]');
    void F;
  });
});
