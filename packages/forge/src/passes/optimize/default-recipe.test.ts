/**
 * The proof for the default recipe: on every model of ONNX's conformance suite (Debian
 * libonnx-testdata) that onnxruntime loads, on the real models (PaddleOCR det/rec/cls, Silero
 * legacy/v5) and on the reference models, `DEFAULT_RECIPE` through the pass manager
 *
 * - leaves the checker clean (the manager asserts it after every pass),
 * - keeps onnxruntime's outputs within 1e-4 relative (|a−b| ≤ 1e-4·|a| + 1e-5), and bitwise
 *   identical when only exact (tolerance-0) passes changed something,
 * - is idempotent: a second application reports `changed: false` for every step.
 *
 * The Fashion-MNIST ResNet additionally loses every BatchNormalization with top-1 unchanged.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { allGraphs, halfToFloat, loadModel, saveModel, serializeModel, type Model } from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, mnistPath, modelPath, type ModelName } from '../../../../../tools/models.ts';
import { ort, ortBytes, ortLoads, readTensorPb, runFile, sameBytes, toOrt } from '../../../../onnx/src/testing/ort.js';
import { openDataset } from '../../data/index.js';
import { runEval } from '../../evaluate/run.js';
import { getBackend } from '../../runtime/index.js';
import { runPasses, type RunReport } from '../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../registry.js';

const SUITE = '/usr/share/libonnx-testdata/data';
const FASHION = '/usr/share/datasets/fashion-mnist';
const FASHION_DATA =
  `idx:${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz,` + 'mean=0.2860,std=0.3530';
const reference = (name: string) => join(REPO_ROOT, 'models/reference', `${name}.onnx`);

type Feeds = Record<string, ort.Tensor>;
type Outputs = Record<string, ort.Tensor>;

// ---- the recipe and what it reports ----

const recipe = (model: Model) => runPasses(model, DEFAULT_RECIPE, { registry: PASSES });

/** Whether a pass that may move results (tolerance > 0) changed something. */
const fused = (r: RunReport) => r.steps.some((s) => s.changed && (PASSES.get(s.pass)?.tolerance ?? 1) > 0);

const changed = (r: RunReport) => r.steps.some((s) => s.changed);

/** Changes of the inexact passes (the fusions), summed. */
function fusionCount(r: RunReport): number {
  let n = 0;
  for (const s of r.steps)
    if ((PASSES.get(s.pass)?.tolerance ?? 0) > 0) for (const k of Object.values(s.counts)) n += k;
  return n;
}

/** Steps of a second application that still changed something (empty when idempotent). */
async function secondApplication(model: Model): Promise<string[]> {
  const again = await recipe(model);
  return again.steps.filter((s) => s.changed).map((s) => `${s.pass} ${JSON.stringify(s.counts)}`);
}

function opCount(model: Model, op: string): number {
  let n = 0;
  for (const g of allGraphs(model)) for (const node of g.nodes()) if (node.opType === op) n++;
  return n;
}

// ---- onnxruntime ----

async function runBytes(bytes: Uint8Array, feeds: Feeds): Promise<Outputs> {
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

function floats(t: ort.Tensor): ArrayLike<number> | undefined {
  if (t.type === 'float32' || t.type === 'float64') return t.data as Float32Array | Float64Array;
  if (t.type === 'float16') return Array.from(t.data as Uint16Array, halfToFloat);
  return undefined;
}

/**
 * Compares outputs: bitwise when `exact`, else floats within |a−b| ≤ 1e-4·|a| + 1e-5 (NaN matches
 * NaN, infinities must be equal) and every other type bitwise. Returns the first difference and the
 * largest |a−b| / (|a| + 0.1) seen (the same bound as one number: it passes when ≤ 1e-4).
 */
function compare(a: Outputs, b: Outputs, exact: boolean): { diff?: string; maxRel: number } {
  let maxRel = 0;
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join() !== kb.join()) return { diff: `output names ${ka} vs ${kb}`, maxRel };
  for (const k of ka) {
    const x = a[k];
    const y = b[k];
    if (x.type !== y.type) return { diff: `${k}: type ${x.type} vs ${y.type}`, maxRel };
    if (x.dims.join() !== y.dims.join()) return { diff: `${k}: dims ${x.dims} vs ${y.dims}`, maxRel };
    if (sameBytes(ortBytes(x), ortBytes(y))) continue;
    const fx = floats(x);
    const fy = floats(y);
    if (exact || !fx || !fy) return { diff: `${k}: values differ (bitwise required)`, maxRel };
    for (let i = 0; i < fx.length; i++) {
      const p = fx[i];
      const q = fy[i];
      if (Number.isNaN(p) && Number.isNaN(q)) continue;
      if (p === q) continue;
      const d = Math.abs(p - q);
      // The bound as one relative error: |a−b| / (|a| + 0.1) ≤ 1e-4.
      const rel = d / (Math.abs(p) + 0.1);
      if (!(rel <= 1e-4)) return { diff: `${k}[${i}]: ${p} vs ${q}`, maxRel };
      maxRel = Math.max(maxRel, rel);
    }
  }
  return { maxRel };
}

