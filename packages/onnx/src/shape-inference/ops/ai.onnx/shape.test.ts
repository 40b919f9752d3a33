import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, I64, floatTensor, int64Tensor, ints, run, ty, withInput } from '../../testing/graphs.js';
import { MemoryTensor } from '../../../ir/tensor.js';

describe('shape ops', () => {
  it('Shape (start/end from opset 15) and Size', () => {
    const { b, x } = withInput(['N', 3, 'H', 'W']);
    const s = b.op('Shape', [x]);
    const tail = b.op('Shape', [x], { start: -2 });
    const size = b.op('Size', [x]);
    const unknown = b.op('Shape', [b.input('u', F)]);
    run(b, 15);
    assert.equal(ty(s), 'int64[4]');
    assert.equal(ty(tail), 'int64[2]');
    assert.equal(ty(size), 'int64[]');
    assert.equal(ty(unknown), 'int64[?]');
  });

  it('Constant in all its spellings', () => {
    const { b } = withInput([1]);
    const t = b.op('Constant', [], { value: floatTensor([2, 3]) });
    const vf = b.op('Constant', [], { value_float: { float: 1 } });
    const vfs = b.op('Constant', [], { value_floats: { floats: [1, 2, 3] } });
    const vi = b.op('Constant', [], { value_int: 4 });
    const vis = b.op('Constant', [], { value_ints: [1, 2] });
    const vs = b.op('Constant', [], { value_string: 'a' });
    const vss = b.op('Constant', [], { value_strings: ['a', 'b', 'c'] });
    run(b);
    assert.deepEqual([t, vf, vfs, vi, vis, vs, vss].map(ty), ['float[2,3]', 'float[]', 'float[3]', 'int64[]', 'int64[2]', 'string[]', 'string[3]']);
  });

  it('ConstantOfShape takes its type from `value` and its shape from the (symbolic) input', () => {
    const { b, x } = withInput(['N', 5]);
    const z = b.op('ConstantOfShape', [b.op('Shape', [x])]);
    const i = b.op('ConstantOfShape', [ints(b, [2, 3])], { value: new MemoryTensor(DataType.INT32, [1], new Int32Array([7])) });
    const pads = b.op('ConstantOfShape', [ints(b, [1])], { value: int64Tensor([1], [0]) });
    const y = b.op('Pad', [x, b.op('Concat', [ints(b, [0, 1]), pads, ints(b, [1])], { axis: 0 })]);
    run(b);
    assert.equal(ty(z), 'float[N,5]');
    assert.equal(ty(i), 'int32[2,3]');
    assert.equal(ty(y), 'float[N,7]', 'the filled value is known, so Pad resolves');
  });

  it('Range from constants, and from a symbolic limit', () => {
    const { b, x } = withInput(['T', 4]);
    const r = b.op('Range', [ints(b, [2], []), ints(b, [11], []), ints(b, [3], [])]);
    const t = b.op('Gather', [b.op('Shape', [x]), ints(b, [0], [])]);
    const sym = b.op('Range', [ints(b, [0], []), t, ints(b, [1], [])]);
    const fl = b.op('Range', [b.constant(floatTensor([], [0])), b.constant(floatTensor([], [1])), b.constant(floatTensor([], [0.3]))]);
    run(b);
    assert.equal(ty(r), 'int64[3]');
    assert.equal(ty(sym), 'int64[T]');
    assert.equal(ty(fl), 'float[4]');
  });

  it('NonZero is [rank, ?]; OneHot inserts the depth; EyeLike keeps the shape', () => {
    const { b, x } = withInput(['N', 4]);
    const nz = b.op('NonZero', [x]);
    const oh = b.op('OneHot', [b.input('i', I64, ['N', 3]), ints(b, [10], []), b.constant(floatTensor([2], [0, 1]))], { axis: 1 });
    const ohLast = b.op('OneHot', [b.input('j', I64, [5]), b.constant(floatTensor([1], [7])), ints(b, [0, 1])]);
    const eye = b.op('EyeLike', [b.input('m', F, [3, 5])], { dtype: DataType.INT32 });
    run(b);
    assert.equal(ty(nz), 'int64[2,?]');
    assert.equal(ty(oh), 'float[N,10,3]');
    assert.equal(ty(ohLast), 'int64[5,7]');
    assert.equal(ty(eye), 'int32[3,5]');
  });
});
