import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { I64, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('pad', () => {
  it('pads from the attribute before opset 11', () => {
    const { b, x } = withInput(['N', 3, 4, 4]);
    const y = b.op('Pad', [x], { pads: [0, 0, 1, 2, 0, 0, 3, 4] });
    run(b, 10);
    assert.equal(ty(y), 'float[N,3,8,10]');
  });

  it('pads from the input from opset 11 (negative pads crop) and with axes from 18', () => {
    const { b, x } = withInput(['N', 3, 4, 4]);
    const y = b.op('Pad', [x, ints(b, [0, 0, 1, -1, 0, 0, 1, -1])]);
    const unknown = b.op('Pad', [x, b.input('p', I64, [8])]);
    run(b, 11);
    assert.equal(ty(y), 'float[N,3,6,2]');
    assert.equal(ty(unknown), 'float[?,?,?,?]');
    const c = withInput(['N', 3, 4, 4]);
    const z = c.b.op('Pad', [c.x, ints(c.b, [1, 2, 3, 4]), null, ints(c.b, [-1, 2])]);
    run(c.b, 18);
    assert.equal(ty(z), 'float[N,3,10,8]', 'axis −1 gets 1+3, axis 2 gets 2+4');
  });
});
