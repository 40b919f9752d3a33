/**
 * prune-channels on small built graphs, one per coupling: conv-bn-relu-conv, depthwise separable,
 * concat, residual add, squeeze-excitation, flatten→gemm, a MatMul MLP, a subgraph, and a channel
 * shuffle (Reshape across the channels) that must be left alone. The channels the pass should
 * remove are built all-zero first (weights, biases, so their outputs are exactly 0), so the pruned
 * model must give the same outputs within 1e-5; parameter and MAC counts must match the formulas
 * written out below for the channel counts before and after.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataType,
  Graph,
  GraphBuilder,
  MemoryTensor,
  checkModel,
  floatTensor,
  inferShapes,
  int64Tensor,
  loadModelFromBytes,
  modelMacs,
  serializeModel,
  summarizeModel,
  tensorType,
  toFloat32,
  toTypedArray,
  type AttrInit,
  type Model,
  type Value,
} from '@edgeforge/onnx';
import { getBackend, type Feeds, type HostTensor } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import { PassOptionError, type Pass } from '../pass.js';
import { feed, randn, runModel } from '../testing/fuse-harness.js';
import { verifyPruned } from './channel-verify.js';
import { channelGroups, channelsToRemove, pruneChannelsPass, roundHalfEven } from './prune-channels.js';

const F = DataType.FLOAT;

/** Random weight of `dims` (uniform in [−1, 1)) whose slices `zero` along `axis` are 0. */
function w(dims: number[], axis = 0, zero: readonly number[] = []): MemoryTensor {
  const data = randn(dims.reduce((a, b) => a * b, 1));
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < data.length; i++) if (zero.includes(Math.floor(i / inner) % dims[axis])) data[i] = 0;
  return floatTensor(dims, data);
}

/** A builder with Conv helpers; initializers are named w0, w1, … */
class Net {
  #k = 0;
  constructor(readonly b: GraphBuilder = new GraphBuilder('net')) {}
  init(t: MemoryTensor): Value {
    return this.b.initializer(`w${this.#k++}`, t);
  }
  conv(
    x: Value,
    weight: MemoryTensor,
    bias?: MemoryTensor,
    attrs: Record<string, AttrInit> = {},
    name?: string,
  ): Value {
    const ins = [x, this.init(weight), ...(bias ? [this.init(bias)] : [])];
    const k = weight.dims.slice(2);
    const pads = [...k, ...k].map((d) => (d - 1) / 2);
    return this.b.op('Conv', ins, { kernel_shape: k, pads, ...attrs }, name ? { name } : {});
  }
}

/** Params and MACs as the model states them (MACs for a batch of one). */
function counts(m: Model): { params: number; macs: number } {
  const c = loadModelFromBytes(serializeModel(m));
  inferShapes(c);
  return { params: summarizeModel(m).parameters.float, macs: modelMacs(c, { assumeSymbolic: 1 }).total };
}

function maxAbsDiff(a: Record<string, HostTensor>, b: Record<string, HostTensor>): number {
  let worst = 0;
  for (const k of Object.keys(a)) {
    assert.deepEqual(b[k].dims, a[k].dims, `output '${k}' keeps its shape`);
    const [x, y] = [a[k].data as Float32Array, b[k].data as Float32Array];
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(1, Math.abs(x[i])));
  }
  return worst;
}

interface Expect {
  /** Float parameters and MACs as functions of the groups' channel counts. */
  params: (...c: number[]) => number;
  macs: (...c: number[]) => number;
  before: number[];
  after: number[];
}

