import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphBuilder, floatTensor } from './builder.js';
import { DataType } from './dtype.js';
import { Graph, createNode } from './graph.js';
import { Node } from './node.js';
import { constantTensor, weights } from './traversal.js';
import { Value } from './value.js';

function chain() {
  const b = new GraphBuilder('g');
  const x = b.input('x', DataType.FLOAT, ['N', 4]);
  const w = b.initializer('w', floatTensor([4, 4], [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]));
  const m = b.op('MatMul', [x, w], {}, { name: 'mm' });
  const r = b.op('Relu', [m], {}, { name: 'relu' });
  const y = b.output(b.op('Sigmoid', [r], {}, { name: 'sig' }), 'y');
  return { b, x, w, m, r, y, g: b.graph };
}

describe('Value uses and producers', () => {
  it('nodes keep uses in step on both ends', () => {
    const { x, w, m, r, g } = chain();
    const mm = m.producer!;
    assert.equal(mm.opType, 'MatMul');
    assert.deepEqual(
      x.uses().map((u) => [u.node, u.index]),
      [[mm, 0]],
    );
    assert.deepEqual(
      w.uses().map((u) => u.index),
      [1],
    );
    mm.setInput(1, x);
    assert.equal(w.uses().length, 0);
    assert.equal(x.uses().length, 2);
    assert.ok(w.isInitializer());
    assert.equal(r.graph, g);
  });

  it('replaceAllUsesWith rewires consumers and keeps the graph output name', () => {
    const { r, y, g } = chain();
    const sig = y.producer!;
    const tanh = createNode('Tanh', [r]);
    g.insertAfter(sig, tanh);
    g.replaceAllUsesWith(y, tanh.outputs[0]);
    assert.equal(g.outputs[0], tanh.outputs[0]);
    assert.equal(g.outputs[0].name, 'y', 'graph interface unchanged');
    g.remove(sig);
    assert.deepEqual(
      g.nodes().map((n) => n.opType),
      ['MatMul', 'Relu', 'Tanh'],
    );
    assert.deepEqual(
      r.uses().map((u) => u.node.opType),
      ['Tanh'],
    );
  });
});

describe('Graph editing', () => {
  it('safe remove refuses while outputs are used and changes nothing', () => {
    const { m, g } = chain();
    const mm = m.producer!;
    assert.throws(() => g.remove(mm), /still used/);
    assert.equal(g.nodeCount, 3);
    assert.equal(mm.inputs.length, 2);
    assert.equal(m.uses().length, 1);
  });

  it('iteration survives removal and insertion', () => {
    const { g } = chain();
    const seen: string[] = [];
    for (const n of g) {
      seen.push(n.opType);
      if (n.opType === 'MatMul') {
        const relu = n.outputs[0].uses()[0].node;
        g.replaceAllUsesWith(relu.outputs[0], n.outputs[0]);
        g.remove(relu);
      }
    }
    assert.deepEqual(seen, ['MatMul', 'Sigmoid']);
    assert.deepEqual(
      g.nodes().map((n) => n.opType),
      ['MatMul', 'Sigmoid'],
    );
  });

  it('names new outputs freshly and renames values', () => {
    const { g, r } = chain();
    const n = createNode('Relu', [r]);
    g.append(n);
    assert.ok(n.outputs[0].name.length > 0);
    assert.ok(!['x', 'w', 'y'].includes(n.outputs[0].name));
    assert.throws(() => g.rename(n.outputs[0], 'x'), /in use/);
    g.rename(n.outputs[0], 'fresh');
    assert.equal(n.outputs[0].name, 'fresh');
    const w = g.initializers.get('w')!;
    g.rename(w, 'weight');
    assert.equal(g.initializers.get('weight'), w);
    assert.equal(g.initializers.has('w'), false);
  });

  it('topologicalSort orders nodes stably and detects cycles', () => {
    const { g } = chain();
    const [mm, relu, sig] = g.nodes();
    g.remove(sig, { safe: false });
    g.insertBefore(mm, sig);
    sig.setInput(0, relu.outputs[0]);
    assert.deepEqual(
      g.nodes().map((n) => n.opType),
      ['Sigmoid', 'MatMul', 'Relu'],
    );
    g.topologicalSort();
    assert.deepEqual(
      g.nodes().map((n) => n.opType),
      ['MatMul', 'Relu', 'Sigmoid'],
    );
    mm.setInput(0, sig.outputs[0]);
    assert.throws(() => g.topologicalSort(), /cycle/);
  });

  it('subgraph captures count as uses of the outer value and order the outer graph', () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', DataType.FLOAT, [2]);
    const cond = b.input('c', DataType.BOOL, []);
    const outer = b.op('Relu', [x], {}, { name: 'outer' });
    const then = new GraphBuilder('then');
    then.output(then.op('Neg', [outer]), 'then_out');
    const els = new GraphBuilder('else');
    els.output(els.op('Abs', [outer]), 'else_out');
    const ifNode = b.node('If', [cond], { then_branch: then.graph, else_branch: els.graph }, { name: 'if' });
    b.output(ifNode.outputs[0], 'y');
    assert.deepEqual(
      outer
        .uses()
        .map((u) => u.node.opType)
        .sort(),
      ['Abs', 'Neg'],
    );
    assert.equal(then.graph.parentGraph, b.graph);
    // Put the If before the node it captures from; sorting must move it back.
    const g = b.graph;
    g.remove(ifNode, { safe: false });
    ifNode.setInput(0, cond);
    g.insertBefore(outer.producer!, ifNode);
    g.topologicalSort();
    assert.deepEqual(
      g.nodes().map((n) => n.opType),
      ['Relu', 'If'],
    );
  });
});

describe('constants', () => {
  it('Constant-node tensors are first-class weights', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2]);
    const c = b.constant(floatTensor([2, 2], [1, 2, 3, 4]), 'w');
    b.output(b.op('MatMul', [x, c]), 'y');
    assert.equal(constantTensor(c)?.size, 4);
    const ws = [...weights(b.graph)];
    assert.equal(ws.length, 1);
    assert.equal(ws[0].source, 'constant-node');
    assert.equal(ws[0].name, 'w');
  });

  it('Node outputs may be given as values', () => {
    const v = new Value('out');
    const n = new Node('Relu', [], { outputs: [v] });
    assert.equal(v.producer, n);
    assert.throws(() => new Node('Relu', [], { outputs: [v] }), /already produced/);
    assert.ok(new Graph('x'));
  });
});
