import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  checkModel,
  floatTensor,
  int64Tensor,
  loadModelFromBytes,
  serializeModel,
  shapeOf,
  type Model,
} from '@edgeforge/onnx';
import { ort } from '../../../../onnx/src/testing/ort.js';
import type { PassReport } from '../pass.js';
import { eliminateNoops } from './eliminate-noops.js';
import { runOrt } from '../testing/exact-harness.js';

// ---- shared check: checker clean, onnxruntime outputs equal before and after ----
function randomFeeds(model: Model): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (const v of model.graph.inputs) {
    if (v.isInitializer()) continue;
    const dims = (shapeOf(v.type) ?? []).map((d) => (typeof d === 'number' ? d : 2));
    const n = dims.reduce((a, b) => a * b, 1);
    feeds[v.name] = new ort.Tensor('float32', Float32Array.from({ length: n }, rnd), dims);
  }
  return feeds;
}

/** Applies the pass to a copy, checks it and compares onnxruntime outputs (rtol 1e-6). */
async function optimize(model: Model): Promise<{ after: Model; report: PassReport }> {
  const after = loadModelFromBytes(serializeModel(model));
  const report = await eliminateNoops.run(after, {}, {});
  assert.deepEqual(
    checkModel(after).filter((i) => i.severity === 'error'),
    [],
  );
  const feeds = randomFeeds(model);
  const [a, b] = [await runOrt(model, feeds), await runOrt(after, feeds)];
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  for (const k of Object.keys(a)) {
    assert.deepEqual(b[k].dims, a[k].dims, k);
    const x = a[k].data as Float32Array;
    const y = b[k].data as Float32Array;
    for (let i = 0; i < x.length; i++) assert.ok(Math.abs(x[i] - y[i]) <= 1e-6 * Math.abs(x[i]), `${k}[${i}]`);
  }
  const again = await eliminateNoops.run(after, {}, {});
  assert.equal(again.changed, false, 'second run changes nothing');
  return { after, report };
}

const ops = (m: Model) => m.graph.nodes().map((n) => n.opType);
const F = DataType.FLOAT;

