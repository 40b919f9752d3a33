import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensorType } from '../ir/types.js';
import { mergeType } from './merge.js';
import { F, I64, typeStr } from './testing/graphs.js';

const m = (ex: Parameters<typeof mergeType>[0], p: Parameters<typeof mergeType>[1], overwrite = false) => {
  const r = mergeType(ex, p, overwrite);
  return `${typeStr(r.type)} ${r.status}${r.conflict ? ' conflict' : ''}`;
};

describe('mergeType', () => {
  it('fills gaps and refines symbols with numbers', () => {
    assert.equal(m(undefined, tensorType(F, [2])), 'float[2] inferred');
    assert.equal(m({ kind: 'tensor', elemType: 0 }, tensorType(F, [2])), 'float[2] inferred');
    assert.equal(m(tensorType(F), tensorType(F, ['N', 2])), 'float[N,2] refined');
    assert.equal(m(tensorType(F, ['batch', null, 3]), tensorType(F, [1, 'T', 3])), 'float[1,T,3] refined');
    assert.equal(
      m(tensorType(F, ['batch', 4]), tensorType(F, ['N', null])),
      'float[batch,4] none',
      'a symbol is not renamed',
    );
  });

  it('keeps declared types that inference contradicts, unless overwrite', () => {
    assert.equal(m(tensorType(F, [3, 4]), tensorType(F, [2, null])), 'float[3,4] none conflict');
    assert.equal(
      m(tensorType(F, [null, 4]), tensorType(F, [2, 5])),
      'float[?,4] none conflict',
      'no partial merge from a contradicting proposal',
    );
    assert.equal(m(tensorType(I64, ['N']), tensorType(F, ['N'])), 'int64[N] none conflict');
    assert.equal(m(tensorType(F, [3]), tensorType(F, [3, 1])), 'float[3] none conflict');
    assert.equal(m(tensorType(I64, [3, 4]), tensorType(F, [2, 4]), true), 'float[2,4] refined conflict');
    assert.equal(m(tensorType(F, [2, 4]), tensorType(F, [2, 4]), true), 'float[2,4] none');
  });
});
