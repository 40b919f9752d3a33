/**
 * convert-fp16: built graphs show each rule (boundary Casts, blocked ops, Cast(to=FLOAT) rewrite,
 * clamping, IO types, Resize scales, subgraphs, refusals); real models show fidelity: cosine ≥ 0.999
 * against float32 on PaddleOCR det/rec/cls, Silero legacy/v5 (both If branches, streaming state)
 * and the reference models, on onnxruntime-node and -web (wasm), with task accuracy where there is
 * a task (OCR exact match, MNIST / Fashion-MNIST / spam top-1) and the file size halved.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DataType,
  FunctionDef,
  Graph,
  GraphBuilder,
  MemoryTensor,
  Value,
  checkModel,
  floatTensor,
  halfToFloat,
  int64Tensor,
  loadModel,
  loadModelFromBytes,
  serializeModel,
  tensorType,
  type Model,
  type Node,
} from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, mnistPath, modelPath, ocrKeysPath } from '../../../../../tools/models.ts';
import { openDataset } from '../../data/index.js';
import { evaluateModel } from '../../evaluate/evaluate.js';
import { ocrAccuracy, type OcrRunner } from '../../evaluate/ocr/check.js';
import { ocrCorpus } from '../../evaluate/ocr/corpus.js';
import { loadOcrKeys } from '../../evaluate/ocr/ctc.js';
import { renderLine } from '../../evaluate/ocr/render.js';
import { floatToHalf, getBackend, type Feeds, type HostTensor, type Session } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import { PassOptionError, type Pass, type PassReport } from '../pass.js';
import { randn } from '../testing/fuse-harness.js';
import { convertFp16, toFloat16Clamped, type ConvertFp16Options } from './convert-fp16.js';

const opts = (raw: Record<string, unknown> = {}): ConvertFp16Options => convertFp16.parseOptions(raw);

/** Converts a copy; the copy must pass the checker. */
function convert(model: Model, raw: Record<string, unknown> = {}) {
  const m = loadModelFromBytes(serializeModel(model));
  const report = convertFp16.run(m, opts(raw), {}) as PassReport;
  assert.deepEqual(
    checkModel(m).filter((i) => i.severity === 'error'),
    [],
  );
  return { m, report };
}

async function run(model: Model | Uint8Array, feeds: Feeds, backend: 'node' | 'wasm' = 'node') {
  const s = await getBackend(backend).createSession(model instanceof Uint8Array ? model : serializeModel(model), {
    threads: 1,
  });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

const numbers = (t: HostTensor): Float64Array =>
  t.type === 'float16'
    ? Float64Array.from(t.data as Uint16Array, halfToFloat)
    : Float64Array.from(t.data as ArrayLike<number>);

/** Cosine similarity of two outputs (same dims asserted). */
function cosine(a: HostTensor, b: HostTensor): number {
  assert.deepEqual(b.dims, a.dims);
  const [x, y] = [numbers(a), numbers(b)];
  let dot = 0;
  let xx = 0;
  let yy = 0;
  for (let i = 0; i < x.length; i++) {
    dot += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return xx === 0 && yy === 0 ? 1 : dot / Math.sqrt(xx * yy);
}

const f32 = (dims: number[], lo = -1, hi = 1): HostTensor => ({
  type: 'float32',
  dims,
  data: randn(
    dims.reduce((a, b) => a * b, 1),
    lo,
    hi,
  ),
});
const nodesOf = (m: Model | Graph, op: string): Node[] =>
  (m instanceof Graph ? m : m.graph).nodes().filter((n) => n.opType === op);
const castsTo = (g: Model | Graph, to: number) => nodesOf(g, 'Cast').filter((n) => n.getInt('to') === to);
const elem = (v: Value) => (v.type?.kind === 'tensor' ? v.type.elemType : undefined);

describe('convert-fp16: options', () => {
  it('fills defaults and refuses bad values naming the option', () => {
    assert.deepEqual(opts(), {
      keepIoTypes: true,
      blockOutOfRange: true,
      blockOps: [],
      blockNodes: [],
      minPositiveVal: 5.96e-8,
      maxFiniteVal: 65504,
    });
    assert.throws(
      () => opts({ minPositiveVal: 1e-9 }),
      (e) => e instanceof PassOptionError && /minPositiveVal/.test(e.message),
    );
    assert.throws(() => opts({ maxFiniteVal: 70000 }), /maxFiniteVal/);
    assert.throws(() => opts({ blockOps: 'TopK' }), /blockOps/);
    assert.throws(() => opts({ keepIoTypes: 'yes' }), /keepIoTypes/);
    assert.throws(() => opts({ keep_io_types: true }), /unknown option/);
    assert.equal(opts({ minPositiveVal: 1e-7, maxFiniteVal: 1e4 }).maxFiniteVal, 1e4);
  });
});

describe('convert-fp16: clamping (ORT convert_np_to_float16)', () => {
  it('(0, min) → ±min, beyond max → ±max; 0, NaN and ±inf kept; the rest rounds to nearest even', () => {
    const x = new Float32Array([1e-9, -1e-9, 0, -0, NaN, Infinity, -Infinity, 1e6, -1e6, 65504, 1, 3e-8, 1e-4, 0.1]);
    const { bits, clamped } = toFloat16Clamped(x);
    const back = [...bits].map(halfToFloat);
    assert.equal(clamped, 5);
    assert.deepEqual(back.slice(0, 2), [2 ** -24, -(2 ** -24)]);
    assert.ok(Object.is(back[2], 0) && Object.is(back[3], -0));
    assert.ok(Number.isNaN(back[4]));
    assert.deepEqual(back.slice(5, 11), [Infinity, -Infinity, 65504, -65504, 65504, 1]);
    assert.equal(back[11], 2 ** -24, '3e-8 is clamped up to the smallest subnormal');
    assert.equal(bits[13], floatToHalf(0.1));
    // onnxconverter-common's defaults, allowed as options: 1e-7 and 1e4.
    const loose = toFloat16Clamped(new Float32Array([5e-8, 2e4, -3e4]), 1e-7, 1e4);
    assert.deepEqual([...loose.bits].map(halfToFloat), [halfToFloat(floatToHalf(1e-7)), 10000, -10000]);
  });

  it('clamps constants in a model: tiny and huge weights, in initializers and Constant nodes', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [4]);
    const w = b.initializer('w', floatTensor([4], [1e-9, -1e-9, 2, 0]));
    const k = b.constant(floatTensor([4], [1e5, -1e5, 0.5, Infinity]), 'k');
    b.output(b.op('Add', [b.op('Mul', [x, w]), k]), 'y');
    const { m, report } = convert(b.model({ opset: 17 }), { blockOutOfRange: false });
    const wt = m.graph.initializers.get('w')!.const!;
    assert.equal(wt.dtype, DataType.FLOAT16);
    assert.deepEqual([...new Uint16Array(wt.bytes().slice().buffer)].map(halfToFloat), [2 ** -24, -(2 ** -24), 2, 0]);
    const kt = nodesOf(m, 'Constant')[0].getTensor('value')!;
    assert.deepEqual([...new Uint16Array(kt.bytes().slice().buffer)].map(halfToFloat), [65504, -65504, 0.5, Infinity]);
    assert.equal(report.counts['values clamped into the float16 range'], 4);
    const out = await run(m, { x: { type: 'float32', dims: [4], data: new Float32Array([1, 1, 1, 1]) } });
    assert.deepEqual([...(out.y.data as Float32Array)], [65504, -65504, 2.5, Infinity]);
  });

  it('by default a node reading a constant beyond ±maxFiniteVal stays float32 instead (PP-OCR det)', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [3]);
    const big = b.initializer('big', floatTensor([3], [1e8, 2, -3]));
    b.output(b.op('Relu', [b.op('Div', [x, big], {}, { name: 'div' })]), 'y');
    const model = b.model({ opset: 17 });
    const { m, report } = convert(model);
    assert.equal(m.graph.initializers.get('big')!.const!.dtype, DataType.FLOAT);
    assert.match(report.notes!.join('\n'), /Div 'div' kept float32: 'big' holds 100000000/);
    const feeds = { x: { type: 'float32' as const, dims: [3], data: new Float32Array([1e4, 1, 1]) } };
    const [a, c] = [await run(model, feeds), await run(m, feeds)];
    assert.ok(Math.abs((c.y.data as Float32Array)[0] - 1e-4) < 1e-7, `got ${(c.y.data as Float32Array)[0]}`);
    assert.ok(cosine(a.y, c.y) > 0.9999);
  });
});