// ---- inputs ----

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An image-like tensor: a smooth pattern plus noise, normalized to about [-1, 1]. */
function image(dims: number[], seed: number): ort.Tensor {
  const r = rng(seed);
  const [n, c, h, w] = dims;
  const data = new Float32Array(n * c * h * w);
  let i = 0;
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++)
          data[i++] = 0.6 * Math.sin((x + 3 * ch) / 7) * Math.cos(y / 5) + 0.4 * (2 * r() - 1);
  return new ort.Tensor('float32', data, dims);
}

/** 512 samples of 16 kHz audio: a tone with noise, amplitude ≤ 0.5. */
function audio(seed: number): ort.Tensor {
  const r = rng(seed);
  const data = Float32Array.from(
    { length: 512 },
    (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000) + 0.1 * (2 * r() - 1),
  );
  return new ort.Tensor('float32', data, [1, 512]);
}

const zeros = (dims: number[]) => new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
const sr = () => new ort.Tensor('int64', BigInt64Array.from([16000n]), []);

/** Two samples of a dataset, as onnxruntime feeds. */
async function datasetFeeds(path: string, spec: string): Promise<Feeds> {
  const s = await getBackend('node').createSession(path);
  try {
    const ds = await openDataset(spec, { inputs: s.inputs, batchSize: 2, limit: 2 });
    for await (const b of ds.batches())
      return Object.fromEntries(
        Object.entries(b.inputs).map(([k, t]) => [
          k,
          new ort.Tensor(t.type as ort.Tensor.Type, t.data as never, t.dims),
        ]),
      );
    throw new Error(`${spec}: no samples`);
  } finally {
    await s.release();
  }
}

// ---- the suite ----

function suiteModels(): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const cat of readdirSync(SUITE).sort())
    for (const t of readdirSync(join(SUITE, cat)).sort())
      if (existsSync(join(SUITE, cat, t, 'model.onnx'))) out.push({ name: `${cat}/${t}`, dir: join(SUITE, cat, t) });
  return out;
}

/** The suite's reference inputs, by graph-input position; undefined when one is not a tensor. */
function suiteFeeds(model: Model, dir: string): Feeds | undefined {
  const inputs = model.graph.inputs.filter((v) => !v.isInitializer());
  const feeds: Feeds = {};
  for (let i = 0; i < inputs.length; i++) {
    const t =
      inputs[i].type?.kind === 'tensor' ? readTensorPb(join(dir, 'test_data_set_0', `input_${i}.pb`)) : undefined;
    if (!t) return undefined;
    feeds[inputs[i].name] = toOrt(t);
  }
  return feeds;
}

interface Totals {
  models: number;
  changed: number;
  fusedModels: number;
  fusions: number;
  nodesBefore: number;
  nodesAfter: number;
  compared: number;
  bitwise: number;
  maxRel: number;
}

const totals = (): Totals => ({
  models: 0,
  changed: 0,
  fusedModels: 0,
  fusions: 0,
  nodesBefore: 0,
  nodesAfter: 0,
  compared: 0,
  bitwise: 0,
  maxRel: 0,
});

function addReport(t: Totals, r: RunReport): void {
  t.nodesBefore += r.nodesBefore;
  t.nodesAfter += r.nodesAfter;
  if (changed(r)) t.changed++;
  if (fused(r)) t.fusedModels++;
  t.fusions += fusionCount(r);
}

