/**
 * fuse-mul-add-into-conv: per-channel Mul/Add after Conv, ConvTranspose and Gemm fold into the
 * weights (either operand order, chained Mul then Add, after a BN fold); spatial constants, shared
 * outputs and residual Adds stay; outputs match onnxruntime within 1e-4 relative.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, floatTensor, loadModel, type Model } from '@edgeforge/onnx';
import { REPO_ROOT } from '../../../../../tools/models.ts';
import { type Feeds } from '../../runtime/index.js';
import { fuseBnIntoConv } from './fuse-bn-into-conv.js';
import { fuseMulAddIntoConv } from './fuse-mul-add-into-conv.js';
import { applyAndCompare, assertClose, count, feed, randT, runModel } from '../testing/fuse-harness.js';
import { join } from 'node:path';

const fuseAndCompare = (model: Model, feeds: Feeds) => applyAndCompare(fuseMulAddIntoConv, model, feeds);

describe('fuse-mul-add-into-conv', () => {
  it('folds Mul [1,C,1,1] then Add [C,1,1] into one Conv', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2, 3, 6, 6]);
    const y = b.op('Conv', [x, b.initializer('w', randT([4, 3, 3, 3])), b.initializer('b', randT([4]))]);
    const m = b.op('Mul', [y, b.initializer('s', randT([1, 4, 1, 1], 0.5, 2))]);
    b.output(b.op('Add', [m, b.initializer('t', randT([4, 1, 1]))]), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await fuseAndCompare(model, { x: feed([2, 3, 6, 6]) });
    assert.deepEqual(report.counts, { 'Mul folded into Conv': 1, 'Add folded into Conv': 1 });
    assert.deepEqual(
      model.graph.nodes().map((n) => n.opType),
      ['Conv'],
    );
    assert.equal(model.graph.outputs[0].name, 'y');
    assert.equal(model.graph.initializers.size, 2);
    assert.equal((await fuseMulAddIntoConv.run(model, {}, {})).changed, false);
  });

  it('accepts the constant first, a scalar, and a constant behind Identity; folds into ConvTranspose', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const y = b.op('ConvTranspose', [x, b.constant(randT([2, 3, 2, 2]))], { group: 2 });
    const m = b.op('Mul', [b.constant(floatTensor([], [1.5])), y]);
    const t = b.op('Identity', [b.constant(randT([1, 6, 1, 1]))]);
    b.output(b.op('Add', [t, m]), 'y');
    const model = b.model({ opset: 13 });
    const { report } = await fuseAndCompare(model, { x: feed([1, 2, 4, 4]) });
    assert.deepEqual(report.counts, { 'Mul folded into ConvTranspose': 1, 'Add folded into ConvTranspose': 1 });
    assert.deepEqual(
      model.graph.nodes().map((n) => n.opType),
      ['ConvTranspose'],
    );
  });

  it('folds into Gemm (per-column [N]) and chains after fuse-bn-into-conv', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [3, 5]);
    const y = b.op('Gemm', [x, b.initializer('w', randT([5, 4])), b.initializer('c', randT([4]))], {
      beta: { float: 2 },
    });
    b.output(b.op('Mul', [y, b.initializer('s', randT([4]))]), 'y');
    const x2 = b.input('x2', DataType.FLOAT, [1, 2, 4, 4]);
    const c2 = b.op('Conv', [x2, b.initializer('w2', randT([2, 2, 1, 1]))]);
    const params = [randT([2], 0.5, 2), randT([2]), randT([2]), randT([2], 0.1, 2)].map((t, i) =>
      b.initializer(`p${i}`, t),
    );
    const bn = b.op('BatchNormalization', [c2, ...params]);
    b.output(b.op('Add', [bn, b.initializer('t', randT([2, 1, 1]))]), 'y2');
    const model = b.model({ opset: 17 });
    const feeds = { x: feed([3, 5]), x2: feed([1, 2, 4, 4]) };
    const before = await runModel(model, feeds);
    await fuseBnIntoConv.run(model, {}, {});
    const { report } = await fuseAndCompare(model, feeds);
    assertClose(before, await runModel(model, feeds));
    assert.deepEqual(report.counts, { 'Mul folded into Gemm': 1, 'Add folded into Conv': 1 });
    assert.deepEqual(
      model.graph.nodes().map((n) => n.opType),
      ['Gemm', 'Conv'],
    );
  });

  it('refuses spatial constants and shared outputs; passes over residual Adds', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const w = b.initializer('w', randT([2, 2, 1, 1]));
    const y1 = b.op('Conv', [x, w], {}, { name: 'conv_spatial' });
    const m1 = b.op('Mul', [y1, b.initializer('s', randT([1, 1, 4, 4]))], {}, { name: 'mul_spatial' });
    const y2 = b.op('Conv', [x, w], {}, { name: 'conv_shared' });
    const m2 = b.op('Add', [y2, b.initializer('t', randT([2, 1, 1]))]);
    const y3 = b.op('Conv', [x, w], {}, { name: 'conv_residual' });
    const r = b.op('Add', [y3, x]);
    const big = b.op(
      'Mul',
      [b.op('Conv', [x, w]), b.initializer('s5', randT([1, 1, 2, 1, 1]))],
      {},
      { name: 'mul_5d' },
    );
    b.output(m1, 'o1');
    b.output(m2, 'o2');
    b.output(y2, 'o2b');
    b.output(r, 'o3');
    b.output(big, 'o4');
    const model = b.model({ opset: 17 });
    const nodes = model.graph.nodeCount;
    const report = await fuseMulAddIntoConv.run(model, {}, {});
    assert.equal(report.changed, false);
    assert.equal(model.graph.nodeCount, nodes);
    const notes = report.notes!.join('\n');
    assert.match(notes, /mul_spatial.*\[1,1,4,4\] is not per-channel/);
    assert.match(notes, /conv_shared.*has other uses \(graph output\)/);
    assert.match(notes, /mul_5d.*rank 5 > output rank 4/);
    assert.doesNotMatch(notes, /conv_residual/);
    assert.equal(report.notes!.length, 3);
  });

  it('Fashion-MNIST ResNet after fuse-bn-into-conv: residual Adds untouched, outputs unchanged', async () => {
    const src = join(REPO_ROOT, 'models/reference/fashion-resnet.onnx');
    const model = loadModel(src);
    await fuseBnIntoConv.run(model, {}, {});
    const adds = count(model, 'Add');
    const report = await fuseMulAddIntoConv.run(model, {}, {});
    assert.equal(report.changed, false);
    assert.equal(count(model, 'Add'), adds);
    const feeds = { input: feed([4, 1, 28, 28]) };
    assertClose(await runModel(src, feeds), await runModel(model, feeds));
  });
});
