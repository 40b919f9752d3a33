/**
 * prune-channels on real models at 25% and 50%: the Fashion-MNIST ResNet (residual stages,
 * projection shortcuts, GAP → Flatten → Gemm) after the default optimize recipe (BN folded, ranked
 * by l1) and before it (BN kept, ranked by bn-scale), and PaddleOCR's direction classifier
 * (MobileNetV3: depthwise, squeeze-excitation, residuals, opset 9). Each result is valid, runs in
 * onnxruntime with the original's output shapes, and loses exactly the parameters and MACs that
 * "every channel group loses round_half_even(amount · n) channels" predicts from the original's
 * layer shapes (computed here without the pass's grouping). Accuracy before any fine-tuning is
 * printed: Fashion-MNIST test split (first 2,000 images), and direction agreement with the float
 * classifier on 100 rendered lines (half upside down).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  checkModel,
  estimateMacs,
  inferShapes,
  loadModel,
  loadModelFromBytes,
  MemoryTensor,
  toFloat32,
  serializeModel,
  summarizeModel,
  type Dim,
  type Model,
  type Node,
  type Value,
} from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, modelPath } from '../../../../../tools/models.ts';
import { openDataset } from '../../data/index.js';
import { ocrCorpus } from '../../evaluate/ocr/corpus.js';
import { preprocessBatch } from '../../evaluate/ocr/preprocess.js';
import { OCR_DEFAULT_FONTS, renderLine, type RgbImage } from '../../evaluate/ocr/render.js';
import { getBackend, type BackendName, type Feeds, type Session } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../registry.js';
import { ChannelTracker } from './channel-groups.js';
import { channelsToRemove, pruneChannelsPass } from './prune-channels.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const FASHION_DATA = `idx:${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530`;
const CLS_SHAPE = { x: [1, 3, 48, 192] };

async function withSession<T>(
  bytes: Uint8Array,
  f: (s: Session) => Promise<T>,
  backend: BackendName = 'node',
): Promise<T> {
  const s = await getBackend(backend).createSession(bytes);
  try {
    return await f(s);
  } finally {
    await s.release();
  }
}

const argmax = (p: Float32Array, k: number, n: number) => {
  let best = 0;
  for (let j = 1; j < n; j++) if (p[k * n + j] > p[k * n + best]) best = j;
  return best;
};

/** The first output of `bytes` on each of `feeds`. */
function outputsOf(bytes: Uint8Array, feeds: Feeds[], backend: BackendName = 'node'): Promise<Float32Array[]> {
  return withSession(
    bytes,
    async (s) => {
      const out: Float32Array[] = [];
      for (const f of feeds) out.push(Object.values(await s.run(f))[0].data as Float32Array);
      return out;
    },
    backend,
  );
}

/** Top-1 on the first 2,000 Fashion-MNIST test images. */
function fashionAccuracy(bytes: Uint8Array): Promise<number> {
  return withSession(bytes, async (s) => {
    const ds = await openDataset(FASHION_DATA, { inputs: s.inputs, batchSize: 250, limit: 2000 });
    let [correct, total] = [0, 0];
    for await (const b of ds.batches()) {
      const y = (await s.run(b.inputs)).logits;
      for (let k = 0; k < y.dims[0]; k++) correct += Number(argmax(y.data as Float32Array, k, 10) === b.labels![k]);
      total += y.dims[0];
    }
    assert.equal(total, 2000);
    return correct / total;
  });
}

/** The initializer behind `v`, through Identity nodes (torch shares equal tensors that way). */
function stored(v: Value): Value {
  return v.producer?.opType === 'Identity' ? stored(v.producer.inputs[0]!) : v;
}

/**
 * Float parameters and MACs the pruned model should have: every Conv/Gemm keeps
 * `n − round_half_even(amount · n)` of its output and input channels (a depthwise Conv follows its
 * input), except the classifier's outputs, which feed the graph output, and the first layer's inputs,
 * which are the graph input; BatchNormalization keeps
 * as many parameters as its channels. From the original's layer shapes alone.
 */
