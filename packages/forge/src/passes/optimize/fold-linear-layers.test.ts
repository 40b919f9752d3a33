/**
 * fold-linear-layers: Gemm/MatMul pairs in every combination (alpha, beta, transA, transB, biases,
 * an Add between), a 1×1 Conv after a Conv (padded, strided, dilated, 1-D) and before one, in
 * subgraphs and with weights in Constant nodes, fold into one layer; nonlinearities, shared
 * intermediates, grouped Convs, padding that would see a bias, and folds that would add parameters
 * are left alone (with a note where the pair is linear). Outputs match onnxruntime within
 * |a−b| ≤ 1e-4·|a| + 1e-5 and a rerun changes nothing. On the real models after the default
 * recipe the folds that fire are counted and measured.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, loadModel, summarizeModel, type Graph, type Model, type Value } from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, modelPath } from '../../../../../tools/models.ts';
import { type Feeds, type HostTensor } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../registry.js';
import { FOLD_LINEAR_LAYERS, foldLinearLayers } from './fold-linear-layers.js';
import {
  applyAndCompare,
  assertClose,
  assertValid,
  count,
  feed,
  randT,
  randn,
  runModel,
} from '../testing/fuse-harness.js';

/** Runs the pass and checks: model valid, outputs within 1e-4 of before, a rerun changes nothing. */
async function foldAndCompare(model: Model, feeds: Feeds) {
  const result = await applyAndCompare(foldLinearLayers, model, feeds);
  assert.equal((await foldLinearLayers.run(model, {}, {})).changed, false, 'a rerun changes nothing');
  return result;
}

/** Runs the pass on a model it must leave alone: same nodes, same outputs; returns the notes. */
async function refused(model: Model, feeds: Feeds): Promise<string> {
  const nodes = model.graph.nodeCount;
  const before = await runModel(model, feeds);
  const report = await foldLinearLayers.run(model, {}, {});
  assert.equal(report.changed, false);
  assert.equal(model.graph.nodeCount, nodes);
  assertValid(model);
  assertClose(before, await runModel(model, feeds));
  return (report.notes ?? []).join('\n');
}

const opsOf = (g: Graph) => g.nodes().map((n) => n.opType);
const ops = (m: Model) => opsOf(m.graph);

