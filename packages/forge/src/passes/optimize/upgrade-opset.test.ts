/**
 * upgrade-opset: each adapter on a small built graph (onnxruntime runs the original where it still
 * loads that opset, else a hand-built equivalent at the new opset, and the upgraded model must
 * give the same numbers); refusals are whole and leave the model untouched; the real models
 * (PaddleOCR det/rec/cls, Silero legacy/v5, the reference models) reach opsets 13, 17 and 21 with
 * the checker clean and onnxruntime's outputs unchanged; and every model of ONNX's conformance
 * suite below opset 21 that onnxruntime loads either reaches 21 and still reproduces its outputs
 * or is refused with a message.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import {
  AttrType,
  DataType,
  FunctionDef,
  GraphBuilder,
  Value,
  allGraphs,
  checkModel,
  floatTensor,
  int64Tensor,
  loadModel,
  loadModelFromBytes,
  serializeModel,
  tensorType,
  MemoryTensor,
  type AttrInit,
  type Model,
  type Node,
} from '@edgeforge/onnx';
import { ORT_MAX_OPSET } from '../../../../onnx/src/checker/ort.js';
import { ort, ortBytes, ortLoads, readTensorPb, sameBytes, toOrt } from '../../../../onnx/src/testing/ort.js';
import { REPO_ROOT, ensureModels, modelPath } from '../../../../../tools/models.ts';
import { runPasses } from '../manager.js';
import { PassOptionError, type Pass } from '../pass.js';
import { MAX_TARGET_OPSET, OpsetUpgradeError, upgradeOpset, upgradeOpsetPass } from './upgrade-opset.js';

type Feeds = Record<string, ort.Tensor>;
type Outputs = Record<string, ort.Tensor>;

// ---- helpers ----

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(7);
const size = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
const f32 = (dims: number[], lo = -2, hi = 2) =>
  new ort.Tensor(
    'float32',
    Float32Array.from({ length: size(dims) }, () => lo + (hi - lo) * rand()),
    dims,
  );
const f64 = (dims: number[]) =>
  new ort.Tensor(
    'float64',
    Float64Array.from({ length: size(dims) }, () => 4 * rand() - 2),
    dims,
  );

async function run(model: Model | string, feeds: Feeds): Promise<Outputs> {
  const opts = { intraOpNumThreads: 1, logSeverityLevel: 4, graphOptimizationLevel: 'disabled' } as const;
  const s = await (typeof model === 'string'
    ? ort.InferenceSession.create(model, opts)
    : ort.InferenceSession.create(serializeModel(model), opts));
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

const copy = (m: Model) => loadModelFromBytes(serializeModel(m));

/** Upgrades a copy; the checker must be clean. */
function upgraded(model: Model, target: number) {
  const after = copy(model);
  const result = upgradeOpset(after, target);
  assert.deepEqual(
    checkModel(after)
      .filter((i) => i.severity === 'error')
      .map((i) => i.message),
    [],
  );
  return { after, result };
}

function floatsOf(t: ort.Tensor): Float64Array {
  return Float64Array.from(t.data as ArrayLike<number>, Number);
}

/** Largest |a−b| / (|a| + 1e-6) over all outputs (0 when bitwise equal); names, types and dims must agree. */
function maxRel(a: Outputs, b: Outputs): number {
  assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
  let worst = 0;
  for (const k of Object.keys(a)) {
    assert.equal(b[k].type, a[k].type, k);
    assert.deepEqual(b[k].dims, a[k].dims, k);
    if (sameBytes(ortBytes(a[k]), ortBytes(b[k]))) continue;
    const [x, y] = [floatsOf(a[k]), floatsOf(b[k])];
    for (let i = 0; i < x.length; i++) {
      if (Object.is(x[i], y[i]) || (Number.isNaN(x[i]) && Number.isNaN(y[i]))) continue;
      worst = Math.max(worst, Math.abs(x[i] - y[i]) / (Math.abs(x[i]) + 1e-6));
    }
  }
  return worst;
}

/** Upgrades `model` to `target` and compares onnxruntime outputs with the original (bitwise unless `tol`). */
async function sameAfter(model: Model, target: number, feeds: Feeds, tol = 0) {
  const up = upgraded(model, target);
  const rel = maxRel(await run(model, feeds), await run(up.after, feeds));
  assert.ok(rel <= tol, `outputs differ: max rel ${rel}`);
  return up;
}

const ops = (m: Model) => [...allGraphs(m)].flatMap((g) => g.nodes().map((n) => n.opType));
const nodeOf = (m: Model, op: string): Node => m.graph.nodes().find((n) => n.opType === op)!;

function refusal(model: Model, target: number): OpsetUpgradeError {
  const before = serializeModel(model);
  let err: unknown;
  try {
    upgradeOpset(model, target);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof OpsetUpgradeError, `expected a refusal, got ${String(err)}`);
  assert.ok(sameBytes(serializeModel(model), before), 'a refused upgrade leaves the model as it was');
  return err;
}

const x4 = (b: GraphBuilder, dims = [2, 3, 4, 5]) => b.input('x', DataType.FLOAT, dims);

// ---- adapters ----