function expectedCounts(
  model: Model,
  amount: number,
  shapes?: Record<string, Dim[]>,
): { params: number; macs: number } {
  const m = loadModelFromBytes(serializeModel(model));
  inferShapes(m, shapes ? { inputShapes: shapes } : {});
  const keep = (n: number) => n - channelsToRemove(amount, n);
  const outputs = new Set(m.graph.outputs);
  const classifier = (n: Node) =>
    outputs.has(n.outputs[0]) || n.outputs[0].uses().every((u) => outputs.has(u.node.outputs[0]));
  const sizes = new Map<Value, number>(); // stored tensor → elements after pruning
  let macs = 0;
  for (const n of m.graph) {
    const mac = estimateMacs(n, { assumeSymbolic: 1 }) ?? 0;
    if (n.opType === 'BatchNormalization') {
      for (const v of n.inputs.slice(1)) sizes.set(stored(v!), keep(stored(v!).const!.size));
    } else if (n.opType === 'Conv' || n.opType === 'Gemm') {
      const w = stored(n.inputs[1]!).const!;
      const gemm = n.opType === 'Gemm';
      const [out, inn] = gemm && !n.getInt('transB', 0) ? [w.dims[1], w.dims[0]] : [w.dims[0], w.dims[1]];
      const depthwise = !gemm && n.getInt('group', 1) > 1;
      const out2 = classifier(n) ? out : keep(out);
      const in2 = depthwise || n.inputs[0]!.isGraphInput() ? inn : keep(inn);
      sizes.set(stored(n.inputs[1]!), (w.size / (out * inn)) * out2 * in2);
      if (n.inputs[2]) sizes.set(stored(n.inputs[2]), out2);
      macs += (mac * out2 * in2) / (out * inn);
      continue;
    }
    macs += mac;
  }
  let params = summarizeModel(m).parameters.float;
  for (const [v, n] of sizes) params += n - v.const!.size;
  return { params, macs };
}

function measuredCounts(m: Model, shapes?: Record<string, Dim[]>): { params: number; macs: number } {
  const c = loadModelFromBytes(serializeModel(m));
  inferShapes(c, shapes ? { inputShapes: shapes } : {});
  let macs = 0;
  for (const n of c.graph) macs += estimateMacs(n, { assumeSymbolic: 1 }) ?? 0;
  return { params: summarizeModel(m).parameters.float, macs };
}

interface Row {
  model: string;
  amount: number;
  before: { params: number; macs: number };
  after: { params: number; macs: number };
  expected: { params: number; macs: number };
  accuracy: string;
}

/** Prunes a copy, checks it and its counts, and returns it with a table row (accuracy filled in by the caller). */
async function prune(model: Model, amount: number, raw: Record<string, unknown>, shapes?: Record<string, Dim[]>) {
  const m = loadModelFromBytes(serializeModel(model));
  const report = await pruneChannelsPass.run(m, pruneChannelsPass.parseOptions({ amount, ...raw }), {
    ...(shapes ? { inputShapes: shapes } : {}),
  });
  assert.deepEqual(
    checkModel(m).filter((i) => i.severity === 'error'),
    [],
  );
  const before = measuredCounts(model, shapes);
  const after = measuredCounts(m, shapes);
  const expected = expectedCounts(model, amount, shapes);
  console.log(`  ${JSON.stringify(report.counts)}${report.notes ? `; ${report.notes.join('; ')}` : ''}`);
  assert.deepEqual(after, expected, 'parameters and MACs as every group losing round_half_even(amount · n) predicts');
  assert.ok(after.params < before.params && after.macs < before.macs);
  return { m, before, after, expected };
}

function printTable(rows: Row[]): void {
  const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;
  console.log('| model | amount | params before → after (expected) | MACs before → after (expected) | accuracy |');
  console.log('| --- | ---: | --- | --- | --- |');
  for (const r of rows)
    console.log(
      `| ${r.model} | ${r.amount} | ${r.before.params} → ${r.after.params} (${r.expected.params}, ${pct(r.after.params, r.before.params)}) | ` +
        `${r.before.macs} → ${r.after.macs} (${r.expected.macs}, ${pct(r.after.macs, r.before.macs)}) | ${r.accuracy} |`,
    );
}