describe('convert-fp16: built graphs', () => {
  /** x → Conv(W, B) → Relu → Gemm-like MatMul → y */
  function convNet(): Model {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['N', 2, 6, 6]);
    const w = b.initializer('w', floatTensor([4, 2, 3, 3], randn(72)));
    const bias = b.initializer('bias', floatTensor([4], randn(4)));
    const y = b.op('Relu', [b.op('Conv', [x, w, bias], { pads: [1, 1, 1, 1] })]);
    const flat = b.op('Flatten', [y]);
    b.output(b.op('MatMul', [flat, b.initializer('fc', floatTensor([144, 3], randn(432)))]), 'y');
    return b.model({ opset: 13 });
  }

  it('keepIoTypes (default): weights and activations float16, IO float32 behind ORT-named boundary Casts', async () => {
    const model = convNet();
    const { m, report } = convert(model);
    for (const v of m.graph.initializers.values()) assert.equal(v.const!.dtype, DataType.FLOAT16, v.name);
    assert.equal(elem(m.graph.inputs[0]), DataType.FLOAT);
    assert.equal(elem(m.graph.outputs[0]), DataType.FLOAT);
    assert.equal(m.graph.outputs[0].name, 'y');
    const [inCast] = castsTo(m, DataType.FLOAT16);
    const [outCast] = castsTo(m, DataType.FLOAT);
    assert.equal(inCast.name, 'graph_input_cast0');
    assert.equal(inCast.outputs[0].name, 'graph_input_cast_0');
    assert.equal(outCast.name, 'graph_output_cast0');
    assert.equal(outCast.inputs[0]!.name, 'graph_output_cast_0');
    assert.equal(m.graph.firstNode, inCast);
    assert.equal(m.graph.lastNode, outCast);
    assert.deepEqual(report.counts['initializers → float16'], 3);
    const feeds = { x: f32([2, 2, 6, 6]) };
    const [a, c] = [await run(model, feeds), await run(m, feeds)];
    assert.equal(c.y.type, 'float32');
    assert.ok(cosine(a.y, c.y) > 0.9999, `cosine ${cosine(a.y, c.y)}`);
  });

  it('keepIoTypes false: graph inputs and outputs become float16, no boundary Casts', async () => {
    const model = convNet();
    const { m } = convert(model, { keepIoTypes: false });
    assert.equal(elem(m.graph.inputs[0]), DataType.FLOAT16);
    assert.equal(elem(m.graph.outputs[0]), DataType.FLOAT16);
    assert.equal(nodesOf(m, 'Cast').length, 0);
    const x = f32([1, 2, 6, 6]);
    const x16: HostTensor = {
      type: 'float16',
      dims: x.dims,
      data: Uint16Array.from(x.data as Float32Array, floatToHalf),
    };
    const [a, c] = [await run(model, { x }), await run(m, { x: x16 })];
    assert.equal(c.y.type, 'float16');
    assert.ok(cosine(a.y, c.y) > 0.9999);
  });

  it('block-listed ops get Cast(to=FLOAT) in front and Cast(to=FLOAT16) behind; their constants stay float32', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2, 8]);
    const h = b.op('Mul', [x, b.initializer('scale', floatTensor([8], randn(8, 0.5, 2)))], {}, { name: 'mul' });
    // Min reads a float32-only constant; TopK right after it talks float32 (no cast pair between).
    const lo = b.op('Min', [h, b.initializer('cap', floatTensor([8], randn(8)))], {}, { name: 'min' });
    const top = b.node('TopK', [lo, b.initializer('k', int64Tensor([1], [3]))], {}, { name: 'topk', outputs: 2 });
    b.output(b.op('Add', [top.outputs[0], b.initializer('one', floatTensor([1], [1]))]), 'y');
    b.output(top.outputs[1], 'idx');
    const model = b.model({ opset: 13 });
    const { m, report } = convert(model);
    const g = m.graph;
    assert.equal(g.initializers.get('cap')!.const!.dtype, DataType.FLOAT, 'read by Min only');
    assert.equal(g.initializers.get('scale')!.const!.dtype, DataType.FLOAT16);
    assert.equal(g.initializers.get('one')!.const!.dtype, DataType.FLOAT16);
    assert.equal(g.initializers.get('k')!.const!.dtype, DataType.INT64);
    const min = nodesOf(m, 'Min')[0];
    const topk = nodesOf(m, 'TopK')[0];
    assert.equal(min.inputs[0]!.producer!.opType, 'Cast');
    assert.equal(min.inputs[0]!.producer!.getInt('to'), DataType.FLOAT);
    assert.equal(topk.inputs[0]!.producer, min, 'two blocked nodes in a row: no cast pair');
    assert.equal(elem(topk.outputs[0]), DataType.FLOAT);
    assert.equal(topk.outputs[0].uses()[0].node.opType, 'Cast');
    assert.equal(elem(topk.outputs[1]), DataType.INT64, 'indices untouched');
    assert.equal(topk.outputs[1].uses().length, 0, 'int64 output needs no Cast');
    assert.match(report.notes!.join('\n'), /kept float32: Min ×1, TopK ×1/);
    const feeds = { x: f32([2, 8]) };
    const [a, c] = [await run(model, feeds), await run(m, feeds)];
    assert.deepEqual([...(c.idx.data as BigInt64Array)], [...(a.idx.data as BigInt64Array)]);
    assert.ok(cosine(a.y, c.y) > 0.9999);
  });

  it('blockOps and blockNodes add to the list; a constant read by both precisions becomes float16', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [4]);
    const w = b.initializer('w', floatTensor([4], [1.1, 2.2, 3.3, 4.4]));
    const s = b.op('Sigmoid', [b.op('Mul', [x, w], {}, { name: 'keep-me' })]);
    b.output(b.op('Add', [s, w], {}, { name: 'add' }), 'y');
    const model = b.model({ opset: 17 });
    const { m } = convert(model, { blockOps: ['Sigmoid'], blockNodes: ['keep-me', 'nobody'] });
    assert.equal(m.graph.initializers.get('w')!.const!.dtype, DataType.FLOAT16, 'Add reads it in float16');
    const mul = nodesOf(m, 'Mul')[0];
    assert.equal(mul.inputs[1]!.producer!.opType, 'Cast', 'the blocked Mul reads w through a Cast');
    assert.equal(mul.inputs[0], m.graph.inputs[0], 'the kept-float32 input feeds the blocked Mul directly');
    assert.equal(nodesOf(m, 'Sigmoid')[0].inputs[0], mul.outputs[0]);
    const report = convertFp16.run(loadModelFromBytes(serializeModel(model)), opts({ blockNodes: ['nobody'] }), {});
    assert.match((report as PassReport).notes!.join('\n'), /no node is named 'nobody'/);
    const feeds = { x: f32([4]) };
    assert.ok(cosine((await run(model, feeds)).y, (await run(m, feeds)).y) > 0.99999);
  });

  it('Cast(to=FLOAT) in converted regions becomes Cast(to=FLOAT16); in blocked nodes it stays', async () => {
    const b = new GraphBuilder('g');
    const ids = b.input('ids', DataType.INT64, [4]);
    const f = b.op('Cast', [ids], { to: DataType.FLOAT }, { name: 'converted' });
    const g = b.op('Cast', [ids], { to: DataType.FLOAT }, { name: 'blocked' });
    b.output(b.op('Mul', [f, g]), 'y');
    const model = b.model({ opset: 13 });
    const { m, report } = convert(model, { blockNodes: ['blocked'] });
    const byName = (n: string) => nodesOf(m, 'Cast').find((c) => c.name === n)!;
    assert.equal(byName('converted').getInt('to'), DataType.FLOAT16);
    assert.equal(byName('blocked').getInt('to'), DataType.FLOAT);
    assert.equal(report.counts['Cast(to=FLOAT) → FLOAT16'], 1);
    const feeds: Feeds = { ids: { type: 'int64', dims: [4], data: new BigInt64Array([1n, 2n, 3n, 40n]) } };
    assert.deepEqual([...((await run(m, feeds)).y.data as Float32Array)], [1, 4, 9, 1600]);
  });

  it('Resize keeps its scales float32 (ALWAYS_FLOAT_INPUTS) while X and roi become float16', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 4, 4]);
    const roi = b.constant(floatTensor([0], []), 'roi');
    const scales = b.constant(floatTensor([4], [1, 1, 2, 2]), 'scales');
    const y = b.op('Resize', [b.op('Relu', [x]), roi, scales], { mode: 'linear' });
    b.output(y, 'y');
    const model = b.model({ opset: 13 });
    const { m } = convert(model);
    const resize = nodesOf(m, 'Resize')[0];
    assert.equal(resize.inputs[2]!.producer!.getTensor('value')!.dtype, DataType.FLOAT);
    assert.equal(resize.inputs[1]!.producer!.getTensor('value')!.dtype, DataType.FLOAT16);
    assert.equal(elem(resize.outputs[0]), DataType.FLOAT16);
    const feeds = { x: f32([1, 2, 4, 4]) };
    for (const backend of ['node', 'wasm'] as const)
      assert.ok(cosine((await run(model, feeds)).y, (await run(m, feeds, backend)).y) > 0.9999, backend);
  });

  it('ops whose schema has no float16 (Celu; DequantizeLinear before opset 19) stay float32, so the model loads', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [4]);
    const q = b.input('q', DataType.UINT8, [4]);
    const dq = b.op('DequantizeLinear', [q, b.initializer('s', floatTensor([], [0.5])), null]);
    b.output(b.op('Add', [b.op('Celu', [x]), dq]), 'y');
    const model = b.model({ opset: 13 });
    const { m, report } = convert(model);
    assert.match(report.notes!.join('\n'), /kept float32: DequantizeLinear ×1, Celu ×1/);
    const feeds: Feeds = { x: f32([4]), q: { type: 'uint8', dims: [4], data: new Uint8Array([0, 1, 7, 255]) } };
    assert.ok(cosine((await run(model, feeds)).y, (await run(m, feeds)).y) > 0.9999);
    // The reason: onnxruntime refuses a float16 Celu at load.
    const c = new GraphBuilder('celu');
    c.output(c.op('Celu', [c.input('x', DataType.FLOAT16, [4])]), 'y', DataType.FLOAT16, [4]);
    await assert.rejects(run(c.model({ opset: 13 }), {}), /float16|Type Error|type/i);
  });

  /** If(cond) with a then-branch reading an outer weight and an else-branch holding a blocked TopK. */
  function ifModel(): Model {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [6]);
    const cond = b.input('cond', DataType.BOOL, []);
    const w = b.initializer('w', floatTensor([6], randn(6)));
    const h = b.op('Relu', [x]);
    const then = new GraphBuilder('then');
    then.output(then.op('Mul', [h, w]), 'then_y', DataType.FLOAT, [6]);
    const otherwise = new GraphBuilder('else');
    const top = otherwise.node('TopK', [h, otherwise.constant(int64Tensor([1], [6]))], {}, { outputs: 2 });
    otherwise.output(otherwise.op('Neg', [top.outputs[0]]), 'else_y', DataType.FLOAT, [6]);
    const ifNode = b.node('If', [cond], { then_branch: then.graph, else_branch: otherwise.graph });
    ifNode.outputs[0].type = tensorType(DataType.FLOAT, [6]);
    b.output(b.op('Add', [ifNode.outputs[0], x]), 'y');
    return b.model({ opset: 13 });
  }

  it('subgraphs: If branches are converted with captured outer values; a blocked op inside gets its Casts', async () => {
    const model = ifModel();
    const { m } = convert(model);
    const ifNode = nodesOf(m, 'If')[0];
    const [then, otherwise] = [ifNode.attr('then_branch')!.value as Graph, ifNode.attr('else_branch')!.value as Graph];
    assert.equal(elem(then.outputs[0]), DataType.FLOAT16);
    assert.equal(elem(otherwise.outputs[0]), DataType.FLOAT16);
    assert.equal(elem(ifNode.outputs[0]), DataType.FLOAT16);
    assert.equal(m.graph.initializers.get('w')!.const!.dtype, DataType.FLOAT16, 'captured by the then-branch');
    assert.equal(nodesOf(then, 'Mul')[0].inputs[1], m.graph.initializers.get('w'));
    const topk = nodesOf(otherwise, 'TopK')[0];
    const cast = topk.inputs[0]!.producer!;
    assert.equal(cast.opType, 'Cast');
    assert.equal(cast.graph, m.graph, 'the Cast of a captured value sits where the value lives');
    assert.equal(topk.outputs[0].uses()[0].node.getInt('to'), DataType.FLOAT16);
    for (const c of [true, false]) {
      const feeds: Feeds = { x: f32([6]), cond: { type: 'bool', dims: [], data: new Uint8Array([c ? 1 : 0]) } };
      for (const backend of ['node', 'wasm'] as const) {
        const cos = cosine((await run(model, feeds)).y, (await run(m, feeds, backend)).y);
        assert.ok(cos > 0.9999, `${c ? 'then' : 'else'} branch on ${backend}: cosine ${cos}`);
      }
    }
  });

  it('subgraphs: a Loop carries float16 state; blocking the Loop keeps its body float32', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [3]);
    const trips = b.initializer('trips', int64Tensor([], [4]));
    const decay = b.initializer('decay', floatTensor([3], [0.5, 0.9, 1.1]));
    const body = new GraphBuilder('body');
    body.input('i', DataType.INT64, []);
    const cin = body.input('cond_in', DataType.BOOL, []);
    const acc = body.input('acc', DataType.FLOAT, [3]);
    body.output(body.op('Identity', [cin]), 'cond_out', DataType.BOOL, []);
    body.output(
      body.op('Add', [body.op('Mul', [acc, decay]), body.constant(floatTensor([1], [0.25]))]),
      'acc_out',
      DataType.FLOAT,
      [3],
    );
    const loop = b.node('Loop', [trips, null, x], { body: body.graph }, { name: 'loop' });
    loop.outputs[0].type = tensorType(DataType.FLOAT, [3]);
    b.output(loop.outputs[0], 'y');
    const model = b.model({ opset: 13 });
    const feeds = { x: f32([3]) };
    const ref = await run(model, feeds);
    for (const blocked of [false, true]) {
      const { m } = convert(model, blocked ? { blockNodes: ['loop'] } : {});
      const bodyGraph = nodesOf(m, 'Loop')[0].attr('body')!.value as Graph;
      const want = blocked ? DataType.FLOAT : DataType.FLOAT16;
      assert.equal(elem(bodyGraph.inputs[2]), want);
      assert.equal(elem(bodyGraph.outputs[1]), want);
      assert.equal(nodesOf(bodyGraph, 'Constant')[0].getTensor('value')!.dtype, want);
      assert.equal(m.graph.initializers.get('decay')!.const!.dtype, want);
      assert.ok(cosine(ref.y, (await run(m, feeds)).y) > 0.9999);
    }
  });

  it('calls of model-local functions stay float32: Casts around the call, the body untouched', async () => {
    const body = new GraphBuilder('Scale2');
    const a = body.input('a', DataType.FLOAT);
    body.output(body.op('Mul', [a, body.constant(floatTensor([], [2]))]), 'b');
    const fn = new FunctionDef('Scale2', 'local', body.graph);
    fn.opsetImports.set('', 13);
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [4]);
    const call = b.op('Scale2', [b.op('Relu', [x])], {}, { domain: 'local' });
    b.output(b.op('Add', [call, b.initializer('one', floatTensor([1], [1]))]), 'y');
    const model = b.model({ opset: 13, opsets: { local: 1 } });
    model.functions.push(fn);
    const { m } = convert(model);
    const node = m.graph.nodes().find((n) => n.opType === 'Scale2')!;
    assert.equal(node.inputs[0]!.producer!.getInt('to'), DataType.FLOAT);
    assert.equal(node.outputs[0].uses()[0].node.getInt('to'), DataType.FLOAT16);
    assert.equal(nodesOf(m.functions[0].graph, 'Constant')[0].getTensor('value')!.dtype, DataType.FLOAT);
    const feeds = { x: f32([4]) };
    assert.ok(cosine((await run(model, feeds)).y, (await run(m, feeds)).y) > 0.9999);
  });

  it('runs under the pass manager: checker after the pass, --verify within its declared tolerance', async () => {
    const model = convNet();
    const feeds = [{ x: f32([1, 2, 6, 6]) }];
    const verify = { createSession: (bytes: Uint8Array) => getBackend('node').createSession(bytes), feeds };
    const registry = new Map([[convertFp16.name, convertFp16 as unknown as Pass<never>]]);
    const steps = [{ pass: 'convert-fp16', options: { blockOps: ['Relu'] } }];
    const r = await runPasses(model, steps, { registry, verify });
    assert.equal(r.steps[0].pass, 'convert-fp16');
    assert.ok(r.steps[0].verifiedMaxRelError! < 0.05, `max relative error ${r.steps[0].verifiedMaxRelError}`);
    await assert.rejects(
      runPasses(model, steps, { registry }),
      /pass 'convert-fp16' failed: the model already holds float16/,
    );
  });

  it('refuses an already-float16 model (a second run), and a sequence crossing precisions, changing nothing', () => {
    const { m } = convert(convNet());
    assert.throws(() => convertFp16.run(m, opts(), {}), /already holds float16 \(initializer 'w' is float16\)/);
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2]);
    const seq = b.op('SequenceConstruct', [x, x]);
    b.output(b.op('ConcatFromSequence', [seq], { axis: 0 }, { name: 'concat' }), 'y');
    const model = b.model({ opset: 13 });
    const before = serializeModel(model);
    assert.throws(() => convertFp16.run(model, opts({ blockNodes: ['concat'] }), {}), /sequence of float .* Cast/);
    assert.deepEqual(serializeModel(model), before);
  });

  it('does not touch int64, bool or double tensors', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.DOUBLE, [2]);
    const d = b.initializer('d', new MemoryTensor(DataType.DOUBLE, [2], new Float64Array([1e-30, 1e30])));
    const i = b.initializer('i', int64Tensor([2], [1, 2]));
    b.output(b.op('Add', [x, d]), 'y');
    b.output(b.op('Add', [b.input('j', DataType.INT64, [2]), i]), 'z');
    const { m, report } = convert(b.model({ opset: 13 }));
    assert.equal(report.changed, false);
    assert.equal(m.graph.initializers.get('d')!.const!.dtype, DataType.DOUBLE);
    assert.equal(nodesOf(m, 'Cast').length, 0);
  });
});

