/**
 * Test harness shared by the exact cleanup passes (eliminate-*, dedupe-initializers): apply a pass
 * to a copy, check it, and compare onnxruntime outputs with the original's.
 */
import assert from 'node:assert/strict';
import { checkModel, loadModelFromBytes, serializeModel, type Model } from '@edgeforge/onnx';
import { ort } from '../../../../onnx/src/testing/ort.js';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import type { Pass, PassReport } from '../pass.js';

export async function runOrt(model: Model, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(serializeModel(model), { logSeverityLevel: 4 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Applies the pass to a copy: checker clean, identical onnxruntime outputs, second run changes nothing. */
export async function applyExact<O>(
  pass: Pass<O>,
  model: Model,
  feeds: Record<string, ort.Tensor>,
  raw: Record<string, unknown> = {},
): Promise<{ after: Model; report: PassReport }> {
  const after = loadModelFromBytes(serializeModel(model));
  const opts = pass.parseOptions(raw);
  const report = await pass.run(after, opts, {});
  assert.deepEqual(
    checkModel(after).filter((i) => i.severity === 'error'),
    [],
  );
  const [a, b] = [await runOrt(model, feeds), await runOrt(after, feeds)];
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(b[k].dims, a[k].dims, k);
    assert.deepEqual([...(b[k].data as Float32Array)], [...(a[k].data as Float32Array)], k);
  }
  assert.equal((await pass.run(after, opts, {})).changed, false, 'second run changes nothing');
  return { after, report };
}

/** Runs a model (or its bytes) on the node backend with one thread. */
export async function runNode(
  model: Model | Uint8Array,
  feeds: Feeds,
  graphOptimization: 'disabled' | 'all' = 'all',
): Promise<Record<string, HostTensor>> {
  const bytes = model instanceof Uint8Array ? model : serializeModel(model);
  const s = await getBackend('node').createSession(bytes, { threads: 1, graphOptimization });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Largest relative difference over all outputs (0 = bitwise equal); asserts same names, types and dims. */
export function maxRelDiff(a: Record<string, HostTensor>, b: Record<string, HostTensor>): number {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  let worst = 0;
  for (const k of Object.keys(a)) {
    assert.equal(b[k].type, a[k].type, k);
    assert.deepEqual(b[k].dims, a[k].dims, k);
    const [x, y] = [a[k].data, b[k].data];
    for (let i = 0; i < x.length; i++) {
      const [p, q] = [Number(x[i]), Number(y[i])];
      if (Object.is(p, q) || (Number.isNaN(p) && Number.isNaN(q))) continue;
      worst = Math.max(worst, Math.abs(p - q) / Math.max(Math.abs(p), Math.abs(q), 1e-30));
    }
  }
  return worst;
}