/**
 * A copy of `model` in which the channels the pass should remove at `amount` are dead: in every
 * prunable group, `round_half_even(amount · n)` coupled channels (spread over the group) have every
 * filter and bias entry that produces them set to 0, so they are exactly 0 wherever they flow
 * (through Relu, hard-swish, residual Add, pooling) and the pass, ranking by l1, removes them.
 */
function deadChannels(model: Model, amount: number, shapes?: Record<string, Dim[]>): Model {
  const m = loadModelFromBytes(serializeModel(model));
  const types = new Map([...m.graph.values()].map((v) => [v, v.type]));
  inferShapes(m, { valueInfo: false, ...(shapes ? { inputShapes: shapes } : {}) });
  const t = new ChannelTracker(m.graph, m.opset).walk();
  for (const [v, type] of types) v.type = type;
  const zero = new Map<Value, { axis: number; index: number }[]>();
  const mark = (v: Value, axis: number, index: number) => zero.set(v, [...(zero.get(v) ?? []), { axis, index }]);
  for (const g of t.groups()) {
    if (!g.roots.length || g.blocked) continue;
    const n = g.channels.length;
    const count = channelsToRemove(amount, n);
    for (let j = 0; j < count; j++) {
      for (const p of g.channels[Math.floor(((j + 0.5) * n) / count)]) {
        const [track, i] = t.at(p);
        for (const f of t.filters.filter((x) => x.ref === track.value)) {
          mark(stored(f.node.inputs[f.input]!), f.axis, i);
          if (f.node.inputs[2]) mark(stored(f.node.inputs[2]), 0, i);
        }
      }
    }
  }
  for (const [v, marks] of zero) {
    const c = v.const!;
    const data = Float32Array.from(toFloat32(c));
    for (const { axis, index } of marks) {
      const inner = c.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
      for (let e = 0; e < data.length; e++) if (Math.floor(e / inner) % c.dims[axis] === index) data[e] = 0;
    }
    m.graph.addInitializer(v.name, new MemoryTensor(c.dtype, c.dims, data));
  }
  return m;
}

/** Largest |a − b| over the outputs, relative to the largest |a|. */
function relativeGap(a: Float32Array[], b: Float32Array[]): number {
  let [gap, scale] = [0, 0];
  a.forEach((x, k) =>
    x.forEach((v, i) => {
      gap = Math.max(gap, Math.abs(v - b[k][i]));
      scale = Math.max(scale, Math.abs(v));
    }),
  );
  return gap / scale;
}

async function optimized(path: string): Promise<Model> {
  const model = loadModel(path);
  await runPasses(model, DEFAULT_RECIPE, { registry: PASSES });
  return model;
}

