import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType } from '../ir/dtype.js';
import { estimateMacs, modelMacs } from './macs.js';
import { F, GraphBuilder, floatTensor, run, withInput } from './testing/graphs.js';

describe('macs', () => {
  it('Conv: N·Cout·Hout·Wout·(Cin/group)·kH·kW', () => {
    const { b, x } = withInput([2, 16, 32, 32]);
    const c = b.op('Conv', [x, b.initializer('w', floatTensor([32, 16, 3, 3]))], { pads: [1, 1, 1, 1] });
    const dw = b.op('Conv', [x, b.initializer('d', floatTensor([16, 1, 3, 3]))], { pads: [1, 1, 1, 1], group: 16 });
    run(b);
    assert.equal(estimateMacs(c.producer!), 2 * 32 * 32 * 32 * 16 * 9);
    assert.equal(estimateMacs(dw.producer!), 2 * 16 * 32 * 32 * 1 * 9);
  });

  it('ConvTranspose, Gemm, batched MatMul, MatMulNBits, LSTM', () => {
    const { b, x } = withInput([1, 8, 10, 10]);
    const ct = b.op('ConvTranspose', [x, b.initializer('w', floatTensor([8, 4, 2, 2]))], { strides: [2, 2] });
    const g = b.op('Gemm', [b.input('a', F, [5, 7]), b.input('bb', F, [3, 7])], { transB: 1 });
    const mm = b.op('MatMul', [b.input('p', F, [4, 1, 6, 8]), b.input('q', F, [3, 8, 2])]);
    const nb = b.op(
      'MatMulNBits',
      [b.input('h', F, [1, 9, 64]), b.input('pk', DataType.UINT8, [32, 2, 16])],
      { K: 64, N: 32, bits: 4, block_size: 32 },
      { domain: 'com.microsoft' },
    );
    const lstm = b.op(
      'LSTM',
      [b.input('xs', F, [10, 2, 16]), b.input('lw', F, [1, 128, 16]), b.input('lr', F, [1, 128, 32])],
      { hidden_size: 32 },
    );
    run(b, 17, {}, { 'com.microsoft': 1 });
    assert.equal(estimateMacs(ct.producer!), 1 * 8 * 10 * 10 * 4 * 4);
    assert.equal(estimateMacs(g.producer!), 5 * 3 * 7);
    assert.equal(estimateMacs(mm.producer!), 4 * 3 * 6 * 2 * 8);
    assert.equal(estimateMacs(nb.producer!), 9 * 32 * 64);
    assert.equal(estimateMacs(lstm.producer!), 10 * 2 * 128 * (16 + 32));
  });

  it('symbolic dims: undefined unless assumeSymbolic; other ops count 0', () => {
    const { b, x } = withInput(['N', 64]);
    const y = b.op('MatMul', [x, b.initializer('w', floatTensor([64, 10]))]);
    const r = b.op('Relu', [y]);
    run(b);
    assert.equal(estimateMacs(y.producer!), undefined);
    assert.equal(estimateMacs(y.producer!, { assumeSymbolic: 1 }), 640);
    assert.equal(estimateMacs(y.producer!, { assumeSymbolic: 8 }), 5120);
    assert.equal(estimateMacs(r.producer!), 0);
  });

  it('modelMacs sums by op and includes subgraphs', () => {
    const { b, x } = withInput([1, 4, 8, 8]);
    b.op('Conv', [x, b.initializer('w', floatTensor([4, 4, 1, 1]))]);
    const then = new GraphBuilder('then');
    then.graph.outputs.push(then.op('MatMul', [b.input('a', F, [2, 3]), b.input('c', F, [3, 5])]));
    const els = new GraphBuilder('else');
    els.graph.outputs.push(els.op('MatMul', [b.input('d', F, ['N', 3]), b.input('e', F, [3, 5])]));
    b.op('If', [b.input('k', DataType.BOOL, [])], { then_branch: then.graph, else_branch: els.graph });
    const { model } = run(b);
    const conv = 1 * 4 * 8 * 8 * 4; // |Y| · Cin · 1×1
    assert.deepEqual(modelMacs(model), { total: conv + 30, byOp: { Conv: conv, MatMul: 30 }, unknownNodes: 1 });
    assert.deepEqual(modelMacs(model, { assumeSymbolic: 2 }), {
      total: conv + 60,
      byOp: { Conv: conv, MatMul: 60 },
      unknownNodes: 0,
    });
  });
});
