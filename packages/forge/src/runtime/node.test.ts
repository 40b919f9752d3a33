import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkModel, loadModel } from '@edgeforge/onnx';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { ocrInput, runBackendSuite } from './backend.case.test.js';
import { nodeBackend } from './node.js';

runBackendSuite({ backend: nodeBackend });

describe('node backend only', () => {
  it("optimizedModelPath writes onnxruntime's optimized model, which loads and runs", async () => {
    await ensureModels();
    const dir = mkdtempSync(join(tmpdir(), 'edgeforge-opt-'));
    try {
      const out = join(dir, 'cls.opt.onnx');
      const s = await nodeBackend.createSession(modelPath('ocr-cls'), {
        threads: 1,
        graphOptimization: 'basic',
        optimizedModelPath: out,
      });
      await s.release();
      assert.ok(existsSync(out), 'optimized model written');
      const m = loadModel(out);
      const before = loadModel(modelPath('ocr-cls')).graph.nodeCount;
      assert.ok(m.graph.nodeCount < before, `basic level folds nodes: ${m.graph.nodeCount} < ${before}`);
      assert.equal(checkModel(m).filter((i) => i.severity === 'error').length, 0);
      const o = await nodeBackend.createSession(out, { threads: 1 });
      try {
        const y = (await o.run({ x: ocrInput([1, 3, 48, 192]) }))['softmax_0.tmp_0'].data as Float32Array;
        assert.ok(Math.abs(y[0] + y[1] - 1) < 1e-5);
      } finally {
        await o.release();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('threads option is reported back', async () => {
    await ensureModels();
    const s = await nodeBackend.createSession(modelPath('ocr-cls'), { threads: 2 });
    assert.equal(s.threads, 2);
    await s.release();
  });
});