describe('upgrade-opset adapters', () => {
  it('Squeeze/Unsqueeze/ReduceSum (axes attribute → input at 13), other Reduce* at 18: bitwise', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b, [2, 1, 3, 4]);
    const s = b.op('Squeeze', [x], { axes: [1] });
    const u = b.op('Unsqueeze', [s], { axes: [0, 3] });
    b.output(b.op('ReduceSum', [u], { axes: [1], keepdims: 0 }), 'sum');
    b.output(b.op('ReduceSum', [x], { axes: [] }), 'all');
    const reduces = [
      'ReduceL1',
      'ReduceL2',
      'ReduceLogSumExp',
      'ReduceMax',
      'ReduceMean',
      'ReduceMin',
      'ReduceProd',
      'ReduceSumSquare',
    ];
    for (const op of reduces) b.output(b.op(op, [x], { axes: [2, -1] }), op);
    b.output(b.op('ReduceLogSum', [b.op('Abs', [x])], { axes: [3] }), 'ReduceLogSum');
    b.output(b.op('ReduceMean', [x]), 'meanAll');
    const model = b.model({ opset: 11 });
    const feeds = { x: f32([2, 1, 3, 4]) };
    const { after, result } = await sameAfter(model, 13, feeds);
    assert.deepEqual(result, {
      from: 11,
      to: 13,
      rewritten: {
        'Squeeze-13: axes attribute → input': 1,
        'Unsqueeze-13: axes attribute → input': 1,
        'ReduceSum-13: axes attribute → input': 2,
      },
      functions: 0,
    });
    assert.equal(nodeOf(after, 'Squeeze').inputs.length, 2);
    // The types inferred for the adapters are not left behind in the model.
    assert.equal(nodeOf(after, 'Squeeze').outputs[0].type, undefined);
    assert.deepEqual(after.graph.valueInfo, []);
    assert.equal(nodeOf(after, 'ReduceSum').attr('axes'), undefined);
    const r18 = (await sameAfter(model, 18, feeds)).result.rewritten;
    for (const op of [...reduces, 'ReduceLogSum']) assert.equal(r18[`${op}-18: axes attribute → input`], 1, op); // meanAll has no axes: nothing to move
  });

  it('Split: split attribute → input at 13, num_outputs made explicit at 18', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b, [6, 4]);
    const s1 = b.node('Split', [x], { axis: 0, split: [1, 2, 3] }, { outputs: 3 });
    const s2 = b.node('Split', [x], { axis: 1 }, { outputs: 2 });
    for (const [i, v] of [...s1.outputs, ...s2.outputs].entries()) b.output(v, `y${i}`);
    const model = b.model({ opset: 11 });
    const { after, result } = await sameAfter(model, 18, { x: f32([6, 4]) });
    assert.deepEqual(result.rewritten, {
      'Split-13: split attribute → input': 1,
      'Split-18: num_outputs made explicit': 1,
    });
    const [a, c] = after.graph.nodes().filter((n) => n.opType === 'Split');
    assert.equal(a.attr('num_outputs'), undefined);
    assert.equal(c.getInt('num_outputs'), 2);
  });

  it('Softmax/LogSoftmax/Hardmax at 13: last axis and trailing 1-dims keep one node, other axes get Flatten/Reshape', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b, [2, 3, 4, 5]);
    const t = b.input('t', DataType.FLOAT, [2, 6, 1, 1]);
    const d = b.input('d', DataType.FLOAT); // unknown shape: must wrap
    b.output(b.op('Softmax', [x], { axis: 1 }), 'sm1'); // over 3·4·5 values per row
    b.output(b.op('Softmax', [x], { axis: -1 }), 'smLast');
    b.output(b.op('Softmax', [x], { axis: 3 }), 'sm3');
    b.output(b.op('LogSoftmax', [x], { axis: 2 }), 'lsm2');
    b.output(b.op('Hardmax', [x]), 'hm'); // default axis 1 before 13
    b.output(b.op('Softmax', [t]), 'trailing'); // axis 1, later dims are 1
    b.output(b.op('LogSoftmax', [d], { axis: 1 }), 'dyn');
    const model = b.model({ opset: 11 });
    const feeds = { x: f32([2, 3, 4, 5], -4, 4), t: f32([2, 6, 1, 1]), d: f32([3, 2, 2]) };
    const { after, result } = await sameAfter(model, 13, feeds);
    assert.equal(
      Object.values(result.rewritten).reduce((a, c) => a + c, 0),
      7,
    );
    assert.equal(ops(after).filter((o) => o === 'Flatten').length, 4); // sm1, lsm2, hm, dyn
    assert.equal(ops(after).filter((o) => o === 'Reshape').length, 4);
    const byOut = (name: string) => after.graph.outputs.find((v) => v.name === name)!.producer!;
    assert.equal(byOut('smLast').getInt('axis'), 3);
    assert.equal(byOut('trailing').getInt('axis'), 1);
    assert.equal(byOut('sm1').opType, 'Reshape');
    // The Hardmax on a tie-free input, and the wrapped ones, give the same bits.
    assert.equal(maxRel(await run(model, feeds), await run(after, feeds)), 0);
  });

  it('Upsample (attribute scales at 7, input at 9) becomes Resize with opset-10 coordinates and rounding', async () => {
    for (const [opset, mode, scales] of [
      [7, 'nearest', [1, 1, 2, 3]],
      [9, 'nearest', [1, 1, 2.5, 1.5]],
      [9, 'linear', [1, 1, 2, 1.7]],
    ] as const) {
      const b = new GraphBuilder('g');
      const x = x4(b, [1, 2, 3, 4]);
      const s = opset === 9 ? [b.initializer('scales', floatTensor([4], scales))] : [];
      const attrs: Record<string, AttrInit> = opset === 7 ? { mode, scales: { floats: [...scales] } } : { mode };
      b.output(b.op('Upsample', [x, ...s], attrs), 'y');
      const model = b.model({ opset });
      for (const target of [10, 11, 13, 21]) {
        const { after } = await sameAfter(model, target, { x: f32([1, 2, 3, 4]) });
        const r = nodeOf(after, 'Resize');
        assert.ok(r, `${opset} → ${target}: Resize`);
        if (target >= 11) {
          assert.equal(r.getString('coordinate_transformation_mode'), 'asymmetric');
          if (mode === 'nearest') assert.equal(r.getString('nearest_mode'), 'floor');
        }
      }
    }
  });

  it('Resize-10 → 11+: nearest enlarging (floor) and shrinking (ceil), linear; refuses mixed or unknown nearest scales', async () => {
    for (const [mode, scales] of [
      ['nearest', [1, 1, 2.5, 1.5]],
      ['nearest', [1, 1, 0.6, 0.45]],
      ['linear', [1, 1, 0.6, 1.5]],
      ['linear', [1, 1, 2, 2]],
    ] as const) {
      const b = new GraphBuilder('g');
      const x = x4(b, [1, 2, 7, 9]);
      b.output(b.op('Resize', [x, b.constant(floatTensor([4], scales))], { mode }), 'y');
      const model = b.model({ opset: 10 });
      for (const target of [11, 13, 19, 21]) await sameAfter(model, target, { x: f32([1, 2, 7, 9]) });
    }
    const b = new GraphBuilder('g');
    const x = x4(b, [1, 2, 7, 9]);
    b.output(b.op('Resize', [x, b.constant(floatTensor([4], [1, 1, 2, 0.5]))]), 'y');
    const e = refusal(b.model({ opset: 10 }), 11);
    assert.match(e.message, /Resize-10 → Resize-11\): nearest mode enlarging some axes and shrinking others/);
    const b2 = new GraphBuilder('g');
    const x2 = x4(b2, [1, 2, 7, 9]);
    b2.output(b2.op('Resize', [x2, b2.input('s', DataType.FLOAT, [4])]), 'y');
    assert.match(refusal(b2.model({ opset: 10 }), 13).message, /non-constant scales/);
  });

  it('Slice (attributes → inputs at 10, INT64_MAX ends kept exactly), TopK (k → input at 10)', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b, [4, 6]);
    b.output(b.op('Slice', [x], { starts: [1, -3], ends: [9223372036854775807n, 5n], axes: [0, 1] }), 's');
    b.output(b.op('Slice', [x], { starts: [0], ends: [2] }), 's0');
    const k = b.node('TopK', [x], { k: 3, axis: 1 }, { outputs: 2 });
    b.output(k.outputs[0], 'v');
    b.output(k.outputs[1], 'i');
    const model = b.model({ opset: 9 });
    const { after, result } = await sameAfter(model, 13, { x: f32([4, 6]) });
    assert.deepEqual(result.rewritten, {
      'Slice-10: starts/ends/axes attributes → inputs': 2,
      'TopK-10: k attribute → input': 1,
    });
    const endsNode = nodeOf(after, 'Slice').inputs[2]!.producer!;
    assert.deepEqual([...endsNode.getTensor('value')!.bytes().slice(0, 8)], [255, 255, 255, 255, 255, 255, 255, 127]);
  });

  it('Clip min/max and Pad pads/value attributes → typed inputs at 11 (float and double)', async () => {
    const build = (dtype: number, opset: number) => {
      const b = new GraphBuilder('g');
      const x = b.input('x', dtype, [2, 3]);
      const c = (v: number) =>
        b.constant(
          dtype === DataType.FLOAT ? floatTensor([], [v]) : new MemoryTensor(dtype, [], Float64Array.from([v])),
        );
      const pads = (p: number[]) => b.constant(int64Tensor([4], p));
      if (opset < 11) {
        b.output(b.op('Clip', [x], { min: -0.5, max: 0.75 }), 'both');
        b.output(b.op('Clip', [x], { max: 0.25 }), 'max');
        b.output(b.op('Clip', [x], { min: { float: 0 } }), 'min');
        b.output(b.op('Clip', [x]), 'none');
        b.output(b.op('Pad', [x], { pads: [1, 0, 0, 2], value: 1.5 }), 'padv');
        b.output(b.op('Pad', [x], { pads: [0, 1, 1, 1], mode: 'reflect' }), 'padr');
        b.output(b.op('Pad', [x], { pads: [1, 1, 1, 1] }), 'pad0');
      } else {
        b.output(b.op('Clip', [x, c(-0.5), c(0.75)]), 'both');
        b.output(b.op('Clip', [x, null, c(0.25)]), 'max');
        b.output(b.op('Clip', [x, c(0)]), 'min');
        b.output(b.op('Clip', [x]), 'none');
        b.output(b.op('Pad', [x, pads([1, 0, 0, 2]), c(1.5)]), 'padv');
        b.output(b.op('Pad', [x, pads([0, 1, 1, 1])], { mode: 'reflect' }), 'padr');
        b.output(b.op('Pad', [x, pads([1, 1, 1, 1])]), 'pad0');
      }
      return b.model({ opset });
    };
    const { result } = await sameAfter(build(DataType.FLOAT, 10), 13, { x: f32([2, 3]) });
    assert.deepEqual(result.rewritten, {
      'Clip-11: min/max attributes → inputs': 3,
      'Pad-11: pads/value attributes → inputs': 3,
    });
    // onnxruntime has no double Clip-6: compare with the same graph written for opset 13.
    const { after } = upgraded(build(DataType.DOUBLE, 10), 13);
    const feeds = { x: f64([2, 3]) };
    assert.equal(maxRel(await run(build(DataType.DOUBLE, 13), feeds), await run(after, feeds)), 0);
    const max = after.graph.outputs.find((v) => v.name === 'max')!.producer!;
    assert.equal(max.inputs[1], null);
    assert.equal(max.inputs[2]!.producer!.getTensor('value')!.dtype, DataType.DOUBLE);
  });

  it('Clip with attributes on an input of unknown type is refused, naming the node and versions', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2]);
    const n = b.node(
      'Clip',
      [b.op('Custom', [x], {}, { domain: 'my.domain' })],
      { min: { float: 0 } },
      { name: 'clip7' },
    );
    b.output(n.outputs[0], 'y', DataType.FLOAT, [2]);
    const model = b.model({ opset: 9, opsets: { 'my.domain': 1 } });
    const e = refusal(model, 13);
    assert.match(
      e.message,
      /^cannot upgrade ai\.onnx opset 9 → 13: Clip 'clip7'.*\(Clip-6 → Clip-11\): the input element type is unknown/,
    );
    assert.deepEqual(
      e.refusals.map((r) => [r.op, r.from, r.to]),
      [['Clip', 6, 11]],
    );
  });

  it('Dropout: ratio → input at 12, an unused mask dropped at 10, a used mask refused', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b, [2, 3]);
    const d = b.node('Dropout', [x], { ratio: 0.3 }, { outputs: 2 });
    d.outputs[1].type = tensorType(DataType.FLOAT, [2, 3]); // the opset-9 mask had the data type
    b.graph.valueInfo.push(d.outputs[1]);
    b.output(b.op('Relu', [d.outputs[0]]), 'y');
    const model = b.model({ opset: 9 });
    const { after, result } = await sameAfter(model, 13, { x: f32([2, 3]) });
    assert.deepEqual(result.rewritten, {
      'Dropout-10: unused mask output dropped (its type becomes bool)': 1,
      'Dropout-12: ratio attribute → input': 1,
    });
    assert.equal(nodeOf(after, 'Dropout').outputs[1].name, '');
    const b2 = new GraphBuilder('g');
    const d2 = b2.node('Dropout', [x4(b2, [2])], {}, { outputs: 2, name: 'drop' });
    b2.output(d2.outputs[0], 'y');
    b2.output(d2.outputs[1], 'mask');
    assert.match(
      refusal(b2.model({ opset: 9 }), 12).message,
      /Dropout 'drop'.*Dropout-7 → Dropout-10\): mask output 'mask' is used/,
    );
  });

  it('BatchNormalization: spatial=1 dropped at 9; spatial=0, opset-6 training mode and training outputs at 14 refused', async () => {
    const bn = (opset: number, attrs: Record<string, AttrInit>, outputs = 1) => {
      const b = new GraphBuilder('g');
      const x = x4(b);
      const p = [1, 2, 3, 4].map((i) => b.initializer(`p${i}`, floatTensor([3], [0.5 * i, 1, 0.25 * i])));
      const n = b.node('BatchNormalization', [x, ...p], attrs, { outputs, name: 'bn' });
      n.outputs.forEach((o, i) => b.output(o, `o${i}`));
      return b.model({ opset });
    };
    const ok = await sameAfter(bn(7, { spatial: 1, epsilon: { float: 1e-3 } }), 13, { x: f32([2, 3, 4, 5]) });
    assert.deepEqual(ok.result.rewritten, { 'BatchNormalization-9: spatial dropped': 1 });
    assert.match(
      refusal(bn(8, { spatial: 0 }), 9).message,
      /BatchNormalization-7 → BatchNormalization-9\): spatial = 0/,
    );
    assert.match(
      refusal(bn(6, {}), 13).message,
      /BatchNormalization-6 → BatchNormalization-7\): is_test = 0 \(training mode\)/,
    );
    const r = refusal(bn(9, {}, 5), 14);
    assert.match(r.message, /BatchNormalization-9 → BatchNormalization-14\): training-mode outputs/);
    // is_test = 1 on opset 5 (onnxruntime has no kernel for it): carried, and runs as BN-7 does.
    const up = upgraded(bn(5, { is_test: 1, consumed_inputs: [0] }), 15);
    assert.deepEqual(Object.keys(up.result.rewritten).sort(), [
      'BatchNormalization-6: consumed_inputs (legacy) dropped',
      'BatchNormalization-7: is_test dropped',
    ]);
    const feeds = { x: f32([2, 3, 4, 5]) };
    assert.equal(maxRel(await run(bn(7, {}), feeds), await run(up.after, feeds)), 0);
  });

  it('Scatter-10 → ScatterElements, Scan-8 batch 1 → Scan-9 with Squeeze/Unsqueeze (batch 2 refused)', async () => {
    const b = new GraphBuilder('g');
    const d = b.input('d', DataType.FLOAT, [3, 3]);
    const i = b.initializer('i', int64Tensor([2, 3], [1, 0, 2, 0, 2, 1]));
    const u = b.initializer('u', floatTensor([2, 3], [1, 2, 3, 4, 5, 6]));
    b.output(b.op('Scatter', [d, i, u], { axis: 0 }), 'y');
    const { after } = await sameAfter(b.model({ opset: 10 }), 11, { d: f32([3, 3]) });
    assert.deepEqual(ops(after), ['ScatterElements']);

    const scan = (batch: number) => {
      const body = new GraphBuilder('body');
      const s = body.input('s', DataType.FLOAT, [2]);
      const e = body.input('e', DataType.FLOAT, [2]);
      const sum = body.op('Add', [s, e]);
      body.output(sum, 's_out');
      body.output(body.op('Mul', [sum, e]), 'e_out');
      const g = new GraphBuilder('g');
      const init = g.input('init', DataType.FLOAT, [batch, 2]);
      const xs = g.input('xs', DataType.FLOAT, [batch, 5, 2]);
      const n = g.node(
        'Scan',
        [null, init, xs],
        { num_scan_inputs: 1, directions: [1], body: body.graph },
        { outputs: 2, name: 'scan' },
      );
      g.output(n.outputs[0], 'final');
      g.output(n.outputs[1], 'seq');
      return g.model({ opset: 8 });
    };
    const feeds = { init: f32([1, 2]), xs: f32([1, 5, 2]) };
    for (const target of [9, 13]) {
      const up = await sameAfter(scan(1), target, feeds);
      assert.deepEqual(up.result.rewritten, {
        'Scan-9: batch axis removed (Squeeze/Unsqueeze around a batch of 1)': 1,
      });
      assert.deepEqual(nodeOf(up.after, 'Scan').getInts('scan_input_directions'), [1]);
    }
    assert.match(
      refusal(scan(2), 9).message,
      /Scan 'scan'.*Scan-8 → Scan-9\): input 'init' does not have a batch of 1/,
    );
  });

  it('legacy broadcast (axis) at 7 becomes numpy broadcasting with trailing 1-dims', async () => {
    const legacy = (opset: number) => {
      const b = new GraphBuilder('g');
      const x = x4(b);
      const c = b.input('c', DataType.FLOAT, [3, 4]);
      b.output(b.op('Add', [x, c], { broadcast: 1, axis: 1 }), 'add');
      b.output(b.op('Mul', [x, b.input('s', DataType.FLOAT, [5])], { broadcast: 1 }), 'mul'); // suffix: numpy already
      b.output(b.op('Sub', [x, x], { consumed_inputs: [0, 0] }), 'sub');
      return b.model({ opset });
    };
    const { after, result } = upgraded(legacy(5), 13);
    assert.deepEqual(result.rewritten, {
      'Add-7: legacy broadcast/axis → numpy broadcasting': 1,
      'Mul-7: legacy broadcast/axis → numpy broadcasting': 1,
      'Sub-6: consumed_inputs (legacy) dropped': 1,
    });
    // onnxruntime has no opset-6 Add: compare with the same computation written for opset 13.
    const b = new GraphBuilder('g');
    const x = x4(b);
    const c = b.input('c', DataType.FLOAT, [3, 4]);
    b.output(b.op('Add', [x, b.op('Reshape', [c, b.constant(int64Tensor([3], [3, 4, 1]))])]), 'add');
    b.output(b.op('Mul', [x, b.input('s', DataType.FLOAT, [5])]), 'mul');
    b.output(b.op('Sub', [x, x]), 'sub');
    const feeds = { x: f32([2, 3, 4, 5]), c: f32([3, 4]), s: f32([5]) };
    assert.equal(maxRel(await run(b.model({ opset: 13 }), feeds), await run(after, feeds)), 0);
    assert.equal(nodeOf(after, 'Unsqueeze').inputs[1]!.producer!.opType, 'Constant');
  });

  it('opset-1 attribute forms: Cast to-name, Concat default axis, Reshape shape, Selu defaults, Pad paddings, Split input, Tile, LpPool p', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b);
    b.output(b.op('Cast', [x], { to: 'INT32' }), 'cast');
    b.output(b.op('Concat', [x, x]), 'concat');
    b.output(b.op('Reshape', [x], { shape: [6, -1] }), 'reshape');
    b.output(b.op('Selu', [x]), 'selu');
    b.output(b.op('Pad', [x], { paddings: [0, 0, 1, 0, 0, 0, 0, 2] }), 'pad');
    const sp = b.node('Split', [x, b.constant(floatTensor([2], [2, 3]))], { axis: 3 }, { outputs: 2 });
    b.output(sp.outputs[0], 'split0');
    b.output(sp.outputs[1], 'split1');
    b.output(b.op('Tile', [x, b.constant(floatTensor([], [2])), b.constant(floatTensor([], [1]))]), 'tile');
    b.output(b.op('LpPool', [x], { kernel_shape: [2, 2], p: { float: 2 } }), 'lp');
    const { after, result } = upgraded(b.model({ opset: 1 }), 13);
    assert.equal(Object.keys(result.rewritten).length, 10); // Pad and Split cross two adapters each
    const e = new GraphBuilder('g');
    const ex = x4(e);
    e.output(e.op('Cast', [ex], { to: DataType.INT32 }), 'cast');
    e.output(e.op('Concat', [ex, ex], { axis: 1 }), 'concat');
    e.output(e.op('Reshape', [ex, e.constant(int64Tensor([2], [6, -1]))]), 'reshape');
    e.output(e.op('Selu', [ex], { alpha: 1.6732, gamma: 1.0507 }), 'selu');
    e.output(e.op('Pad', [ex, e.constant(int64Tensor([8], [0, 0, 1, 0, 0, 0, 0, 2]))]), 'pad');
    const esp = e.node('Split', [ex, e.constant(int64Tensor([2], [2, 3]))], { axis: 3 }, { outputs: 2 });
    e.output(esp.outputs[0], 'split0');
    e.output(esp.outputs[1], 'split1');
    e.output(e.op('Tile', [ex, e.constant(int64Tensor([4], [1, 2, 1, 1]))]), 'tile');
    e.output(e.op('LpPool', [ex], { kernel_shape: [2, 2], p: 2 }), 'lp');
    const feeds = { x: f32([2, 3, 4, 5]) };
    assert.equal(maxRel(await run(e.model({ opset: 13 }), feeds), await run(after, feeds)), 0);
    // Selu-1's default alpha differs from Selu-6's: leaving it implicit would change the numbers.
    const implicit = new GraphBuilder('g');
    implicit.output(implicit.op('Selu', [x4(implicit)]), 'selu');
    const defaults = await run(implicit.model({ opset: 13 }), feeds);
    assert.ok(maxRel(defaults, { selu: (await run(after, feeds)).selu }) > 1e-6);
  });

  it('RoiAlign-10 → 16 keeps output_half_pixel, GridSample-16 → 20 renames modes, DFT-17 → 20 axis input, bitwise', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b, [1, 2, 6, 6]);
    const rois = b.initializer('rois', floatTensor([2, 4], [0, 0, 3, 3, 1.5, 0.5, 5, 4]));
    const bi = b.initializer('bi', int64Tensor([2], [0, 0]));
    b.output(b.op('RoiAlign', [x, rois, bi], { output_height: 2, output_width: 3, sampling_ratio: 2 }), 'roi');
    const grid = b.input('grid', DataType.FLOAT, [1, 3, 4, 2]);
    b.output(b.op('GridSample', [x, grid], { mode: 'bicubic' }), 'gs');
    b.output(b.op('GridSample', [x, grid]), 'gs2');
    const model = b.model({ opset: 16 });
    const feeds = { x: f32([1, 2, 6, 6]), grid: f32([1, 3, 4, 2], -1, 1) };
    const r10 = new GraphBuilder('g');
    const x10 = x4(r10, [1, 2, 6, 6]);
    r10.output(
      r10.op(
        'RoiAlign',
        [
          x10,
          r10.initializer('rois', floatTensor([2, 4], [0, 0, 3, 3, 1.5, 0.5, 5, 4])),
          r10.initializer('bi', int64Tensor([2], [0, 0])),
        ],
        { output_height: 2, output_width: 3, sampling_ratio: 2 },
      ),
      'roi',
    );
    const up10 = await sameAfter(r10.model({ opset: 10 }), 21, { x: feeds.x });
    assert.equal(nodeOf(up10.after, 'RoiAlign').getString('coordinate_transformation_mode'), 'output_half_pixel');
    // onnxruntime 1.30 loads opset 22 but has no CPU kernel for RoiAlign-22.
    assert.match(
      refusal(r10.model({ opset: 10 }), 22).message,
      /RoiAlign-10 → RoiAlign-22\): onnxruntime 1\.30 has no CPU kernel for RoiAlign-22/,
    );
    const up = await sameAfter(model, 21, feeds);
    assert.deepEqual(
      up.after.graph
        .nodes()
        .filter((n) => n.opType === 'GridSample')
        .map((n) => n.getString('mode')),
      ['cubic', 'linear'],
    );
    const d = new GraphBuilder('g');
    d.output(d.op('DFT', [d.input('s', DataType.FLOAT, [1, 8, 1])], { axis: 1 }), 'dft');
    d.output(d.op('DFT', [d.input('t', DataType.FLOAT, [2, 3, 4, 1])], { axis: 2, inverse: 1 }), 'idft');
    const upd = await sameAfter(d.model({ opset: 17 }), 20, { s: f32([1, 8, 1]), t: f32([2, 3, 4, 1]) });
    assert.equal(upd.result.rewritten['DFT-20: axis attribute → input'], 2);
  });

  it('ConvTranspose SAME_* padding (its formula was rewritten at 11) gives the same numbers before and after', async () => {
    for (const auto_pad of ['SAME_UPPER', 'SAME_LOWER'])
      for (const [k, s] of [
        [3, 2],
        [4, 2],
        [2, 3],
      ]) {
        const b = new GraphBuilder('g');
        const x = x4(b, [1, 2, 5, 5]);
        const w = b.initializer(
          'w',
          floatTensor(
            [2, 1, k, k],
            Array.from({ length: 2 * k * k }, (_, i) => i - k),
          ),
        );
        b.output(b.op('ConvTranspose', [x, w], { auto_pad, strides: [s, s] }), 'y');
        const { result } = await sameAfter(b.model({ opset: 10 }), 13, { x: f32([1, 2, 5, 5]) });
        assert.deepEqual(result.rewritten, {});
      }
  });

  it('GroupNormalization across 21 and QuantizeLinear of int32 across 19 are refused; float QuantizeLinear is carried', async () => {
    const b = new GraphBuilder('g');
    const x = x4(b);
    const s = b.initializer('s', floatTensor([3], [1, 2, 3]));
    b.output(b.op('GroupNormalization', [x, s, s], { num_groups: 3 }, { name: 'gn' }), 'y');
    b.output(b.op('Squeeze', [b.op('ReduceMean', [x], { axes: [0] })], { axes: [0] }), 'other');
    const e = refusal(b.model({ opset: 18 }), 21);
    assert.match(
      e.message,
      /GroupNormalization 'gn'.*\(GroupNormalization-18 → GroupNormalization-21\): scale and bias change from per-group to per-channel/,
    );
    const q = new GraphBuilder('g');
    const qx = q.input('x', DataType.FLOAT, [4]);
    const scale = q.constant(floatTensor([], [0.1]));
    q.output(q.op('DequantizeLinear', [q.op('QuantizeLinear', [qx, scale]), scale]), 'y');
    await sameAfter(q.model({ opset: 13 }), 21, { x: f32([4]) });
    const qi = new GraphBuilder('g');
    qi.output(
      qi.op(
        'QuantizeLinear',
        [qi.input('x', DataType.INT32, [4]), qi.constant(floatTensor([], [2]))],
        {},
        { name: 'q' },
      ),
      'y',
    );
    assert.match(refusal(qi.model({ opset: 13 }), 19).message, /QuantizeLinear 'q'.*input type 6 with a float scale/);
  });

  it('descends into If branches and function bodies (their own import); refuses attributes a function takes from its caller', async () => {
    const branch = (name: string, axes: number[]) => {
      const g = new GraphBuilder(name);
      g.output(g.op('Softmax', [g.op('Unsqueeze', [outer], { axes })], { axis: 1 }), `${name}_y`);
      return g.graph;
    };
    const b = new GraphBuilder('g');
    const outer = x4(b, [3, 4]);
    const cond = b.input('c', DataType.BOOL, []);
    b.output(b.op('If', [cond], { then_branch: branch('then', [0]), else_branch: branch('else', [2]) }), 'y');
    const model = b.model({ opset: 11 });
    for (const c of [true, false]) {
      const feeds = { x: f32([3, 4]), c: new ort.Tensor('bool', Uint8Array.from([c ? 1 : 0]), []) };
      const { after, result } = await sameAfter(model, 13, feeds);
      assert.equal(result.rewritten['Unsqueeze-13: axes attribute → input'], 2);
      assert.equal(ops(after).filter((o) => o === 'Flatten').length, 1); // else: rank 3, axis 1 is not last
    }

    const fn = (refAxis: boolean) => {
      const f = new FunctionDef('SqueezeSoftmax', 'local');
      const fb = new GraphBuilder(f.graph);
      const a = fb.graph.addInput(new Value('a'));
      const sq = fb.op('Squeeze', [a], { axes: [0] });
      const sm = fb.node('LogSoftmax', [sq], refAxis ? {} : { axis: 0 });
      if (refAxis) sm.setAttr({ name: 'axis', type: AttrType.INT, value: 0n, refAttrName: 'ax' });
      fb.graph.outputs.push(sm.outputs[0]);
      f.opsetImports.set('', 11);
      if (refAxis) f.attributes.push('ax');
      const b2 = new GraphBuilder('g');
      const x2 = b2.input('x', DataType.FLOAT, [1, 3, 4]);
      const call = b2.node('SqueezeSoftmax', [x2], refAxis ? { ax: 0 } : {}, { domain: 'local' });
      b2.output(call.outputs[0], 'y', DataType.FLOAT, [3, 4]);
      const m = b2.model({ opset: 11, opsets: { local: 1 } });
      m.functions.push(f);
      return m;
    };
    const { after, result } = await sameAfter(fn(false), 13, { x: f32([1, 3, 4]) });
    assert.deepEqual(Object.keys(result.rewritten).sort(), [
      'LogSoftmax-13: coerce-to-2D semantics kept (axis made explicit, or Flatten/Reshape around it)',
      'Squeeze-13: axes attribute → input',
    ]);
    assert.equal(after.functions[0].opsetImports.get(''), 13);
    assert.equal(result.functions, 1);
    assert.ok(after.functions[0].graph.nodes().some((n) => n.opType === 'Flatten'));
    assert.match(refusal(fn(true), 13).message, /LogSoftmax.*attribute\(s\) axis come from the calling function/);
  });

  it('never downgrades; sets the lowest IR for the opset (or keeps a higher one); the ai.onnx spelling of the domain works', () => {
    const b = new GraphBuilder('g');
    b.output(b.op('Relu', [x4(b)]), 'y');
    const m17 = b.model({ opset: 17 });
    assert.deepEqual(upgradeOpset(m17, 13), { from: 17, to: 17, rewritten: {}, functions: 0 });
    assert.equal(m17.opset, 17);
    const m9 = copy(m17);
    m9.opsetImports.set('', 9);
    m9.irVersion = 4;
    assert.deepEqual(upgradeOpset(m9, 21), { from: 9, to: 21, rewritten: {}, functions: 0 });
    assert.equal(m9.irVersion, 10);
    const m13 = copy(m17);
    m13.opsetImports.set('', 11);
    m13.irVersion = 8;
    upgradeOpset(m13, 13);
    assert.equal(m13.irVersion, 8);
    const named = copy(m17);
    named.opsetImports.delete('');
    named.opsetImports.set('ai.onnx', 12);
    upgradeOpset(named, 13);
    assert.deepEqual([...named.opsetImports], [['ai.onnx', 13]]);
    assert.throws(() => upgradeOpset(copy(m17), 27), /1\.\.26/);
    assert.equal(MAX_TARGET_OPSET, ORT_MAX_OPSET.get(''));
  });

  it('the pass: options checked, counts reported, tolerance 0, idempotent, a note instead of a downgrade', async () => {
    assert.throws(() => upgradeOpsetPass.parseOptions({}), PassOptionError);
    assert.throws(() => upgradeOpsetPass.parseOptions({ to: 27 }), PassOptionError);
    assert.throws(() => upgradeOpsetPass.parseOptions({ to: 13, from: 9 }), PassOptionError);
    assert.deepEqual(upgradeOpsetPass.parseOptions({ to: '21' }), { to: 21 });
    const b = new GraphBuilder('g');
    b.output(b.op('Squeeze', [x4(b, [1, 3])], { axes: [0] }), 'y');
    const m = b.model({ opset: 11 });
    const r = await upgradeOpsetPass.run(m, { to: 13 }, {});
    assert.deepEqual(r, {
      changed: true,
      counts: { 'ai.onnx opset 11 → 13': 1, 'Squeeze-13: axes attribute → input': 1 },
    });
    assert.deepEqual(await upgradeOpsetPass.run(m, { to: 13 }, {}), { changed: false, counts: {} });
    const again = await upgradeOpsetPass.run(m, { to: 12 }, {});
    assert.equal(again.changed, false);
    assert.match(again.notes![0], /opset 13 ≥ 12: left as it is/);
    assert.equal(upgradeOpsetPass.tolerance, 0);
    assert.equal(upgradeOpsetPass.idempotent, true);
    // Through the pass manager (which checks the model after the step), with a registry holding it.
    const registry = new Map([[upgradeOpsetPass.name, upgradeOpsetPass as unknown as Pass<never>]]);
    const fresh = new GraphBuilder('g');
    fresh.output(fresh.op('Squeeze', [x4(fresh, [1, 3])], { axes: [0] }), 'y');
    const viaManager = fresh.model({ opset: 11 });
    const report = await runPasses(viaManager, [{ pass: 'upgrade-opset', options: { to: 21 } }], { registry });
    assert.equal(report.steps[0].changed, true);
    assert.equal(viaManager.opset, 21);
  });
});

