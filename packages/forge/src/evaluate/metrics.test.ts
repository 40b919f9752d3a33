import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClassificationMetrics, FidelityMetrics } from './metrics.js';

describe('ClassificationMetrics', () => {
  it('counts top-1, top-5 and the confusion matrix across batches', () => {
    const m = new ClassificationMetrics();
    // 6 classes; sample 0 correct, sample 1 label 2 ranked 2nd, sample 2 label 5 ranked last.
    m.add([9, 1, 0, 0, 0, 0, 1, 0, 5, 9, 0, 0], 6, [0, 2]);
    m.add([0, 1, 2, 3, 4, -1], 6, [5]);
    const r = m.result();
    assert.equal(r.samples, 3);
    assert.equal(r.top1, 1 / 3);
    assert.equal(r.top5, 2 / 3);
    assert.equal(r.confusion[0][0], 1);
    assert.equal(r.confusion[2][3], 1);
    assert.equal(r.confusion[5][4], 1);
    assert.equal(r.perClass[0].precision, 1);
    assert.equal(r.perClass[2].recall, 0);
  });

  it('rejects labels outside the classes and mismatched sizes', () => {
    const m = new ClassificationMetrics();
    assert.throws(() => m.add([1, 2], 2, [2]), /label 2 of sample 0 is outside the model's 2 classes/);
    assert.throws(() => m.add([1, 2, 3], 2, [0]), /3 values, expected 1 samples × 2 classes/);
  });
});

describe('FidelityMetrics', () => {
  it('is perfect for identical outputs', () => {
    const f = new FidelityMetrics('y');
    f.add([1, 2, 3, -4], [1, 2, 3, -4], 2, 2);
    const r = f.result();
    assert.equal(r.cosine, 1);
    assert.equal(r.snrDb, null);
    assert.equal(r.maxAbsError, 0);
    assert.equal(r.argmaxAgreement, 1);
  });

  it('measures SNR, errors and argmax flips', () => {
    const f = new FidelityMetrics('y');
    f.add([1, 0, 0, 1], [1, 0.1, 0.2, 0.1], 2, 2);
    const r = f.result();
    // Σref² = 2, Σerr² = 0.01 + 0.04 + 0.81 = 0.86
    assert.ok(Math.abs(r.snrDb! - 10 * Math.log10(2 / 0.86)) < 1e-9);
    assert.ok(Math.abs(r.maxAbsError - 0.9) < 1e-12);
    assert.equal(r.argmaxAgreement, 0.5);
    assert.deepEqual(r.argmaxDiffers, [1]);
  });

  it('treats NaN as an infinite error', () => {
    const f = new FidelityMetrics('y');
    f.add([1, 2], [1, NaN], 1);
    assert.equal(f.result().maxAbsError, Infinity);
  });
});
