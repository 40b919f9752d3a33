import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, floats, I64, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('elementwise', () => {
  it('broadcasts with symbolic dims: N with 1 → N, N with 4 → 4, 1 with X → X', () => {
    const { b, x } = withInput(['N', 3, 1, 'W']);
    const y = b.input('y', F, [1, 5, 4]);
    const add = b.op('Add', [x, y]);
    const mul = b.op('Mul', [x, floats(b, [2])]);
    const sub = b.op('Sub', [b.input('z', F, [1, 'W']), b.input('u', F, [7, 'W'])]);
    run(b);
    assert.equal(ty(add), 'float[N,3,5,4]', 'W against 4 is 4; 1 against 5 is 5');
    assert.equal(ty(mul), 'float[N,3,1,W]');
    assert.equal(ty(sub), 'float[7,W]');
  });

  it('rejects incompatible dims and leaves the output unknown', () => {
    const { b, x } = withInput([2, 3]);
    const y = b.op('Add', [x, b.input('y', F, [4])]);
    const { report } = run(b);
    assert.equal(ty(y), '?');
    assert.equal(report.failed.length, 1);
    assert.match(report.failed[0].reason, /cannot broadcast 3 with 4/);
  });

  it('gives bool for comparisons and logic, the value type for Where', () => {
    const { b, x } = withInput(['N', 4]);
    const eq = b.op('Equal', [x, floats(b, [0])]);
    const and = b.op('And', [eq, b.input('m', DataType.BOOL, [1, 4])]);
    const w = b.op('Where', [and, b.input('a', DataType.INT32, [4]), b.input('c', DataType.INT32, ['N', 1])]);
    run(b);
    assert.equal(ty(eq), 'bool[N,4]');
    assert.equal(ty(and), 'bool[N,4]');
    assert.equal(ty(w), 'int32[N,4]');
  });

  it('broadcasts variadic Sum/Mean/Max/Min and keeps PRelu on X', () => {
    const { b, x } = withInput([2, 1, 5]);
    const s = b.op('Sum', [x, b.input('y', F, [3, 1]), b.input('z', F, [5])]);
    const p = b.op('PRelu', [x, floats(b, [0.1, 0.2, 0.3, 0.4, 0.5], [5])]);
    run(b);
    assert.equal(ty(s), 'float[2,3,5]');
    assert.equal(ty(p), 'float[2,1,5]');
  });

  it('uses A’s shape before opset 7 (legacy broadcast attribute)', () => {
    const { b, x } = withInput([2, 3, 4, 5]);
    const y = b.op('Add', [x, b.input('y', F, [3])], { broadcast: 1, axis: 1 });
    run(b, 6);
    assert.equal(ty(y), 'float[2,3,4,5]');
  });

  it('computes small known values: N·2, Equal(shape, −1) is false for dims', () => {
    const { b, x } = withInput(['N', 3]);
    const shape = b.op('Shape', [x]);
    const doubled = b.op('Mul', [shape, ints(b, [2, 1])]);
    const isNeg = b.op('Equal', [shape, ints(b, [-1])]);
    const fixed = b.op('Where', [isNeg, ints(b, [1]), shape]);
    const y = b.op('Reshape', [b.input('z', F, [6, 'N']), doubled]);
    const e = b.op('Expand', [b.input('s', F, [1, 1]), fixed]);
    run(b);
    assert.equal(ty(y), 'float[2*N,3]');
    assert.equal(ty(isNeg), 'bool[2]');
    assert.equal(ty(e), 'float[N,3]');
  });

  it('keeps the element type of integer inputs', () => {
    const { b, x } = withInput([3], I64);
    const y = b.op('Mod', [x, ints(b, [2])], { fmod: 0 });
    const z = b.op('BitShift', [b.input('u', DataType.UINT8, [3]), b.input('v', DataType.UINT8, [1])], { direction: 'LEFT' });
    run(b);
    assert.equal(ty(y), 'int64[3]');
    assert.equal(ty(z), 'uint8[3]');
  });
});
