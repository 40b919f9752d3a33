import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('sequences and optionals', () => {
  it('carries the element type through construct, insert, at and concat', () => {
    const { b, x } = withInput([2, 3]);
    const seq = b.op('SequenceConstruct', [x, b.input('y', F, [2, 3])]);
    const ins = b.op('SequenceInsert', [seq, b.input('z', F, [2, 5])]);
    const at = b.op('SequenceAt', [seq, ints(b, [0], [])]);
    const at2 = b.op('SequenceAt', [ins, ints(b, [0], [])]);
    const len = b.op('SequenceLength', [seq]);
    const cat = b.op('ConcatFromSequence', [seq], { axis: 0 });
    const stack = b.op('ConcatFromSequence', [seq], { axis: -1, new_axis: 1 });
    const has = b.op('OptionalHasElement', [b.op('Optional', [x])]);
    run(b, 16);
    assert.equal(ty(seq), 'seq(float[2,3])');
    assert.equal(ty(ins), 'seq(float[2,?])');
    assert.equal(ty(at), 'float[2,3]');
    assert.equal(ty(at2), 'float[2,?]');
    assert.equal(ty(len), 'int64[]');
    assert.equal(ty(cat), 'float[?,3]');
    assert.equal(ty(stack), 'float[2,3,?]');
    assert.equal(ty(has), 'bool[]');
  });
});
