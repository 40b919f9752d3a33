import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  allGraphs,
  checkModel,
  DataType,
  floatTensor,
  GraphBuilder,
  int64Tensor,
  loadModel,
  loadModelFromBytes,
  MemoryTensor,
  serializeModel,
  type Model,
} from '@edgeforge/onnx';
import { ensureModels, modelPath, type ModelName } from '../../../../../tools/models.ts';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../registry.js';
import { constantsToInitializers } from './constants-to-initializers.js';
import { DEFAULT_FOLD_MAX_BYTES, foldConstants } from './fold-constants.js';
import { maxRelDiff, runNode } from '../testing/exact-harness.js';

const clone = (m: Model) => loadModelFromBytes(serializeModel(m));
const errors = (m: Model) => checkModel(m).filter((i) => i.severity === 'error');
const opts = foldConstants.parseOptions({});

async function both(m: Model, maxBytes = DEFAULT_FOLD_MAX_BYTES) {
  const c = await constantsToInitializers.run(m, {}, {});
  const f = await foldConstants.run(m, foldConstants.parseOptions({ maxBytes }), {});
  return { c, f };
}

describe('fold-constants on built graphs', () => {
  it('folds a Constant → Cast → Reshape → Transpose chain into one initializer, bitwise', async () => {
    const b = new GraphBuilder('chain');
    const x = b.input('x', DataType.FLOAT, [2, 3]);
    const w = b.constant(new MemoryTensor(DataType.DOUBLE, [6], new Float64Array([1.1, 2.2, 3.3, 4.4, 5.5, 6.6])));
    const shape = b.constant(int64Tensor([2], [3, 2]));
    const wt = b.op('Transpose', [b.op('Reshape', [b.op('Cast', [w], { to: DataType.FLOAT }), shape])], {
      perm: [1, 0],
    });
    b.output(b.op('Add', [x, wt]), 'y', DataType.FLOAT, [2, 3]);
    const m = b.model({ opset: 17 });
    const feeds: Feeds = { x: { type: 'float32', dims: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) } };
    const before = await runNode(m, feeds);
    const r = await foldConstants.run(m, opts, {});
    assert.deepEqual(r.counts, { 'Cast folded': 1, 'Reshape folded': 1, 'Transpose folded': 1 });
    assert.deepEqual(
      m.graph.nodes().map((n) => n.opType),
      ['Add'],
      'folded nodes and the Constants they orphaned are gone',
    );
    assert.equal(m.graph.initializers.size, 1);
    assert.deepEqual(errors(m), []);
    assert.equal(maxRelDiff(before, await runNode(clone(m), feeds)), 0);
    assert.equal((await foldConstants.run(m, opts, {})).changed, false, 'second run changes nothing');
  });

  it('folds inside an If branch from captured outer constants, keeping branch outputs', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', DataType.FLOAT, [2]);
    const c = b.initializer('c', floatTensor([2], [4, 9]));
    const branch = (name: string, op: string) => {
      const s = new GraphBuilder(name);
      s.output(s.op('Add', [x, s.op(op, [c])]), `${name}_out`, DataType.FLOAT, [2]);
      return s.graph;
    };
    const cond = b.op('Greater', [b.op('ReduceSum', [x], { keepdims: 0 }), b.constant(floatTensor([], [0]))]);
    const iff = b.node('If', [cond], { then_branch: branch('then', 'Sqrt'), else_branch: branch('else', 'Neg') });
    b.output(iff.outputs[0], 'y', DataType.FLOAT, [2]);
    const m = b.model({ opset: 17 });
    const feeds = (v: number): Feeds => ({ x: { type: 'float32', dims: [2], data: new Float32Array([v, v]) } });
    const before = [await runNode(m, feeds(1)), await runNode(m, feeds(-1))];
    const r = await foldConstants.run(m, opts, {});
    assert.deepEqual(r.counts, { 'Sqrt folded': 1, 'Neg folded': 1 });
    for (const sg of iff.subgraphs()) {
      assert.deepEqual(
        sg.nodes().map((n) => n.opType),
        ['Add'],
      );
      assert.equal(sg.initializers.size, 0, 'results live next to the outer constant they came from');
    }
    assert.deepEqual([...m.graph.initializers.keys()].length, 2, 'c is gone, sqrt(c) and -c replace it');
    assert.ok(!m.graph.initializers.has('c'));
    assert.deepEqual(errors(m), []);
    const after = clone(m);
    assert.equal(maxRelDiff(before[0], await runNode(after, feeds(1))), 0);
    assert.equal(maxRelDiff(before[1], await runNode(after, feeds(-1))), 0);
  });

  /** main: W [64, 64] (16 KiB), an If whose branches each rebuild W from two slices, then MatMul. */
  function slicedInBothBranches(opts: { alsoReadInMain?: boolean } = {}) {
    const b = new GraphBuilder('main');
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    const w = b.initializer('W', floatTensor([64, 64], randomFloats(64 * 64, 11, -1, 1)));
    const branch = (name: string, act: string) => {
      // Exporters give each branch its own copies of the index constants.
      const s = new GraphBuilder(name);
      let k = 0;
      const i64 = (v: number) => s.constant(int64Tensor([1], [v]), `${name}_i${k++}`);
      const top = s.op('Slice', [w, i64(0), i64(32), i64(0)]);
      const bottom = s.op('Slice', [w, i64(32), i64(64), i64(0)]);
      const swapped = s.op('Concat', [bottom, top], { axis: 0 });
      const wt = s.op('Transpose', [swapped], { perm: [1, 0] });
      s.output(s.op(act, [s.op('MatMul', [x, wt])]), `${name}_out`, DataType.FLOAT, [1, 64]);
      return s.graph;
    };
    const cond = b.op('Greater', [b.op('ReduceSum', [x], { keepdims: 0 }), b.constant(floatTensor([], [0]))]);
    const iff = b.node('If', [cond], { then_branch: branch('then', 'Relu'), else_branch: branch('else', 'Neg') });
    b.output(iff.outputs[0], 'y', DataType.FLOAT, [1, 64]);
    if (opts.alsoReadInMain) b.output(b.op('MatMul', [x, w]), 'z', DataType.FLOAT, [1, 64]);
    const feeds = (v: number): Feeds => ({
      x: { type: 'float32', dims: [1, 64], data: randomFloats(64, 12, v, v + 1) },
    });
    return { m: b.model({ opset: 17 }), iff, feeds };
  }

  const initializerBytes = (m: Model) => {
    let s = 0;
    for (const g of allGraphs(m)) for (const v of g.initializers.values()) s += v.const?.nbytes ?? 0;
    return s;
  };

  it('sibling If branches slicing one outer weight share one folded initializer in the outer graph', async () => {
    const { m, iff, feeds } = slicedInBothBranches();
    const before = [await runNode(m, feeds(0)), await runNode(m, feeds(-1))];
    const bytes0 = initializerBytes(m);
    const r = await foldConstants.run(m, opts, {});
    console.log(`  shared fold: ${JSON.stringify(r.counts)}; initializer bytes ${bytes0} → ${initializerBytes(m)}`);
    assert.deepEqual(r.counts, {
      'Slice folded': 4,
      'Concat folded': 2,
      'Transpose folded': 2,
      'folded results shared': 4,
    });
    for (const sg of iff.subgraphs()) {
      assert.deepEqual(sg.nodes().length, 2, `${sg.name}: MatMul and its activation are left`);
      assert.equal(sg.initializers.size, 0);
    }
    // One [64, 64] initializer (W transposed, halves swapped) in the main graph; W itself is gone.
    assert.deepEqual(
      [...m.graph.initializers.values()].map((v) => [...v.const!.dims]),
      [[64, 64]],
    );
    const [matmul] = iff.subgraphs()[0].nodes();
    assert.equal(matmul.inputs[1], iff.subgraphs()[1].nodes()[0].inputs[1], 'both branches read the same value');
    assert.equal(matmul.inputs[1]!.owner, m.graph);
    assert.ok(initializerBytes(m) <= bytes0, 'folding did not grow the model');
    assert.deepEqual(errors(m), []);
    const after = clone(m);
    assert.equal(maxRelDiff(before[0], await runNode(after, feeds(0))), 0);
    assert.equal(maxRelDiff(before[1], await runNode(after, feeds(-1))), 0);
    assert.equal((await foldConstants.run(m, opts, {})).changed, false, 'second run changes nothing');
  });

  it('refuses the shared fold when another reader keeps the weight alive (each slice would copy 8 KiB)', async () => {
    const { m, iff, feeds } = slicedInBothBranches({ alsoReadInMain: true });
    const before = await runNode(m, feeds(0));
    const r = await foldConstants.run(m, opts, {});
    assert.equal(r.counts['Slice folded'], undefined, JSON.stringify(r.counts));
    assert.match(r.notes?.join('\n') ?? '', /refused Slice.*would add 8\.0 KiB/);
    for (const sg of iff.subgraphs()) assert.ok(sg.nodes().some((n) => n.opType === 'Slice'));
    assert.ok(m.graph.initializers.has('W'));
    assert.equal(maxRelDiff(before, await runNode(clone(m), feeds(0))), 0);
    assert.equal((await foldConstants.run(m, opts, {})).changed, false);
    // With room for the copy it folds, and the sibling branches still share it.
    const loose = foldConstants.parseOptions({ maxGrowthBytes: 1 << 20 });
    const r2 = await foldConstants.run(m, loose, {});
    assert.equal(r2.counts['folded results shared'], 4);
    assert.equal(maxRelDiff(before, await runNode(clone(m), feeds(0))), 0);
  });

  it('waits for the last reader of a weight to become foldable instead of refusing the first', async () => {
    // top = Slice(W, 0, 32) folds at once; bottom's start is Add(16, 16), constant one round later.
    // Alone, top would copy 8 KiB of W; together they free it.
    const b = new GraphBuilder('late');
    const x = b.input('x', DataType.FLOAT, [1, 64]);
    const w = b.initializer('W', floatTensor([64, 64], randomFloats(64 * 64, 13, -1, 1)));
    const i64 = (v: number) => b.constant(int64Tensor([1], [v]));
    const top = b.op('Slice', [w, i64(0), i64(32), i64(0)]);
    const bottom = b.op('Slice', [w, b.op('Add', [i64(16), i64(16)]), i64(64), i64(0)]);
    const wt = b.op('Concat', [bottom, top], { axis: 0 });
    b.output(b.op('MatMul', [x, wt]), 'y', DataType.FLOAT, [1, 64]);
    const m = b.model({ opset: 17 });
    const feeds: Feeds = { x: { type: 'float32', dims: [1, 64], data: randomFloats(64, 14, -1, 1) } };
    const before = await runNode(m, feeds);
    const r = await foldConstants.run(m, opts, {});
    assert.deepEqual(r.counts, { 'Add folded': 1, 'Slice folded': 2, 'Concat folded': 1 });
    assert.equal(r.notes, undefined);
    assert.deepEqual(
      m.graph.nodes().map((n) => n.opType),
      ['MatMul'],
    );
    assert.equal(initializerBytes(m), 64 * 64 * 4);
    assert.equal(maxRelDiff(before, await runNode(clone(m), feeds)), 0);
  });

  it('does not fold: graph inputs with defaults, random ops, graph outputs, dead nodes, custom domains', async () => {
    const b = new GraphBuilder('nofold');
    const x = b.input('x', DataType.FLOAT, [2]);
    const d = b.initializer('d', floatTensor([2], [1, 2]));
    b.graph.addInput(d); // an overridable default
    const k = b.initializer('k', floatTensor([2], [3, 4]));
    const r1 = b.op('Add', [x, b.op('Relu', [d])]);
    const noise = b.op('RandomUniformLike', [k]);
    b.output(b.op('Mul', [r1, b.op('Sigmoid', [noise])]), 'y', DataType.FLOAT, [2]);
    b.output(b.op('Neg', [k]), 'negk', DataType.FLOAT, [2]); // a graph output
    b.op('Exp', [k]); // dead
    const m = b.model({ opset: 17 });
    const r = await foldConstants.run(m, opts, {});
    assert.equal(r.changed, false);
    assert.equal(m.graph.nodeCount, 7);
  });

  it('refuses folds that inflate the model (Expand past maxBytes), and says so', async () => {
    const b = new GraphBuilder('big');
    const x = b.input('x', DataType.FLOAT, [64, 64]);
    const big = b.op('Expand', [b.constant(floatTensor([1], [2])), b.constant(int64Tensor([2], [64, 64]))]);
    const small = b.op('Neg', [b.constant(floatTensor([64, 64]))]);
    b.output(b.op('Add', [b.op('Mul', [x, big]), small]), 'y', DataType.FLOAT, [64, 64]);
    const m = b.model({ opset: 17 });
    const feeds: Feeds = { x: { type: 'float32', dims: [64, 64], data: new Float32Array(4096).fill(1.5) } };
    const before = await runNode(m, feeds);
    const r = await foldConstants.run(m, foldConstants.parseOptions({ maxBytes: 1024 }), {});
    assert.deepEqual(r.counts, { 'Neg folded': 1 }, 'a same-size Neg of a big tensor still folds');
    assert.match(r.notes?.join('\n') ?? '', /refused Expand.*0\.0 MiB of inputs/);
    assert.ok(m.graph.nodes().some((n) => n.opType === 'Expand'));
    assert.equal(maxRelDiff(before, await runNode(clone(m), feeds)), 0);
    const again = await foldConstants.run(m, foldConstants.parseOptions({ maxBytes: 1024 }), {});
    assert.equal(again.changed, false);
    // Under the default caps the 16 KiB Expand still grows the model by more than 4 KiB …
    const grow = await foldConstants.run(m, opts, {});
    assert.equal(grow.changed, false);
    assert.match(grow.notes?.join('\n') ?? '', /refused Expand.*would add/);
    // … and with larger caps it folds.
    const loose = foldConstants.parseOptions({ maxBytes: 1 << 20, maxGrowthBytes: 1 << 20 });
    assert.deepEqual((await foldConstants.run(m, loose, {})).counts, { 'Expand folded': 1 });
  });

  it('refuses IR < 4 models and bad options', async () => {
    const b = new GraphBuilder('old');
    const x = b.input('x', DataType.FLOAT, [1]);
    b.output(b.op('Add', [x, b.op('Neg', [b.constant(floatTensor([1], [1]))])]), 'y', DataType.FLOAT, [1]);
    const m = b.model({ opset: 7, irVersion: 3 });
    const r = await foldConstants.run(m, opts, {});
    assert.equal(r.changed, false);
    assert.match(r.notes?.[0] ?? '', /IR version 3/);
    assert.throws(() => foldConstants.parseOptions({ maxBytes: -1 }), /maxBytes/);
    assert.throws(() => foldConstants.parseOptions({ max: 1 }), /unknown option/);
  });
});