describe('fold-linear-layers: Gemm and MatMul', () => {
  it('folds Gemm∘Gemm with a wide middle, folding alpha, beta, transA and transB', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [8, 'B']);
    const y = b.op('Gemm', [x, b.initializer('w1', randT([16, 8])), b.initializer('b1', randT([16]))], {
      transA: 1,
      transB: 1,
      alpha: 0.5,
      beta: 1.5,
    });
    const z = b.op('Gemm', [y, b.initializer('w2', randT([16, 6])), b.constant(randT([1, 6]))], {
      beta: 1.75,
      alpha: 0.75,
    });
    b.output(b.op('Relu', [z]), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([8, 3]) });
    assert.deepEqual(report.counts, { 'Gemm∘Gemm folded': 1 });
    assert.deepEqual(ops(model), ['Gemm', 'Relu']);
    const gemm = model.graph.nodes()[0];
    assert.equal(gemm.getInt('transA', 0), 1);
    assert.equal(gemm.getInt('transB', 0), 0);
    assert.deepEqual(gemm.inputs[1]!.const!.dims, [8, 6]);
    assert.equal(model.graph.initializers.size, 2, 'old weights and biases are removed');
    assert.equal(count(model, 'Constant'), 0);
  });

  it('folds a chain of three, a bottleneck pair first, in one run', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 16]);
    // 16→2→16 alone would grow (64 → 256 weights); 2→16→2 folds to 2×2, and then 16→2→2 folds too.
    let h = b.op('Gemm', [x, b.initializer('w1', randT([16, 2]))]);
    h = b.op('Gemm', [h, b.initializer('w2', randT([2, 16])), b.initializer('b2', randT([16]))]);
    h = b.op('Gemm', [h, b.initializer('w3', randT([2, 16])), b.initializer('b3', randT([2]))], { transB: 1 });
    b.output(h, 'y');
    const model = b.model({ opset: 13 });
    const { report } = await foldAndCompare(model, { x: feed([5, 16]) });
    assert.deepEqual(report.counts, { 'Gemm∘Gemm folded': 2 });
    assert.deepEqual(ops(model), ['Gemm']);
    assert.deepEqual(model.graph.nodes()[0].inputs[1]!.const!.dims, [16, 2]);
    assert.equal(model.graph.outputs[0].name, 'y');
  });

  it('folds Gemm∘MatMul and MatMul∘Gemm (alpha, beta, transA, transB) into a Gemm', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [8, 'B']);
    const g1 = b.op('Gemm', [x, b.initializer('w1', randT([16, 8])), b.initializer('c1', randT([16]))], {
      transA: 1,
      transB: 1,
      alpha: 0.5,
      beta: 1.5,
    });
    b.output(b.op('MatMul', [g1, b.initializer('w2', randT([16, 6]))]), 'y');
    const x2 = b.input('x2', DataType.FLOAT, ['B', 8]);
    const m1 = b.op('MatMul', [x2, b.constant(randT([8, 16]))]);
    const g2 = b.op('Gemm', [m1, b.initializer('w4', randT([6, 16])), b.initializer('c4', randT([1, 6]))], {
      transB: 1,
      alpha: 0.75,
      beta: { float: 2 },
    });
    b.output(g2, 'y2');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([8, 3]), x2: feed([3, 8]) });
    assert.deepEqual(report.counts, { 'Gemm∘MatMul folded': 1, 'MatMul∘Gemm folded': 1 });
    assert.deepEqual(ops(model), ['Gemm', 'Gemm']);
    const [a, c] = model.graph.nodes();
    assert.equal(a.getInt('transA', 0), 1);
    assert.deepEqual(a.inputs[1]!.const!.dims, [8, 6]);
    assert.equal(c.getInt('transA', 0), 0);
    assert.deepEqual(c.inputs[2]!.const!.dims, [6]);
    assert.equal(count(model, 'Constant'), 0);
  });

  it('folds MatMul+Add+Gemm and Gemm+Add+MatMul, the Add bias folded into the Gemm', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 8]);
    let h = b.op('MatMul', [x, b.initializer('w1', randT([8, 12]))]);
    h = b.op('Add', [b.initializer('b1', randT([12])), h]);
    b.output(b.op('Gemm', [h, b.initializer('w2', randT([12, 4]))], { alpha: { float: 2 } }), 'y');
    let k = b.op('Gemm', [x, b.initializer('v1', randT([10, 8]))], { transB: 1 });
    k = b.op('Add', [k, b.constant(randT([1, 10]))]);
    b.output(b.op('MatMul', [k, b.initializer('v2', randT([10, 3]))]), 'y2');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([5, 8]) });
    assert.deepEqual(report.counts, { 'MatMul+Add+Gemm folded': 1, 'Gemm+Add+MatMul folded': 1 });
    assert.deepEqual(ops(model), ['Gemm', 'Gemm']);
    for (const n of model.graph.nodes()) assert.equal(n.inputs.length, 3);
  });

  it('folds MatMul∘MatMul with a rank-3 X', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 'T', 8]);
    const h = b.op('MatMul', [x, b.initializer('w1', randT([8, 12]))]);
    b.output(b.op('MatMul', [h, b.constant(randT([12, 4]))]), 'y');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([2, 3, 8]) });
    assert.deepEqual(report.counts, { 'MatMul∘MatMul folded': 1 });
    assert.deepEqual(ops(model), ['MatMul']);
    assert.deepEqual(model.graph.nodes()[0].inputs[1]!.const!.dims, [8, 4]);
    assert.equal(model.graph.outputs[0].name, 'y');
  });

  it('folds MatMul+Add+MatMul into MatMul+Add, bias on either side, keeping the bias shape', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 'T', 8]);
    let h = b.op('MatMul', [x, b.initializer('w1', randT([8, 12]))]);
    h = b.op('Add', [b.initializer('b1', randT([12])), h]);
    b.output(b.op('MatMul', [h, b.initializer('w2', randT([12, 4]))]), 'y');
    let k = b.op('MatMul', [x, b.initializer('v1', randT([8, 10]))]);
    k = b.op('Add', [k, b.constant(randT([1, 1, 10]))]);
    b.output(b.op('MatMul', [k, b.initializer('v2', randT([10, 3]))]), 'y2');
    const model = b.model({ opset: 17 });
    const { report } = await foldAndCompare(model, { x: feed([2, 3, 8]) });
    assert.deepEqual(report.counts, { 'MatMul+Add+MatMul folded': 2 });
    assert.deepEqual(ops(model), ['MatMul', 'Add', 'MatMul', 'Add']);
    const [add1, add2] = model.graph.nodes().filter((n) => n.opType === 'Add');
    assert.deepEqual(add1.inputs[0]!.const!.dims, [4]);
    assert.deepEqual(add2.inputs[1]!.const!.dims, [1, 1, 3]);
    assert.equal(count(model, 'Constant'), 0);
  });

  it('folds Gemm∘Gemm at opset 9, where C is required', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 6]);
    const h = b.op('Gemm', [x, b.initializer('w1', randT([6, 10])), b.initializer('c1', randT([1]))]);
    b.output(b.op('Gemm', [h, b.initializer('w2', randT([10, 3])), b.initializer('c2', randT([3]))]), 'y');
    const model = b.model({ opset: 9 });
    const { report } = await foldAndCompare(model, { x: feed([4, 6]) });
    assert.deepEqual(report.counts, { 'Gemm∘Gemm folded': 1 });
    assert.deepEqual(model.graph.nodes()[0].inputs[2]!.const!.dims, [3]);
  });

  it('leaves nonlinearities, shared intermediates, shared weights and narrow bottlenecks alone', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['B', 16]);
    const lo = b.op('Gemm', [x, b.initializer('down', randT([16, 2]))], {}, { name: 'down' });
    b.output(b.op('Gemm', [lo, b.initializer('up', randT([2, 16]))], {}, { name: 'up' }), 'y');
    const shared = b.op('Gemm', [x, b.initializer('w1', randT([16, 16]))], {}, { name: 'g1' });
    b.output(b.op('Gemm', [shared, b.initializer('w2', randT([16, 4]))], {}, { name: 'g2' }), 'y2');
    b.output(b.op('Relu', [shared]), 'y3');
    const mm = b.op('MatMul', [x, b.initializer('m1', randT([16, 8]))], {}, { name: 'mm1' });
    b.output(b.op('MatMul', [mm, b.initializer('m2', randT([8, 4]))], {}, { name: 'mm2' }), 'y4');
    b.output(mm, 'y5');
    const relu = b.op('Relu', [b.op('Gemm', [x, b.initializer('r1', randT([16, 16]))])]);
    b.output(b.op('Gemm', [relu, b.initializer('r2', randT([16, 4]))]), 'y6');
    // 8×6 + 6×8 = 96 weights fold to 8×8 = 64, but 'sw2' stays for its other user: 48 → 64.
    const x8 = b.input('x8', DataType.FLOAT, ['B', 8]);
    const sw2 = b.initializer('sw2', randT([6, 8]));
    const s1 = b.op('MatMul', [x8, b.initializer('sw1', randT([8, 6]))], {}, { name: 's1' });
    b.output(b.op('MatMul', [s1, sw2], {}, { name: 's2' }), 'y7');
    b.output(b.op('MatMul', [b.input('x6', DataType.FLOAT, ['B', 6]), sw2]), 'y8');
    const g3 = b.op('Gemm', [x, b.initializer('w5', randT([16, 16]))], {}, { name: 'g3' });
    const a3 = b.op('Add', [g3, b.initializer('rank3', randT([1, 1, 16]))]);
    b.output(b.op('MatMul', [a3, b.initializer('w6', randT([16, 4]))], {}, { name: 'm3' }), 'y9');
    const model = b.model({ opset: 17 });
    const notes = await refused(model, { x: feed([3, 16]), x8: feed([3, 8]), x6: feed([3, 6]) });
    assert.match(notes, /down.*up': parameters would grow from 64 to 256 \(multiply-adds per output row 64 → 256\)/);
    assert.match(notes, /g1.*g2.*has other uses/);
    assert.match(notes, /mm1.*mm2.*graph output/);
    assert.match(notes, /s1.*s2': parameters would grow from 48 to 64/);
    assert.match(notes, /g3.*m3.*'rank3' of rank 3 raises the rank/);
    assert.equal(notes.split('\n').length, 5, `no note for the pair with a Relu between:\n${notes}`);
  });
});

