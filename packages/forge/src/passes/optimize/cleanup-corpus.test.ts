/**
 * The cleanup passes (eliminate-noops, eliminate-dead-code, dedupe-initializers) on every model of
 * ONNX's conformance suite (Debian libonnx-testdata) that onnxruntime loads, and on the real models:
 * no new checker errors, bitwise-identical onnxruntime outputs (on the suite's reference inputs; on
 * seeded random inputs for the real models), and a second application changes nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkModel, loadModel, serializeModel, type Model } from '@edgeforge/onnx';
import { ensureModels, modelPath, type ModelName } from '../../../../../tools/models.ts';
import { diffOutputs, ort, ortLoads, readTensorPb, runFile, toOrt } from '../../../../onnx/src/testing/ort.js';
import type { Pass } from '../pass.js';
import { dedupeInitializers } from './dedupe-initializers.js';
import { eliminateDeadCode } from './eliminate-dead-code.js';
import { eliminateNoops } from './eliminate-noops.js';

const SUITE = '/usr/share/libonnx-testdata/data';
const PASSES: Pass<never>[] = [eliminateNoops, eliminateDeadCode, dedupeInitializers] as Pass<never>[];

/** Runs every pass in order; returns the summed counts and whether anything changed. */
async function cleanup(model: Model): Promise<{ changed: boolean; counts: Record<string, number> }> {
  const counts: Record<string, number> = {};
  let changed = false;
  for (const p of PASSES) {
    const r = await p.run(model, p.parseOptions({}), {});
    changed ||= r.changed;
    for (const [k, n] of Object.entries(r.counts)) counts[`${p.name}: ${k}`] = (counts[`${p.name}: ${k}`] ?? 0) + n;
  }
  return { changed, counts };
}

const errorCount = (m: Model) => checkModel(m).filter((i) => i.severity === 'error').length;

async function runBytes(bytes: Uint8Array, feeds: Record<string, ort.Tensor>) {
  const s = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 4,
  });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function suiteModels(): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const cat of readdirSync(SUITE).sort())
    for (const t of readdirSync(join(SUITE, cat)).sort())
      if (existsSync(join(SUITE, cat, t, 'model.onnx'))) out.push({ name: `${cat}/${t}`, dir: join(SUITE, cat, t) });
  return out;
}

function addCounts(total: Record<string, number>, counts: Record<string, number>) {
  for (const [k, n] of Object.entries(counts)) total[k] = (total[k] ?? 0) + n;
}

describe('cleanup passes on the corpus', () => {
  it('conformance suite: checker clean, bitwise-identical outputs, idempotent', async () => {
    assert.ok(existsSync(SUITE), `${SUITE} is missing: apt-get install libonnx-testdata`);
    const s = { models: 0, changed: 0, compared: 0, ortRejects: 0, notRunnable: 0 };
    const total: Record<string, number> = {};
    const problems: string[] = [];
    for (const { name, dir } of suiteModels()) {
      s.models++;
      const src = join(dir, 'model.onnx');
      const model = loadModel(src);
      const before = errorCount(model);
      const { changed, counts } = await cleanup(model);
      if (!changed) continue;
      if (await ortLoads(src)) {
        s.ortRejects++;
        continue;
      }
      s.changed++;
      addCounts(total, counts);
      if (errorCount(model) > before) problems.push(`${name}: checker errors ${JSON.stringify(checkModel(model))}`);
      const again = await cleanup(model);
      if (again.changed) problems.push(`${name}: second application changed ${JSON.stringify(again.counts)}`);
      const inputs = model.graph.inputs.filter((v) => !v.isInitializer());
      const feeds: Record<string, ort.Tensor> = {};
      let ok = true;
      for (let i = 0; i < inputs.length && ok; i++) {
        const t =
          inputs[i].type?.kind === 'tensor' ? readTensorPb(join(dir, 'test_data_set_0', `input_${i}.pb`)) : undefined;
        if (t) feeds[inputs[i].name] = toOrt(t);
        else ok = false;
      }
      let r1, r2;
      try {
        r1 = ok ? await runFile(src, feeds) : undefined;
      } catch {
        r1 = undefined;
      }
      if (!r1) {
        s.notRunnable++;
        // Still required: onnxruntime loads the result.
        try {
          await (await ort.InferenceSession.create(serializeModel(model), { logSeverityLevel: 4 })).release();
        } catch (e) {
          problems.push(`${name}: onnxruntime refuses the result: ${(e as Error).message}`);
        }
        continue;
      }
      try {
        r2 = await runBytes(serializeModel(model), feeds);
      } catch (e) {
        problems.push(`${name}: result does not run: ${(e as Error).message}`);
        continue;
      }
      const d = diffOutputs(r1, r2);
      if (d) problems.push(`${name}: ${d}`);
      else s.compared++;
    }
    console.log(
      `cleanup on conformance: ${s.models} models, ${s.changed} changed (of which ${s.compared} compared bitwise on reference inputs, ${s.notRunnable} load-checked only), ${s.ortRejects} changed but rejected by onnxruntime as given; counts ${JSON.stringify(total)}`,
    );
    assert.deepEqual(problems, []);
  });

  it('real models: checker clean, bitwise-identical outputs, idempotent', async () => {
    await ensureModels();
    let seed = 11;
    const random = (dims: number[]) =>
      new ort.Tensor(
        'float32',
        Float32Array.from(
          { length: dims.reduce((a, b) => a * b, 1) },
          () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32 - 0.5,
        ),
        dims,
      );
    const sr = () => new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
    const cases: Record<ModelName, () => Record<string, ort.Tensor>> = {
      'ocr-det': () => ({ x: random([1, 3, 64, 64]) }),
      'ocr-rec': () => ({ x: random([1, 3, 48, 96]) }),
      'ocr-cls': () => ({ x: random([1, 3, 48, 192]) }),
      'silero-legacy': () => ({ input: random([1, 512]), h: random([2, 1, 64]), c: random([2, 1, 64]), sr: sr() }),
      'silero-v5': () => ({ input: random([1, 512]), state: random([2, 1, 128]), sr: sr() }),
    };
    for (const [name, feeds] of Object.entries(cases) as [ModelName, () => Record<string, ort.Tensor>][]) {
      const model = loadModel(modelPath(name));
      const nodes = [...model.graph].length;
      const { counts } = await cleanup(model);
      assert.deepEqual(
        checkModel(model).filter((i) => i.severity === 'error'),
        [],
        name,
      );
      assert.equal((await cleanup(model)).changed, false, `${name}: second application`);
      const f = feeds();
      const d = diffOutputs(await runFile(modelPath(name), f), await runBytes(serializeModel(model), f));
      assert.equal(d, undefined, `${name}: ${d}`);
      console.log(
        `cleanup on ${name}: ${nodes} → ${[...model.graph].length} main-graph nodes; ${JSON.stringify(counts)}`,
      );
    }
  });
});