/** Deterministic pseudo-random floats in [lo, hi). */
function randomFloats(n: number, seed: number, lo = 0, hi = 1): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return a;
}
const f32 = (dims: number[], seed: number, lo = 0, hi = 1): HostTensor => ({
  type: 'float32',
  dims,
  data: randomFloats(
    dims.reduce((a, b) => a * b, 1),
    seed,
    lo,
    hi,
  ),
});
const sr: HostTensor = { type: 'int64', dims: [], data: new BigInt64Array([16000n]) };

const sr8k: HostTensor = { type: 'int64', dims: [], data: new BigInt64Array([8000n]) };

const REAL: { name: ModelName; feeds: Feeds }[] = [
  { name: 'ocr-det', feeds: { x: f32([1, 3, 320, 320], 1, -1, 1) } },
  { name: 'ocr-rec', feeds: { x: f32([1, 3, 48, 320], 2, -1, 1) } },
  { name: 'ocr-cls', feeds: { x: f32([1, 3, 48, 192], 3, -1, 1) } },
  {
    name: 'silero-legacy',
    feeds: {
      input: f32([1, 512], 4, -0.5, 0.5),
      sr,
      h: f32([2, 1, 64], 5, -0.1, 0.1),
      c: f32([2, 1, 64], 6, -0.1, 0.1),
    },
  },
  { name: 'silero-v5', feeds: { input: f32([1, 512], 7, -0.5, 0.5), state: f32([2, 1, 128], 8, -0.1, 0.1), sr } },
  // The 8 kHz branch of v5's If nodes.
  { name: 'silero-v5', feeds: { input: f32([1, 256], 9, -0.5, 0.5), state: f32([2, 1, 128], 8, -0.1, 0.1), sr: sr8k } },
];

