/**
 * Storage of pruned models: the sparsity report, gzip sizes and store-sparse. onnxruntime 1.30
 * loads sparse initializers and gives bit-identical outputs (it densifies them at load); −0 and an
 * all-zero tensor survive; a 50%-pruned float32 weight is not worth storing sparse (values + int64
 * indices would be bigger), an 80%-pruned one is; mnist-cnn measured raw and gzipped.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  checkModel,
  floatTensor,
  loadModelFromBytes,
  serializeModel,
  type Model,
} from '@edgeforge/onnx';
import { ensureModels } from '../../../../../tools/models.ts';
import { openDataset } from '../../data/index.js';
import { floatToHalf } from '../../runtime/tensor.js';
import type { HostTensor } from '../../runtime/index.js';
import { PassOptionError } from '../pass.js';
import { runNode } from '../testing/exact-harness.js';
import { pruneGlobalPass, pruneL1Pass } from './prune-magnitude.js';
import { REFERENCE_MODELS, optimizedReference } from './testing/reference-accuracy.js';
import { formatSparsity, gzipSize, sparsityReport, storeSparsePass } from './storage.js';

const copy = (m: Model) => loadModelFromBytes(serializeModel(m));
const noErrors = (m: Model) =>
  assert.deepEqual(
    checkModel(m).filter((i) => i.severity === 'error'),
    [],
  );

function bitsEqual(a: Record<string, HostTensor>, b: Record<string, HostTensor>) {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(b[k].dims, a[k].dims, k);
    const [x, y] = [a[k].data as Float32Array, b[k].data as Float32Array];
    assert.deepEqual(
      new Uint8Array(y.buffer, y.byteOffset, y.byteLength),
      new Uint8Array(x.buffer, x.byteOffset, x.byteLength),
      k,
    );
  }
}

function mlp(): Model {
  const g = new GraphBuilder('mlp');
  const vals = (n: number, s: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 1.7 + s) * (1 + (i % 7)));
  const x = g.input('x', DataType.FLOAT, ['N', 48]);
  const h = g.op(
    'Gemm',
    [
      x,
      g.initializer('w1', floatTensor([64, 48], vals(64 * 48, 1))),
      g.initializer('b1', floatTensor([64], vals(64, 2))),
    ],
    { transB: 1 },
    { name: 'fc1' },
  );
  g.output(
    g.op(
      'Gemm',
      [g.op('Relu', [h]), g.initializer('w2', floatTensor([10, 64], vals(640, 3)))],
      { transB: 1 },
      { name: 'fc2' },
    ),
    'y',
  );
  return g.model({ opset: 17 });
}
const feeds = {
  x: { type: 'float32' as const, dims: [5, 48], data: Float32Array.from({ length: 240 }, (_, i) => Math.cos(i)) },
};

describe('store-sparse', () => {
  it('80% pruned: both weights stored sparse, round trip, checker clean, onnxruntime outputs bit-identical', async () => {
    const dense = mlp();
    await pruneL1Pass.run(dense, pruneL1Pass.parseOptions({ amount: 0.8 }), {});
    const sparse = copy(dense);
    const r = await storeSparsePass.run(sparse, storeSparsePass.parseOptions({}), {});
    assert.equal(r.counts['initializers stored sparse'], 2);
    // w1: 3072 floats (12288 bytes) → 614 values + 614 indices (7368 bytes).
    assert.equal(r.counts['bytes saved'], 12288 - 614 * 12 + (2560 - 128 * 12));
    const back = loadModelFromBytes(serializeModel(sparse));
    assert.deepEqual([...back.graph.sparseInitializers.keys()].sort(), ['w1', 'w2']);
    assert.deepEqual(back.graph.sparseInitializers.get('w1')!.tensor.dims, [64, 48]);
    noErrors(back);
    bitsEqual(await runNode(dense, feeds), await runNode(back, feeds));
    const [db, sb] = [serializeModel(dense), serializeModel(back)];
    console.log(`mlp 80%: raw ${db.length} → ${sb.length} bytes, gzip ${gzipSize(db)} → ${gzipSize(sb)}`);
    assert.ok(sb.length < db.length);
    assert.equal((await storeSparsePass.run(back, storeSparsePass.parseOptions({}), {})).changed, false);
    // The report sees the sparse weights as they are.
    const before = sparsityReport(dense);
    const after = sparsityReport(back);
    assert.deepEqual(
      after.weights.map((w) => [w.name, w.zeros, w.total, w.storage]),
      before.weights.map((w) => [w.name, w.zeros, w.total, 'sparse']),
    );
    console.log(formatSparsity(after));
  });

  it('50% pruned float32: nothing stored (values + int64 indices would be bigger), with a note', async () => {
    const m = mlp();
    await pruneL1Pass.run(m, pruneL1Pass.parseOptions({ amount: 0.5 }), {});
    const r = await storeSparsePass.run(m, storeSparsePass.parseOptions({}), {});
    assert.equal(r.changed, false);
    assert.deepEqual(r.notes, [
      '2 initializer(s) at ≥ 50% sparsity kept dense: values + int64 indices would not be smaller (float32 needs > 2/3 zeros)',
    ]);
    // minSparsity leaves the 80%-sparse one dense when asked for more.
    const m2 = mlp();
    await pruneL1Pass.run(m2, pruneL1Pass.parseOptions({ amount: 0.8 }), {});
    assert.equal(
      (await storeSparsePass.run(m2, storeSparsePass.parseOptions({ minSparsity: 0.9 }), {})).changed,
      false,
    );
  });

  it('−0 stays a value, an all-zero tensor has no values, float16 works: densified bits identical', async () => {
    const g = new GraphBuilder('z');
    g.output(
      g.op('Identity', [g.initializer('neg', floatTensor([2, 6], [0, -0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]))]),
      'neg_out',
    );
    g.output(g.op('Identity', [g.initializer('none', floatTensor([3, 4]))]), 'none_out');
    const half = Uint16Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, floatToHalf(-2.5)]);
    g.output(g.op('Identity', [g.initializer('half', new MemoryTensor(DataType.FLOAT16, [10], half))]), 'half_out');
    const m = g.model({ opset: 17 });
    const s = copy(m);
    const r = await storeSparsePass.run(s, storeSparsePass.parseOptions({}), {});
    assert.equal(r.counts['initializers stored sparse'], 3);
    assert.equal(s.graph.sparseInitializers.get('neg')!.tensor.values.size, 2);
    assert.equal(s.graph.sparseInitializers.get('none')!.tensor.values.size, 0);
    noErrors(s);
    bitsEqual(await runNode(m, {}), await runNode(loadModelFromBytes(serializeModel(s)), {}));
  });

  it('IR version 5 has no sparse tensors: refused with a note; bad options', async () => {
    const m = mlp();
    await pruneL1Pass.run(m, pruneL1Pass.parseOptions({ amount: 0.9 }), {});
    m.irVersion = 5;
    const r = await storeSparsePass.run(m, storeSparsePass.parseOptions({}), {});
    assert.equal(r.changed, false);
    assert.deepEqual(r.notes, ['IR version 5 < 6 has no sparse initializers: nothing stored sparse']);
    for (const raw of [{ minSparsity: 1.5 }, { minSparsity: -1 }, { amount: 0.5 }])
      assert.throws(() => storeSparsePass.parseOptions(raw), PassOptionError);
  });
});

describe('storage: mnist-cnn', () => {
  before(() => ensureModels());

  it('sparsity report, raw and gzip sizes at 50% and 80% global pruning, sparse vs dense', async () => {
    const base = await optimizedReference('mnist-cnn');
    const baseBytes = serializeModel(base);
    const s = await getSession(base);
    const rows: string[] = [];
    for (const amount of [0.5, 0.8]) {
      const dense = copy(base);
      await pruneGlobalPass.run(dense, pruneGlobalPass.parseOptions({ amount }), {});
      const rep = sparsityReport(dense);
      assert.ok(Math.abs(rep.sparsity - amount) < 1e-5);
      console.log(`mnist-cnn global ${amount}:\n${formatSparsity(rep)}`);
      const sparse = copy(dense);
      const r = await storeSparsePass.run(sparse, storeSparsePass.parseOptions({}), {});
      const [db, sb] = [serializeModel(dense), serializeModel(sparse)];
      rows.push(
        `mnist-cnn global ${amount}: original ${baseBytes.length} B (gzip ${gzipSize(baseBytes)}); pruned dense ${db.length} B ` +
          `(gzip ${gzipSize(db)}, ${(gzipSize(db) / gzipSize(baseBytes)).toFixed(3)}×); store-sparse ${sb.length} B ` +
          `(gzip ${gzipSize(sb)}, ${(gzipSize(sb) / gzipSize(baseBytes)).toFixed(3)}×), ${r.counts['initializers stored sparse'] ?? 0} sparse initializers`,
      );
      if (amount === 0.5) {
        assert.equal(r.changed, false);
      } else {
        // Per-layer sparsity under a global threshold differs; fc1 (94% of the weights) is above 2/3.
        assert.ok((r.counts['initializers stored sparse'] ?? 0) >= 1);
        assert.ok(sb.length < db.length);
        bitsEqual(await s(dense), await s(loadModelFromBytes(sb)));
        // Measured: 946,835 B raw but 418,262 B gzipped, against 390,986 B for the dense file gzipped.
        // Runs of zeros compress better than int64 indices: for a gzip-served bundle, stay dense.
        assert.ok(gzipSize(sb) > gzipSize(db));
      }
      assert.ok(gzipSize(db) < gzipSize(baseBytes));
    }
    console.log(rows.join('\n'));
  });
});

/** Runs a model on 200 MNIST test images (one batch). */
async function getSession(base: Model) {
  const probe = await import('../../runtime/index.js').then((r) =>
    r.getBackend('node').createSession(serializeModel(base)),
  );
  const ds = await openDataset(REFERENCE_MODELS['mnist-cnn'](), { inputs: probe.inputs, batchSize: 200, limit: 200 });
  await probe.release();
  let batch: Record<string, HostTensor> | undefined;
  for await (const b of ds.batches()) batch = b.inputs;
  return (m: Model) => runNode(m, batch!);
}
