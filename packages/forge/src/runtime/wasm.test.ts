import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { runBackendSuite } from './backend.case.test.js';
import { wasmBackend } from './wasm.js';

runBackendSuite({ backend: wasmBackend });

describe('wasm backend only', () => {
  it('refuses optimizedModelPath (an onnxruntime-node feature)', async () => {
    await assert.rejects(wasmBackend.createSession(modelPath('ocr-cls'), { optimizedModelPath: '/tmp/x.onnx' }), {
      message: 'wasm backend: optimizedModelPath is supported by the node backend only',
    });
  });

  it('keeps the thread count of the first session for the process, and says so when asked for another', async () => {
    await ensureModels();
    const s = await wasmBackend.createSession(modelPath('ocr-cls'), { threads: 1 });
    const t = await wasmBackend.createSession(modelPath('ocr-cls'));
    try {
      assert.equal(s.threads, 1);
      assert.equal(t.threads, 1);
      await assert.rejects(wasmBackend.createSession(modelPath('ocr-cls'), { threads: 2 }), {
        message:
          'wasm backend: onnxruntime-web already runs 1 thread(s) in this process and cannot change it; use another process for threads=2',
      });
    } finally {
      await s.release();
      await t.release();
    }
  });
});