describe('constants-to-initializers + fold-constants on the real models', () => {
  for (const { name, feeds } of REAL) {
    it(`${name}${feeds.sr ? ` (sr ${feeds.sr.data[0]})` : ''}: fewer nodes, same outputs (≤ 1e-5 relative), checker clean, idempotent`, async () => {
      await ensureModels();
      const m = loadModel(modelPath(name));
      const count = (x: Model) => [x.graph.nodeCount, [...x.graph].reduce((s, n) => s + subCount(n), 0)];
      const [n0, s0] = count(m);
      const before = await runNode(m, feeds);
      const { c, f } = await both(m);
      const [n1, s1] = count(m);
      console.log(
        `${name}: nodes ${n0} → ${n1} (subgraphs ${s0} → ${s1}); ${JSON.stringify(c.counts)} ${JSON.stringify(f.counts)}` +
          (f.notes ? `\n  notes: ${f.notes.join('; ')}` : ''),
      );
      // silero-legacy ships ORT-optimized already (initializers, nothing constant left to fold).
      assert.ok(n1 + s1 <= n0 + s0);
      assert.deepEqual(errors(m), []);
      const after = clone(m);
      const d = maxRelDiff(before, await runNode(after, feeds));
      console.log(`  ${name}: max relative output difference ${d}`);
      assert.ok(d <= 1e-5, `relative difference ${d}`);
      const again = await both(after);
      assert.equal(again.c.changed, false, JSON.stringify(again.c.counts));
      assert.equal(again.f.changed, false, JSON.stringify(again.f.counts));
    });
  }
});

