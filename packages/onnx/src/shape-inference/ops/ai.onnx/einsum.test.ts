import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, run, ty, withInput } from '../../testing/graphs.js';

describe('einsum', () => {
  it('explicit, implicit, ellipsis and reductions', () => {
    const { b, x } = withInput(['B', 3, 4]);
    const y = b.input('y', F, ['B', 4, 5]);
    const bmm = b.op('Einsum', [x, y], { equation: 'bij,bjk->bik' });
    const implicit = b.op('Einsum', [b.input('p', F, [2, 3]), b.input('q', F, [3, 6])], { equation: 'ij,jk' });
    const ell = b.op('Einsum', [x, y], { equation: '...ij,...jk->...ik' });
    const trace = b.op('Einsum', [b.input('m', F, [4, 4])], { equation: 'ii->' });
    const tr = b.op('Einsum', [x], { equation: 'b i j -> b j i' });
    run(b);
    assert.equal(ty(bmm), 'float[B,3,5]');
    assert.equal(ty(implicit), 'float[2,6]');
    assert.equal(ty(ell), 'float[B,3,5]');
    assert.equal(ty(trace), 'float[]');
    assert.equal(ty(tr), 'float[B,4,3]');
  });
});
