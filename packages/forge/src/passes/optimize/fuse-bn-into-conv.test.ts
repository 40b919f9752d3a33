/**
 * fuse-bn-into-conv: fires on Conv / ConvTranspose (grouped) / Gemm with weights in initializers,
 * Constant nodes and behind Identity; refuses when it must; outputs match onnxruntime before and
 * after within 1e-4 relative; the Fashion-MNIST ResNet loses all 15 BatchNormalization nodes with
 * accuracy unchanged, and PaddleOCR cls (weights in Constant nodes) loses all of its own.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  halfToFloat,
  loadModel,
  saveModel,
  toFloat32,
  type Model,
  type Value,
} from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, modelPath } from '../../../../../tools/models.ts';
import { runEval } from '../../evaluate/run.js';
import { floatToHalf, type Feeds } from '../../runtime/index.js';
import { fuseBnIntoConv } from './fuse-bn-into-conv.js';
import {
  applyAndCompare,
  assertClose,
  assertValid,
  count,
  feed,
  randn,
  randT,
  runModel,
} from '../testing/fuse-harness.js';

const fuseAndCompare = (model: Model, feeds: Feeds) => applyAndCompare(fuseBnIntoConv, model, feeds);

function bnParams(b: GraphBuilder, c: number, prefix = 'bn'): Value[] {
  return [
    b.initializer(`${prefix}.gamma`, randT([c], 0.5, 2)),
    b.initializer(`${prefix}.beta`, randT([c])),
    b.initializer(`${prefix}.mean`, randT([c])),
    b.initializer(`${prefix}.var`, randT([c], 0.1, 2)),
  ];
}

describe('fuse-bn-into-conv', () => {
  it('folds BN into Conv with bias; the BN output keeps its name', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2, 3, 8, 8]);
    const w = b.initializer('w', randT([4, 3, 3, 3]));
    const bias = b.initializer('b', randT([4]));
    const y = b.op('Conv', [x, w, bias], { pads: [1, 1, 1, 1] });
    b.output(b.op('BatchNormalization', [y, ...bnParams(b, 4)], { epsilon: 1e-3 }), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await fuseAndCompare(model, { x: feed([2, 3, 8, 8]) });
    assert.deepEqual(report.counts, { 'BatchNormalization folded into Conv': 1 });
    assert.equal(count(model, 'BatchNormalization'), 0);
    assert.equal(count(model, 'Conv'), 1);
    assert.equal(model.graph.outputs[0].name, 'y');
    assert.equal(model.graph.outputs[0].producer?.opType, 'Conv');
    // Old weight, bias and BN parameters are gone; only the fused weight and bias remain.
    assert.deepEqual([...model.graph.initializers.keys()], ['w_bn', 'b_bn']);
    // A second run changes nothing.
    const again = await fuseBnIntoConv.run(model, {}, {});
    assert.equal(again.changed, false);
  });

  it('folds with weights in Constant nodes, no Conv bias, a BN parameter behind Identity (opset 9)', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 5, 5]);
    const w = b.constant(randT([6, 1, 3, 3]), 'w');
    const y = b.op('Conv', [x, w], { group: 2 });
    const [gamma, beta, mean, variance] = [
      b.constant(randT([6], 0.5, 2)),
      b.constant(randT([6])),
      b.constant(randT([6])),
      b.constant(randT([6], 0.1, 2)),
    ];
    const betaId = b.op('Identity', [beta]);
    const z = b.op('BatchNormalization', [y, gamma, betaId, mean, variance]);
    b.output(b.op('Relu', [z]), 'out');
    const model = b.model({ opset: 9 });
    const { report } = await fuseAndCompare(model, { x: feed([1, 2, 5, 5]) });
    assert.equal(report.counts['BatchNormalization folded into Conv'], 1);
    assert.deepEqual(
      model.graph.nodes().map((n) => n.opType),
      ['Conv', 'Relu'],
    );
  });

  it('folds into a grouped ConvTranspose (output channels on axis 1 of each group)', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 4, 5, 5]);
    const w = b.initializer('w', randT([4, 3, 2, 2]));
    const bias = b.initializer('b', randT([6]));
    const y = b.op('ConvTranspose', [x, w, bias], { group: 2, strides: [2, 2] });
    b.output(b.op('BatchNormalization', [y, ...bnParams(b, 6)]), 'y');
    const model = b.model({ opset: 15 });
    const { report } = await fuseAndCompare(model, { x: feed([1, 4, 5, 5]) });
    assert.deepEqual(report.counts, { 'BatchNormalization folded into ConvTranspose': 1 });
  });

  it('folds into Gemm with transB, beta and C, and into Gemm without C', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [3, 5]);
    const w1 = b.initializer('w1', randT([4, 5]));
    const c1 = b.initializer('c1', randT([1, 4]));
    const y1 = b.op('Gemm', [x, w1, c1], { transB: 1, beta: 0.5, alpha: 1.5 });
    const z1 = b.op('BatchNormalization', [y1, ...bnParams(b, 4, 'bn1')]);
    const w2 = b.initializer('w2', randT([4, 2]));
    const y2 = b.op('Gemm', [z1, w2]);
    b.output(b.op('BatchNormalization', [y2, ...bnParams(b, 2, 'bn2')]), 'y');
    const model = b.model({ opset: 13 });
    const { report } = await fuseAndCompare(model, { x: feed([3, 5]) });
    assert.deepEqual(report.counts, { 'BatchNormalization folded into Gemm': 2 });
    for (const n of model.graph) assert.equal(n.getFloat('beta', 1), 1);
  });

  it('folds float16 weights (computed in float64, rounded once)', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT16, [1, 2, 4, 4]);
    const wf = randn(2 * 2);
    const w = b.initializer('w', new MemoryTensor(DataType.FLOAT16, [2, 2, 1, 1], Uint16Array.from(wf, floatToHalf)));
    const y = b.op('Conv', [x, w]);
    const half = (v: number[]) => new MemoryTensor(DataType.FLOAT16, [2], Uint16Array.from(v, floatToHalf));
    const params = [half([2, 0.5]), half([1, -1]), half([0.25, 0]), half([3, 0.25])].map((t, i) =>
      b.initializer(`p${i}`, t),
    );
    b.output(b.op('BatchNormalization', [y, ...params], { epsilon: 1e-5 }), 'y');
    const model = b.model({ opset: 15 });
    const w0 = toFloat32(w.const!);
    const report = fuseBnIntoConv.run(model, {}, {}) as { counts: Record<string, number> };
    assert.equal(report.counts['BatchNormalization folded into Conv'], 1);
    assertValid(model);
    const conv = model.graph.outputs[0].producer!;
    const wt = conv.inputs[1]!.const!;
    const bt = conv.inputs[2]!.const!;
    assert.equal(wt.dtype, DataType.FLOAT16);
    const s = [2 / Math.sqrt(3 + 1e-5), 0.5 / Math.sqrt(0.25 + 1e-5)];
    const wNew = toFloat32(wt);
    for (let i = 0; i < 4; i++) assert.equal(wNew[i], halfToFloat(floatToHalf(w0[i] * s[i >> 1])));
    assert.deepEqual([...toFloat32(bt)], [halfToFloat(floatToHalf(1 - 0.25 * s[0])), -1]);
  });

  it('refuses: Conv output with two uses, non-constant scale, training mode, a BN after Add', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const gammaIn = b.input('gamma', DataType.FLOAT, [2]);
    const w = b.initializer('w', randT([2, 2, 1, 1]));
    const y = b.op('Conv', [x, w], {}, { name: 'conv_shared' });
    const p = bnParams(b, 2);
    const z1 = b.op('BatchNormalization', [y, ...p], {}, { name: 'bn_shared' });
    const y2 = b.op('Conv', [x, w], {}, { name: 'conv_dyn' });
    const z2 = b.op('BatchNormalization', [y2, gammaIn, ...p.slice(1)], {}, { name: 'bn_dyn' });
    const y3 = b.op('Conv', [x, w], {}, { name: 'conv_train' });
    const z3 = b.op('BatchNormalization', [y3, ...p], { training_mode: 1 }, { name: 'bn_train' });
    const sum = b.op('Add', [z1, y]);
    const z4 = b.op('BatchNormalization', [sum, ...p], {}, { name: 'bn_add' });
    b.output(z2, 'o2');
    b.output(z3, 'o3');
    b.output(z4, 'o4');
    const model = b.model({ opset: 15 });
    const nodesBefore = model.graph.nodeCount;
    const report = await fuseBnIntoConv.run(model, {}, {});
    assert.equal(report.changed, false);
    assert.equal(model.graph.nodeCount, nodesBefore);
    const notes = report.notes!.join('\n');
    assert.match(notes, /conv_shared.*has other uses/);
    assert.match(notes, /bn_dyn.*scale 'gamma' is not constant/);
    assert.match(notes, /bn_train.*training_mode = 1/);
    assert.match(notes, /bn_add.*from Add/);
    assertValid(model);
  });

  describe('real models', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'fuse-bn-'));
    after(() => rmSync(tmp, { recursive: true, force: true }));

    it('Fashion-MNIST ResNet: 15 → 0 BatchNormalization, top-1 unchanged', { timeout: 600_000 }, async () => {
      const src = join(REPO_ROOT, 'models/reference/fashion-resnet.onnx');
      const model = loadModel(src);
      assert.equal(count(model, 'BatchNormalization'), 15);
      assert.equal(count(model, 'Identity'), 2);
      const report = await fuseBnIntoConv.run(model, {}, {});
      assert.deepEqual(report.counts, { 'BatchNormalization folded into Conv': 15 });
      assert.equal(count(model, 'BatchNormalization'), 0);
      assert.equal(count(model, 'Identity'), 0, 'the Identity nodes feeding BN biases are released');
      assertValid(model);
      const out = join(tmp, 'fashion-resnet.fused.onnx');
      saveModel(model, out);
      const data =
        'idx:/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz,' +
        'labels=/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530';
      const base = await runEval(src, { data, batch: 100 });
      const fused = await runEval(out, { data, batch: 100, against: src });
      const maxAbs = fused.fidelity!.perOutput[0].maxAbsError!;
      console.log(
        `fashion-resnet: nodes ${loadModel(src).graph.nodeCount} → ${model.graph.nodeCount}, ` +
          `top-1 ${(base.task!.top1 * 100).toFixed(2)}% → ${(fused.task!.top1 * 100).toFixed(2)}%, ` +
          `max |Δlogit| ${maxAbs.toExponential(2)}, argmax agreement ${fused.fidelity!.perOutput[0].argmaxAgreement}`,
      );
      assert.equal(fused.task!.top1, base.task!.top1);
      assert.ok(maxAbs < 1e-3, `max abs logit difference ${maxAbs}`);
      // Within 1e-4 relative on a batch of real-shaped random inputs too.
      const feeds = { input: feed([8, 1, 28, 28]) };
      assertClose(await runModel(src, feeds), await runModel(model, feeds));
    });

    it('PaddleOCR cls (weights in Constant nodes): every BatchNormalization folded', { timeout: 600_000 }, async () => {
      await ensureModels();
      const src = modelPath('ocr-cls');
      const model = loadModel(src);
      const bnBefore = count(model, 'BatchNormalization');
      const report = await fuseBnIntoConv.run(model, {}, {});
      const bnAfter = count(model, 'BatchNormalization');
      assertValid(model);
      const feeds = { x: feed([2, 3, 48, 192]) };
      const rel = assertClose(await runModel(src, feeds), await runModel(model, feeds));
      console.log(
        `ocr-cls: BatchNormalization ${bnBefore} → ${bnAfter}, nodes ${loadModel(src).graph.nodeCount} → ` +
          `${model.graph.nodeCount}, max rel diff ${rel.toExponential(2)}`,
      );
      assert.ok(bnBefore > 0);
      assert.equal(bnAfter, 0, report.notes?.join('\n'));
    });
  });
});