// ---- real and reference models ----

const image = (dims: number[], seed: number) => {
  const r = rng(seed);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: size(dims) }, (_, i) => 0.6 * Math.sin(i / 9) + 0.4 * (2 * r() - 1)),
    dims,
  );
};
const zeros = (dims: number[]) => new ort.Tensor('float32', new Float32Array(size(dims)), dims);
const audio = (seed: number) => {
  const r = rng(seed);
  return new ort.Tensor(
    'float32',
    Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000) + 0.1 * (2 * r() - 1)),
    [1, 512],
  );
};
const sr = () => new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
const reference = (name: string) => join(REPO_ROOT, 'models/reference', `${name}.onnx`);

async function runAt(model: Model | string, feeds: Feeds, level: 'all' | 'disabled'): Promise<Outputs> {
  const opts = { intraOpNumThreads: 1, logSeverityLevel: 4, graphOptimizationLevel: level } as const;
  const s = await (typeof model === 'string'
    ? ort.InferenceSession.create(model, opts)
    : ort.InferenceSession.create(serializeModel(model), opts));
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Largest |a−b|, largest |a−b|/|a| over |a| > 1e-3, and whether |a−b| ≤ 1e-5·|a| + 1e-6 everywhere. */
function closeness(a: Outputs, b: Outputs): { abs: number; rel: number; ok: boolean; bitwise: boolean } {
  let [abs, rel, ok, bitwise] = [0, 0, true, true];
  for (const k of Object.keys(a)) {
    assert.deepEqual(b[k].dims, a[k].dims, k);
    if (sameBytes(ortBytes(a[k]), ortBytes(b[k]))) continue;
    bitwise = false;
    const [x, y] = [floatsOf(a[k]), floatsOf(b[k])];
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      abs = Math.max(abs, d);
      if (Math.abs(x[i]) > 1e-3) rel = Math.max(rel, d / Math.abs(x[i]));
      if (!(d <= 1e-5 * Math.abs(x[i]) + 1e-6)) ok = false;
    }
  }
  return { abs, rel, ok, bitwise };
}

