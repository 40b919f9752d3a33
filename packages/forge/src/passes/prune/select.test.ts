/**
 * Weight selection shared by the prune passes: what counts as a prunable weight and what is left
 * alone (biases, norms, 1-D and non-float weights, overridable initializers), weights behind
 * Identity, shared weights, ConvTranspose, node-name patterns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, MemoryTensor, floatTensor, type Model } from '@edgeforge/onnx';
import { findWeights, nodePattern, parseSelection, selectWeights } from './select.js';

function model(): Model {
  const F = DataType.FLOAT;
  const g = new GraphBuilder('sel');
  const x = g.input('x', F, ['N', 4]);
  const w = g.initializer('w', floatTensor([4, 4], new Array(16).fill(1)));
  // Tied weight read through Identity by two Gemms and also by a Transpose (outside the selection).
  const a = g.op('Gemm', [x, g.op('Identity', [w]), g.initializer('a.bias', floatTensor([4]))], {}, { name: 'enc/a' });
  const b = g.op('Gemm', [a, w], { transB: 1 }, { name: 'enc/b' });
  const t = g.op('MatMul', [b, g.op('Transpose', [w])], {}, { name: 'dec/t' });
  // Left alone: 1-D MatMul weight, int8 weight, an initializer that is also a graph input,
  // BatchNormalization parameters, a product of two activations.
  const v = g.op('MatMul', [t, g.initializer('vec', floatTensor([4], [1, 2, 3, 4]))], {}, { name: 'dec/vec' });
  const q = g.op(
    'MatMul',
    [
      g.input('xi', DataType.INT8, [2, 4]),
      g.initializer('q', new MemoryTensor(DataType.INT8, [4, 4], new Int8Array(16))),
    ],
    {},
    { name: 'q' },
  );
  const over = g.initializer('over', floatTensor([4, 4]));
  g.graph.addInput(over);
  const o = g.op('MatMul', [x, over], {}, { name: 'over' });
  const c = g.op(
    'ConvTranspose',
    [g.input('img', F, [1, 2, 3, 3]), g.initializer('ct', floatTensor([2, 3, 2, 2]))],
    {},
    { name: 'up' },
  );
  const bn = g.op('BatchNormalization', [
    c,
    ...['s', 'bb', 'm', 'var'].map((n) => g.initializer(n, floatTensor([3], [1, 1, 1]))),
  ]);
  const att = g.op('MatMul', [x, g.op('Transpose', [x])], {}, { name: 'att' });
  for (const [val, name] of [
    [v, 'v'],
    [q, 'q_out'],
    [o, 'o'],
    [bn, 'bn'],
    [att, 'att'],
  ] as const)
    g.output(val, name);
  return g.model({ opset: 17 });
}

describe('prune selection', () => {
  it('weights of Conv/ConvTranspose/Gemm/MatMul only; biases, norms, 1-D, int8, graph inputs left alone', () => {
    const { weights, skipped } = findWeights(model(), parseSelection({}, 'test'));
    assert.deepEqual(
      weights.map((w) => [w.root.name, w.readers.map((r) => r.node.name), w.otherReaders.map((n) => n.opType)]),
      [
        ['w', ['enc/a', 'enc/b'], ['Transpose']],
        ['ct', ['up'], []],
      ],
    );
    assert.deepEqual(skipped, [
      "MatMul 'dec/vec': weight 'vec' is 1-D",
      "MatMul 'q': weight 'q' is int8, not a float type",
    ]);
  });

  it('patterns: globs match the whole name, /regex/ anywhere; errors name the selection', () => {
    assert.ok(nodePattern('enc/*')('enc/a'));
    assert.ok(!nodePattern('enc')('enc/a'));
    assert.ok(nodePattern('/^enc\\/[ab]$/')('enc/b'));
    assert.ok(nodePattern('/A$/i')('enc/a'));
    assert.ok(nodePattern('a.b')('a.b') && !nodePattern('a.b')('axb'));
    assert.deepEqual(
      findWeights(model(), parseSelection({ nodes: ['enc/b'] }, 't')).weights.map((w) => w.root.name),
      ['w'],
    );
    assert.throws(
      () => selectWeights(model(), parseSelection({ opTypes: ['Conv'] }, 'prune-x'), 'prune-x'),
      /^Error: prune-x: the selection \(opTypes Conv\) matches no prunable weight$/,
    );
  });
});
