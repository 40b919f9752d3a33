import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataType, MemoryTensor, checkModel, loadModel, serializeModel } from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, mnistPath } from '../../../../tools/models.ts';
import { nodeBackend } from '../runtime/node.js';
import type { Feeds } from '../runtime/types.js';
import { buildTrainingGraph } from './autodiff.js';
import { appendCrossEntropy } from './losses.js';
import { Adam, Sgd } from './optimizers.js';
import { Trainer } from './trainer.js';

const MODEL = join(REPO_ROOT, 'models/reference/mnist-cnn.onnx');

/** MNIST t10k images [start, start + n) as the reference model's input, and their labels. */
function mnistBatch(start: number, n: number): Feeds {
  const img = readFileSync(mnistPath('t10k-images-idx3-ubyte'));
  const lab = readFileSync(mnistPath('t10k-labels-idx1-ubyte'));
  const x = new Float32Array(n * 784);
  for (let i = 0; i < n * 784; i++) x[i] = (img[16 + start * 784 + i] / 255 - 0.1307) / 0.3081;
  const y = BigInt64Array.from({ length: n }, (_, i) => BigInt(lab[8 + start + i]));
  return {
    input: { type: 'float32', dims: [n, 1, 28, 28], data: x },
    labels: { type: 'int64', dims: [n], data: y },
  };
}

/** Mean cross-entropy of logits [n, 10] against labels, in float64. */
function crossEntropy(logits: Float32Array, labels: BigInt64Array): number {
  const n = labels.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * 10, i * 10 + 10);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, z) => s + Math.exp(z - max), 0));
    sum += lse - row[Number(labels[i])];
  }
  return sum / n;
}

describe('training the MNIST CNN reference model in onnxruntime', () => {
  it('builds a valid training graph whose loss is the cross-entropy, and SGD/Adam steps lower it', async () => {
    await ensureModels();
    const forward = loadModel(MODEL);
    const model = loadModel(MODEL);
    const loss = appendCrossEntropy(model, 'logits');
    const tg = buildTrainingGraph(model, loss);
    const ops = new Set([...tg.model.graph].map((n) => n.opType));
    console.log(
      `training graph: ${tg.model.graph.nodeCount} nodes (${[...ops].sort().join(', ')}); params ${tg.params.map((p) => p.name).join(', ')}`,
    );
    assert.deepEqual(
      checkModel(tg.model).filter((i) => i.severity === 'error'),
      [],
    );
    assert.equal(tg.params.length, 8, 'two Conv and two Gemm weights and biases');
    assert.deepEqual(tg.unreached, []);
    assert.deepEqual(tg.dataInputs.sort(), ['input', 'labels']);

    const batch = mnistBatch(0, 64);
    // The forward model alone, cross-entropy computed here.
    const fwd = await nodeBackend.createSession(serializeModel(forward), { threads: 2 });
    const logits = (await fwd.run({ input: batch.input })).logits.data as Float32Array;
    await fwd.release();
    const reference = crossEntropy(logits, batch.labels.data as BigInt64Array);

    const sgd = await Trainer.create(tg, new Sgd(0.05, { momentum: 0.9 }), { threads: 2 });
    try {
      const { loss: first, outputs } = await sgd.run(batch);
      console.log(
        `loss in the training graph ${first.toFixed(7)}, cross-entropy of the forward logits ${reference.toFixed(7)}`,
      );
      assert.ok(Math.abs(first - reference) < 1e-5 * Math.max(1, reference), 'same loss');
      for (const p of tg.params) {
        const g = outputs[p.grad];
        assert.deepEqual(g.dims, [...p.init.dims], `gradient of ${p.name} has its shape`);
        assert.ok(
          (g.data as Float32Array).some((x) => x !== 0),
          `gradient of ${p.name} is not all zero`,
        );
      }
      const losses: number[] = [];
      for (let s = 0; s < 6; s++) losses.push(await sgd.step(batch));
      losses.push((await sgd.run(batch)).loss);
      console.log(`SGD(lr 0.05, momentum 0.9) on one batch of 64: ${losses.map((l) => l.toFixed(5)).join(' → ')}`);
      assert.ok(losses.at(-1)! < losses[0] * 0.5, 'loss falls');
      // Written back, the forward model gives the trained loss.
      const trained = loadModel(MODEL);
      sgd.writeBack(trained);
      const s2 = await nodeBackend.createSession(serializeModel(trained), { threads: 2 });
      const l2 = crossEntropy(
        (await s2.run({ input: batch.input })).logits.data as Float32Array,
        batch.labels.data as BigInt64Array,
      );
      await s2.release();
      assert.ok(Math.abs(l2 - losses.at(-1)!) < 1e-5, `written-back model's loss ${l2} = ${losses.at(-1)}`);
    } finally {
      await sgd.release();
    }
  });

  it('trains from scratch with Adam and measures samples/s', async () => {
    await ensureModels();
    const model = loadModel(MODEL);
    // Fresh weights (uniform He-style init), so the loss starts high.
    let seed = 1;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
    const tg = buildTrainingGraph(model, appendCrossEntropy(model, 'logits'));
    for (const p of tg.params) {
      const fanIn = p.init.dims.slice(1).reduce((a, b) => a * b, 1) || 1;
      const bound = p.init.dims.length > 1 ? Math.sqrt(6 / fanIn) : 0;
      const data = new Float32Array(p.init.size).map(() => rand() * bound);
      p.init = new MemoryTensor(DataType.FLOAT, [...p.init.dims], data);
    }
    const adam = await Trainer.create(tg, new Adam(2e-3), { threads: 2 });
    try {
      const batchSize = 64;
      const steps = 30;
      const batches = Array.from({ length: steps }, (_, i) => mnistBatch(1000 + i * batchSize, batchSize));
      const held = mnistBatch(0, 500);
      const before = (await adam.run(held)).loss;
      const t0 = performance.now();
      const losses: number[] = [];
      for (const b of batches) losses.push(await adam.step(b));
      const secs = (performance.now() - t0) / 1000;
      const after = (await adam.run(held)).loss;
      console.log(
        `Adam from scratch, ${steps} steps of ${batchSize}: train loss ${losses[0].toFixed(3)} → ${losses.at(-1)!.toFixed(3)}, ` +
          `held-out (500) ${before.toFixed(3)} → ${after.toFixed(3)}; ${((steps * batchSize) / secs).toFixed(0)} samples/s (2 threads, incl. optimizer)`,
      );
      assert.ok(after < before * 0.5, 'held-out loss halves');
    } finally {
      await adam.release();
    }
  });
});