/** Checks a rewritten model against its original's outputs; returns the problem, if any, and the error. */
async function checkOutputs(
  name: string,
  original: Outputs,
  model: Model,
  feeds: Feeds,
  r: RunReport,
  t: Totals,
): Promise<{ problem?: string; maxRel: number }> {
  let got: Outputs;
  try {
    got = await runBytes(serializeModel(model), feeds);
  } catch (e) {
    return { problem: `${name}: the result does not run: ${(e as Error).message.split('\n')[0]}`, maxRel: NaN };
  }
  const exact = !fused(r);
  const { diff, maxRel } = compare(original, got, exact);
  if (diff) return { problem: `${name}: ${diff} (passes that changed something: ${changedPasses(r)})`, maxRel };
  t.compared++;
  if (exact) t.bitwise++;
  t.maxRel = Math.max(t.maxRel, maxRel);
  return { maxRel };
}

const changedPasses = (r: RunReport) =>
  r.steps
    .filter((s) => s.changed)
    .map((s) => s.pass)
    .join(', ');

const summary = (what: string, t: Totals) =>
  `default recipe on ${what}: ${t.models} models, ${t.changed} changed (${t.fusedModels} with fusions, ` +
  `${t.fusions} fusions fired), nodes ${t.nodesBefore} → ${t.nodesAfter}; outputs compared on ${t.compared} ` +
  `(${t.bitwise} bitwise), max |a−b|/(|a|+0.1) ${t.maxRel.toExponential(2)}`;