// ---- real models ----

interface Row {
  model: string;
  before: number;
  after: number;
  cosine: number;
  task?: string;
}
const rows: Row[] = [];

/** Converts a real model: checker clean, loads on both backends, returns bytes and report. */
function convertFile(path: string) {
  const model = loadModel(path);
  const before = serializeModel(model);
  const t0 = performance.now();
  const report = convertFp16.run(model, opts(), {}) as PassReport;
  const ms = performance.now() - t0;
  assert.deepEqual(
    checkModel(model).filter((i) => i.severity === 'error'),
    [],
  );
  const after = serializeModel(model);
  return { before, after, report, ms, model };
}

/** Worst cosine over all float outputs of `feeds` between float32 (node) and float16 (node and wasm). */
async function worstCosine(before: Uint8Array, after: Uint8Array, feedList: Feeds[]): Promise<number> {
  let worst = 1;
  const sessions = await Promise.all([
    getBackend('node').createSession(before, { threads: 1 }),
    getBackend('node').createSession(after, { threads: 1 }),
    getBackend('wasm').createSession(after, { threads: 1 }),
  ]);
  try {
    for (const feeds of feedList) {
      const [ref, ...outs] = await Promise.all(sessions.map((s) => s.run(feeds)));
      for (const out of outs)
        for (const k of Object.keys(ref)) {
          assert.equal(out[k].type, ref[k].type, `${k} keeps its type`);
          worst = Math.min(worst, cosine(ref[k], out[k]));
        }
    }
  } finally {
    for (const s of sessions) await s.release();
  }
  return worst;
}

