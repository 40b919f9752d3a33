import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { F, run, ty, withInput } from '../../testing/graphs.js';

describe('rnn', () => {
  it('LSTM/GRU/RNN outputs for both layouts and directions', () => {
    const { b, x } = withInput(['T', 'N', 32]);
    const lstm = b.node('LSTM', [x, b.input('w', F, [2, 256, 32]), b.input('r', F, [2, 256, 64])], { hidden_size: 64, direction: 'bidirectional' }, { outputs: 3 });
    const gru = b.node('GRU', [x, b.input('w2', F, [1, 48, 32]), b.input('r2', F, [1, 48, 16])], {}, { outputs: 2 });
    const xb = b.input('xb', F, ['N', 'T', 32]);
    const rnn = b.node('RNN', [xb, b.input('w3', F, [1, 8, 32]), b.input('r3', F, [1, 8, 8])], { hidden_size: 8, layout: 1 }, { outputs: 2 });
    run(b, 14);
    assert.deepEqual(lstm.outputs.map(ty), ['float[T,2,N,64]', 'float[2,N,64]', 'float[2,N,64]']);
    assert.deepEqual(gru.outputs.map(ty), ['float[T,1,N,16]', 'float[1,N,16]'], 'hidden size from R');
    assert.deepEqual(rnn.outputs.map(ty), ['float[N,T,1,8]', 'float[N,1,8]']);
  });
});
