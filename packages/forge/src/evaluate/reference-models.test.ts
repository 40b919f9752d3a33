/**
 * The reference models (models/reference, trained and exported by tools/reference-models/train.py)
 * reach their accuracies under onnxruntime-node, and the WebAssembly backend agrees within
 * 0.05 pt. Prints how many predictions differ between the backends and the largest output gap.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { REPO_ROOT, ensureModels, mnistPath } from '../../../../tools/models.ts';
import { openDataset } from '../data/index.js';
import { getBackend } from '../runtime/index.js';
import { evaluateModel } from './evaluate.js';
import { runEval } from './run.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const ref = (name: string) => join(REPO_ROOT, 'models/reference', `${name}.onnx`);

const cases = [
  {
    name: 'mnist-cnn',
    minTop1: 0.985,
    data: () =>
      `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`,
  },
  {
    name: 'fashion-resnet',
    minTop1: 0.88,
    data: () =>
      `idx:${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530`,
  },
  {
    name: 'spam-transformer',
    minTop1: 0.95,
    data: () => `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`,
  },
];

describe('reference models', () => {
  before(async () => {
    await ensureModels();
    assert.ok(existsSync(FASHION), `${FASHION} is missing: apt-get install dataset-fashion-mnist`);
  });

  for (const c of cases) {
    it(`${c.name}: top-1 ≥ ${c.minTop1 * 100}% on node, wasm within 0.05 pt`, { timeout: 600_000 }, async () => {
      const node = await runEval(ref(c.name), { backend: 'node', data: c.data(), batch: 100 });
      const wasm = await runEval(ref(c.name), { backend: 'wasm', data: c.data(), batch: 100 });
      const top1 = node.task!.top1;
      const gap = Math.abs(top1 - wasm.task!.top1);
      // Same inputs through both backends: which predictions flip, and by how much outputs move.
      const sNode = await getBackend('node').createSession(ref(c.name));
      const sWasm = await getBackend('wasm').createSession(ref(c.name));
      const ds = await openDataset(c.data(), { inputs: sNode.inputs, batchSize: 100 });
      const f = await evaluateModel({ session: sWasm, reference: sNode, batches: ds.batches() });
      await sNode.release();
      await sWasm.release();
      const out = f.fidelity![0];
      const differ = Math.round((1 - out.argmaxAgreement!) * out.samples);
      console.log(
        `${c.name}: top-1 node ${(top1 * 100).toFixed(2)}%, wasm ${(wasm.task!.top1 * 100).toFixed(2)}% ` +
          `(${node.samples} samples); ${differ} predictions differ between backends, max |Δoutput| ${out.maxAbsError.toExponential(2)}, cosine ${out.cosine.toFixed(8)}`,
      );
      assert.equal(node.samples, wasm.samples);
      assert.ok(top1 >= c.minTop1, `top-1 ${top1}`);
      assert.ok(gap <= 0.0005, `node/wasm gap ${gap}`);
      assert.ok(out.cosine > 0.99999);
    });
  }
});
