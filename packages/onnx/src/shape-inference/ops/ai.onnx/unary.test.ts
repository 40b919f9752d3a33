import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, floats, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('unary', () => {
  it('keeps shape and type through activations, math and Softmax', () => {
    const { b, x } = withInput(['N', 8]);
    const ops = ['Relu', 'Sigmoid', 'Tanh', 'Exp', 'Log', 'Sqrt', 'Abs', 'Neg', 'Erf', 'Floor', 'Ceil', 'Round', 'Reciprocal'];
    ops.push('Sin', 'Cos', 'Softplus', 'Softsign', 'HardSigmoid', 'HardSwish', 'LeakyRelu', 'Elu', 'Selu', 'Gelu', 'Sign');
    ops.push('Identity', 'Softmax', 'LogSoftmax', 'Hardmax', 'Trilu');
    const outs = ops.map((op) => b.op(op, [x]));
    const clip = b.op('Clip', [x, floats(b, [0], []), floats(b, [6], [])]);
    const cum = b.op('CumSum', [x, ints(b, [1], [])]);
    run(b);
    for (const [i, o] of outs.entries()) assert.equal(ty(o), 'float[N,8]', ops[i]);
    assert.equal(ty(clip), 'float[N,8]');
    assert.equal(ty(cum), 'float[N,8]');
  });

  it('Not/IsNaN/IsInf give bool', () => {
    const { b, x } = withInput([2, 'T']);
    const nan = b.op('IsNaN', [x]);
    const inf = b.op('IsInf', [x]);
    const not = b.op('Not', [nan]);
    run(b);
    assert.equal(ty(nan), 'bool[2,T]');
    assert.equal(ty(inf), 'bool[2,T]');
    assert.equal(ty(not), 'bool[2,T]');
  });

  it('Cast takes `to` (a name before opset 6), CastLike the second input’s type', () => {
    const { b, x } = withInput([3]);
    const c = b.op('Cast', [x], { to: DataType.FLOAT16 });
    const cl = b.op('CastLike', [x, b.input('t', DataType.INT8, [1])]);
    run(b);
    assert.equal(ty(c), 'float16[3]');
    assert.equal(ty(cl), 'int8[3]');
    const old = withInput([3]);
    const c5 = old.b.op('Cast', [old.x], { to: 'INT32' });
    run(old.b, 5);
    assert.equal(ty(c5), 'int32[3]');
  });

  it('Dropout’s mask is bool from opset 10, the input type before', () => {
    for (const [opset, mask] of [
      [12, 'bool[N,4]'],
      [7, 'float[N,4]'],
    ] as const) {
      const { b, x } = withInput(['N', 4]);
      const n = b.node('Dropout', [x], {}, { outputs: 2 });
      run(b, opset);
      assert.equal(ty(n.outputs[0]), 'float[N,4]');
      assert.equal(ty(n.outputs[1]), mask, `opset ${opset}`);
    }
  });
});