/** A white image with rendered text lines, normalized as PaddleOCR det (ImageNet mean/std, BGR). */
function textPage(size: number): HostTensor {
  const rgb = new Uint8Array(size * size * 3).fill(255);
  const lines = ocrCorpus(8, 5);
  let y = 8;
  for (const [i, text] of lines.entries()) {
    const img = renderLine(text, { size: 18 + (i % 3) * 6 });
    if (y + img.height > size) break;
    for (let r = 0; r < img.height; r++)
      for (let c = 0; c < Math.min(img.width, size - 8); c++)
        for (let k = 0; k < 3; k++) rgb[((y + r) * size + 8 + c) * 3 + k] = img.data[(r * img.width + c) * 3 + k];
    y += img.height + 4;
  }
  const mean = [0.406, 0.456, 0.485];
  const std = [0.225, 0.224, 0.229];
  const data = new Float32Array(3 * size * size);
  for (let ch = 0; ch < 3; ch++)
    for (let p = 0; p < size * size; p++)
      data[ch * size * size + p] = (rgb[p * 3 + (2 - ch)] / 255 - mean[ch]) / std[ch];
  return { type: 'float32', dims: [1, 3, size, size], data };
}

/** A rendered line resized (nearest) to 48×W, normalized as PaddleOCR cls/rec ((x/255 − 0.5)/0.5). */
function lineTensor(text: string, width: number, flip = false): HostTensor {
  const img = renderLine(text, { size: 32 });
  const data = new Float32Array(3 * 48 * width);
  const w = Math.min(width, Math.ceil((48 * img.width) / img.height));
  for (let y = 0; y < 48; y++)
    for (let x = 0; x < w; x++) {
      const sy = Math.floor((y * img.height) / 48);
      const sx = Math.floor((x * img.width) / w);
      const [ty, tx] = flip ? [47 - y, w - 1 - x] : [y, x];
      for (let ch = 0; ch < 3; ch++)
        data[ch * 48 * width + ty * width + tx] = (img.data[(sy * img.width + sx) * 3 + ch] / 255 - 0.5) / 0.5;
    }
  return { type: 'float32', dims: [1, 3, 48, width], data };
}

