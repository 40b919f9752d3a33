import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('concat and split', () => {
  it('Concat adds along the axis and unifies the rest', () => {
    const { b, x } = withInput(['N', 3, 8]);
    const c = b.op('Concat', [x, b.input('y', F, [null, 5, 8]), b.input('z', F, ['N', 'K', 8])], { axis: 1 });
    const n = b.op('Concat', [x, b.input('w', F, [2, 3, 8])], { axis: -3 });
    run(b);
    assert.equal(ty(c), 'float[N,?,8]');
    assert.equal(ty(n), 'float[?,3,8]');
    const s = withInput([2, 3]);
    const k = s.b.op('Concat', [s.x, s.b.input('y', F, [2, 4])], { axis: 1 });
    run(s.b);
    assert.equal(ty(k), 'float[2,7]');
  });

  it('Split: attribute sizes before 13, input sizes from 13, equal parts, num_outputs (18)', () => {
    const a = withInput(['N', 10]);
    const s11 = a.b.node('Split', [a.x], { axis: 1, split: [3, 7] }, { outputs: 2 });
    run(a.b, 11);
    assert.deepEqual(s11.outputs.map(ty), ['float[N,3]', 'float[N,7]']);
    const c = withInput(['N', 10]);
    const s13 = c.b.node('Split', [c.x, ints(c.b, [4, 6])], { axis: -1 }, { outputs: 2 });
    const eq = c.b.node('Split', [c.x], { axis: 1 }, { outputs: 5 });
    run(c.b, 13);
    assert.deepEqual(s13.outputs.map(ty), ['float[N,4]', 'float[N,6]']);
    assert.deepEqual(eq.outputs.map(ty), new Array(5).fill('float[N,2]'));
    const d = withInput([10, 'C']);
    const s18 = d.b.node('Split', [d.x], { num_outputs: 3 }, { outputs: 3 });
    run(d.b, 18);
    assert.deepEqual(s18.outputs.map(ty), ['float[4,C]', 'float[4,C]', 'float[2,C]']);
  });

  it('Split into unequal parts without sizes fails before opset 18', () => {
    const { b, x } = withInput([10]);
    const s = b.node('Split', [x], {}, { outputs: 3 });
    const { report } = run(b, 13);
    assert.equal(ty(s.outputs[0]), '?');
    assert.equal(report.failed.length, 1);
  });
});
