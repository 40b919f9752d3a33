import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, F, I64, ints, run, ty, withInput } from '../../testing/graphs.js';

describe('misc ops', () => {
  it('random generators, windows, detection, Unique, Det, losses', () => {
    const { b, x } = withInput(['N', 4]);
    const ru = b.op('RandomUniform', [], { shape: [2, 3], dtype: DataType.DOUBLE });
    const rl = b.op('RandomNormalLike', [x]);
    const mn = b.op('Multinomial', [x], { sample_size: 5 });
    const win = b.op('HannWindow', [ints(b, [10], [])]);
    const nms = b.op('NonMaxSuppression', [b.input('boxes', F, [1, 6, 4]), b.input('scores', F, [1, 1, 6])]);
    const roi = b.op('RoiAlign', [b.input('fm', F, [1, 16, 20, 20]), b.input('rois', F, ['R', 4]), b.input('bi', I64, ['R'])], { output_height: 7, output_width: 7 });
    const grid = b.op('GridSample', [b.input('img', F, ['N', 3, 8, 8]), b.input('g', F, ['N', 5, 6, 2])]);
    const uq = b.node('Unique', [x], { axis: 1 }, { outputs: 4 });
    const det = b.op('Det', [b.input('m', F, [5, 3, 3])]);
    const nll = b.op('NegativeLogLikelihoodLoss', [b.input('p', F, ['N', 5, 2]), b.input('t', I64, ['N', 2])], { reduction: 'none' });
    const nllMean = b.op('NegativeLogLikelihoodLoss', [b.input('p2', F, ['N', 5]), b.input('t2', I64, ['N'])]);
    run(b, 17);
    assert.equal(ty(ru), 'double[2,3]');
    assert.equal(ty(rl), 'float[N,4]');
    assert.equal(ty(mn), 'int32[N,5]');
    assert.equal(ty(win), 'float[10]');
    assert.equal(ty(nms), 'int64[?,3]');
    assert.equal(ty(roi), 'float[R,16,7,7]');
    assert.equal(ty(grid), 'float[N,3,5,6]');
    assert.deepEqual(uq.outputs.map(ty), ['float[N,?]', 'int64[?]', 'int64[4]', 'int64[?]']);
    assert.equal(ty(det), 'float[5]');
    assert.equal(ty(nll), 'float[N,2]');
    assert.equal(ty(nllMean), 'float[]');
  });

  it('DFT (opset 17) and STFT', () => {
    const { b, x } = withInput([2, 16, 1]);
    const d = b.op('DFT', [x], { axis: 1 });
    const one = b.op('DFT', [x], { axis: 1, onesided: 1 });
    const st = b.op('STFT', [x, ints(b, [4], []), null, ints(b, [8], [])]);
    run(b, 17);
    assert.equal(ty(d), 'float[2,16,2]');
    assert.equal(ty(one), 'float[2,9,2]');
    assert.equal(ty(st), 'float[2,3,5,2]');
  });
});
