import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkModel, inferShapes, loadModel, type Model } from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, modelPath } from '../../../../tools/models.ts';
import { constantsToInitializers } from '../passes/optimize/constants-to-initializers.js';
import type { Feeds } from '../runtime/types.js';
import { buildTrainingGraph } from './autodiff.js';
import { directionalCheck, gradCheck, rng, weightedSumLoss } from './gradcheck.js';
import { appendCrossEntropy } from './losses.js';

const ref = (f: string) => join(REPO_ROOT, 'models/reference', f);

/**
 * Float32 finite differences through a deep network (onnxruntime has no float64 Conv): ReLU kinks
 * and the loss's rounding limit agreement to ~1e-2 on the worst element (measured: worst 7e-3…1.3e-2
 * for eps 3e-4…3e-3, a different tensor each time, medians ~1e-3), while a wrong rule gives O(1).
 * The checked elements are each tensor's largest gradients.
 */
async function checkRealModel(
  file: string,
  feeds: Feeds,
  tol: number,
  withLoss: (m: Model) => string = (m) => appendCrossEntropy(m, 'logits'),
  model = loadModel(ref(file)),
): Promise<void> {
  const loss = withLoss(model);
  const tg = buildTrainingGraph(model, loss);
  assert.deepEqual(
    checkModel(tg.model).filter((i) => i.severity === 'error'),
    [],
  );
  const res = await gradCheck(model, loss, feeds, { eps: 1e-3, maxElements: 3, pick: 'largest' });
  // Error relative to the largest sampled gradient of each tensor (at least 1e-3, for tensors whose
  // sampled elements barely move the loss, such as embedding rows of tokens not in the batch).
  const rel = (r: (typeof res)[number]) => r.maxAbsError / Math.max(r.maxNumeric, 1e-3);
  const worst = res.reduce((a, b) => (rel(b) > rel(a) ? b : a));
  const median = res.map(rel).sort((a, b) => a - b)[res.length >> 1];
  console.log(
    `${file}: ${tg.params.length} params, ${tg.model.graph.nodeCount} training nodes; finite differences on ` +
      `${res.reduce((s, r) => s + r.checked, 0)} weights: median rel err ${median.toExponential(2)}, worst ${rel(worst).toExponential(2)} (${worst.param}, |g| ≤ ${worst.maxNumeric.toExponential(2)})`,
  );
  assert.equal(res.length, tg.params.length);
  assert.ok(rel(worst) < tol, `${worst.param}: ${rel(worst)}`);
}

describe('gradients of the reference models against finite differences', () => {
  it('fashion-resnet (Conv, BatchNormalization, residual Add, GlobalAveragePool)', async () => {
    const r = rng(4);
    const n = 2;
    const x = Float32Array.from({ length: n * 784 }, () => r() * 2 - 0.5);
    await checkRealModel(
      'fashion-resnet.onnx',
      {
        input: { type: 'float32', dims: [n, 1, 28, 28], data: x },
        labels: { type: 'int64', dims: [n], data: BigInt64Array.of(3n, 7n) },
      },
      3e-2,
    );
  });

  it('PaddleOCR direction classifier (opset 9, weights in Constant nodes, HardSwish, SE blocks)', async () => {
    await ensureModels();
    const model = loadModel(modelPath('ocr-cls'));
    await constantsToInitializers.run(model, {}, {});
    inferShapes(model, { inputShapes: { x: [1, 3, 48, 192] } });
    // The logits before the final Softmax: through a saturated 2-class softmax every gradient is tiny.
    const loss = weightedSumLoss(model, [...model.graph].find((n) => n.opType === 'Softmax')!.inputs[0]!.name);
    const r = rng(6);
    const x = Float32Array.from({ length: 3 * 48 * 192 }, () => r() * 2 - 1);
    // Random input drives this MobileNetV3 through many Clip/HardSigmoid kinks, so finite differences
    // converge slowly: per-element checks drown in float32 rounding, and even along one random ±1
    // direction per tensor the error shrinks with eps (conv2d_4.w_0: 85 %, 41 %, 8 % for eps 1e-2,
    // 1e-3, 1e-4), as it does for a correct gradient. A wrong rule shared by many layers would move
    // the median, which is what is asserted; the worst tensor is printed.
    const res = await directionalCheck(
      model,
      loss,
      { x: { type: 'float32', dims: [1, 3, 48, 192] as number[], data: x } },
      { eps: 1e-4 },
    );
    const errs = res.map((d) => d.relError).sort((a, b) => a - b);
    const worst = res.reduce((a, b) => (b.relError > a.relError ? b : a));
    const median = errs[errs.length >> 1];
    console.log(
      `ocr-cls: ${res.length} params, directional finite differences (eps 1e-4): median rel err ${median.toExponential(2)}, ` +
        `90th percentile ${errs[Math.floor(errs.length * 0.9)].toExponential(2)}, worst ${worst.relError.toExponential(2)} ` +
        `(${worst.param}: analytic ${worst.analytic.toExponential(3)}, numeric ${worst.numeric.toExponential(3)})`,
    );
    assert.equal(res.length, 144);
    assert.ok(median < 3e-2, `median directional error ${median}`);
  });

  it('spam-transformer (embeddings, attention, LayerNormalization, masked mean)', async () => {
    const r = rng(5);
    const n = 2;
    // Token ids with padding at the end of each row, as the tokenizer makes them.
    const ids = BigInt64Array.from({ length: n * 256 }, (_, i) =>
      i % 256 < 40 + 30 * (i >> 8) ? BigInt(1 + Math.floor(r() * 8000)) : 0n,
    );
    await checkRealModel(
      'spam-transformer.onnx',
      {
        input_ids: { type: 'int64', dims: [n, 256], data: ids },
        labels: { type: 'int64', dims: [n], data: BigInt64Array.of(0n, 1n) },
      },
      3e-2,
    );
  });
});
