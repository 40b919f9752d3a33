/**
 * merge-neurons: exact on proportional and duplicate neurons (onnxruntime outputs within float32
 * rounding) for Gemm→Relu→Gemm, MatMul+Add→LeakyRelu→MatMul on 3-D inputs and Gemm(transB 0)→MatMul
 * with no activation; refusals; and on mnist-cnn's fc1→Relu→fc2: parameters and top-1 measured.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  checkModel,
  floatTensor,
  loadModelFromBytes,
  serializeModel,
  summarizeModel,
  type Model,
} from '@edgeforge/onnx';
import { ensureModels } from '../../../../../tools/models.ts';
import type { HostTensor } from '../../runtime/index.js';
import { PassOptionError } from '../pass.js';
import { maxRelDiff, runNode } from '../testing/exact-harness.js';
import { mergeNeuronsPass, planMerges } from './merge-neurons.js';
import { baseline, compareToBase, describeComparison, optimizedReference } from './testing/reference-accuracy.js';
import { mulberry32 } from '../../data/prng.js';

const rand = mulberry32(3);
const randn = (n: number) => Array.from({ length: n }, () => rand() * 2 - 1);

/**
 * Rows of a [N, K] matrix (+ bias) with planted structure: row 3 = 2.5·row 1, row 5 = row 0,
 * row 6 = 0 (dead), row 7 = 0.5·row 3 (joins neuron 1's cluster).
 */
function planted(n: number, k: number): { w: number[][]; b: number[] } {
  const w = Array.from({ length: n }, () => randn(k));
  const b = randn(n).map((x) => x * 0.5);
  w[3] = w[1].map((x) => 2.5 * x);
  b[3] = 2.5 * b[1];
  w[5] = [...w[0]];
  b[5] = b[0];
  w[6] = new Array(k).fill(0);
  b[6] = 0;
  w[7] = w[3].map((x) => 0.5 * x);
  b[7] = 0.5 * b[3];
  return { w, b };
}
const transpose = (w: number[][]) => w[0].map((_, j) => w.map((row) => row[j]));
const input = (name: string, dims: number[]): HostTensor => ({
  type: 'float32',
  dims,
  data: Float32Array.from(randn(dims.reduce((a, b) => a * b, 1)).map((x) => 3 * x)),
});
const copy = (m: Model) => loadModelFromBytes(serializeModel(m));
const params = (m: Model) => summarizeModel(m).parameters.total;

async function mergedExactly(model: Model, feeds: Record<string, HostTensor>, expectNeurons: number) {
  const after = copy(model);
  const r = await mergeNeuronsPass.run(after, mergeNeuronsPass.parseOptions({}), {});
  assert.deepEqual(
    checkModel(after).filter((i) => i.severity === 'error'),
    [],
  );
  const [a, b] = [await runNode(model, feeds), await runNode(after, feeds)];
  const diff = maxRelDiff(a, b);
  console.log(
    `${r.notes!.join('; ')}; params ${params(model)} → ${params(after)}; max rel output diff ${diff.toExponential(2)}`,
  );
  assert.ok(diff < 1e-5, `output moved by ${diff}`);
  assert.ok(
    r.notes!.some((s) => s.includes(`→ ${expectNeurons} neurons`)),
    r.notes!.join('\n'),
  );
  assert.equal((await mergeNeuronsPass.run(after, mergeNeuronsPass.parseOptions({}), {})).changed, false);
  return { after, r };
}