/** Prunes a copy at `amount`, checks validity, the counts against `e`, and that outputs did not move. */
async function prunedExactly(model: Model, feeds: Feeds, e: Expect, raw: Record<string, unknown> = {}) {
  assert.deepEqual(
    checkModel(model).filter((i) => i.severity === 'error'),
    [],
  );
  const before = counts(model);
  assert.deepEqual(before, { params: e.params(...e.before), macs: e.macs(...e.before) }, 'counts before');
  const ref = await runModel(model, feeds);
  const m = loadModelFromBytes(serializeModel(model));
  const report = await pruneChannelsPass.run(m, pruneChannelsPass.parseOptions({ amount: 0.5, ...raw }), {});
  assert.deepEqual(
    checkModel(m).filter((i) => i.severity === 'error'),
    [],
  );
  const after = counts(m);
  const diff = maxAbsDiff(ref, await runModel(m, feeds));
  console.log(
    `params ${before.params} → ${after.params} (expected ${e.params(...e.after)}), MACs ${before.macs} → ${after.macs} ` +
      `(expected ${e.macs(...e.after)}), max output change ${diff.toExponential(2)}; ${JSON.stringify(report.counts)}`,
  );
  assert.deepEqual(after, { params: e.params(...e.after), macs: e.macs(...e.after) }, 'counts after');
  assert.ok(diff <= 1e-5, `outputs changed by ${diff}`);
  return { m, report };
}

const HALF8 = [1, 2, 5, 6];

describe('prune-channels: counts', () => {
  it('removes round_half_even(amount · n) channels like torch ln_structured, keeping one', () => {
    assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4999].map(roundHalfEven), [0, 2, 2, 4, 2]);
    assert.equal(channelsToRemove(0.25, 10), 2); // 2.5 → 2
    assert.equal(channelsToRemove(0.35, 10), 4); // 3.5 → 4
    assert.equal(channelsToRemove(0.5, 5), 2); // 2.5 → 2
    assert.equal(channelsToRemove(0.5, 1), 0);
    assert.equal(channelsToRemove(0.9, 2), 1); // 1.8 → 2, but one channel stays
    assert.equal(channelsToRemove(0, 64), 0);
  });

  it('multipleOf rounds the kept count to the nearest multiple (ties keep more), within [m, m·⌊n/m⌋]', () => {
    assert.equal(channelsToRemove(0.25, 24, 8), 8); // keep 18 → 16
    assert.equal(channelsToRemove(0.25, 20, 8), 4); // keep 15 → 16
    assert.equal(channelsToRemove(0.25, 16, 8), 0); // keep 12, a tie → 16
    assert.equal(channelsToRemove(0.5, 16, 8), 8);
    assert.equal(channelsToRemove(0.9, 16, 8), 8); // keep 2 → 0, but never below 8
    assert.equal(channelsToRemove(0.1, 20, 8), 4); // keep 18 → 16: the most a 20-group can keep
    assert.equal(channelsToRemove(0.01, 20, 8), 0); // nothing asked, nothing removed
    assert.equal(channelsToRemove(0, 20, 8), 0);
    assert.equal(channelsToRemove(0.5, 6, 8), 0); // smaller than m: left alone
    for (const m of [1, 2, 3, 4, 8, 16])
      for (let n = 1; n <= 70; n++)
        for (const amount of [0, 0.05, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 0.99]) {
          const r = channelsToRemove(amount, n, m);
          const kept = n - r;
          if (m === 1) assert.equal(r, channelsToRemove(amount, n));
          else if (r > 0) assert.ok(kept % m === 0 && kept >= m && kept <= n, `n ${n} m ${m} amount ${amount}`);
          if (channelsToRemove(amount, n) === 0) assert.equal(r, 0);
        }
  });
});

