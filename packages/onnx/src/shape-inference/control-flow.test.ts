import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType } from '../ir/dtype.js';
import { Value } from '../ir/value.js';
import { F, GraphBuilder, I64, floatTensor, ints, run, ty, withInput } from './testing/graphs.js';

describe('control flow', () => {
  it('If: both branches inferred from captured values; outputs join where the branches agree', () => {
    const { b, x } = withInput(['N', 3, 8]);
    const cond = b.input('c', DataType.BOOL, []);
    const tb = new GraphBuilder('then');
    const t1 = tb.op('Relu', [x]);
    const t2 = tb.op('Reshape', [x, ints(tb, [0, 24])]);
    tb.graph.outputs.push(t1, t2);
    const eb = new GraphBuilder('else');
    const e1 = eb.op('Neg', [x]);
    const e2 = eb.op('Reshape', [x, ints(eb, [0, 12, 2])]);
    eb.graph.outputs.push(e1, e2);
    const n = b.node('If', [cond], { then_branch: tb.graph, else_branch: eb.graph }, { outputs: 2 });
    run(b);
    assert.equal(ty(t1), 'float[N,3,8]', 'types are set inside the branches');
    assert.equal(ty(e2), 'float[N,12,2]');
    assert.equal(ty(n.outputs[0]), 'float[N,3,8]');
    assert.equal(ty(n.outputs[1]), 'float', 'ranks differ: element type only');
  });

  it('If: a known condition picks its branch; different element types give nothing', () => {
    const { b, x } = withInput([4, 2]);
    const eq = b.op('Equal', [b.op('Size', [x]), ints(b, [8], [])]);
    const tb = new GraphBuilder('then');
    tb.graph.outputs.push(tb.op('Reshape', [x, ints(tb, [8])]), tb.op('Cast', [x], { to: DataType.INT32 }));
    const eb = new GraphBuilder('else');
    eb.graph.outputs.push(eb.op('Reshape', [x, ints(eb, [2, 4])]), eb.op('Identity', [x]));
    const n = b.node('If', [eq], { then_branch: tb.graph, else_branch: eb.graph }, { outputs: 2 });
    const c = b.input('c', DataType.BOOL, []);
    const m = b.node('If', [c], { then_branch: tb.graph, else_branch: eb.graph }, { outputs: 2 });
    run(b);
    assert.equal(ty(n.outputs[0]), 'float[8]');
    assert.equal(ty(n.outputs[1]), 'int32[4,2]');
    assert.equal(ty(m.outputs[0]), 'float');
    assert.equal(ty(m.outputs[1]), '?');
  });

  it('Loop: carried values keep their shape when the body keeps it, lose the dims it changes', () => {
    const { b, x } = withInput([2, 3]);
    const body = new GraphBuilder('body');
    const iter = body.graph.addInput(new Value('i'));
    const condIn = body.graph.addInput(new Value('cond'));
    const acc = body.graph.addInput(new Value('acc'));
    const grow = body.graph.addInput(new Value('grow'));
    const acc2 = body.op('Add', [acc, x]);
    const grow2 = body.op('Concat', [grow, x], { axis: 0 });
    const scanOut = body.op('Unsqueeze', [body.op('Cast', [iter], { to: DataType.FLOAT }), ints(body, [0])]);
    body.graph.outputs.push(body.op('Identity', [condIn]), acc2, grow2, scanOut);
    const loop = b.node('Loop', [ints(b, [5], []), null, x, x], { body: body.graph }, { outputs: 3 });
    const dyn = b.node('Loop', [b.input('m', I64, []), null, x, x], { body: body.graph }, { outputs: 3 });
    run(b);
    assert.equal(ty(iter), 'int64[]');
    assert.equal(ty(acc), 'float[2,3]');
    assert.equal(ty(grow), 'float[?,3]', 'the body input is typed with the fixpoint');
    assert.deepEqual(loop.outputs.map(ty), ['float[2,3]', 'float[?,3]', 'float[5,1]']);
    assert.deepEqual(dyn.outputs.map(ty), ['float[2,3]', 'float[?,3]', 'float[?,1]']);
  });

  it('Scan (opset 9+): state and scan outputs with the scanned axis', () => {
    const { b } = withInput([1]);
    const init = b.input('init', F, [4]);
    const seq = b.input('seq', F, [4, 'T']);
    const body = new GraphBuilder('body');
    const s = body.graph.addInput(new Value('s'));
    const e = body.graph.addInput(new Value('e'));
    const next = body.op('Add', [s, e]);
    body.graph.outputs.push(next, body.op('Identity', [next]));
    const scan = b.node(
      'Scan',
      [init, seq],
      { body: body.graph, num_scan_inputs: 1, scan_input_axes: [1], scan_output_axes: [-1] },
      { outputs: 2 },
    );
    run(b, 16);
    assert.equal(ty(e), 'float[4]');
    assert.deepEqual(scan.outputs.map(ty), ['float[4]', 'float[4,T]']);
    void floatTensor;
  });
});
