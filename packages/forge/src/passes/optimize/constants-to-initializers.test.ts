import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkModel,
  DataType,
  floatTensor,
  Graph,
  GraphBuilder,
  int64Tensor,
  loadModelFromBytes,
  serializeModel,
  type Model,
} from '@edgeforge/onnx';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import { constantsToInitializers } from './constants-to-initializers.js';
import { initializersToConstants } from './initializers-to-constants.js';

async function run(model: Model, feeds: Feeds): Promise<Record<string, HostTensor>> {
  const s = await getBackend('node').createSession(serializeModel(model), { threads: 1 });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function assertBitwise(a: Record<string, HostTensor>, b: Record<string, HostTensor>): void {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(a)) {
    assert.equal(a[k].type, b[k].type, k);
    assert.deepEqual(a[k].dims, b[k].dims, k);
    const [x, y] = [a[k].data, b[k].data] as ArrayBufferView[];
    assert.ok(
      Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength)),
      `${k}: values differ`,
    );
  }
}

const clone = (m: Model) => loadModelFromBytes(serializeModel(m));
const errors = (m: Model) => checkModel(m).filter((i) => i.severity === 'error');
const x4: Feeds = { x: { type: 'float32', dims: [1, 4], data: new Float32Array([1, -2, 3.5, 0.25]) } };

/** x → MatMul(Constant w) → Add(Constant value_floats) → y; plus an If whose branches hold Constants. */
function model(opts: { irVersion?: number } = {}): Model {
  const b = new GraphBuilder('main');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const w = b.constant(floatTensor([4, 2], [1, 2, 3, 4, 5, 6, 7, 8]), 'w');
  const bias = b.node('Constant', [], { value_floats: { floats: [0.5, -1] } }, { outputs: ['bias'] }).outputs[0];
  const y = b.op('Add', [b.op('MatMul', [x, w]), bias]);
  b.output(y, 'y', DataType.FLOAT, [1, 2]);
  const branch = (name: string, k: number) => {
    const s = new GraphBuilder(name);
    const c = s.constant(floatTensor([1, 2], [k, k]), `${name}_c`);
    s.output(s.op('Mul', [y, c]), `${name}_out`, DataType.FLOAT, [1, 2]);
    return s.graph;
  };
  const cond = b.op('ReduceSum', [x, b.constant(int64Tensor([1], [1]), 'axes')], { keepdims: 0 });
  const positive = b.op('Greater', [b.op('ReduceSum', [cond], { keepdims: 0 }), b.constant(floatTensor([], [0]))]);
  const iff = b.node('If', [positive], { then_branch: branch('then', 2), else_branch: branch('else', 3) });
  b.output(iff.outputs[0], 'z', DataType.FLOAT, [1, 2]);
  // A Constant that is itself a graph output.
  b.output(b.constant(int64Tensor([2], [7, 8])), 'k', DataType.INT64, [2]);
  return b.model({ opset: 17, ...(opts.irVersion ? { irVersion: opts.irVersion } : {}) });
}

const constants = (g: Graph) => g.nodes().filter((n) => n.opType === 'Constant').length;

describe('constants-to-initializers', () => {
  it('turns Constants (main graph, subgraphs, graph outputs) into initializers; outputs bitwise equal', async () => {
    const m = model();
    const before = await run(m, x4);
    const r = await constantsToInitializers.run(m, {}, {});
    assert.deepEqual(r.counts, { 'Constant → initializer': 5, 'Constant → subgraph initializer': 2 });
    assert.equal(constants(m.graph), 0);
    assert.ok(m.graph.initializers.has('w') && m.graph.initializers.has('bias') && m.graph.initializers.has('k'));
    const iff = m.graph.nodes().find((n) => n.opType === 'If')!;
    for (const sg of iff.subgraphs()) {
      assert.equal(constants(sg), 0);
      assert.equal(sg.initializers.size, 1);
    }
    assert.deepEqual(
      m.graph.outputs.map((v) => v.name),
      ['y', 'z', 'k'],
    );
    assert.deepEqual(errors(m), []);
    assertBitwise(before, await run(clone(m), x4));
    assert.equal((await constantsToInitializers.run(m, {}, {})).changed, false, 'second run changes nothing');
  });

  it('does not fire on IR < 4 (initializers must be inputs there), saying why', async () => {
    const b = new GraphBuilder('old');
    const x = b.input('x', DataType.FLOAT, [1, 4]);
    b.output(b.op('Add', [x, b.constant(floatTensor([1, 4], [1, 2, 3, 4]))]), 'y', DataType.FLOAT, [1, 4]);
    const m = b.model({ opset: 7, irVersion: 3 });
    const r = await constantsToInitializers.run(m, {}, {});
    assert.equal(r.changed, false);
    assert.match(r.notes?.[0] ?? '', /IR version 3 < 4/);
    assert.equal(constants(m.graph), 1);
  });

  it('keeps value_string Constants', async () => {
    const b = new GraphBuilder('s');
    const x = b.input('x', DataType.FLOAT, [1]);
    b.node('Constant', [], { value_string: 'hi' }, { outputs: ['s'] });
    b.output(b.op('Identity', [x]), 'y', DataType.FLOAT, [1]);
    const m = b.model();
    const r = await constantsToInitializers.run(m, {}, {});
    assert.equal(r.changed, false);
    assert.match(r.notes?.[0] ?? '', /value_string/);
  });

  it('refuses options', () => {
    assert.throws(() => constantsToInitializers.parseOptions({ minBytes: 1 }), /takes no options/);
  });
});

describe('initializers-to-constants', () => {
  it('is the reverse: initializers (main and subgraph) become Constants; outputs bitwise equal', async () => {
    const m = model();
    const before = await run(m, x4);
    await constantsToInitializers.run(m, {}, {});
    const r = await initializersToConstants.run(m, {}, {});
    assert.deepEqual(r.counts, { 'initializer → Constant': 5, 'subgraph initializer → Constant': 2 });
    assert.equal(m.graph.initializers.size, 0);
    assert.equal(constants(m.graph), 5);
    assert.equal(m.graph.firstNode?.opType, 'Constant');
    assert.deepEqual(errors(m), []);
    assertBitwise(before, await run(clone(m), x4));
    assert.equal((await initializersToConstants.run(m, {}, {})).changed, false, 'second run changes nothing');
  });

  it('keeps initializers that are also graph inputs (overridable defaults)', async () => {
    const b = new GraphBuilder('defaults');
    const x = b.input('x', DataType.FLOAT, [1, 4]);
    const w = b.initializer('w', floatTensor([1, 4], [1, 2, 3, 4]));
    b.graph.addInput(w);
    b.output(b.op('Add', [x, w]), 'y', DataType.FLOAT, [1, 4]);
    const m = b.model({ opset: 13 });
    const r = await initializersToConstants.run(m, {}, {});
    assert.equal(r.changed, false);
    assert.match(r.notes?.[0] ?? '', /also inputs kept/);
    assert.ok(m.graph.initializers.has('w'));
  });
});
