import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readdirSync, existsSync } from 'node:fs';
import { AttrType } from '../ir/attr.js';
import { FunctionDef } from '../ir/model.js';
import { Node } from '../ir/node.js';
import { Value } from '../ir/value.js';
import { loadModel } from '../serde/io.js';
import { allGraphs } from '../ir/traversal.js';
import { tensorType } from '../ir/types.js';
import { inferShapes } from './infer.js';
import { F, GraphBuilder, I64, floatTensor, int64Tensor, ints, run, ty, withInput } from './testing/graphs.js';

describe('inferShapes', () => {
  it('leaves outputs of ops without a rule unknown and counts them', () => {
    const { b, x } = withInput(['N', 4]);
    const custom = b.op('Frobnicate', [x], {}, { domain: 'example.custom' });
    const after = b.op('Relu', [custom]);
    const made = b.op('NotAnOnnxOp', [x]);
    const relu = b.op('Relu', [x]);
    const { report } = run(b, 17, {}, { 'example.custom': 1 });
    assert.equal(ty(custom), '?');
    assert.equal(ty(after), '?', 'nothing is guessed downstream');
    assert.equal(ty(made), '?');
    assert.equal(ty(relu), 'float[N,4]');
    assert.deepEqual(report.noRule, { 'example.custom::Frobnicate': 1, NotAnOnnxOp: 1 });
    assert.equal(report.inferred, 1);
    assert.equal(report.unknown, 3);
    assert.equal(report.nodes, 4);
  });

  it('never overwrites known types, refines symbolic and unknown dims, reports conflicts', () => {
    const { b, x } = withInput([2, 4]);
    const a = b.op('Relu', [x]);
    a.type = tensorType(F, ['N', null]);
    const c = b.op('Sigmoid', [x]);
    c.type = tensorType(F, [3, 4]);
    const d = b.op('Tanh', [x]);
    d.type = { kind: 'tensor', elemType: F };
    const { report } = run(b);
    assert.equal(ty(a), 'float[2,4]', 'symbol and unknown refined by numbers');
    assert.equal(ty(c), 'float[3,4]', 'a known dim is kept even when inference disagrees');
    assert.equal(ty(d), 'float[2,4]', 'a missing shape is filled in');
    assert.equal(report.refined, 2);
    assert.equal(report.conflicts.length, 1);
    assert.equal(report.conflicts[0].value, c.name);
  });

  it('replaces existing types with overwrite', () => {
    const { b, x } = withInput([2, 4]);
    const c = b.op('Sigmoid', [x]);
    c.type = tensorType(I64, [3, 4]);
    const { report } = run(b, 17, { overwrite: true });
    assert.equal(ty(c), 'float[2,4]');
    assert.equal(report.refined, 1);
  });

  it('inputShapes fixes graph inputs; an unknown input name is a usage error', () => {
    const { b, x } = withInput(['N', 3, 'H', 'W']);
    const y = b.op('Conv', [x, b.initializer('w', floatTensor([8, 3, 3, 3]))], { strides: [2, 2] });
    const m = b.model({ opset: 17 });
    const r = inferShapes(m, { inputShapes: { x: [1, 3, 64, 48] } });
    assert.equal(ty(x), 'float[1,3,64,48]');
    assert.equal(ty(y), 'float[1,8,31,23]');
    assert.equal(r.static, 1);
    assert.throws(() => inferShapes(m, { inputShapes: { nope: [1] } }), /no input 'nope'/);
  });

  it('lists inferred intermediates in value_info (unless asked not to), never graph outputs', () => {
    const { b, x } = withInput([2]);
    const mid = b.op('Relu', [x]);
    const out = b.output(b.op('Neg', [mid]), 'y');
    const { model } = run(b);
    assert.deepEqual(model.graph.valueInfo, [mid]);
    assert.equal(ty(out), 'float[2]');
    const c = withInput([2]);
    c.b.output(c.b.op('Neg', [c.b.op('Relu', [c.x])]), 'y');
    const r = run(c.b, 17, { valueInfo: false });
    assert.equal(r.model.graph.valueInfo.length, 0);
  });

  it('reads constants from initializers and Constant nodes, but not from overridable inputs (IR ≥ 4)', () => {
    for (const [ir, expected] of [
      [8, 'float[?,?]'],
      [3, 'float[6,4]'],
    ] as const) {
      const b = new GraphBuilder('g');
      const x = b.input('x', F, [2, 3, 4]);
      const s = b.input('shape', I64, [2]);
      b.graph.initializers.set('shape', s);
      s.const = int64Tensor([2], [6, -1]);
      const y = b.op('Reshape', [x, s]);
      const m = b.model({ opset: 13, irVersion: ir });
      inferShapes(m);
      assert.equal(ty(y), expected, `IR ${ir}`);
    }
  });

  it('infers calls of model-local functions with the call’s input types', () => {
    const { b, x } = withInput(['N', 8]);
    const f = new FunctionDef('Swish', 'local');
    const fx = f.graph.addInput(new Value('fx'));
    const fb = new GraphBuilder(f.graph);
    const out = fb.op('Mul', [fx, fb.op('Sigmoid', [fx])]);
    f.graph.outputs.push(out);
    f.opsetImports.set('', 17);
    const y = b.op('Swish', [x], {}, { domain: 'local' });
    const m = b.model({ opset: 17, opsets: { local: 1 } });
    m.functions.push(f);
    const r = inferShapes(m);
    assert.equal(ty(y), 'float[N,8]');
    assert.equal(fx.type, undefined, 'the function body itself is left as it was');
    assert.deepEqual(r.noRule, {});
  });

  it('never throws on odd models (1500 random mutations of conformance models)', () => {
    const root = '/usr/share/libonnx-testdata/data/node';
    if (!existsSync(root)) return;
    const dirs = readdirSync(root).filter((d) => existsSync(`${root}/${d}/model.onnx`));
    let seed = 42;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let mutated = 0;
    for (let k = 0; k < 1500; k++) {
      const m = loadModel(`${root}/${dirs[rand(dirs.length)]}/model.onnx`);
      const nodes = [...allGraphs(m)].flatMap((g) => g.nodes());
      const n = nodes[rand(nodes.length)];
      if (!n) continue;
      switch (rand(6)) {
        case 0: {
          const names = [...n.attributes.keys()];
          if (names.length) n.attributes.delete(names[rand(names.length)]);
          break;
        }
        case 1:
          if (n.inputs.length) n.setInput(rand(n.inputs.length), null);
          break;
        case 2:
          for (const v of m.graph.inputs)
            v.type = tensorType(
              rand(2) ? I64 : 9,
              Array.from({ length: rand(5) }, () => (rand(3) ? rand(4) : 'S')),
            );
          break;
        case 3:
          n.setAttr({
            name: ['axis', 'axes', 'perm', 'pads', 'kernel_shape', 'strides', 'to', 'keepdims'][rand(8)],
            type: AttrType.INTS,
            value: [BigInt(rand(9) - 4), BigInt(rand(9) - 4)],
          });
          break;
        case 4:
          n.appendInput(n.inputs[0] ?? null);
          break;
        case 5:
          for (const a of n.attributes.values()) if (a.type === AttrType.GRAPH) a.value.outputs.length = 0;
          n.opType = ['If', 'Loop', 'Scan', 'Reshape', 'Concat'][rand(5)];
          break;
      }
      mutated++;
      assert.doesNotThrow(() => inferShapes(m), `mutation ${k}`);
    }
    assert.ok(mutated > 1000);
  });

  it('never throws on structurally odd graphs', () => {
    const { b, x } = withInput(undefined);
    b.op('If', [x]);
    b.op('Loop', [null, null, x], { body: new GraphBuilder('empty').graph });
    b.op('Scan', [x], { body: new GraphBuilder('e2').graph, num_scan_inputs: 3 });
    b.graph.append(new Node('Reshape', [x, ints(b, [1, 2])], { outputs: ['', 'extra'] }));
    assert.doesNotThrow(() => run(b, 17));
  });
});
