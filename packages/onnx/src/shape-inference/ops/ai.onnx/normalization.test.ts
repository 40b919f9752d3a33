import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, run, ty, withInput } from '../../testing/graphs.js';

describe('normalization', () => {
  it('BatchNormalization keeps X; training outputs are [C]', () => {
    const { b, x } = withInput(['N', 8, 4, 4]);
    const c = b.input('c', F, [8]);
    const bn = b.op('BatchNormalization', [x, c, c, c, c]);
    const tr = b.node('BatchNormalization', [x, c, c, c, c], { training_mode: 1 }, { outputs: 3 });
    run(b, 15);
    assert.equal(ty(bn), 'float[N,8,4,4]');
    assert.deepEqual(tr.outputs.map(ty), ['float[N,8,4,4]', 'float[8]', 'float[8]']);
  });

  it('LayerNormalization’s Mean/InvStdDev keep the leading dims, in stash_type', () => {
    const { b, x } = withInput(['B', 'T', 64], DataType.FLOAT16);
    const g = b.input('g', DataType.FLOAT16, [64]);
    const ln = b.node('LayerNormalization', [x, g, g], { axis: -1 }, { outputs: 3 });
    const ln2 = b.node('LayerNormalization', [x, g], { axis: 1, stash_type: DataType.FLOAT16 }, { outputs: 2 });
    run(b, 17);
    assert.deepEqual(ln.outputs.map(ty), ['float16[B,T,64]', 'float[B,T,1]', 'float[B,T,1]']);
    assert.deepEqual(ln2.outputs.map(ty), ['float16[B,T,64]', 'float16[B,1,1]']);
  });

  it('InstanceNormalization, GroupNormalization, LRN, MeanVarianceNormalization, LpNormalization keep X', () => {
    const { b, x } = withInput(['N', 8, 'H', 'W']);
    const c = b.input('c', F, [8]);
    const outs = [
      b.op('InstanceNormalization', [x, c, c]),
      b.op('GroupNormalization', [x, b.input('g', F, [2]), b.input('h', F, [2])], { num_groups: 2 }),
      b.op('LRN', [x], { size: 3 }),
      b.op('MeanVarianceNormalization', [x]),
      b.op('LpNormalization', [x]),
    ];
    run(b, 18);
    for (const o of outs) assert.equal(ty(o), 'float[N,8,H,W]');
  });
});