describe('upgrade-opset on real models', () => {
  before(async () => {
    await ensureModels();
  });

  it(
    'PaddleOCR det/rec/cls, Silero legacy/v5 and the reference models reach 13, 17 and 21: checker clean, outputs within 1e-5 (bitwise with no rewrite)',
    { timeout: 300_000 },
    async () => {
      const cases: [string, string, () => Feeds, number][] = [
        ['ocr-det', modelPath('ocr-det'), () => ({ x: image([1, 3, 320, 320], 1) }), 11],
        ['ocr-rec', modelPath('ocr-rec'), () => ({ x: image([1, 3, 48, 320], 2) }), 9],
        ['ocr-cls', modelPath('ocr-cls'), () => ({ x: image([1, 3, 48, 192], 3) }), 9],
        [
          'silero-legacy',
          modelPath('silero-legacy'),
          () => ({ input: audio(4), sr: sr(), h: zeros([2, 1, 64]), c: zeros([2, 1, 64]) }),
          16,
        ],
        ['silero-v5', modelPath('silero-v5'), () => ({ input: audio(5), state: zeros([2, 1, 128]), sr: sr() }), 16],
        ['mnist-cnn', reference('mnist-cnn'), () => ({ input: image([2, 1, 28, 28], 6) }), 13],
        ['fashion-resnet', reference('fashion-resnet'), () => ({ input: image([2, 1, 28, 28], 7) }), 13],
        [
          'spam-transformer',
          reference('spam-transformer'),
          () => ({
            input_ids: new ort.Tensor(
              'int64',
              BigInt64Array.from({ length: 256 }, (_, i) => BigInt((i * 37) % 997)),
              [1, 256],
            ),
          }),
          17,
        ],
      ];
      const problems: string[] = [];
      for (const [name, path, feeds, opset] of cases) {
        const original = loadModel(path);
        assert.equal(original.opset, opset, `${name} opset`);
        const f = feeds();
        const refs = { all: await runAt(path, f, 'all'), disabled: await runAt(path, f, 'disabled') };
        for (const target of [13, 17, 21]) {
          const { after, result } = upgraded(original, target);
          assert.equal(after.opset, Math.max(opset, target));
          const rewrites = Object.values(result.rewritten).reduce((a, c) => a + c, 0);
          const line: string[] = [];
          // Both with onnxruntime's default optimizations (what users run) and without (kernels only):
          // ORT fuses and picks kernels by op version, which moves the last bits on its own.
          for (const level of ['all', 'disabled'] as const) {
            const c = closeness(refs[level], await runAt(after, f, level));
            line.push(
              `${level}: ${c.bitwise ? 'bitwise' : `max |a−b| ${c.abs.toExponential(2)}, max rel ${c.rel.toExponential(2)}`}`,
            );
            if (!c.ok) problems.push(`${name} → ${target} (${level}): beyond 1e-5·|a| + 1e-6 (max |a−b| ${c.abs})`);
            if (rewrites === 0 && !c.bitwise)
              problems.push(`${name} → ${target} (${level}): nothing rewritten but outputs differ`);
          }
          console.log(
            `  ${name} ${result.from} → ${result.to}: ${rewrites} nodes rewritten; ${line.join('; ')}` +
              (rewrites ? `; ${JSON.stringify(result.rewritten)}` : ''),
          );
        }
      }
      assert.deepEqual(problems, []);
    },
  );
});

