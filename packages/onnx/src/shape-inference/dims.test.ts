import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addDim,
  broadcastDim,
  broadcastShapes,
  divDim,
  mulDim,
  productDims,
  ShapeError,
  sumDims,
  unifyDim,
} from './dims.js';

describe('dims', () => {
  it('broadcasts one dim as ONNX does', () => {
    assert.equal(broadcastDim(1, 5), 5);
    assert.equal(broadcastDim(5, 1), 5);
    assert.equal(broadcastDim('N', 1), 'N');
    assert.equal(broadcastDim(1, 'N'), 'N');
    assert.equal(broadcastDim('N', 'N'), 'N');
    assert.equal(broadcastDim('N', 4), 4, 'a symbol against a number ≠ 1 must be that number');
    assert.equal(broadcastDim(null, 4), 4);
    assert.equal(broadcastDim(null, 1), null);
    assert.equal(broadcastDim('N', 'M'), null);
    assert.equal(broadcastDim('N', null), null);
    assert.throws(() => broadcastDim(3, 4), ShapeError);
  });

  it('broadcasts shapes right-aligned', () => {
    assert.deepEqual(broadcastShapes([['N', 3, 1, 5], [4, 1], []]), ['N', 3, 4, 5]);
    assert.deepEqual(
      broadcastShapes([
        [2, 1],
        ['B', 1, 7],
      ]),
      ['B', 2, 7],
    );
  });

  it('keeps symbolic products as canonical monomials and cancels them', () => {
    assert.equal(mulDim('N', 3), '3*N');
    assert.equal(mulDim(3, 'N'), '3*N');
    assert.equal(mulDim('T', 'B'), 'B*T');
    assert.equal(mulDim('N', 1), 'N');
    assert.equal(mulDim('N', 0), 0);
    assert.equal(mulDim(null, 0), 0);
    assert.equal(mulDim('N', null), null);
    assert.equal(productDims(['B', 'T', 4]), '4*B*T');
    assert.equal(divDim('4*B*T', 'B*T'), 4);
    assert.equal(divDim('4*B*T', 2), '2*B*T');
    assert.equal(divDim('4*B*T', 'B'), '4*T');
    assert.equal(divDim('N', 2), null, 'not known to divide');
    assert.equal(divDim(12, 5), null);
    assert.equal(divDim('N', 'M'), null);
  });

  it('adds and unifies', () => {
    assert.equal(addDim(3, 2), 5);
    assert.equal(addDim('H', 0), 'H');
    assert.equal(addDim('H', 2), null);
    assert.equal(sumDims([2, 3]), 5);
    assert.equal(sumDims(['N', 0]), 'N');
    assert.equal(sumDims(['N', 1]), null);
    assert.equal(unifyDim(null, 'K'), 'K');
    assert.equal(unifyDim('K', 8), 8);
    assert.throws(() => unifyDim(8, 9), ShapeError);
  });
});
