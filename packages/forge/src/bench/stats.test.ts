import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { latencyStats, percentile } from './stats.js';

describe('latency statistics', () => {
  it('interpolates percentiles like numpy', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(s, 50), 5.5);
    assert.ok(Math.abs(percentile(s, 90) - 9.1) < 1e-12);
    assert.ok(Math.abs(percentile(s, 99) - 9.91) < 1e-12);
  });
  it('summarizes unsorted samples', () => {
    const r = latencyStats([3, 1, 2]);
    assert.equal(r.p50, 2);
    assert.equal(r.min, 1);
    assert.equal(r.max, 3);
    assert.equal(r.mean, 2);
    assert.equal(r.stdev, 1);
  });
});