// ---- the conformance suite ----

const SUITE = '/usr/share/libonnx-testdata/data';

function suiteModels(): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const cat of readdirSync(SUITE).sort())
    for (const t of readdirSync(join(SUITE, cat)).sort())
      if (existsSync(join(SUITE, cat, t, 'model.onnx'))) out.push({ name: `${cat}/${t}`, dir: join(SUITE, cat, t) });
  return out;
}

/** |a−b| ≤ 1e-4·|a| + 1e-5 everywhere (NaN matches NaN), other types bitwise; the first violation or undefined. */
function within(a: Outputs, b: Outputs): string | undefined {
  for (const k of Object.keys(a)) {
    const [x, y] = [a[k], b[k]];
    if (!y) return `${k}: missing`;
    if (x.type !== y.type || x.dims.join() !== y.dims.join())
      return `${k}: ${x.type}[${x.dims}] vs ${y.type}[${y.dims}]`;
    if (sameBytes(ortBytes(x), ortBytes(y))) continue;
    if (x.type !== 'float32' && x.type !== 'float64') return `${k}: values differ`;
    const [p, q] = [floatsOf(x), floatsOf(y)];
    for (let i = 0; i < p.length; i++) {
      if (Object.is(p[i], q[i]) || (Number.isNaN(p[i]) && Number.isNaN(q[i]))) continue;
      if (!(Math.abs(p[i] - q[i]) <= 1e-4 * Math.abs(p[i]) + 1e-5)) return `${k}[${i}]: ${p[i]} vs ${q[i]}`;
    }
  }
  return undefined;
}