// ---- Conv ----

function conv(
  b: GraphBuilder,
  x: Value,
  w: number[],
  attrs: Record<string, number[] | number | string> = {},
  bias = true,
  name?: string,
) {
  const inputs = [x, b.initializer(b.graph.freshName('w'), randT(w))];
  if (bias) inputs.push(b.constant(randT([w[0]])));
  return b.op('Conv', inputs, attrs, name ? { name } : {});
}

describe('fold-linear-layers: Conv', () => {
  it('folds a 1×1 Conv after a padded, strided, dilated Conv (biases, Constant weights) and after a 1-D one', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 3, 9, 9]);
    const attrs = { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 0, 2, 1], dilations: [2, 2] };
    const h = conv(b, x, [8, 3, 3, 3], attrs);
    const w2 = b.constant(randT([4, 8, 1, 1]));
    b.output(b.op('Conv', [h, w2, b.constant(randT([4]))], { kernel_shape: [1, 1] }), 'y');
    const x1 = b.input('x1', DataType.FLOAT, [2, 4, 10]);
    const k = conv(b, x1, [6, 4, 5], { auto_pad: 'SAME_UPPER' }, false);
    b.output(conv(b, k, [3, 6, 1], {}, false), 'y1');
    const model = b.model({ opset: 17 });
    const { report, rel } = await foldAndCompare(model, { x: feed([1, 3, 9, 9]), x1: feed([2, 4, 10]) });
    console.log(`  Conv∘Conv 1×1: max |a−b|/(|a|+0.1) ${rel.toExponential(2)}`);
    assert.deepEqual(report.counts, { 'Conv∘Conv 1×1 folded': 2 });
    assert.deepEqual(ops(model), ['Conv', 'Conv']);
    const [c2d, c1d] = model.graph.nodes();
    assert.deepEqual(c2d.inputs[1]!.const!.dims, [4, 3, 3, 3]);
    assert.deepEqual(c2d.getInts('pads'), [1, 0, 2, 1]);
    assert.deepEqual(c2d.getInts('strides'), [2, 2]);
    assert.deepEqual(c2d.getInts('dilations'), [2, 2]);
    assert.deepEqual(c2d.inputs[2]!.const!.dims, [4]);
    assert.deepEqual(c1d.inputs[1]!.const!.dims, [3, 4, 5]);
    assert.equal(c1d.getString('auto_pad'), 'SAME_UPPER');
    assert.equal(c1d.inputs.length, 2, 'no bias when neither Conv had one');
    assert.equal(count(model, 'Constant'), 0);
  });

  it('folds a 1×1 Conv before a strided Conv, and before a padded one when the 1×1 has no bias', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 9, 9]);
    const e = conv(b, x, [8, 2, 1, 1]);
    b.output(conv(b, e, [4, 8, 3, 3], { strides: [2, 2] }), 'y');
    const f = conv(b, x, [8, 2, 1, 1], {}, false);
    b.output(conv(b, f, [4, 8, 3, 3], { pads: [1, 1, 1, 1] }), 'y2');
    const model = b.model({ opset: 17 });
    const { report, rel } = await foldAndCompare(model, { x: feed([1, 2, 9, 9]) });
    console.log(`  Conv 1×1∘Conv: max |a−b|/(|a|+0.1) ${rel.toExponential(2)}`);
    assert.deepEqual(report.counts, { 'Conv 1×1∘Conv folded': 2 });
    const [s, p] = model.graph.nodes();
    assert.deepEqual(s.inputs[1]!.const!.dims, [4, 2, 3, 3]);
    assert.deepEqual(s.getInts('strides'), [2, 2]);
    assert.deepEqual(p.getInts('pads'), [1, 1, 1, 1]);
    assert.equal(p.inputs[2]!.const!.dims[0], 4);
  });

  it('folds inside If branches, with weights in Constant nodes and captured from the outer graph', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', DataType.FLOAT, [1, 4, 6, 6]);
    const w1 = b.initializer('outer_w1', randT([6, 12]));
    const w2 = b.initializer('outer_w2', randT([12, 6]));
    const thenB = new GraphBuilder('then');
    const t1 = thenB.op('Conv', [x, thenB.constant(randT([8, 4, 3, 3]), 'tw1'), thenB.constant(randT([8]), 'tb1')], {
      pads: [1, 1, 1, 1],
    });
    const t2 = thenB.op('Conv', [t1, thenB.constant(randT([2, 8, 1, 1]), 'tw2'), thenB.constant(randT([2]), 'tb2')]);
    thenB.output(t2, 'then_out', DataType.FLOAT, [1, 2, 6, 6]);
    const elseB = new GraphBuilder('else');
    elseB.output(elseB.op('MatMul', [elseB.op('MatMul', [x, w1]), w2]), 'else_out', DataType.FLOAT, [1, 4, 6, 6]);
    const cond = b.op('Greater', [b.op('ReduceSum', [x], { keepdims: 0 }), b.constant(randT([], 0, 0))]);
    const iff = b.node('If', [cond], { then_branch: thenB.graph, else_branch: elseB.graph });
    b.output(iff.outputs[0], 'y', DataType.FLOAT);
    const model = b.model({ opset: 17 });
    assertValid(model);
    const f = feed([1, 4, 6, 6]);
    const pos: Feeds = { x: { ...f, data: (f.data as Float32Array).map(Math.abs) } };
    const neg: Feeds = { x: { ...f, data: (f.data as Float32Array).map((v) => -Math.abs(v)) } };
    const before = [await runModel(model, pos), await runModel(model, neg)];
    assert.deepEqual(
      [before[0].y.dims, before[1].y.dims],
      [
        [1, 2, 6, 6],
        [1, 4, 6, 6],
      ],
    );
    const report = await foldLinearLayers.run(model, {}, {});
    assert.deepEqual(report.counts, { 'Conv∘Conv 1×1 folded': 1, 'MatMul∘MatMul folded': 1 });
    assertValid(model);
    assertClose(before[0], await runModel(model, pos));
    assertClose(before[1], await runModel(model, neg));
    assert.deepEqual(opsOf(thenB.graph), ['Conv']);
    assert.deepEqual(opsOf(elseB.graph), ['MatMul']);
    assert.equal(model.graph.initializers.size, 0, 'the captured weights are released');
    assert.equal((await foldLinearLayers.run(model, {}, {})).changed, false);
  });

  it('leaves grouped Convs, a ReLU between, shared outputs, bias-seeing padding and growth alone', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 8, 16, 16]);
    const dw = conv(b, x, [8, 1, 3, 3], { group: 8, pads: [1, 1, 1, 1] }, true, 'dw');
    b.output(conv(b, dw, [16, 8, 1, 1], {}, true, 'pw'), 'y1');
    const r = b.op('Relu', [conv(b, x, [8, 8, 3, 3])]);
    b.output(conv(b, r, [4, 8, 1, 1]), 'y2');
    const sh = conv(b, x, [8, 8, 3, 3], {}, true, 'shared');
    b.output(conv(b, sh, [4, 8, 1, 1], {}, true, 'after_shared'), 'y3');
    b.output(sh, 'y4');
    const e = conv(b, x, [16, 8, 1, 1], {}, true, 'expand');
    b.output(conv(b, e, [2, 16, 3, 3], { pads: [1, 1, 1, 1] }, true, 'padded'), 'y5');
    const n = conv(b, x, [4, 8, 3, 3], {}, true, 'narrow');
    b.output(conv(b, n, [16, 4, 1, 1], {}, false, 'wide'), 'y6');
    const t = conv(b, x, [8, 8, 3, 3], {}, false, 'k3a');
    b.output(conv(b, t, [2, 8, 3, 3], {}, false, 'k3b'), 'y7');
    // Fewer MACs (the 1×1 runs on 256 input pixels for each of 49 outputs) but more weights: refused.
    const xb = b.input('xb', DataType.FLOAT, [1, 64, 16, 16]);
    const p = conv(b, xb, [32, 64, 1, 1], {}, false, 'p1');
    b.output(conv(b, p, [8, 32, 3, 3], { strides: [2, 2] }, false, 'strided'), 'y8', DataType.FLOAT, [1, 8, 7, 7]);
    const model = b.model({ opset: 17 });
    const notes = await refused(model, { x: feed([1, 8, 16, 16]), xb: feed([1, 64, 16, 16]) });
    assert.match(notes, /'dw' → Conv 'pw': Conv 'dw' has group 8/);
    assert.match(notes, /'shared' → Conv 'after_shared': 'y4' is a graph output/);
    assert.match(notes, /'expand' → Conv 'padded': the second Conv pads and the first has a bias/);
    assert.match(notes, /'narrow' → Conv 'wide': parameters would grow from 356 to 1168/);
    assert.match(notes, /'k3a' → Conv 'k3b': neither Conv is pointwise/);
    assert.match(notes, /'p1' → Conv 'strided': parameters would grow from 4352 to 4608 .*13003\.8 → 4608/);
    assert.equal(notes.split('\n').length, 6, `no note for the pair with a Relu between:\n${notes}`);
  });
});