describe('prune-channels: built graphs (zeroed channels removed, outputs unchanged)', () => {
  function convBnReluConv(zero: number[], opts: { constants?: boolean; bnZero?: boolean } = {}): Model {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, ['N', 3, 8, 8]);
    const add = (t: MemoryTensor) => (opts.constants ? b.constant(t) : n.init(t));
    const w1 = w([8, 3, 3, 3], 0, opts.bnZero ? [] : zero);
    const b1 = w([8], 0, opts.bnZero ? [] : zero);
    const c1 = b.op('Conv', [x, add(w1), add(b1)], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv1' });
    const gamma = floatTensor(
      [8],
      Array.from({ length: 8 }, (_, i) => (opts.bnZero && zero.includes(i) ? 0 : 0.5 + i / 8)),
    );
    const beta = floatTensor(
      [8],
      Array.from({ length: 8 }, (_, i) => (zero.includes(i) ? 0 : 0.1 * i)),
    );
    const mean = floatTensor(
      [8],
      Array.from({ length: 8 }, (_, i) => (zero.includes(i) && !opts.bnZero ? 0 : 0.05 * i)),
    );
    const bn = b.op(
      'BatchNormalization',
      [c1, add(gamma), add(beta), add(mean), add(floatTensor([8], new Array(8).fill(1)))],
      {
        epsilon: 1e-5,
      },
    );
    const c2 = b.op('Conv', [b.op('Relu', [bn]), add(w([4, 8, 3, 3])), add(w([4]))], {
      kernel_shape: [3, 3],
      pads: [1, 1, 1, 1],
    });
    b.output(c2, 'y', F, ['N', 4, 8, 8]);
    return b.model({ opset: 13 });
  }
  const cbrcExpect: Expect = {
    params: (c) => 27 * c + c + 4 * c + 36 * c + 4,
    macs: (c) => 64 * 27 * c + 4 * 64 * 9 * c,
    before: [8],
    after: [4],
  };

  it('conv-bn-relu-conv: BN parameters and the next Conv input channels follow', async () => {
    const { m } = await prunedExactly(convBnReluConv(HALF8), { x: feed([2, 3, 8, 8]) }, cbrcExpect);
    const bn = m.graph.nodes().find((x) => x.opType === 'BatchNormalization')!;
    assert.deepEqual(
      bn.inputs.slice(1).map((v) => v!.const!.dims),
      [[4], [4], [4], [4]],
    );
  });

  it('conv-bn-relu-conv with weights in Constant nodes, and with l2', async () => {
    await prunedExactly(convBnReluConv(HALF8, { constants: true }), { x: feed([1, 3, 8, 8]) }, cbrcExpect);
    await prunedExactly(convBnReluConv(HALF8), { x: feed([1, 3, 8, 8]) }, cbrcExpect, { criterion: 'l2' });
  });

  it('multipleOf 4: amount 0.4 of 8 would keep 5, keeps 4 (the zeroed channels) instead', async () => {
    const feeds = { x: feed([1, 3, 8, 8]) };
    const { report } = await prunedExactly(convBnReluConv(HALF8), feeds, cbrcExpect, { amount: 0.4, multipleOf: 4 });
    assert.equal(report.counts['channels removed'], 4);
    // Without it, round_half_even(3.2) = 3 go and 5 stay.
    const plain = convBnReluConv(HALF8);
    await pruneChannelsPass.run(plain, pruneChannelsPass.parseOptions({ amount: 0.4 }), {});
    const conv1 = plain.graph.nodes().find((x) => x.name === 'conv1')!;
    assert.deepEqual(conv1.inputs[1]!.const!.dims, [5, 3, 3, 3]);
  });

  it('bn-scale ranks by BatchNormalization γ (channels with γ = β = 0 are removed)', async () => {
    // The conv filters of those channels are not small: l1 would pick others.
    const model = convBnReluConv(HALF8, { bnZero: true });
    await prunedExactly(model, { x: feed([1, 3, 8, 8]) }, cbrcExpect, { criterion: 'bn-scale' });
    const l1 = loadModelFromBytes(serializeModel(model));
    await pruneChannelsPass.run(l1, pruneChannelsPass.parseOptions({ amount: 0.5 }), {});
    assert.ok(
      maxAbsDiff(await runModel(model, { x: feed([1, 3, 8, 8]) }), await runModel(l1, { x: feed([1, 3, 8, 8]) })) >
        1e-3,
    );
  });

  it('depthwise separable: the depthwise Conv is pruned in step and its group shrinks', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, [1, 4, 8, 8]);
    const pw1 = n.conv(x, w([8, 4, 1, 1], 0, HALF8), w([8], 0, HALF8));
    const dw = n.conv(b.op('Relu', [pw1]), w([8, 1, 3, 3], 0, HALF8), w([8], 0, HALF8), { group: 8 }, 'dw');
    b.output(n.conv(b.op('Relu', [dw]), w([6, 8, 1, 1]), w([6])), 'y', F, [1, 6, 8, 8]);
    const { m } = await prunedExactly(
      b.model({ opset: 13 }),
      { x: feed([1, 4, 8, 8]) },
      { params: (c) => 21 * c + 6, macs: (c) => 64 * c * (4 + 9 + 6), before: [8], after: [4] },
    );
    assert.equal(
      m.graph
        .nodes()
        .find((x) => x.name === 'dw')!
        .getInt('group'),
      4,
    );
  });

  it('concat: each input group is pruned on its own, the consumer sees the union at offsets', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, [1, 3, 6, 6]);
    const a = b.op('Relu', [n.conv(x, w([4, 3, 3, 3], 0, [0, 3]), w([4], 0, [0, 3]))]);
    const c = b.op('Relu', [n.conv(x, w([6, 3, 3, 3], 0, [1, 2, 4]), w([6], 0, [1, 2, 4]))]);
    const cat = b.op('Concat', [a, c], { axis: 1 });
    b.output(n.conv(cat, w([5, 10, 1, 1]), w([5])), 'y', F, [1, 5, 6, 6]);
    await prunedExactly(
      b.model({ opset: 13 }),
      { x: feed([1, 3, 6, 6]) },
      {
        params: (p, q) => 28 * p + 28 * q + 5 * (p + q) + 5,
        macs: (p, q) => 36 * 27 * (p + q) + 36 * 5 * (p + q),
        before: [4, 6],
        after: [2, 3],
      },
    );
  });

  it('residual add: both branches lose the same channels', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, [1, 3, 6, 6]);
    const a = b.op('Relu', [n.conv(x, w([8, 3, 3, 3], 0, HALF8), w([8], 0, HALF8), {}, 'conv0')]);
    const h = b.op('Relu', [n.conv(a, w([8, 8, 3, 3], 0, [0, 3, 4, 7]), w([8], 0, [0, 3, 4, 7]))]);
    const r = n.conv(h, w([8, 8, 3, 3], 0, HALF8), w([8], 0, HALF8), {}, 'conv2');
    const s = b.op('Relu', [b.op('Add', [a, r])]);
    b.output(n.conv(s, w([4, 8, 1, 1]), w([4])), 'y', F, [1, 4, 6, 6]);
    const model = b.model({ opset: 13 });
    const groups = channelGroups(model);
    assert.deepEqual(
      groups.map((g) => [g.layers.length, g.channels]),
      [
        [2, 8],
        [1, 8],
        [1, 4],
      ],
    );
    assert.match(groups[2].blocked!, /'y' is a graph output/);
    await prunedExactly(
      model,
      { x: feed([1, 3, 6, 6]) },
      {
        params: (c, d) => 28 * c + 18 * c * d + d + c + 4 * c + 4,
        macs: (c, d) => 36 * (27 * c + 18 * c * d + 4 * c),
        before: [8, 8],
        after: [4, 4],
      },
    );
  });

  it('squeeze-excitation: the expand Conv joins the trunk, the reduce Conv is its own group', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, [1, 3, 6, 6]);
    const t = b.op('Relu', [n.conv(x, w([8, 3, 3, 3], 0, HALF8), w([8], 0, HALF8))]);
    const r = b.op('Relu', [n.conv(b.op('GlobalAveragePool', [t]), w([4, 8, 1, 1], 0, [1, 2]), w([4], 0, [1, 2]))]);
    const g = b.op('HardSigmoid', [n.conv(r, w([8, 4, 1, 1], 0, HALF8), w([8], 0, HALF8))], {
      alpha: 1 / 6,
      beta: 0.5,
    });
    b.output(n.conv(b.op('Mul', [t, g]), w([4, 8, 1, 1]), w([4])), 'y', F, [1, 4, 6, 6]);
    await prunedExactly(
      b.model({ opset: 13 }),
      { x: feed([1, 3, 6, 6]) },
      {
        params: (c, q) => 28 * c + (c * q + q) + (q * c + c) + 4 * c + 4,
        macs: (c, q) => 36 * 27 * c + q * c + c * q + 36 * 4 * c,
        before: [8, 4],
        after: [4, 2],
      },
    );
  });

  it('flatten → gemm: each channel takes its H·W block of the Gemm input with it', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, ['N', 3, 4, 4]);
    const c = b.op('Relu', [n.conv(x, w([6, 3, 3, 3], 0, [0, 2, 5]), w([6], 0, [0, 2, 5]))]);
    const flat = b.op('Flatten', [c], { axis: 1 });
    b.output(b.op('Gemm', [flat, n.init(w([5, 96])), n.init(w([5]))], { transB: 1 }), 'y', F, ['N', 5]);
    await prunedExactly(
      b.model({ opset: 13 }),
      { x: feed([2, 3, 4, 4]) },
      { params: (k) => 28 * k + 5 * 16 * k + 5, macs: (k) => 16 * 27 * k + 5 * 16 * k, before: [6], after: [3] },
    );
  });

  it('MatMul MLP: hidden neurons go with their bias entries and the next weight rows', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, ['N', 16]);
    const z1 = Array.from({ length: 16 }, (_, i) => 2 * i + 1);
    const z2 = Array.from({ length: 12 }, (_, i) => 2 * i);
    const h1 = b.op('Relu', [b.op('Add', [b.op('MatMul', [x, n.init(w([16, 32], 1, z1))]), n.init(w([32], 0, z1))])]);
    const h2 = b.op('Relu', [b.op('Add', [b.op('MatMul', [h1, n.init(w([32, 24], 1, z2))]), n.init(w([24], 0, z2))])]);
    b.output(b.op('MatMul', [h2, n.init(w([24, 10]))]), 'y', F, ['N', 10]);
    await prunedExactly(
      b.model({ opset: 13 }),
      { x: feed([3, 16]) },
      {
        params: (p, q) => 16 * p + p + p * q + q + 10 * q,
        macs: (p, q) => 16 * p + p * q + 10 * q,
        before: [32, 24],
        after: [16, 12],
      },
    );
  });

  it('subgraphs: layers inside If branches are pruned there', async () => {
    const b = new GraphBuilder('main');
    const x = b.input('x', F, [1, 3, 6, 6]);
    const cond = b.input('cond', DataType.BOOL, []);
    const branch = (name: string) => {
      const n = new Net(new GraphBuilder(new Graph(name)));
      const h = n.b.op('Relu', [n.conv(x, w([8, 3, 3, 3], 0, HALF8), w([8], 0, HALF8))]);
      n.b.output(n.conv(h, w([4, 8, 1, 1]), w([4])), `${name}_y`, F, [1, 4, 6, 6]);
      return n.b.graph;
    };
    const ifNode = b.node('If', [cond], { then_branch: branch('then'), else_branch: branch('else') });
    ifNode.outputs[0].type = tensorType(F, [1, 4, 6, 6]);
    b.output(ifNode.outputs[0], 'y');
    const feeds = (c: boolean): Feeds => ({
      x: feed([1, 3, 6, 6]),
      cond: { type: 'bool', dims: [], data: new Uint8Array([c ? 1 : 0]) },
    });
    // Both branches count in the MACs.
    await prunedExactly(b.model({ opset: 13 }), feeds(true), {
      params: (c) => 2 * (28 * c + 4 * c + 4),
      macs: (c) => 2 * (36 * 27 * c + 36 * 4 * c),
      before: [8],
      after: [4],
    });
  });

  it('a Reshape across the channels (channel shuffle) leaves its group alone and names it', async () => {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, [1, 3, 6, 6]);
    const c1 = n.conv(x, w([8, 3, 3, 3], 0, HALF8), w([8], 0, HALF8));
    const split = b.op('Reshape', [c1, n.init(int64Tensor([5], [1, 2, 4, 6, 6]))], {}, { name: 'shuffle' });
    const back = b.op('Reshape', [
      b.op('Transpose', [split], { perm: [0, 2, 1, 3, 4] }),
      n.init(int64Tensor([4], [1, 8, 6, 6])),
    ]);
    const c2 = b.op('Relu', [n.conv(back, w([6, 8, 3, 3], 0, [0, 1, 4]), w([6], 0, [0, 1, 4]))]);
    b.output(n.conv(c2, w([4, 6, 1, 1]), w([4])), 'y', F, [1, 4, 6, 6]);
    const { report } = await prunedExactly(
      b.model({ opset: 13 }),
      { x: feed([1, 3, 6, 6]) },
      {
        params: (k) => 28 * 8 + 72 * k + k + 4 * k + 4,
        macs: (k) => 36 * 27 * 8 + 36 * 72 * k + 36 * 4 * k,
        before: [6],
        after: [3],
      },
    );
    assert.equal(report.counts['channel groups left alone'], 2);
    assert.ok(
      report.notes!.some((s) => /Reshape 'shuffle' reshapes across the channel axis/.test(s)),
      report.notes!.join('\n'),
    );
  });
});

