import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, floats, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('resize', () => {
  it('scales (⌊in·scale⌋) and sizes from opset 11; empty roi and scales inputs', () => {
    const { b, x } = withInput(['N', 3, 15, 20]);
    const up = b.op('Resize', [x, null, floats(b, [1, 1, 2, 2])], { mode: 'nearest' });
    const odd = b.op('Resize', [x, floats(b, []), floats(b, [1, 1, 0.5, 1.5])]);
    const sized = b.op('Resize', [x, floats(b, []), floats(b, []), ints(b, [1, 3, 32, 32])]);
    run(b, 13);
    assert.equal(ty(up), 'float[N,3,30,40]');
    assert.equal(ty(odd), 'float[N,3,7,30]');
    assert.equal(ty(sized), 'float[1,3,32,32]');
  });

  it('opset 10 takes scales as input 1; opset 18 axes and keep_aspect_ratio_policy', () => {
    const { b, x } = withInput([1, 3, 10, 20]);
    const y = b.op('Resize', [x, floats(b, [1, 1, 3, 3])]);
    run(b, 10);
    assert.equal(ty(y), 'float[1,3,30,60]');
    const c = withInput([1, 3, 10, 20]);
    const ax = c.b.op('Resize', [c.x, null, null, ints(c.b, [5, 5])], { axes: [2, 3] });
    const keep = c.b.op('Resize', [c.x, null, null, ints(c.b, [5, 5])], { axes: [2, 3], keep_aspect_ratio_policy: 'not_larger' });
    run(c.b, 18);
    assert.equal(ty(ax), 'float[1,3,5,5]');
    assert.equal(ty(keep), 'float[1,3,3,5]');
  });

  it('Upsample: scales attribute (7–8) or input (9)', () => {
    const { b, x } = withInput([1, 2, 4, 4]);
    const y = b.op('Upsample', [x], { scales: { floats: [1, 1, 2, 3] } });
    run(b, 8);
    assert.equal(ty(y), 'float[1,2,8,12]');
    const c = withInput([1, 2, 4, 4]);
    const z = c.b.op('Upsample', [c.x, floats(c.b, [1, 1, 2, 2])]);
    run(c.b, 9);
    assert.equal(ty(z), 'float[1,2,8,8]');
    void F;
  });
});