describe('merge-neurons: exact merges', () => {
  it('Gemm(transB 1) → Relu → Gemm(transB 1): 10 → 6 neurons, outputs unchanged', async () => {
    const { w, b } = planted(10, 6);
    const g = new GraphBuilder('mlp');
    const x = g.input('x', DataType.FLOAT, ['N', 6]);
    const h = g.op(
      'Gemm',
      [x, g.initializer('w1', floatTensor([10, 6], w.flat())), g.initializer('b1', floatTensor([10], b))],
      { transB: 1 },
      { name: 'fc1' },
    );
    const y = g.op(
      'Gemm',
      [
        g.op('Relu', [h]),
        g.initializer('w2', floatTensor([3, 10], randn(30))),
        g.initializer('b2', floatTensor([3], randn(3))),
      ],
      { transB: 1, alpha: 0.5 },
      { name: 'fc2' },
    );
    g.output(y, 'y');
    const m = g.model({ opset: 17 });
    const { after, r } = await mergedExactly(m, { x: input('x', [64, 6]) }, 6);
    assert.deepEqual(r.counts, { 'layer pairs shrunk': 1, 'neurons merged': 3, 'dead neurons removed': 1 });
    assert.deepEqual(after.graph.initializers.get('w1')!.const!.dims, [6, 6]);
    assert.deepEqual(after.graph.initializers.get('b1')!.const!.dims, [6]);
    assert.deepEqual(after.graph.initializers.get('w2')!.const!.dims, [3, 6]);
  });

  it('MatMul + Add → LeakyRelu → MatMul on [B, S, K] inputs, weights in Constant nodes', async () => {
    const { w, b } = planted(8, 5);
    const g = new GraphBuilder('ffn');
    const x = g.input('x', DataType.FLOAT, ['B', 'S', 5]);
    const mm = g.op('MatMul', [x, g.constant(floatTensor([5, 8], transpose(w).flat()))], {}, { name: 'linear1' });
    const add = g.op('Add', [g.constant(floatTensor([1, 8], b)), mm]);
    const y = g.op(
      'MatMul',
      [g.op('LeakyRelu', [add], { alpha: 0.1 }), g.constant(floatTensor([8, 4], randn(32)))],
      {},
      { name: 'linear2' },
    );
    g.output(y, 'y');
    const m = g.model({ opset: 17 });
    await mergedExactly(m, { x: input('x', [2, 7, 5]) }, 4);
  });

  it('Gemm(transB 0, beta) → MatMul with no activation; shared scalar bias', async () => {
    // With a bias shared by all neurons only identical rows are parallel vectors: plant two pairs.
    const w = Array.from({ length: 8 }, () => randn(4));
    w[3] = [...w[1]];
    w[6] = [...w[2]];
    const g = new GraphBuilder('linear');
    const x = g.input('x', DataType.FLOAT, ['N', 4]);
    const h = g.op(
      'Gemm',
      [x, g.initializer('w1', floatTensor([4, 8], transpose(w).flat())), g.initializer('c', floatTensor([1], [0.3]))],
      { beta: { float: 2 } },
      { name: 'g1' },
    );
    g.output(g.op('MatMul', [h, g.initializer('w2', floatTensor([8, 2], randn(16)))]), 'y');
    await mergedExactly(g.model({ opset: 17 }), { x: input('x', [16, 4]) }, 6);
  });

  it('greedy clusters: survivors stay pairwise below the threshold', () => {
    const v = (...xs: number[]) => Float64Array.from(xs);
    const plan = planMerges([v(1, 0), v(0.9, 0.2), v(0, 0), v(2, 0.01), v(0, 1), v(0, -1)], 0.99);
    assert.deepEqual(plan.keep, [0, 1, 4, 5]);
    assert.deepEqual([...plan.merged.keys()], [3]);
    assert.ok(Math.abs(plan.merged.get(3)![1] - 2) < 1e-12);
    assert.deepEqual(plan.dead, [2]);
  });
});

