/**
 * fold-linear-layers: Gemm∘Gemm (alpha/beta/transA/transB folded), MatMul∘MatMul with rank-3 X and
 * MatMul+Add+MatMul fold into one layer; a narrow bottleneck (parameter growth) and an intermediate
 * with another use are refused; outputs match onnxruntime within 1e-4 relative; a rerun changes nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, type Model } from '@edgeforge/onnx';
import { type Feeds } from '../../runtime/index.js';
import { foldLinearLayers } from './fold-linear-layers.js';
import { applyAndCompare, assertClose, assertValid, count, feed, randT, runModel } from '../testing/fuse-harness.js';

/** Runs the pass and checks: model valid, outputs within 1e-4 of before, a rerun changes nothing. */
async function foldAndCompare(model: Model, feeds: Feeds) {
  const result = await applyAndCompare(foldLinearLayers, model, feeds);
  assert.equal((await foldLinearLayers.run(model, {}, {})).changed, false);
  return result;
}

const ops = (m: Model) => m.graph.nodes().map((n) => n.opType);

describe('fold-linear-layers', () => {
  it('folds Gemm∘Gemm with a wide middle, folding alpha, beta, transA and transB', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [8, 'B']);
    const y = b.op('Gemm', [x, b.initializer('w1', randT([16, 8])), b.initializer('b1', randT([16]))], {
      transA: 1,
      transB: 1,
      alpha: 0.5,
      beta: 1.5,
    });
    const z = b.op('Gemm', [y, b.initializer('w2', randT([16, 6])), b.constant(randT([1, 6]))], {
      beta: 1.75,
      alpha: 0.75,
    });
    b.output(b.op('Relu', [z]), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([8, 3]) });
    assert.deepEqual(report.counts, { 'Gemm∘Gemm folded': 1 });
    assert.deepEqual(ops(model), ['Gemm', 'Relu']);
    const gemm = model.graph.nodes()[0];
    assert.equal(gemm.getInt('transA', 0), 1);
    assert.equal(gemm.getInt('transB', 0), 0);
    assert.deepEqual(gemm.inputs[1]!.const!.dims, [8, 6]);
    assert.equal(model.graph.initializers.size, 2, 'old weights and biases are removed');
    assert.equal(count(model, 'Constant'), 0);
  });

  it('folds a Gemm chain of three and a Gemm without biases', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 6]);
    let h = b.op('Gemm', [x, b.initializer('w1', randT([6, 10]))]);
    h = b.op('Gemm', [h, b.initializer('w2', randT([10, 10])), b.initializer('b2', randT([10]))]);
    h = b.op('Gemm', [h, b.initializer('w3', randT([4, 10])), b.initializer('b3', randT([4]))], { transB: 1 });
    b.output(h, 'y');
    const model = b.model({ opset: 13 });
    const { report } = await foldAndCompare(model, { x: feed([5, 6]) });
    assert.deepEqual(report.counts, { 'Gemm∘Gemm folded': 2 });
    assert.deepEqual(ops(model), ['Gemm']);
    assert.equal(model.graph.outputs[0].name, 'y');
  });

  it('refuses a narrow bottleneck (the fold would add parameters) and a shared intermediate', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 16]);
    const lo = b.op('Gemm', [x, b.initializer('down', randT([16, 2]))], {}, { name: 'down' });
    b.output(b.op('Gemm', [lo, b.initializer('up', randT([2, 16]))], {}, { name: 'up' }), 'y');
    const shared = b.op('Gemm', [x, b.initializer('w1', randT([16, 16]))], {}, { name: 'g1' });
    b.output(b.op('Gemm', [shared, b.initializer('w2', randT([16, 4]))], {}, { name: 'g2' }), 'y2');
    b.output(b.op('Relu', [shared]), 'y3');
    const mm = b.op('MatMul', [x, b.initializer('m1', randT([16, 8]))], {}, { name: 'mm1' });
    b.output(b.op('MatMul', [mm, b.initializer('m2', randT([8, 4]))], {}, { name: 'mm2' }), 'y4');
    b.output(mm, 'y5');
    const model = b.model({ opset: 17 });
    const nodes = model.graph.nodeCount;
    const feeds = { x: feed([3, 16]) };
    const before = await runModel(model, feeds);
    const report = await foldLinearLayers.run(model, {}, {});
    assert.equal(report.changed, false);
    assert.equal(model.graph.nodeCount, nodes);
    const notes = report.notes!.join('\n');
    assert.match(notes, /down.*up.*would grow from 64 to 256 parameters/);
    assert.match(notes, /g1.*g2.*has other uses/);
    assert.match(notes, /mm1.*mm2.*graph output/);
    assertValid(model);
    assertClose(before, await runModel(model, feeds));
  });

  it('folds MatMul∘MatMul with a rank-3 X', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 'T', 8]);
    const h = b.op('MatMul', [x, b.initializer('w1', randT([8, 12]))]);
    b.output(b.op('MatMul', [h, b.constant(randT([12, 4]))]), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([2, 3, 8]) });
    assert.deepEqual(report.counts, { 'MatMul∘MatMul folded': 1 });
    assert.deepEqual(ops(model), ['MatMul']);
    assert.deepEqual(model.graph.nodes()[0].inputs[1]!.const!.dims, [8, 4]);
    assert.equal(model.graph.outputs[0].name, 'y');
  });

  it('folds MatMul+Add+MatMul into MatMul+Add, bias on either side, keeping the bias shape', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 'T', 8]);
    let h = b.op('MatMul', [x, b.initializer('w1', randT([8, 12]))]);
    h = b.op('Add', [b.initializer('b1', randT([12])), h]);
    b.output(b.op('MatMul', [h, b.initializer('w2', randT([12, 4]))]), 'y');
    let k = b.op('MatMul', [x, b.initializer('v1', randT([8, 10]))]);
    k = b.op('Add', [k, b.constant(randT([1, 1, 10]))]);
    b.output(b.op('MatMul', [k, b.initializer('v2', randT([10, 3]))]), 'y2');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([2, 3, 8]) });
    assert.deepEqual(report.counts, { 'MatMul+Add+MatMul folded': 2 });
    assert.deepEqual(ops(model), ['MatMul', 'Add', 'MatMul', 'Add']);
    const [add1, add2] = model.graph.nodes().filter((n) => n.opType === 'Add');
    assert.deepEqual(add1.inputs[0]!.const!.dims, [4]);
    assert.deepEqual(add2.inputs[1]!.const!.dims, [1, 1, 3]);
    assert.equal(count(model, 'Constant'), 0);
  });

  it('takes no options', () => {
    assert.throws(() => foldLinearLayers.parseOptions({ x: 1 }), /takes no options/);
  });
});