describe('prune-channels: more couplings', () => {
  const input = (b: GraphBuilder, dims: number[]) => b.input('x', F, dims);

  it('ConvTranspose: output channels along weight axis 1', async () => {
    const n = new Net();
    const x = input(n.b, [1, 3, 4, 4]);
    const up = n.b.op('ConvTranspose', [x, n.init(w([3, 8, 2, 2], 1, HALF8)), n.init(w([8], 0, HALF8))], {
      kernel_shape: [2, 2],
      strides: [2, 2],
    });
    n.b.output(n.conv(n.b.op('Relu', [up]), w([4, 8, 1, 1]), w([4])), 'y', F, [1, 4, 8, 8]);
    await prunedExactly(
      n.b.model({ opset: 13 }),
      { x: feed([1, 3, 4, 4]) },
      { params: (c) => 12 * c + c + 4 * c + 4, macs: (c) => 48 * c * 4 + 64 * 4 * c, before: [8], after: [4] },
    );
  });

  function splitModel(zero: number[]): Model {
    const n = new Net();
    const x = input(n.b, [1, 3, 6, 6]);
    const c = n.conv(x, w([8, 3, 3, 3], 0, zero), w([8], 0, zero));
    const parts = n.b.node('Split', [c, n.init(int64Tensor([2], [4, 4]))], { axis: 1 }, { outputs: 2, name: 'split' });
    const [a, d] = parts.outputs.map((v) => n.conv(n.b.op('Relu', [v]), w([2, 4, 1, 1]), w([2])));
    n.b.output(n.b.op('Add', [a, d]), 'y', F, [1, 2, 6, 6]);
    return n.b.model({ opset: 13 });
  }
  const splitSizes = (m: Model) =>
    Array.from(
      toTypedArray(m.graph.nodes().find((x) => x.name === 'split')!.inputs[1]!.const!) as BigInt64Array,
      Number,
    );

  it('Split along the channels: each output keeps its share and the sizes follow', async () => {
    const { m } = await prunedExactly(
      splitModel([1, 2, 5, 6]),
      { x: feed([1, 3, 6, 6]) },
      { params: (c) => 28 * c + 2 * c + 4, macs: (c) => 36 * 27 * c + 36 * 2 * c, before: [8], after: [4] },
    );
    assert.deepEqual(splitSizes(m), [2, 2]);
  });

  it('never empties a tensor: a Split output keeps one channel even when all of its channels rank lowest', async () => {
    const m = splitModel([0, 1, 2, 3]);
    await pruneChannelsPass.run(m, pruneChannelsPass.parseOptions({ amount: 0.5 }), {});
    assert.deepEqual(splitSizes(m), [1, 3]);
    assert.deepEqual(
      checkModel(m).filter((i) => i.severity === 'error'),
      [],
    );
  });

  it('Reshape that flattens from the channels: its literal size follows', async () => {
    const n = new Net();
    const x = input(n.b, [1, 3, 4, 4]);
    const c = n.b.op('Relu', [n.conv(x, w([6, 3, 3, 3], 0, [0, 2, 5]), w([6], 0, [0, 2, 5]))]);
    const flat = n.b.op('Reshape', [c, n.init(int64Tensor([2], [1, 96]))], {}, { name: 'flat' });
    n.b.output(n.b.op('Gemm', [flat, n.init(w([5, 96])), n.init(w([5]))], { transB: 1 }), 'y', F, [1, 5]);
    const { m } = await prunedExactly(
      n.b.model({ opset: 13 }),
      { x: feed([1, 3, 4, 4]) },
      { params: (k) => 28 * k + 5 * 16 * k + 5, macs: (k) => 16 * 27 * k + 5 * 16 * k, before: [6], after: [3] },
    );
    const shape = m.graph.nodes().find((x) => x.name === 'flat')!.inputs[1]!.const!;
    assert.deepEqual(Array.from(toTypedArray(shape) as BigInt64Array, Number), [1, 48]);
  });

  it('Transpose to channels-last, Slice over another axis, then MatMul over the channels', async () => {
    const n = new Net();
    const x = input(n.b, [1, 3, 4, 4]);
    const c = n.b.op('Relu', [n.conv(x, w([6, 3, 1, 1], 0, [1, 3, 4]), w([6], 0, [1, 3, 4]))]);
    const nhwc = n.b.op('Transpose', [c], { perm: [0, 2, 3, 1] });
    const top = n.b.op('Slice', [
      nhwc,
      n.init(int64Tensor([1], [0])),
      n.init(int64Tensor([1], [2])),
      n.init(int64Tensor([1], [1])),
    ]);
    n.b.output(n.b.op('MatMul', [top, n.init(w([6, 5]))]), 'y', F, [1, 2, 4, 5]);
    await prunedExactly(
      n.b.model({ opset: 13 }),
      { x: feed([1, 3, 4, 4]) },
      { params: (k) => 4 * k + 5 * k, macs: (k) => 16 * 3 * k + 8 * 5 * k, before: [6], after: [3] },
    );
  });
});