describe('eliminate-noops', () => {
  it('removes Identity and rewires readers to its input', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const r = b.op('Relu', [x]);
    b.output(b.op('Sigmoid', [b.op('Identity', [r])]), 'y', F, [2, 3]);
    const m = b.model();
    const { after, report } = await optimize(m);
    assert.deepEqual(ops(after), ['Relu', 'Sigmoid']);
    assert.equal(report.counts['Identity removed'], 1);
    const [relu, sig] = after.graph.nodes();
    assert.equal(sig.inputs[0], relu.outputs[0]);
  });

  it('keeps an Identity that copies a graph input to a graph output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    b.output(b.op('Identity', [x]), 'y', F, [2]);
    const { after, report } = await optimize(b.model());
    assert.deepEqual(ops(after), ['Identity']);
    assert.equal(report.changed, false);
    assert.match(report.notes?.[0] ?? '', /graph output/);
  });

  it('removes an Identity feeding a graph output; the output keeps its name', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    b.output(b.op('Identity', [b.op('Relu', [x])]), 'y', F, [2]);
    const { after } = await optimize(b.model());
    assert.deepEqual(ops(after), ['Relu']);
    assert.equal(after.graph.outputs[0].name, 'y');
    assert.equal(after.graph.outputs[0].producer?.opType, 'Relu');
  });

  it('removes inference Dropout, keeps one whose mask is used or training_mode is not constant', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [4]);
    const d1 = b.node('Dropout', [b.op('Relu', [x])], {}, { outputs: 2 });
    const d2 = b.node('Dropout', [d1.outputs[0]], {}, { outputs: 2 });
    b.output(d2.outputs[0], 'y', F, [4]);
    b.output(b.op('Cast', [d2.outputs[1]], { to: F }), 'mask', F, [4]);
    const { after, report } = await optimize(b.model({ opset: 13 }));
    assert.equal(report.counts['Dropout removed'], 1);
    assert.deepEqual(ops(after), ['Relu', 'Dropout', 'Cast']);
    const t = new GraphBuilder();
    const tx = t.input('x', F, [4]);
    const mode = t.input('train', DataType.BOOL, []);
    t.output(t.op('Dropout', [tx, null, mode]), 'y', F, [4]);
    const m2 = t.model({ opset: 13 });
    assert.equal((await eliminateNoops.run(m2, {}, {})).changed, false);
  });

  it('removes Cast to the same type, keeps a converting Cast', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [3]);
    const c = b.op('Cast', [b.op('Cast', [x], { to: F })], { to: DataType.DOUBLE });
    b.output(b.op('Cast', [c], { to: F }), 'y', F, [3]);
    const { after, report } = await optimize(b.model());
    assert.equal(report.counts['Cast to same type removed'], 1);
    assert.deepEqual(ops(after), ['Cast', 'Cast']);
    assert.equal(after.graph.nodes()[0].inputs[0], after.graph.inputs[0]);
  });

  it('removes Reshape to the same shape (static and 0/-1 forms), keeps a real Reshape', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const relu = b.op('Relu', [x]);
    relu.type = { kind: 'tensor', elemType: F, shape: [2, 3] };
    b.graph.valueInfo.push(relu);
    const a = b.op('Reshape', [relu, b.initializer('s1', int64Tensor([2], [2, 3]))]);
    a.type = { kind: 'tensor', elemType: F, shape: [2, 3] };
    b.graph.valueInfo.push(a);
    const c = b.op('Reshape', [a, b.initializer('s2', int64Tensor([2], [0, -1]))]);
    c.type = { kind: 'tensor', elemType: F, shape: [2, 3] };
    b.output(b.op('Reshape', [c, b.initializer('s3', int64Tensor([2], [3, 2]))]), 'y', F, [3, 2]);
    const { after, report } = await optimize(b.model());
    assert.equal(report.counts['Reshape to same shape removed'], 2);
    assert.deepEqual(ops(after), ['Relu', 'Reshape']);
  });

  it('removes identity Transpose, keeps a permuting one', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const t = b.op('Transpose', [b.op('Relu', [x])], { perm: [0, 1] });
    b.output(b.op('Transpose', [b.op('Sigmoid', [t])], { perm: [1, 0] }), 'y', F, [3, 2]);
    const { after, report } = await optimize(b.model());
    assert.equal(report.counts['identity Transpose removed'], 1);
    assert.deepEqual(ops(after), ['Relu', 'Sigmoid', 'Transpose']);
  });

  it('merges consecutive Transposes; drops the pair when the composition is the identity', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 4]);
    const t1 = b.op('Transpose', [b.op('Relu', [x])], { perm: [0, 2, 1] });
    const t2 = b.op('Transpose', [t1], { perm: [1, 0, 2] });
    const r = b.op('Relu', [t2]);
    const u1 = b.op('Transpose', [r], { perm: [2, 0, 1] });
    b.output(b.op('Transpose', [u1], { perm: [1, 2, 0] }), 'y', F, [4, 2, 3]);
    const { after, report } = await optimize(b.model());
    assert.deepEqual(ops(after), ['Relu', 'Transpose', 'Relu']);
    assert.deepEqual(after.graph.nodes()[1].getInts('perm'), [2, 0, 1]);
    assert.equal(report.counts['Transposes merged'], 1);
    assert.equal(report.counts['Transpose pair removed'], 1);
    assert.equal(after.graph.outputs[0].name, 'y');
  });

  it('keeps the inner Transpose when something else reads it', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const t1 = b.op('Transpose', [x], { perm: [1, 0] });
    b.output(b.op('Transpose', [t1], { perm: [1, 0] }), 'y', F, [2, 3]);
    b.output(b.op('Relu', [t1]), 'z', F, [3, 2]);
    const { after } = await optimize(b.model());
    // The pair cannot go (y would be the graph input x); nothing changes.
    assert.deepEqual(ops(after), ['Transpose', 'Transpose', 'Relu']);
  });

  it('removes a zero Pad (input form and attribute form), keeps a real Pad', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const p = b.op('Pad', [b.op('Relu', [x]), b.initializer('z', int64Tensor([4], [0, 0, 0, 0]))]);
    b.output(b.op('Pad', [p, b.initializer('one', int64Tensor([4], [0, 1, 0, 1]))]), 'y', F, [2, 5]);
    const { after, report } = await optimize(b.model({ opset: 13 }));
    assert.equal(report.counts['zero Pad removed'], 1);
    assert.deepEqual(ops(after), ['Relu', 'Pad']);
    const o = new GraphBuilder();
    const ox = o.input('x', F, [2, 3]);
    o.output(o.op('Pad', [o.op('Relu', [ox])], { pads: [0, 0, 0, 0] }), 'y', F, [2, 3]);
    const r2 = await optimize(o.model({ opset: 9 }));
    assert.deepEqual(ops(r2.after), ['Relu']);
  });

  it('removes a Slice of everything, keeps a Slice that cuts', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3]);
    const s = b.op('Slice', [
      x,
      b.initializer('st', int64Tensor([2], [0, -5])),
      b.initializer('en', int64Tensor([2], [9223372036854775807n, 3])),
      b.initializer('ax', int64Tensor([2], [0, -1])),
      b.initializer('sp', int64Tensor([2], [1, 1])),
    ]);
    b.output(
      b.op('Slice', [s, b.initializer('st2', int64Tensor([1], [1])), b.initializer('en2', int64Tensor([1], [3]))]),
      'y',
      F,
      [1, 3],
    );
    const { after, report } = await optimize(b.model());
    assert.equal(report.counts['full Slice removed'], 1);
    assert.deepEqual(ops(after), ['Slice']);
    assert.equal(after.graph.nodes()[0].inputs[0], after.graph.inputs[0]);
  });

  it('merges Reshape chains unless the outer target has a 0', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2, 3, 4]);
    const r1 = b.op('Reshape', [b.op('Relu', [x]), b.initializer('a', int64Tensor([2], [6, 4]))]);
    const r2 = b.op('Reshape', [r1, b.initializer('b', int64Tensor([2], [4, -1]))]);
    const r3 = b.op('Reshape', [b.op('Relu', [r2]), b.initializer('c', int64Tensor([2], [3, 8]))]);
    b.output(b.op('Reshape', [r3, b.initializer('d', int64Tensor([3], [0, 2, 4]))]), 'y', F, [3, 2, 4]);
    const { after, report } = await optimize(b.model());
    assert.equal(report.counts['Reshapes merged'], 1);
    assert.deepEqual(ops(after), ['Relu', 'Reshape', 'Relu', 'Reshape', 'Reshape']);
  });

  it('descends into subgraphs and keeps If-branch outputs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const cond = b.input('c', DataType.BOOL, []);
    const relu = b.op('Relu', [x]);
    const mk = (op: string) => {
      const g = new GraphBuilder(op);
      g.output(g.op('Identity', [g.op(op, [g.op('Identity', [relu])])]), `${op}_out`, F, [2]);
      return g.graph;
    };
    b.output(b.op('If', [cond], { then_branch: mk('Neg'), else_branch: mk('Abs') }), 'y', F, [2]);
    const m = b.model();
    const after = loadModelFromBytes(serializeModel(m));
    const report = await eliminateNoops.run(after, {}, {});
    assert.equal(report.counts['Identity removed'], 4);
    assert.deepEqual(
      checkModel(after).filter((i) => i.severity === 'error'),
      [],
    );
    const branch = after.graph.nodes()[1].subgraphs()[0];
    assert.deepEqual(
      branch.nodes().map((n) => n.opType),
      ['Neg'],
    );
    assert.equal(branch.nodes()[0].inputs[0], after.graph.nodes()[0].outputs[0]);
    for (const c of [true, false]) {
      const feeds = {
        x: new ort.Tensor('float32', Float32Array.from([-1, 2]), [2]),
        c: new ort.Tensor('bool', [c], []),
      };
      const [r1, r2] = [await runOrt(m, feeds), await runOrt(after, feeds)];
      assert.deepEqual([...(r2.y.data as Float32Array)], [...(r1.y.data as Float32Array)]);
    }
  });

  it('does nothing on a graph without no-ops', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    b.output(b.op('Add', [x, b.initializer('w', floatTensor([2], [1, 2]))]), 'y', F, [2]);
    const { report } = await optimize(b.model());
    assert.equal(report.changed, false);
  });
});