describe('default recipe', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'default-recipe-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it(
    'conformance suite: checker clean, outputs within 1e-4 (bitwise without fusions), idempotent',
    { timeout: 300_000 },
    async () => {
      assert.ok(existsSync(SUITE), `${SUITE} is missing: apt-get install libonnx-testdata`);
      const t = totals();
      const skipped = { ortRejects: 0, loadOnly: 0 };
      const problems: string[] = [];
      for (const { name, dir } of suiteModels()) {
        const src = join(dir, 'model.onnx');
        // Only models onnxruntime accepts as given are in scope.
        if (await ortLoads(src)) {
          skipped.ortRejects++;
          continue;
        }
        t.models++;
        const model = loadModel(src);
        let r: RunReport;
        try {
          r = await recipe(model);
        } catch (e) {
          problems.push(`${name}: ${(e as Error).message}`);
          continue;
        }
        addReport(t, r);
        // Unchanged models are trivially equal and idempotent: onnxruntime runs only on the others.
        if (!changed(r)) continue;
        const bytes = serializeModel(model);
        const feeds = suiteFeeds(model, dir);
        let original: Outputs | undefined;
        try {
          original = feeds ? await runFile(src, feeds) : undefined;
        } catch {
          original = undefined;
        }
        if (!original || !feeds) {
          // No usable reference inputs: onnxruntime must still load the result.
          skipped.loadOnly++;
          try {
            await (await ort.InferenceSession.create(bytes, { logSeverityLevel: 4 })).release();
          } catch (e) {
            problems.push(`${name}: onnxruntime refuses the result: ${(e as Error).message.split('\n')[0]}`);
          }
        } else {
          const { problem } = await checkOutputs(name, original, model, feeds, r, t);
          if (problem) problems.push(problem);
        }
        try {
          const again = await secondApplication(model);
          if (again.length) problems.push(`${name}: second application changed ${again.join('; ')}`);
        } catch (e) {
          problems.push(`${name}: second application threw: ${(e as Error).message}`);
        }
      }
      console.log(
        `${summary('the conformance suite', t)}; ${skipped.loadOnly} changed models load-checked only ` +
          `(no runnable reference inputs), ${skipped.ortRejects} skipped (onnxruntime refuses them as given)`,
      );
      for (const p of problems) console.log(`  FAIL ${p}`);
      assert.deepEqual(problems, []);
    },
  );

  it('real and reference models: outputs within 1e-4, idempotent', { timeout: 300_000 }, async () => {
    const real: Record<ModelName, () => Feeds> = {
      'ocr-det': () => ({ x: image([1, 3, 320, 320], 1) }),
      'ocr-rec': () => ({ x: image([1, 3, 48, 320], 2) }),
      'ocr-cls': () => ({ x: image([1, 3, 48, 192], 3) }),
      'silero-legacy': () => ({ input: audio(4), sr: sr(), h: zeros([2, 1, 64]), c: zeros([2, 1, 64]) }),
      'silero-v5': () => ({ input: audio(5), state: zeros([2, 1, 128]), sr: sr() }),
    };
    const cases: { name: string; path: string; feeds: () => Promise<Feeds> }[] = [
      ...(Object.entries(real) as [ModelName, () => Feeds][]).map(([name, f]) => ({
        name,
        path: modelPath(name),
        feeds: () => Promise.resolve(f()),
      })),
      {
        name: 'mnist-cnn',
        path: reference('mnist-cnn'),
        feeds: () =>
          datasetFeeds(
            reference('mnist-cnn'),
            `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`,
          ),
      },
      {
        name: 'fashion-resnet',
        path: reference('fashion-resnet'),
        feeds: () => datasetFeeds(reference('fashion-resnet'), FASHION_DATA),
      },
      {
        name: 'spam-transformer',
        path: reference('spam-transformer'),
        feeds: () =>
          datasetFeeds(
            reference('spam-transformer'),
            `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`,
          ),
      },
    ];
    const t = totals();
    const problems: string[] = [];
    for (const c of cases) {
      t.models++;
      const model = loadModel(c.path);
      let r: RunReport;
      try {
        r = await recipe(model);
      } catch (e) {
        problems.push(`${c.name}: ${(e as Error).message}`);
        continue;
      }
      addReport(t, r);
      const feeds = await c.feeds();
      const original = await runFile(c.path, feeds);
      const { problem, maxRel } = await checkOutputs(c.name, original, model, feeds, r, t);
      if (problem) problems.push(problem);
      const again = await secondApplication(model);
      if (again.length) problems.push(`${c.name}: second application changed ${again.join('; ')}`);
      // Optimizing must not inflate a model (Silero v5 once grew 48% from folded weight slices).
      if (r.paramsAfter > r.paramsBefore * 1.01)
        problems.push(`${c.name}: parameters grew ${r.paramsBefore} → ${r.paramsAfter}`);
      console.log(
        `  ${c.name}: nodes ${r.nodesBefore} → ${r.nodesAfter}, parameters ${r.paramsBefore} → ${r.paramsAfter}, ` +
          `fusions ${fusionCount(r)}, max |a−b|/(|a|+0.1) ${maxRel.toExponential(2)}${fused(r) ? '' : ' (bitwise)'}; ` +
          r.steps
            .filter((s) => s.changed)
            .map((s) => `${s.pass} ${JSON.stringify(s.counts)}`)
            .join(', '),
      );
    }
    console.log(summary('real and reference models', t));
    for (const p of problems) console.log(`  FAIL ${p}`);
    assert.deepEqual(problems, []);
    assert.equal(t.compared, cases.length);
  });

  it('Fashion-MNIST ResNet: no BatchNormalization left, top-1 unchanged (93.38%)', { timeout: 300_000 }, async () => {
    assert.ok(existsSync(FASHION), `${FASHION} is missing: apt-get install dataset-fashion-mnist`);
    const src = reference('fashion-resnet');
    const model = loadModel(src);
    assert.equal(opCount(model, 'BatchNormalization'), 15);
    await recipe(model);
    assert.equal(opCount(model, 'BatchNormalization'), 0);
    const out = join(tmp, 'fashion-resnet.optimized.onnx');
    saveModel(model, out);
    const base = await runEval(src, { data: FASHION_DATA, batch: 100 });
    const opt = await runEval(out, { data: FASHION_DATA, batch: 100 });
    console.log(
      `fashion-resnet: top-1 ${(base.task!.top1 * 100).toFixed(2)}% → ${(opt.task!.top1 * 100).toFixed(2)}%, ` +
        `nodes ${loadModel(src).graph.nodeCount} → ${model.graph.nodeCount}`,
    );
    assert.equal(base.task!.top1, 0.9338);
    assert.equal(opt.task!.top1, base.task!.top1);
  });
});
