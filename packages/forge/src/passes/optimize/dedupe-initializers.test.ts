import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, floatTensor, int64Tensor, type Model } from '@edgeforge/onnx';
import { ort } from '../../../../onnx/src/testing/ort.js';
import { PassOptionError } from '../pass.js';
import { dedupeInitializers } from './dedupe-initializers.js';
import { applyExact } from '../testing/exact-harness.js';

const optimize = (model: Model, feeds: Record<string, ort.Tensor>) => applyExact(dedupeInitializers, model, feeds);

const F = DataType.FLOAT;
const x2 = () => ({ x: new ort.Tensor('float32', [1.5, -2], [2]) });

describe('dedupe-initializers', () => {
  it('merges identical initializers and rewires their readers', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const a2 = b.initializer('a2', floatTensor([2], [1, 2]));
    const a3 = b.initializer('a3', floatTensor([2], [1, 2]));
    b.output(b.op('Sub', [b.op('Mul', [b.op('Add', [x, a]), a2]), a3]), 'y', F, [2]);
    const { after, report } = await optimize(b.model(), x2());
    assert.deepEqual([...after.graph.initializers.keys()], ['a']);
    assert.deepEqual(report.counts, { 'initializers merged': 2, 'bytes saved': 16 });
    const kept = after.graph.initializers.get('a');
    for (const n of after.graph) assert.equal(n.inputs[1], kept);
  });

  it('keeps tensors that differ in dtype, dims or bytes', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const c = b.initializer('c', floatTensor([2], [1, 3]));
    const d = b.initializer('d', floatTensor([1, 2], [1, 2]));
    const s = b.initializer('s', int64Tensor([1], [2]));
    const s2 = b.initializer('s2', int64Tensor([1], [2]));
    const y = b.op('Add', [b.op('Mul', [b.op('Add', [x, a]), c]), d]);
    b.output(b.op('Reshape', [b.op('Reshape', [y, s]), s2]), 'y', F, [2]);
    const { after, report } = await optimize(b.model(), x2());
    assert.deepEqual([...after.graph.initializers.keys()], ['a', 'c', 'd', 's']);
    assert.equal(report.counts['initializers merged'], 1);
  });

  it('never merges an initializer that is a graph input or a graph output', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const over = b.initializer('over', floatTensor([2], [1, 2]));
    b.graph.addInput(over);
    const out = b.initializer('out', floatTensor([2], [1, 2]));
    b.output(b.op('Mul', [b.op('Add', [x, a]), over]), 'y', F, [2]);
    b.output(out);
    const { after, report } = await optimize(b.model(), x2());
    assert.equal(report.changed, false);
    assert.deepEqual([...after.graph.initializers.keys()], ['a', 'over', 'out']);
  });

  it('merges within a subgraph and rewires captures, but not across graphs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const a = b.initializer('a', floatTensor([2], [1, 2]));
    const a2 = b.initializer('a2', floatTensor([2], [1, 2]));
    const t = new GraphBuilder('then');
    const ta = t.initializer('ta', floatTensor([2], [1, 2]));
    t.output(t.op('Add', [t.op('Add', [x, a2]), ta]), 't_out', F, [2]);
    const e = new GraphBuilder('else');
    e.output(e.op('Mul', [x, a]), 'e_out', F, [2]);
    b.output(b.op('If', [c], { then_branch: t.graph, else_branch: e.graph }), 'y', F, [2]);
    const m = b.model();
    for (const cv of [true, false]) {
      const { after, report } = await optimize(m, { ...x2(), c: new ort.Tensor('bool', [cv], []) });
      assert.equal(report.counts['initializers merged'], 1);
      const then = after.graph.nodes()[0].subgraphs()[0];
      assert.equal(then.nodes()[0].inputs[1], after.graph.initializers.get('a'));
      assert.deepEqual([...then.initializers.keys()], ['ta']);
    }
  });

  it('validates options', () => {
    assert.deepEqual(dedupeInitializers.parseOptions({ external: true }), { external: true });
    assert.throws(() => dedupeInitializers.parseOptions({ external: 1 }), PassOptionError);
    assert.throws(() => dedupeInitializers.parseOptions({ nope: 1 }), PassOptionError);
  });
});