interface SuiteTotals {
  models: number;
  upgraded: number;
  rewritten: number;
  compared: number;
  bitwise: number;
  reference: number;
  loadOnly: number;
  refused: Record<string, number>;
}

describe('upgrade-opset on the ONNX conformance suite', () => {
  it(
    'every onnxruntime-loadable model below the target (21, and 26) reaches it and reproduces its outputs, or is refused with a message',
    { timeout: 120_000 },
    async () => {
      assert.ok(existsSync(SUITE), `${SUITE} is missing: apt-get install libonnx-testdata`);
      const targets = [21, 26];
      const totals = new Map<number, SuiteTotals>(
        targets.map((t) => [
          t,
          { models: 0, upgraded: 0, rewritten: 0, compared: 0, bitwise: 0, reference: 0, loadOnly: 0, refused: {} },
        ]),
      );
      const problems: string[] = [];
      let skipped = 0;
      for (const { name, dir } of suiteModels()) {
        const src = join(dir, 'model.onnx');
        const source = loadModel(src);
        if (source.opset >= targets[0] || (await ortLoads(src))) {
          skipped++;
          continue;
        }
        const inputs = source.graph.inputs.filter((v) => !v.isInitializer());
        const feeds: Feeds = {};
        for (const [i, v] of inputs.entries()) {
          const x = v.type?.kind === 'tensor' ? readTensorPb(join(dir, 'test_data_set_0', `input_${i}.pb`)) : undefined;
          if (x) feeds[v.name] = toOrt(x);
        }
        let original: Outputs | undefined;
        try {
          original = Object.keys(feeds).length === inputs.length ? await run(src, feeds) : undefined;
        } catch {
          original = undefined; // e.g. sequence outputs, which onnxruntime-node cannot return
        }
        const expected: Outputs = {};
        for (const [i, v] of source.graph.outputs.entries()) {
          const r = readTensorPb(join(dir, 'test_data_set_0', `output_${i}.pb`));
          if (r) expected[v.name] = toOrt(r);
        }
        const reproducesSuite =
          original && Object.keys(expected).length === source.graph.outputs.length && !within(expected, original);
        for (const target of targets) {
          const t = totals.get(target)!;
          t.models++;
          const model = copy(source);
          let result;
          try {
            result = upgradeOpset(model, target);
          } catch (e) {
            if (!(e instanceof OpsetUpgradeError) || !e.refusals.length) {
              problems.push(`${name} → ${target}: ${(e as Error).message}`);
              continue;
            }
            for (const r of e.refusals) {
              const key = `${r.op}-${r.from} → ${r.to}`;
              t.refused[key] = (t.refused[key] ?? 0) + 1;
            }
            if (target === targets[0]) console.log(`  refused ${name}: ${e.message}`);
            continue;
          }
          t.upgraded++;
          if (Object.keys(result.rewritten).length) t.rewritten++;
          const errors = checkModel(model).filter((i) => i.severity === 'error');
          if (errors.length) {
            problems.push(`${name} → ${target}: checker: ${errors[0].message}`);
            continue;
          }
          let got: Outputs | undefined;
          try {
            const opts = { logSeverityLevel: 4, intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' } as const;
            const s = await ort.InferenceSession.create(serializeModel(model), opts);
            try {
              got = original ? await s.run(feeds) : undefined;
            } finally {
              await s.release();
            }
          } catch (e) {
            problems.push(
              `${name} → ${target}: the upgraded model does not load or run: ${(e as Error).message.split('\n')[0]}`,
            );
            continue;
          }
          if (!original || !got) {
            t.loadOnly++;
            continue;
          }
          const diff = within(original, got);
          if (diff) {
            problems.push(`${name} → ${target}: ${diff} (${JSON.stringify(result.rewritten)})`);
            continue;
          }
          t.compared++;
          if (Object.keys(original).every((k) => sameBytes(ortBytes(original[k]), ortBytes(got[k])))) t.bitwise++;
          // Where the original reproduces the suite's expected outputs, the upgraded model does too.
          if (reproducesSuite) {
            const miss = within(expected, got);
            if (miss) problems.push(`${name} → ${target}: no longer matches the suite's expected outputs: ${miss}`);
            else t.reference++;
          }
        }
      }
      for (const [target, t] of totals) {
        const refused = Object.values(t.refused).reduce((a, c) => a + c, 0);
        const byOp = Object.entries(t.refused)
          .map(([k, n]) => `${k}: ${n}`)
          .join(', ');
        console.log(
          `conformance suite → opset ${target}: ${t.models} onnxruntime-loadable models below opset ${targets[0]}; ` +
            `${t.upgraded} upgraded (${t.rewritten} with rewritten nodes), ${t.models - t.upgraded} refused (${refused} nodes: ${byOp || 'none'}); ` +
            `outputs compared on ${t.compared} (${t.bitwise} bitwise, ${t.reference} also against the suite's expected outputs), ` +
            `${t.loadOnly} load-checked only (no runnable reference inputs or outputs)`,
        );
      }
      console.log(`  (${skipped} suite models skipped: opset ≥ ${targets[0]} or not loadable by onnxruntime as given)`);
      for (const p of problems) console.log(`  FAIL ${p}`);
      assert.deepEqual(problems, []);
      assert.ok(totals.get(21)!.upgraded > 900, `only ${totals.get(21)!.upgraded} upgraded to 21`);
    },
  );
});
