import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, floatTensor, shapeOf, type Model } from '@edgeforge/onnx';
import { ort } from '../../../../onnx/src/testing/ort.js';
import { eliminateDeadCode } from './eliminate-dead-code.js';
import { applyExact } from '../testing/exact-harness.js';

const optimize = (model: Model, feeds: Record<string, ort.Tensor>) => applyExact(eliminateDeadCode, model, feeds);

const F = DataType.FLOAT;
const ops = (m: Model) => m.graph.nodes().map((n) => n.opType);
const feed = (m: Model) =>
  Object.fromEntries(
    m.graph.inputs
      .filter((v) => !v.isInitializer() && v.type?.kind === 'tensor' && elem(v.type.elemType))
      .map((v) => {
        const dims = (shapeOf(v.type) ?? []) as number[];
        const n = dims.reduce((a, b) => a * b, 1);
        return [
          v.name,
          new ort.Tensor(
            'float32',
            Float32Array.from({ length: n }, (_, i) => i - 1.5),
            dims,
          ),
        ];
      }),
  );
const elem = (t: number) => t === F;

describe('eliminate-dead-code', () => {
  it('removes an unused chain and the initializers only it read', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const w = b.initializer('w', floatTensor([2], [1, 2]));
    const dead = b.op('Mul', [b.op('Exp', [x]), w]);
    b.op('Neg', [dead]);
    b.initializer('unused', floatTensor([3]));
    b.output(b.op('Relu', [x]), 'y', F, [2]);
    const { after, report } = await optimize(b.model(), { x: new ort.Tensor('float32', [1, -1], [2]) });
    assert.deepEqual(ops(after), ['Relu']);
    assert.deepEqual(report.counts, { 'nodes removed': 3, 'initializers removed': 2 });
    assert.equal(after.graph.initializers.size, 0);
  });

  it('keeps graph outputs, graph inputs and initializers that are graph inputs', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    b.input('unused_input', F, [2]);
    const w = b.initializer('w', floatTensor([2], [1, 2]));
    b.graph.addInput(w);
    b.output(b.op('Relu', [x]), 'y', F, [2]);
    const m = b.model();
    const { after, report } = await optimize(m, {
      x: new ort.Tensor('float32', [1, -1], [2]),
      unused_input: new ort.Tensor('float32', [0, 0], [2]),
    });
    assert.equal(report.changed, false);
    assert.deepEqual(
      after.graph.inputs.map((v) => v.name),
      ['x', 'unused_input', 'w'],
    );
    assert.deepEqual(ops(after), ['Relu']);
  });

  it('keeps values captured by a subgraph and removes dead nodes inside it', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const captured = b.op('Relu', [x]);
    const readInElse = b.op('Neg', [x]); // read only inside the else branch
    const t = new GraphBuilder('then');
    t.op('Exp', [captured]); // dead inside the branch
    t.initializer('t_unused', floatTensor([1]));
    t.output(t.op('Abs', [captured]), 't_out', F, [2]);
    const e = new GraphBuilder('else');
    e.output(e.op('Identity', [readInElse]), 'e_out', F, [2]);
    b.output(b.op('If', [c], { then_branch: t.graph, else_branch: e.graph }), 'y', F, [2]);
    const m = b.model();
    for (const cv of [true, false]) {
      const { after, report } = await optimize(m, {
        x: new ort.Tensor('float32', [1, -1], [2]),
        c: new ort.Tensor('bool', [cv], []),
      });
      assert.deepEqual(report.counts, { 'nodes removed': 1, 'initializers removed': 1 });
      assert.deepEqual(ops(after), ['Relu', 'Neg', 'If']);
      const then = after.graph.nodes()[2].subgraphs()[0];
      assert.deepEqual(
        then.nodes().map((n) => n.opType),
        ['Abs'],
      );
      assert.equal(then.nodes()[0].inputs[0], after.graph.nodes()[0].outputs[0]);
    }
  });

  it('removes a dead If and, with it, what only its branches read', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    const c = b.input('c', DataType.BOOL, []);
    const onlyInBranch = b.op('Sigmoid', [x]);
    const t = new GraphBuilder('then');
    t.op('Exp', [onlyInBranch]); // dead inside a dead branch: not counted twice
    t.output(t.op('Abs', [onlyInBranch]), 't_out', F, [2]);
    const e = new GraphBuilder('else');
    e.output(e.op('Neg', [onlyInBranch]), 'e_out', F, [2]);
    b.op('If', [c], { then_branch: t.graph, else_branch: e.graph });
    b.output(b.op('Relu', [x]), 'y', F, [2]);
    const m = b.model();
    const { after, report } = await optimize(m, {
      x: new ort.Tensor('float32', [1, -1], [2]),
      c: new ort.Tensor('bool', [true], []),
    });
    assert.equal(report.counts['nodes removed'], 2);
    assert.deepEqual(ops(after), ['Relu']);
    assert.equal(x.uses().length, 2, 'the original model is untouched');
  });

  it('removes nodes of custom domains too, and keeps a live custom node', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    b.op('Gelu', [x], {}, { domain: 'com.microsoft' });
    b.output(b.op('Relu', [x]), 'y', F, [2]);
    const m = b.model({ opsets: { 'com.microsoft': 1 } });
    const { after } = await optimize(m, feed(m));
    assert.deepEqual(ops(after), ['Relu']);
  });

  it('does nothing when everything is live', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', F, [2]);
    b.output(b.op('Add', [x, b.initializer('w', floatTensor([2], [1, 2]))]), 'y', F, [2]);
    const m = b.model();
    const { report } = await optimize(m, feed(m));
    assert.equal(report.changed, false);
  });
});