describe('prune-channels: options and refusals', () => {
  const parse = (raw: Record<string, unknown>) => pruneChannelsPass.parseOptions(raw);

  it('rejects bad options with one clear message', () => {
    assert.throws(() => parse({}), PassOptionError);
    assert.throws(() => parse({ amount: 1 }), /amount must be a number in \[0, 1\)/);
    assert.throws(() => parse({ amount: -0.1 }), /amount/);
    assert.throws(() => parse({ amount: 0.5, criterion: 'l3' }), /criterion must be l1, l2, bn-scale/);
    assert.throws(() => parse({ amount: 0.5, opTypes: ['Relu'] }), /opTypes Relu have no channels/);
    assert.throws(() => parse({ amount: 0.5, minChannels: 0 }), /minChannels/);
    assert.throws(() => parse({ amount: 0.5, amout: 1 }), /unknown option amout/);
    assert.deepEqual(parse({ amount: '0.25' }), {
      amount: 0.25,
      criterion: 'l1',
      opTypes: ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'],
      nodes: [],
      minChannels: 1,
      multipleOf: 1,
    });
    assert.equal(parse({ amount: 0.5, multipleOf: '8' }).multipleOf, 8);
    for (const bad of [0, 1.5, 'x', -8])
      assert.throws(() => parse({ amount: 0.5, multipleOf: bad }), /multipleOf must be an integer ≥ 1/);
  });

  function twoConvs(): Model {
    const n = new Net();
    const b = n.b;
    const x = b.input('x', F, [1, 3, 6, 6]);
    const h = b.op('Relu', [n.conv(x, w([8, 3, 3, 3]), w([8]), {}, 'first')]);
    const h2 = b.op('Relu', [n.conv(h, w([8, 8, 3, 3]), w([8]), {}, 'second')]);
    b.output(n.conv(h2, w([2, 8, 1, 1]), w([2]), {}, 'head'), 'y', F, [1, 2, 6, 6]);
    return b.model({ opset: 13 });
  }

  it('selection by node pattern and minChannels; a selection that matches nothing is an error', async () => {
    const m = twoConvs();
    const r = await pruneChannelsPass.run(m, parse({ amount: 0.5, nodes: ['sec*'] }), {});
    const dims = (name: string) => m.graph.nodes().find((x) => x.name === name)!.inputs[1]!.const!.dims;
    assert.deepEqual(
      [dims('first'), dims('second'), dims('head')],
      [
        [8, 3, 3, 3],
        [4, 8, 3, 3],
        [2, 4, 1, 1],
      ],
    );
    assert.equal(r.counts['channels removed'], 4);
    const same = twoConvs();
    assert.equal((await pruneChannelsPass.run(same, parse({ amount: 0.5, minChannels: 9 }), {})).changed, false);
    await assert.rejects(
      async () => pruneChannelsPass.run(twoConvs(), parse({ amount: 0.5, nodes: ['nothing*'] }), {}),
      /no Conv\/ConvTranspose\/Gemm\/MatMul layer with prunable channels matches nothing\*/,
    );
    await assert.rejects(
      async () => pruneChannelsPass.run(twoConvs(), parse({ amount: 0.5, opTypes: ['Gemm'] }), {}),
      /no Gemm layer/,
    );
  });

  it('runs in a recipe through the pass manager (checker after the pass, --verify allows any change)', async () => {
    const m = twoConvs();
    const registry = new Map([[pruneChannelsPass.name, pruneChannelsPass as unknown as Pass<never>]]);
    const feeds = [{ x: feed([1, 3, 6, 6]) }];
    const verify = { createSession: (bytes: Uint8Array) => getBackend('node').createSession(bytes), feeds };
    const r = await runPasses(m, [{ pass: 'prune-channels', options: { amount: 0.25, criterion: 'l2' } }], {
      registry,
      verify,
    });
    assert.equal(r.steps[0].counts['channels removed'], 4);
    assert.ok(r.paramsAfter < r.paramsBefore);
    assert.ok(Number.isFinite(r.steps[0].verifiedMaxRelError));
  });

  it('amount 0 changes nothing, with or without multipleOf', async () => {
    for (const raw of [{ amount: 0 }, { amount: 0, multipleOf: 8 }, { amount: 0.05, multipleOf: 4 }]) {
      const m = twoConvs();
      const before = serializeModel(m);
      assert.equal((await pruneChannelsPass.run(m, parse(raw), {})).changed, false);
      assert.deepEqual(serializeModel(m), before);
    }
  });

  it('multipleOf: kept counts are multiples; a group smaller than multipleOf is left alone with a note', async () => {
    const m = twoConvs();
    const dims = (name: string) => m.graph.nodes().find((x) => x.name === name)!.inputs[1]!.const!.dims;
    // 8 channels at 0.75: 6 would go; 2 kept rounds up to 4.
    const r = await pruneChannelsPass.run(m, parse({ amount: 0.75, multipleOf: 4 }), {});
    assert.deepEqual([dims('first')[0], dims('second')[0], dims('head')[1]], [4, 4, 4]);
    assert.equal(r.counts['channels removed'], 8);
    const small = twoConvs();
    const before = serializeModel(small);
    const s = await pruneChannelsPass.run(small, parse({ amount: 0.5, multipleOf: 16 }), {});
    assert.equal(s.changed, false);
    assert.deepEqual(serializeModel(small), before);
    assert.equal(s.counts['channel groups smaller than multipleOf'], 2);
    assert.ok(
      s.notes?.some((n) => /first.*fewer than multipleOf 16 channels/.test(n)),
      s.notes?.join('; '),
    );
  });

  it('verification refuses a model whose shapes disagree', async () => {
    const m = twoConvs();
    const original = serializeModel(m);
    // Half the first Conv's filters removed by hand, nothing else rewritten.
    const conv = m.graph.nodes().find((x) => x.name === 'first')!;
    const wt = conv.inputs[1]!.const!;
    m.graph.addInitializer(conv.inputs[1]!.name, new MemoryTensor(F, [4, 3, 3, 3], toFloat32(wt).slice(0, 108)));
    await assert.rejects(verifyPruned(m, original), /fails the checker|shapes disagree|onnxruntime rejects/);
  });
});