const int64 = (v: bigint): HostTensor => ({ type: 'int64', dims: [], data: new BigInt64Array([v]) });

/** Speech-like audio: a few harmonics with a slow envelope plus noise, `chunks` chunks of `size`. */
function audio(chunks: number, size: number, sr: number): Float32Array[] {
  let s = 7;
  const noise = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296 - 0.5) * 0.02;
  return Array.from({ length: chunks }, (_, c) =>
    Float32Array.from({ length: size }, (_, i) => {
      const t = (c * size + i) / sr;
      const env = c % 6 < 3 ? 0.5 * (1 + Math.sin(2 * Math.PI * 3 * t)) : 0.02;
      return env * (0.3 * Math.sin(2 * Math.PI * 180 * t) + 0.2 * Math.sin(2 * Math.PI * 360 * t)) + noise();
    }),
  );
}

/** Streams chunks through Silero, carrying state; returns every step's outputs concatenated per name. */
async function stream(
  s: Session,
  chunks: Float32Array[],
  feedsFor: (chunk: Float32Array, state: Record<string, HostTensor>) => Feeds,
  next: (out: Record<string, HostTensor>) => Record<string, HostTensor>,
  init: Record<string, HostTensor>,
): Promise<HostTensor> {
  let state = init;
  const probs: number[] = [];
  for (const chunk of chunks) {
    const out = await s.run(feedsFor(chunk, state));
    probs.push(...(out.output.data as Float32Array));
    state = next(out);
  }
  return { type: 'float32', dims: [probs.length], data: Float32Array.from(probs) };
}