describe('prune-channels: real models', () => {
  before(() => ensureModels());

  it('Fashion-MNIST ResNet at 25% and 50%: folded (l1) and unfolded (bn-scale)', { timeout: 120_000 }, async () => {
    const path = join(REPO_ROOT, 'models/reference/fashion-resnet.onnx');
    const rows: Row[] = [];
    const folded = await optimized(path);
    const base = await fashionAccuracy(serializeModel(folded));
    assert.ok(base > 0.9, `original top-1 ${base}`);
    const unfolded = loadModel(path);
    for (const [label, model, criterion] of [
      ['fashion-resnet (BN folded, l1)', folded, 'l1'],
      ['fashion-resnet (BN kept, bn-scale)', unfolded, 'bn-scale'],
    ] as const) {
      for (const amount of [0.25, 0.5]) {
        const r = await prune(model, amount, { criterion });
        const acc = await fashionAccuracy(serializeModel(r.m));
        rows.push({
          model: label,
          amount,
          ...r,
          accuracy: `${(acc * 100).toFixed(2)}% (original ${(base * 100).toFixed(2)}%)`,
        });
      }
    }
    printTable(rows);

    // Dead channels removed: the outputs must not move.
    const feeds: Feeds[] = [];
    const probe = await getBackend('node').createSession(serializeModel(folded));
    for await (const b of (
      await openDataset(FASHION_DATA, { inputs: probe.inputs, batchSize: 250, limit: 500 })
    ).batches())
      feeds.push(b.inputs);
    await probe.release();
    const dead = deadChannels(folded, 0.5);
    const { m } = await prune(dead, 0.5, {});
    const gap = relativeGap(await outputsOf(serializeModel(dead), feeds), await outputsOf(serializeModel(m), feeds));
    console.log(
      `fashion-resnet with dead channels, pruned at 0.5: logits move by ${gap.toExponential(2)} of the largest`,
    );
    assert.ok(gap <= 1e-5, `${gap}`);
  });

  it(
    'PaddleOCR direction classifier at 25% and 50%: runs, direction agreement with the float model',
    { timeout: 120_000 },
    async () => {
      const model = await optimized(modelPath('ocr-cls'));
      const fonts = OCR_DEFAULT_FONTS;
      const lines: RgbImage[] = ocrCorpus(50, 3).map((text, i) =>
        renderLine(text, { font: fonts[i % fonts.length], size: [24, 32, 40][Math.floor(i / 3) % 3] }),
      );
      const images = [...lines, ...lines.map(rotate180)];
      const feeds: Feeds[] = [];
      for (let i = 0; i < images.length; i += 25) {
        const { tensor } = preprocessBatch(images.slice(i, i + 25), { maxWidth: 192, minWidth: 192 });
        feeds.push({ x: { type: 'float32', dims: tensor.dims, data: tensor.data } });
      }
      const directions = (bytes: Uint8Array) =>
        withSession(bytes, async (s) => {
          const out: number[] = [];
          for (const f of feeds) {
            const y = Object.values(await s.run(f))[0];
            for (let k = 0; k < y.dims[0]; k++) out.push(argmax(y.data as Float32Array, k, 2));
          }
          return out;
        });
      const float = await directions(serializeModel(model));
      const truth = images.map((_, i) => (i < lines.length ? 0 : 1));
      const acc = (p: number[]) => p.filter((x, i) => x === truth[i]).length / p.length;
      assert.ok(acc(float) >= 0.95, `float direction accuracy ${acc(float)}`);
      const rows: Row[] = [];
      for (const amount of [0.25, 0.5]) {
        const r = await prune(model, amount, {}, CLS_SHAPE);
        const d = await directions(serializeModel(r.m));
        const agree = d.filter((x, i) => x === float[i]).length / d.length;
        rows.push({
          model: 'ocr-cls (l1)',
          amount,
          ...r,
          accuracy: `agreement ${(agree * 100).toFixed(0)}%, direction ${(acc(d) * 100).toFixed(0)}% (float ${(acc(float) * 100).toFixed(0)}%)`,
        });
      }
      printTable(rows);

      const dead = deadChannels(model, 0.5, CLS_SHAPE);
      const { m } = await prune(dead, 0.5, {}, CLS_SHAPE);
      const gap = relativeGap(await outputsOf(serializeModel(dead), feeds), await outputsOf(serializeModel(m), feeds));
      console.log(`ocr-cls with dead channels, pruned at 0.5: probabilities move by ${gap.toExponential(2)}`);
      assert.ok(gap <= 1e-5, `${gap}`);
      // What edgeforge emits runs on both backends.
      const wasm = relativeGap(
        await outputsOf(serializeModel(m), feeds),
        await outputsOf(serializeModel(m), feeds, 'wasm'),
      );
      console.log(`ocr-cls pruned at 0.5, onnxruntime-web (wasm) against node: ${wasm.toExponential(2)}`);
      assert.ok(wasm <= 1e-4, `${wasm}`);
    },
  );
});

/** The image turned upside down (what the direction classifier detects). */
function rotate180(im: RgbImage): RgbImage {
  const n = im.width * im.height;
  const data = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) data.set(im.data.subarray((n - 1 - p) * 3, (n - p) * 3), p * 3);
  return { width: im.width, height: im.height, data };
}