// ---- real models ----

const zeros = (dims: number[]): HostTensor => ({
  type: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, c) => a * c, 1)),
});
const sr: HostTensor = { type: 'int64', dims: [], data: BigInt64Array.from([16000n]) };
const audio = (): HostTensor => ({ type: 'float32', dims: [1, 512], data: randn(512, -0.3, 0.3) });

const REAL: [string, () => string, () => Feeds, number][] = [
  ['ocr-det', () => modelPath('ocr-det'), () => ({ x: feed([1, 3, 320, 320]) }), 1],
  ['ocr-rec', () => modelPath('ocr-rec'), () => ({ x: feed([1, 3, 48, 320]) }), 0],
  ['ocr-cls', () => modelPath('ocr-cls'), () => ({ x: feed([1, 3, 48, 192]) }), 1],
  [
    'silero-legacy',
    () => modelPath('silero-legacy'),
    () => ({ input: audio(), sr, h: zeros([2, 1, 64]), c: zeros([2, 1, 64]) }),
    0,
  ],
  ['silero-v5', () => modelPath('silero-v5'), () => ({ input: audio(), state: zeros([2, 1, 128]), sr }), 0],
  ['mnist-cnn', () => join(REPO_ROOT, 'models/reference/mnist-cnn.onnx'), () => ({ input: feed([2, 1, 28, 28]) }), 0],
  [
    'fashion-resnet',
    () => join(REPO_ROOT, 'models/reference/fashion-resnet.onnx'),
    () => ({ input: feed([2, 1, 28, 28]) }),
    0,
  ],
  [
    'spam-transformer',
    () => join(REPO_ROOT, 'models/reference/spam-transformer.onnx'),
    () => ({
      input_ids: { type: 'int64', dims: [2, 256], data: BigInt64Array.from({ length: 512 }, (_, i) => BigInt(i % 97)) },
    }),
    0,
  ],
];