const zeros = (dims: number[]): HostTensor => ({
  type: 'float32',
  dims,
  data: new Float32Array(dims.reduce((a, b) => a * b, 1)),
});

describe('convert-fp16: real models (cosine ≥ 0.999 on node and wasm, size ≈ ½)', () => {
  before(async () => {
    await ensureModels();
  });
  after(() => {
    const kb = (n: number) => `${(n / 1024).toFixed(0)} KiB`;
    console.log('\n| model | size fp32 | size fp16 | ratio | worst cosine | task |');
    console.log('| --- | ---: | ---: | ---: | ---: | --- |');
    for (const r of rows)
      console.log(
        `| ${r.model} | ${kb(r.before)} | ${kb(r.after)} | ${(r.after / r.before).toFixed(3)} | ${r.cosine.toFixed(6)} | ${r.task ?? ''} |`,
      );
  });

  const record = (r: Row) => {
    rows.push(r);
    console.log(
      `${r.model}: ${r.before} → ${r.after} bytes (${(r.after / r.before).toFixed(3)}), cosine ${r.cosine.toFixed(6)}${r.task ? `, ${r.task}` : ''}`,
    );
    assert.ok(r.cosine >= 0.999, `${r.model}: cosine ${r.cosine}`);
    assert.ok(r.after / r.before < 0.56, `${r.model}: size ratio ${r.after / r.before}`);
  };

  it('PaddleOCR det (weights in Constant nodes; a BatchNormalization with variances of 1e8 stays float32)', async () => {
    const { before, after, report } = convertFile(modelPath('ocr-det'));
    assert.equal(report.counts['nodes kept float32'], 1);
    assert.ok(report.counts['Constant tensors → float16'] > 300);
    const page = textPage(320);
    const cos = await worstCosine(before, after, [{ x: page }, { x: f32([1, 3, 320, 320], -2, 2) }]);
    // The text mask PaddleOCR thresholds at 0.3: fraction of pixels that agree.
    const [a, b] = [await run(before, { x: page }), await run(after, { x: page })];
    /** Fraction of pixels on the same side of PaddleOCR's 0.3 text threshold, and text pixels in `q`. */
    const mask = (p: Float32Array, q: Float32Array) => {
      let same = 0;
      let text = 0;
      for (let i = 0; i < p.length; i++) {
        if (p[i] > 0.3 === q[i] > 0.3) same++;
        if (q[i] > 0.3) text++;
      }
      return { agree: same / p.length, text };
    };
    const out = (r: Record<string, HostTensor>) => Object.values(r)[0].data as Float32Array;
    const ref = mask(out(a), out(a));
    const fp16 = mask(out(a), out(b));
    assert.ok(ref.text > 1000, `the page has text pixels (${ref.text})`);
    assert.ok(fp16.agree > 0.999, `mask agreement ${fp16.agree}`);
    // ORT's behaviour, clamping the 9.8e7 variances to 65504, breaks the detector.
    const clamped = loadModel(modelPath('ocr-det'));
    await convertFp16.run(clamped, opts({ blockOutOfRange: false }), {});
    const broken = await run(clamped, { x: page });
    const brokenCos = cosine(Object.values(a)[0], Object.values(broken)[0]);
    const brokenMask = mask(out(a), out(broken));
    console.log(
      `ocr-det text page: ${ref.text} text pixels in float32, ${fp16.text} in float16 (agreement ${fp16.agree.toFixed(5)}); ` +
        `clamped as ORT does (blockOutOfRange false): cosine ${brokenCos.toFixed(4)}, ${brokenMask.text} text pixels, agreement ${brokenMask.agree.toFixed(4)}`,
    );
    assert.ok(brokenCos < 0.99, `clamped cosine ${brokenCos}`);
    record({
      model: 'ocr-det',
      before: before.length,
      after: after.length,
      cosine: cos,
      task: `text mask (p>0.3) agreement ${(100 * fp16.agree).toFixed(3)}% of ${out(a).length} px`,
    });
  });

  it('PaddleOCR rec: exact match of rendered lines before and after', async () => {
    const { before, after } = convertFile(modelPath('ocr-rec'));
    const cos = await worstCosine(before, after, [
      { x: lineTensor('fp16 converts weights', 320) },
      { x: f32([1, 3, 48, 320]) },
    ]);
    const vocab = loadOcrKeys(ocrKeysPath());
    const lines = ocrCorpus(24, 3);
    const accuracy = async (bytes: Uint8Array) => {
      const s = await getBackend('node').createSession(bytes);
      const runner: OcrRunner = async (x) => {
        const y = (await s.run({ x: { type: 'float32', dims: x.dims, data: x.data } })) as Record<string, HostTensor>;
        const out = Object.values(y)[0];
        return { data: out.data as Float32Array, dims: out.dims };
      };
      try {
        return await ocrAccuracy(runner, lines, { keys: vocab });
      } finally {
        await s.release();
      }
    };
    const [a, b] = [await accuracy(before), await accuracy(after)];
    const same = a.perLine.filter((l, i) => l.read === b.perLine[i].read).length;
    assert.ok(b.exactMatch >= a.exactMatch - 1 / lines.length, `exact match ${b.exactMatch} vs ${a.exactMatch}`);
    assert.ok(same >= lines.length - 1, `${same} of ${lines.length} lines read identically`);
    record({
      model: 'ocr-rec',
      before: before.length,
      after: after.length,
      cosine: cos,
      task: `exact match ${(100 * a.exactMatch).toFixed(1)}% → ${(100 * b.exactMatch).toFixed(1)}% (${lines.length} lines, ${same} read identically)`,
    });
  });

  it('PaddleOCR cls: same orientation calls on upright and flipped lines', async () => {
    const { before, after } = convertFile(modelPath('ocr-cls'));
    const texts = ocrCorpus(6, 11);
    const feeds = texts.flatMap((t) => [false, true].map((flip) => ({ x: lineTensor(t, 192, flip) })));
    const cos = await worstCosine(before, after, [...feeds, { x: f32([1, 3, 48, 192]) }]);
    let same = 0;
    for (const f of feeds) {
      const [a, b] = [await run(before, f), await run(after, f)];
      const argmax = (t: HostTensor) => ((t.data as Float32Array)[0] > (t.data as Float32Array)[1] ? 0 : 1);
      if (argmax(Object.values(a)[0]) === argmax(Object.values(b)[0])) same++;
    }
    assert.equal(same, feeds.length);
    record({
      model: 'ocr-cls',
      before: before.length,
      after: after.length,
      cosine: cos,
      task: `${same}/${feeds.length} orientation calls unchanged`,
    });
  });

  it('Silero VAD v5: both If branches (16 kHz and 8 kHz), 20 streamed chunks with state', async () => {
    const { before, after, model } = convertFile(modelPath('silero-v5'));
    const ifs = model.graph.nodes().filter((n) => n.opType === 'If');
    assert.ok(ifs.length > 0);
    const branches = ifs.flatMap((n) => n.subgraphs());
    const fp16Consts = branches
      .flatMap((g) => g.nodes())
      .filter((n) => n.opType === 'Constant' && n.getTensor('value')?.dtype === DataType.FLOAT16);
    assert.ok(fp16Consts.length > 10, `weights inside the branches are float16 (${fp16Consts.length})`);
    let worst = 1;
    const detail: string[] = [];
    for (const [sr, size] of [
      [16000, 512],
      [8000, 256],
    ] as const) {
      const chunks = audio(20, size, sr);
      const feedsFor = (chunk: Float32Array, st: Record<string, HostTensor>): Feeds => ({
        input: { type: 'float32', dims: [1, size], data: chunk },
        state: st.state,
        sr: int64(BigInt(sr)),
      });
      const next = (out: Record<string, HostTensor>) => ({ state: out.stateN });
      const probs: HostTensor[] = [];
      for (const [bytes, backend] of [
        [before, 'node'],
        [after, 'node'],
        [after, 'wasm'],
      ] as const) {
        const s = await getBackend(backend).createSession(bytes, { threads: 1 });
        probs.push(await stream(s, chunks, feedsFor, next, { state: zeros([2, 1, 128]) }));
        await s.release();
      }
      const cos = Math.min(cosine(probs[0], probs[1]), cosine(probs[0], probs[2]));
      const maxDiff = Math.max(...numbers(probs[0]).map((p, i) => Math.abs(p - numbers(probs[1])[i])));
      worst = Math.min(worst, cos);
      detail.push(`${sr / 1000} kHz max |Δp| ${maxDiff.toExponential(1)}`);
      assert.ok(maxDiff < 0.01, `speech probabilities move by ${maxDiff}`);
    }
    worst = Math.min(
      worst,
      await worstCosine(before, after, [
        { input: f32([1, 512], -0.3, 0.3), state: f32([2, 1, 128], -0.1, 0.1), sr: int64(16000n) },
      ]),
    );
    record({
      model: 'silero-v5',
      before: before.length,
      after: after.length,
      cosine: worst,
      task: `streamed probabilities: ${detail.join(', ')}`,
    });
  });

  it('Silero VAD legacy: LSTM state (h, c), both sample rates, streamed', async () => {
    const { before, after } = convertFile(modelPath('silero-legacy'));
    let worst = 1;
    const detail: string[] = [];
    for (const [sr, size] of [
      [16000, 512],
      [8000, 256],
    ] as const) {
      const chunks = audio(20, size, sr);
      const feedsFor = (chunk: Float32Array, st: Record<string, HostTensor>): Feeds => ({
        input: { type: 'float32', dims: [1, size], data: chunk },
        sr: int64(BigInt(sr)),
        h: st.h,
        c: st.c,
      });
      const next = (out: Record<string, HostTensor>) => ({ h: out.hn, c: out.cn });
      const probs: HostTensor[] = [];
      for (const [bytes, backend] of [
        [before, 'node'],
        [after, 'node'],
        [after, 'wasm'],
      ] as const) {
        const s = await getBackend(backend).createSession(bytes, { threads: 1 });
        probs.push(await stream(s, chunks, feedsFor, next, { h: zeros([2, 1, 64]), c: zeros([2, 1, 64]) }));
        await s.release();
      }
      const cos = Math.min(cosine(probs[0], probs[1]), cosine(probs[0], probs[2]));
      const maxDiff = Math.max(...numbers(probs[0]).map((p, i) => Math.abs(p - numbers(probs[1])[i])));
      worst = Math.min(worst, cos);
      detail.push(`${sr / 1000} kHz max |Δp| ${maxDiff.toExponential(1)}`);
      assert.ok(maxDiff < 0.01, `speech probabilities move by ${maxDiff}`);
    }
    record({
      model: 'silero-legacy',
      before: before.length,
      after: after.length,
      cosine: worst,
      task: `streamed probabilities: ${detail.join(', ')}`,
    });
  });

  const FASHION = '/usr/share/datasets/fashion-mnist';
  const reference = [
    {
      name: 'mnist-cnn',
      data: () =>
        `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`,
      limit: 1000,
    },
    {
      name: 'fashion-resnet',
      data: () =>
        `idx:${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530`,
      limit: 1000,
    },
    {
      name: 'spam-transformer',
      data: () => `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`,
      limit: 200,
    },
  ];
  for (const c of reference) {
    it(`${c.name}: top-1 on ${c.limit} test samples before and after`, async () => {
      const { before, after } = convertFile(join(REPO_ROOT, 'models/reference', `${c.name}.onnx`));
      const [s32, s16] = await Promise.all([
        getBackend('node').createSession(before),
        getBackend('node').createSession(after),
      ]);
      const ds = await openDataset(c.data(), { inputs: s32.inputs, batchSize: 100, limit: c.limit });
      const r = await evaluateModel({ session: s16, reference: s32, batches: ds.batches(), referenceTask: true });
      await Promise.all([s32.release(), s16.release()]);
      const [top32, top16] = [r.referenceTask!.top1, r.task!.top1];
      const f = r.fidelity![0];
      const flips = Math.round((1 - f.argmaxAgreement!) * f.samples);
      const first = (await ds.batches()[Symbol.asyncIterator]().next()).value!.inputs;
      const cos = Math.min(f.cosine, await worstCosine(before, after, [first]));
      assert.equal(r.samples, c.limit);
      assert.ok(Math.abs(top16 - top32) <= 0.003, `top-1 ${top16} vs ${top32}`);
      record({
        model: c.name,
        before: before.length,
        after: after.length,
        cosine: cos,
        task: `top-1 ${(100 * top32).toFixed(1)}% → ${(100 * top16).toFixed(1)}% (${c.limit} samples, ${flips} predictions differ)`,
      });
    });
  }
});
