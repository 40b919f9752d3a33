import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { I64, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('reduce', () => {
  it('axes attribute (before 18; ReduceSum before 13) with and without keepdims', () => {
    const { b, x } = withInput(['N', 3, 4, 5]);
    const m = b.op('ReduceMean', [x], { axes: [2, 3] });
    const k0 = b.op('ReduceMax', [x], { axes: [-1], keepdims: 0 });
    const all = b.op('ReduceL2', [x], { keepdims: 0 });
    const sum = b.op('ReduceSum', [x], { axes: [1] });
    run(b, 11);
    assert.equal(ty(m), 'float[N,3,1,1]');
    assert.equal(ty(k0), 'float[N,3,4]');
    assert.equal(ty(all), 'float[]');
    assert.equal(ty(sum), 'float[N,1,4,5]');
  });

  it('axes input from opset 13 for ReduceSum and 18 for the rest; noop_with_empty_axes', () => {
    const { b, x } = withInput(['N', 3, 4, 5]);
    const sum = b.op('ReduceSum', [x, ints(b, [1])], { keepdims: 0 });
    const noop = b.op('ReduceSum', [x], { noop_with_empty_axes: 1 });
    const mean13 = b.op('ReduceMean', [x], { axes: [1] });
    run(b, 13);
    assert.equal(ty(sum), 'float[N,4,5]');
    assert.equal(ty(noop), 'float[N,3,4,5]');
    assert.equal(ty(mean13), 'float[N,1,4,5]');
    const c = withInput(['N', 3, 4, 5]);
    const mean18 = c.b.op('ReduceMean', [c.x, ints(c.b, [-2, -1])]);
    const unknownAxes = c.b.op('ReduceLogSumExp', [c.x, c.b.input('a', I64, [2])], { keepdims: 0 });
    run(c.b, 18);
    assert.equal(ty(mean18), 'float[N,3,1,1]');
    assert.equal(ty(unknownAxes), 'float[?,?]');
  });

  it('ArgMax/ArgMin give int64; TopK takes k from the attribute (before 10) or input', () => {
    const { b, x } = withInput(['N', 10]);
    const am = b.op('ArgMax', [x], { axis: 1 });
    const an = b.op('ArgMin', [x], { axis: -1, keepdims: 0 });
    const tk = b.node('TopK', [x, ints(b, [3])], {}, { outputs: 2 });
    run(b);
    assert.equal(ty(am), 'int64[N,1]');
    assert.equal(ty(an), 'int64[N]');
    assert.deepEqual(tk.outputs.map(ty), ['float[N,3]', 'int64[N,3]']);
    const c = withInput(['N', 10]);
    const tk1 = c.b.node('TopK', [c.x], { k: 4 }, { outputs: 2 });
    run(c.b, 9);
    assert.deepEqual(tk1.outputs.map(ty), ['float[N,4]', 'int64[N,4]']);
  });

  it('ReduceProd of a Shape is the element count', () => {
    const { b, x } = withInput([2, 3, 4]);
    const n = b.op('ReduceProd', [b.op('Shape', [x])], { keepdims: 1 });
    const y = b.op('Reshape', [x, b.op('Concat', [n, ints(b, [1])], { axis: 0 })]);
    run(b, 13);
    assert.equal(ty(y), 'float[24,1]');
  });
});
