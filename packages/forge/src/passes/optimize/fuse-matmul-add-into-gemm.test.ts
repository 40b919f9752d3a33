/**
 * fuse-matmul-add-into-gemm: 2-D MatMul by a constant + constant bias → Gemm (either operand order,
 * rank found by shape inference when the type has none); rank-3 A, shared MatMul outputs and
 * non-broadcastable biases stay; outputs match onnxruntime within 1e-4 relative.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, loadModel, type Model } from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, modelPath } from '../../../../../tools/models.ts';
import { type Feeds } from '../../runtime/index.js';
import { fuseMatmulAddIntoGemm } from './fuse-matmul-add-into-gemm.js';
import { applyAndCompare, assertClose, assertValid, count, feed, randT, runModel } from '../testing/fuse-harness.js';

const fuseAndCompare = (model: Model, feeds: Feeds) => applyAndCompare(fuseMatmulAddIntoGemm, model, feeds);

describe('fuse-matmul-add-into-gemm', () => {
  it('fuses MatMul [M,K]×[K,N] + [N] into Gemm, keeping the output name', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['M', 4]);
    const y = b.op('MatMul', [x, b.initializer('w', randT([4, 5]))]);
    b.output(b.op('Add', [y, b.initializer('c', randT([5]))]), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await fuseAndCompare(model, { x: feed([3, 4]) });
    assert.deepEqual(report.counts, { 'MatMul+Add fused into Gemm': 1 });
    const gemm = model.graph.outputs[0].producer!;
    assert.equal(gemm.opType, 'Gemm');
    assert.equal(model.graph.outputs[0].name, 'y');
    assert.deepEqual(
      gemm.inputs.map((v) => v?.name),
      ['x', 'w', 'c'],
    );
    assert.equal((await fuseMatmulAddIntoGemm.run(model, {}, {})).changed, false);
  });

  it('accepts the bias first as a [1,N] Constant, and A whose rank only shape inference knows', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2, 3, 4]);
    const flat = b.op('Flatten', [x]);
    flat.type = undefined;
    const y = b.op('MatMul', [flat, b.constant(randT([12, 6]))]);
    const z = b.op('Add', [b.constant(randT([1, 6])), y]);
    b.output(b.op('Relu', [z]), 'y');
    const model = b.model({ opset: 13 });
    const { report } = await fuseAndCompare(model, { x: feed([2, 3, 4]) });
    assert.deepEqual(report.counts, { 'MatMul+Add fused into Gemm': 1 });
    assert.deepEqual(
      model.graph.nodes().map((n) => n.opType),
      ['Flatten', 'Constant', 'Constant', 'Gemm', 'Relu'],
    );
  });

  it('refuses rank-3 A, a shared MatMul output, a bias that is not per-column; skips a dynamic bias', async () => {
    const b = new GraphBuilder('g');
    const x3 = b.input('x3', DataType.FLOAT, [2, 3, 4]);
    const x = b.input('x', DataType.FLOAT, [3, 4]);
    const bias = b.input('bias', DataType.FLOAT, [5]);
    const w = b.initializer('w', randT([4, 5]));
    const c = b.initializer('c', randT([5]));
    const o1 = b.op('Add', [b.op('MatMul', [x3, w], {}, { name: 'mm_rank3' }), c]);
    const shared = b.op('MatMul', [x, w], {}, { name: 'mm_shared' });
    const o2 = b.op('Add', [shared, c]);
    const o3 = b.op('Add', [b.op('MatMul', [x, w], {}, { name: 'mm_bias2d' }), b.initializer('c2', randT([3, 5]))]);
    const o4 = b.op('Add', [b.op('MatMul', [x, w], {}, { name: 'mm_dynamic' }), bias]);
    for (const [i, o] of [o1, o2, shared, o3, o4].entries()) b.output(o, `o${i}`);
    const model = b.model({ opset: 17 });
    const nodes = model.graph.nodeCount;
    const report = await fuseMatmulAddIntoGemm.run(model, {}, {});
    assert.equal(report.changed, false);
    assert.equal(model.graph.nodeCount, nodes);
    const notes = report.notes!.join('\n');
    assert.match(notes, /mm_rank3.*rank 3; Gemm needs 2-D/);
    assert.match(notes, /mm_shared.*has other uses/);
    assert.match(notes, /mm_bias2d.*\[3,5\] does not broadcast/);
    assert.doesNotMatch(notes, /mm_dynamic/);
  });

  it('real models: PaddleOCR cls and the spam transformer', { timeout: 600_000 }, async () => {
    await ensureModels();
    const cls = modelPath('ocr-cls');
    const m1 = loadModel(cls);
    const r1 = await fuseMatmulAddIntoGemm.run(m1, {}, {});
    assertValid(m1);
    const f1 = { x: feed([2, 3, 48, 192]) };
    const rel1 = assertClose(await runModel(cls, f1), await runModel(m1, f1));
    const spam = join(REPO_ROOT, 'models/reference/spam-transformer.onnx');
    const m2 = loadModel(spam);
    const mm = count(m2, 'MatMul');
    const r2 = await fuseMatmulAddIntoGemm.run(m2, {}, {});
    assertValid(m2);
    assert.deepEqual(r1.counts, { 'MatMul+Add fused into Gemm': 1 });
    assert.equal(r2.changed, false, 'every MatMul of the transformer has a rank-3 A');
    console.log(
      `ocr-cls: ${JSON.stringify(r1.counts)} max rel ${rel1.toExponential(2)}; ` +
        `spam-transformer: MatMul ${mm} → ${count(m2, 'MatMul')}, ${JSON.stringify(r2.counts)}, ` +
        `${r2.notes?.length ?? 0} notes (${r2.notes?.[0] ?? ''})`,
    );
  });
});