describe('the default recipe on silero-v5 against onnxruntime basic', () => {
  it('no more nodes than onnxruntime basic leaves, file no larger than the original + 1%, same outputs', async () => {
    await ensureModels();
    const src = modelPath('silero-v5');
    const dir = mkdtempSync(join(tmpdir(), 'fold-v5-'));
    try {
      const ortPath = join(dir, 'ort-basic.onnx');
      await (
        await getBackend('node').createSession(src, { graphOptimization: 'basic', optimizedModelPath: ortPath })
      ).release();
      const m = loadModel(src);
      const r = await runPasses(m, DEFAULT_RECIPE, { registry: PASSES });
      const bytes = serializeModel(m);
      const nodes = (x: Model) => [...allGraphs(x)].reduce((s, g) => s + g.nodeCount, 0);
      const [ours, ort, orig] = [nodes(m), nodes(loadModel(ortPath)), nodes(loadModel(src))];
      const [size, ortSize, origSize] = [bytes.length, statSync(ortPath).size, statSync(src).size];
      console.log(
        `  silero-v5: nodes ${orig} → ${ours} (onnxruntime basic ${ort}); file ${origSize} → ${size} bytes ` +
          `(onnxruntime basic ${ortSize}); ${r.steps.find((s) => s.pass === 'fold-constants')?.counts['folded results shared']} folded results shared`,
      );
      assert.ok(ours <= ort, `${ours} nodes > onnxruntime basic's ${ort}`);
      assert.ok(size <= origSize * 1.01, `file grew ${origSize} → ${size}`);
      for (const feeds of REAL.filter((c) => c.name === 'silero-v5').map((c) => c.feeds)) {
        const d = maxRelDiff(await runNode(loadModel(src), feeds), await runNode(loadModelFromBytes(bytes), feeds));
        assert.ok(d <= 1e-4, `relative difference ${d}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function subCount(n: import('@edgeforge/onnx').Node): number {
  return n.subgraphs().reduce((s, g) => s + g.nodeCount + [...g].reduce((t, k) => t + subCount(k), 0), 0);
}

const SUITE = '/usr/share/libonnx-testdata/data';

describe('constants-to-initializers + fold-constants on the conformance suite', () => {
  it('keeps reference outputs of every model onnxruntime loads; checker clean', { timeout: 120_000 }, async () => {
    if (!existsSync(SUITE)) return;
    const { readTensorPb } = await import('../../../../onnx/src/testing/ort.js');
    const t0 = Date.now();
    const s = { models: 0, ran: 0, changed: 0, nodesBefore: 0, nodesAfter: 0, folded: 0, bitwise: 0 };
    const problems: string[] = [];
    for (const cat of readdirSync(SUITE).sort()) {
      for (const t of readdirSync(join(SUITE, cat)).sort()) {
        const dir = join(SUITE, cat, t);
        if (!existsSync(join(dir, 'model.onnx'))) continue;
        const m = loadModel(join(dir, 'model.onnx'));
        const original = serializeModel(m);
        const data = readdirSync(dir).find((d) => d.startsWith('test_data_set'));
        const inputs = m.graph.inputs.filter((v) => !v.isInitializer());
        const feeds: Feeds = {};
        let ok = !!data;
        for (let i = 0; ok && i < inputs.length; i++) {
          const tensor = readTensorPb(join(dir, data!, `input_${i}.pb`));
          const h = tensor && hostOf(tensor);
          if (h) feeds[inputs[i].name] = h;
          else ok = false;
        }
        if (!ok) continue;
        let before: Record<string, HostTensor>;
        try {
          before = await runNode(original, feeds);
        } catch {
          continue; // onnxruntime refuses the original (or its inputs)
        }
        s.models++;
        s.nodesBefore += m.graph.nodeCount;
        const { c, f } = await both(m);
        s.nodesAfter += m.graph.nodeCount;
        if (!c.changed && !f.changed) continue;
        s.changed++;
        s.folded += Object.values(f.counts).reduce((a, b) => a + b, 0);
        const errs = errors(m);
        if (errs.length) problems.push(`${cat}/${t}: checker: ${errs[0].message}`);
        try {
          const d = maxRelDiff(before, await runNode(clone(m), feeds));
          if (d > 1e-5) problems.push(`${cat}/${t}: relative difference ${d}`);
          s.ran++;
          if (d === 0) s.bitwise++;
        } catch (e) {
          problems.push(`${cat}/${t}: ${(e as Error).message.split('\n')[0]}`);
        }
      }
    }
    console.log(`conformance: ${JSON.stringify(s)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert.deepEqual(problems, []);
  });
});

function hostOf(t: import('@edgeforge/onnx').Tensor): HostTensor | undefined {
  const types: Record<number, HostTensor['type']> = {
    [DataType.FLOAT]: 'float32',
    [DataType.DOUBLE]: 'float64',
    [DataType.INT64]: 'int64',
    [DataType.INT32]: 'int32',
    [DataType.INT8]: 'int8',
    [DataType.UINT8]: 'uint8',
    [DataType.BOOL]: 'bool',
    [DataType.FLOAT16]: 'float16',
    [DataType.INT16]: 'int16',
    [DataType.UINT16]: 'uint16',
    [DataType.UINT32]: 'uint32',
    [DataType.UINT64]: 'uint64',
  };
  const type = types[t.dtype];
  if (!type) return undefined;
  const raw = Uint8Array.prototype.slice.call(t.bytes()).buffer;
  const Ctor = {
    float32: Float32Array,
    float64: Float64Array,
    int64: BigInt64Array,
    int32: Int32Array,
    int8: Int8Array,
    uint8: Uint8Array,
    bool: Uint8Array,
    float16: Uint16Array,
    int16: Int16Array,
    uint16: Uint16Array,
    uint32: Uint32Array,
    uint64: BigUint64Array,
    string: undefined,
  }[type]!;
  return { type, dims: [...t.dims], data: new Ctor(raw) };
}
