/**
 * onnxruntime-node and onnxruntime-web on the same models and inputs: outputs agree to within
 * float32 rounding (different kernels, same math). The measured max abs diff is printed.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ensureModels, modelPath, type ModelName } from '../../../../tools/models.ts';
import { ocrInput } from './backend.case.test.js';
import { nodeBackend } from './node.js';
import type { Feeds, HostTensor } from './types.js';
import { wasmBackend } from './wasm.js';

async function runBoth(model: ModelName, feeds: Feeds): Promise<Record<string, HostTensor>[]> {
  const outs: Record<string, HostTensor>[] = [];
  for (const backend of [nodeBackend, wasmBackend]) {
    const s = await backend.createSession(modelPath(model), { threads: 1 });
    try {
      outs.push(await s.run(feeds));
    } finally {
      await s.release();
    }
  }
  return outs;
}

/** Max abs diff over all outputs, and the spread of the node outputs (so a constant output cannot pass unnoticed). */
function compare(
  a: Record<string, HostTensor>,
  b: Record<string, HostTensor>,
): { diff: number; spread: number; n: number } {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let diff = 0;
  let lo = Infinity;
  let hi = -Infinity;
  let n = 0;
  for (const k of Object.keys(a)) {
    assert.deepEqual(a[k].dims, b[k].dims, k);
    const x = a[k].data as Float32Array;
    const y = b[k].data as Float32Array;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i] - y[i]));
      lo = Math.min(lo, x[i]);
      hi = Math.max(hi, x[i]);
    }
    n += x.length;
  }
  return { diff, spread: hi - lo, n };
}

function vadFeeds(): Feeds {
  const input = new Float32Array(512);
  for (let i = 0; i < 512; i++) input[i] = 0.5 * Math.sin(i / 3) * Math.sin(i / 40);
  return {
    input: { type: 'float32', dims: [1, 512], data: input },
    state: { type: 'float32', dims: [2, 1, 128], data: new Float32Array(256).fill(0.1) },
    sr: { type: 'int64', dims: [], data: BigInt64Array.of(16000n) },
  };
}

describe('node vs wasm', () => {
  before(() => ensureModels());

  const cases: [ModelName, () => Feeds, number][] = [
    ['ocr-cls', () => ({ x: ocrInput([2, 3, 48, 192]) }), 1e-5],
    ['ocr-rec', () => ({ x: ocrInput([1, 3, 48, 320]) }), 1e-4],
    ['silero-v5', vadFeeds, 1e-4],
  ];
  for (const [model, feeds, tolerance] of cases) {
    it(`${model}: max abs diff below ${tolerance}`, async (t) => {
      const [a, b] = await runBoth(model, feeds());
      const { diff, spread, n } = compare(a, b);
      t.diagnostic(
        `${model}: node vs wasm max abs diff ${diff.toExponential(3)} over ${n} values (output spread ${spread.toFixed(4)})`,
      );
      assert.ok(spread > 1e-3, `outputs vary (spread ${spread})`);
      assert.ok(diff < tolerance, `max abs diff ${diff}`);
    });
  }
});