describe('merge-neurons: refusals and options', () => {
  it('Sigmoid between the layers, a shared weight, a graph output in between: left alone with notes', async () => {
    const g = new GraphBuilder('r');
    const x = g.input('x', DataType.FLOAT, ['N', 3]);
    const dup = [1, 2, 3, 1, 2, 3];
    const a = g.op('Gemm', [x, g.initializer('wa', floatTensor([2, 3], dup))], { transB: 1 }, { name: 'a' });
    g.output(
      g.op('Gemm', [g.op('Sigmoid', [a]), g.initializer('wa2', floatTensor([1, 2], [1, 1]))], { transB: 1 }),
      'ya',
    );
    const shared = g.initializer('ws', floatTensor([2, 3], dup));
    const s1 = g.op('Gemm', [x, shared], { transB: 1 }, { name: 's' });
    g.output(g.op('Gemm', [s1, g.initializer('ws2', floatTensor([1, 2], [1, 1]))], { transB: 1 }), 'ys');
    g.output(g.op('MatMul', [x, g.op('Transpose', [shared])]), 'yt');
    const o = g.op('Gemm', [x, g.initializer('wo', floatTensor([2, 3], dup))], { transB: 1 }, { name: 'o' });
    g.output(g.op('Gemm', [o, g.initializer('wo2', floatTensor([1, 2], [1, 1]))], { transB: 1 }), 'yo');
    g.output(o, 'o_out');
    const m = g.model({ opset: 17 });
    const r = await mergeNeuronsPass.run(m, mergeNeuronsPass.parseOptions({}), {});
    assert.equal(r.changed, false);
    const notes = r.notes!.join('\n');
    assert.match(notes, /Gemm 'a': left alone: Sigmoid .* is not a positively homogeneous activation/);
    assert.match(notes, /Gemm 's': left alone: weight 'ws' is also read elsewhere/);
    assert.match(notes, /Gemm 'o': left alone: 'o_out' is also a graph output/);
  });

  it('bad options and a selection matching nothing', async () => {
    for (const [raw, re] of [
      [{ threshold: 0 }, /'threshold' must be a cosine similarity in \(0, 1\] \(got 0\)/],
      [{ threshold: 1.2 }, /'threshold'/],
      [{ threshold: '0.9' }, /'threshold'/],
      [{ opTypes: ['Conv'] }, /'opTypes' must be a non-empty list of Gemm, MatMul/],
      [{ amount: 0.5 }, /unknown option 'amount'/],
    ] as const)
      assert.throws(
        () => mergeNeuronsPass.parseOptions(raw),
        (e: Error) => e instanceof PassOptionError && re.test(e.message),
      );
    const g = new GraphBuilder('c');
    g.output(g.op('Relu', [g.input('x', DataType.FLOAT, [1])]), 'y');
    await assert.rejects(
      async () => mergeNeuronsPass.run(g.model(), mergeNeuronsPass.parseOptions({ nodes: ['fc*'] }), {}),
      /merge-neurons: the selection \(opTypes Gemm,MatMul; nodes "fc\*"\) matches no Gemm\/MatMul layer with a constant weight/,
    );
  });
});

describe('merge-neurons: mnist-cnn fc1 → Relu → fc2', () => {
  before(() => ensureModels());

  it('threshold 0.99 finds nothing to merge; 0.6 and 0.5 shrink fc1/fc2, accuracy measured', async () => {
    const base = await optimizedReference('mnist-cnn');
    const b = await baseline('mnist-cnn', base, 2000);
    const results: Record<number, { neurons: number; params: number; drop: number }> = {};
    for (const threshold of [0.99, 0.6, 0.5]) {
      const m = copy(base);
      const r = await mergeNeuronsPass.run(m, mergeNeuronsPass.parseOptions({ threshold }), {});
      const cmp = await compareToBase(b, m);
      const fc1 = m.graph.initializers.get('fc1.weight')!.const!.dims[0];
      console.log(
        describeComparison(`mnist-cnn merge-neurons ${threshold}`, cmp) +
          `; params ${params(base)} → ${params(m)}, fc1 ${fc1} neurons; ${(r.notes ?? []).join('; ')}`,
      );
      results[threshold] = { neurons: fc1, params: params(m), drop: 100 * (cmp.baseTop1 - cmp.top1) };
    }
    // Measured: 128, 116 and 89 neurons; drops 0, −0.05 and 0.80 pt.
    assert.equal(results[0.99].neurons, 128);
    assert.equal(results[0.99].params, params(base));
    assert.ok(results[0.6].neurons < 128 && results[0.5].neurons < results[0.6].neurons);
    // Each fc1 neuron is 3136 weights + 1 bias in and 10 weights out.
    assert.equal(params(base) - results[0.5].params, (128 - results[0.5].neurons) * 3147);
    assert.ok(results[0.6].drop <= 0.5, `0.6: ${results[0.6].drop}`);
    assert.ok(results[0.5].drop <= 1.5, `0.5: ${results[0.5].drop}`);
  });
});