describe('fold-linear-layers on the real models', () => {
  it(
    'after the default recipe: valid, within 1e-4, parameters never grow; counts the folds',
    { timeout: 120_000 },
    async () => {
      await ensureModels();
      // Without this pass, should the recipe come to include it.
      const recipe = DEFAULT_RECIPE.filter((s) => s.pass !== FOLD_LINEAR_LAYERS);
      let total = 0;
      for (const [name, path, feeds, expected] of REAL) {
        const model = loadModel(path());
        await runPasses(model, recipe, { registry: PASSES });
        const params = (m: Model) => summarizeModel(m).parameters.total;
        const p0 = params(model);
        const { report, rel } = await foldAndCompare(model, feeds());
        const folds = Object.values(report.counts).reduce((a, c) => a + c, 0);
        total += folds;
        console.log(
          `  ${name}: ${folds} folds ${JSON.stringify(report.counts)}, parameters ${p0} → ${params(model)}, ` +
            `max |a−b|/(|a|+0.1) ${rel.toExponential(2)}, ${report.notes?.length ?? 0} notes`,
        );
        assert.equal(folds, expected, `${name}: ${JSON.stringify(report)}`);
        assert.ok(params(model) <= p0, `${name}: parameters grew`);
      }
      assert.equal(total, 2);
    },
  );
});
