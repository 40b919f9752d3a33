/**
 * Test harness shared by the passes that change arithmetic (fuse-*, fold-linear-layers): seeded
 * random weights and inputs, onnxruntime runs with its own graph optimizations off (so ORT's
 * fusions hide nothing), and the onnx/optimizer tolerance |a−b| ≤ 1e-4·|a| + 1e-5.
 */
import assert from 'node:assert/strict';
import { checkModel, floatTensor, serializeModel, type Model } from '@edgeforge/onnx';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import type { Pass, PassReport } from '../pass.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
// One stream per test file: node --test runs each file in its own process.
const rand = rng(42);
export const randn = (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
export const randT = (dims: number[], lo = -1, hi = 1) =>
  floatTensor(
    dims,
    randn(
      dims.reduce((a, b) => a * b, 1),
      lo,
      hi,
    ),
  );

export async function runModel(model: Model | string, feeds: Feeds): Promise<Record<string, HostTensor>> {
  const s = await getBackend('node').createSession(typeof model === 'string' ? model : serializeModel(model), {
    graphOptimization: 'disabled',
  });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

export function feed(dims: number[]): HostTensor {
  return { type: 'float32', dims, data: randn(dims.reduce((a, b) => a * b, 1)) };
}

/** Largest |a−b| / (|a| + 0.1) over all outputs, i.e. asserts |a−b| ≤ 1e-4·|a| + 1e-5 (onnx/optimizer's test). */
export function assertClose(a: Record<string, HostTensor>, b: Record<string, HostTensor>): number {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  let worst = 0;
  for (const k of Object.keys(a)) {
    const x = a[k].data as Float32Array;
    const y = b[k].data as Float32Array;
    assert.deepEqual(b[k].dims, a[k].dims);
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / (Math.abs(x[i]) + 0.1));
  }
  assert.ok(worst <= 1e-4, `outputs differ by ${worst} relative`);
  return worst;
}

export function assertValid(model: Model): void {
  const errors = checkModel(model).filter((i) => i.severity === 'error');
  assert.deepEqual(errors, []);
}

export const count = (m: Model, op: string) => m.graph.nodes().filter((n) => n.opType === op).length;

/** Runs `pass` (no options) and checks: model valid before and after, outputs within 1e-4 of before. */
export async function applyAndCompare(
  pass: Pass<Record<string, never>>,
  model: Model,
  feeds: Feeds,
): Promise<{ report: PassReport; rel: number }> {
  assertValid(model);
  const before = await runModel(model, feeds);
  const report = await pass.run(model, {}, {});
  assertValid(model);
  const rel = assertClose(before, await runModel(model, feeds));
  return { report, rel };
}
