import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, MemoryTensor, checkModel, type Model } from '@edgeforge/onnx';
import type { Feeds } from '../runtime/types.js';
import { buildTrainingGraph, differentiableOps } from './autodiff.js';
import { gradCheck, hostTensor, randomTensor, rng } from './gradcheck.js';
import { appendCrossEntropy, appendDistillationLoss, appendMse, appendWeightedSum } from './losses.js';
import { Adam, Sgd, cosineLr } from './optimizers.js';
import { Trainer } from './trainer.js';

const F32 = DataType.FLOAT;

/** x [4, 6] → Gemm(6 → 5) → Tanh → `h` → Gemm(5 → 3) → `logits`, float32. */
function mlp(): Model {
  const b = new GraphBuilder('mlp');
  const r = rng(3);
  const x = b.input('x', F32, ['N', 6]);
  const w1 = b.initializer('w1', randomTensor(F32, [6, 5], r));
  const b1 = b.initializer('b1', randomTensor(F32, [5], r));
  const w2 = b.initializer('w2', randomTensor(F32, [5, 3], r));
  const h = b.op('Tanh', [b.op('Gemm', [x, w1, b1])], {}, { output: 'h' });
  b.output(b.op('Gemm', [h, w2], {}, { output: 'logits' }));
  return b.model({ opset: 13 });
}

const r = rng(11);
const feeds: Feeds = {
  x: hostTensor(randomTensor(F32, [4, 6], r)),
  labels: { type: 'int64', dims: [4], data: BigInt64Array.of(0n, 2n, 1n, 2n) },
  teacher_logits: hostTensor(randomTensor(F32, [4, 3], r, -3, 3)),
  h_target: hostTensor(randomTensor(F32, [4, 5], r)),
};

async function checkLoss(name: string, model: Model, loss: string, inputs: string[]): Promise<void> {
  assert.deepEqual(
    checkModel(model).filter((i) => i.severity === 'error'),
    [],
  );
  const use = Object.fromEntries(inputs.map((k) => [k, feeds[k]]));
  const res = await gradCheck(model, loss, use, { eps: 1e-2 });
  for (const x of res) {
    console.log(
      `${name.padEnd(28)} d/d${x.param}  max abs err ${x.maxAbsError.toExponential(2)}  rel ${x.maxRelError.toExponential(2)} (f32)`,
    );
    assert.ok(x.maxRelError < 2e-3, `${name} d/d${x.param}: ${x.maxRelError}`);
  }
  assert.equal(res.length, 3);
}

describe('losses in the graph', () => {
  it('cross-entropy on integer labels', async () => {
    const m = mlp();
    await checkLoss('cross-entropy', m, appendCrossEntropy(m, 'logits'), ['x', 'labels']);
  });

  it('distillation loss (T = 3, scaled by T²)', async () => {
    const m = mlp();
    await checkLoss('KD T=3', m, appendDistillationLoss(m, 'logits', { temperature: 3 }), ['x', 'teacher_logits']);
  });

  it('MSE feature matching plus a weighted sum of losses', async () => {
    const m = mlp();
    const mse = appendMse(m, 'h', 'h_target');
    const ce = appendCrossEntropy(m, 'logits');
    const total = appendWeightedSum(m, [
      { loss: ce, weight: 0.3 },
      { loss: mse, weight: 0.7 },
    ]);
    await checkLoss('0.3·CE + 0.7·MSE', m, total, ['x', 'labels', 'h_target']);
  });
});

describe('autodiff refusals and frozen paths', () => {
  it('names every op without a rule and its node', () => {
    const b = new GraphBuilder('g');
    const w = b.initializer('w', randomTensor(F32, [3, 4], rng(1)));
    const s = b.op('Sin', [w], {}, { name: 'the_sin' });
    const y = b.op('Cos', [s], {}, { name: 'the_cos' });
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }), 'loss');
    assert.throws(
      () => buildTrainingGraph(b.model({ opset: 13 }), 'loss'),
      /no gradient rule for Sin \(node 'the_sin'\), Cos \(node 'the_cos'\)/,
    );
    assert.ok(!differentiableOps().includes('Sin') && differentiableOps().includes('Conv'));
  });

  it('needs no rule on a frozen path, and reports weights the loss does not reach', () => {
    const b = new GraphBuilder('g');
    const r2 = rng(2);
    const x = b.input('x', F32, [2, 4]);
    const w = b.initializer('w', randomTensor(F32, [4, 3], r2));
    b.initializer('unused', randomTensor(F32, [5], r2));
    const frozen = b.op('Sin', [x]); // no rule, but no trainable input either
    const y = b.op('MatMul', [frozen, w]);
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }), 'loss');
    const tg = buildTrainingGraph(b.model({ opset: 13 }), 'loss');
    assert.deepEqual(
      tg.params.map((p) => p.name),
      ['w'],
    );
    assert.deepEqual(tg.unreached, ['unused']);
  });

  it('reports an If whose branch uses a weight, and keeps forward outputs on request', () => {
    const m = mlp();
    const loss = appendCrossEntropy(m, 'logits');
    const tg = buildTrainingGraph(m, loss, { keepOutputs: true });
    assert.deepEqual(
      tg.model.graph.outputs.map((o) => o.name),
      ['loss', 'w1_grad', 'b1_grad', 'w2_grad', 'logits'],
    );

    const b = new GraphBuilder('g');
    const cond = b.input('c', DataType.BOOL, []);
    const w = b.initializer('w', randomTensor(F32, [3], rng(1)));
    const branch = (name: string) => {
      const gb = new GraphBuilder(name);
      gb.output(gb.op('Mul', [w, w]), `${name}_out`);
      return gb.graph;
    };
    const y = b.op('If', [cond], { then_branch: branch('then'), else_branch: branch('else') }, { name: 'the_if' });
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }), 'loss');
    assert.throws(
      () => buildTrainingGraph(b.model({ opset: 13 }), 'loss'),
      /no gradient rule for If \(node 'the_if'\)/,
    );
  });

  it('takes an initializer that is also a graph input (IR 3 style) as a parameter once', () => {
    const b = new GraphBuilder('g');
    const w = b.initializer('w', randomTensor(F32, [4], rng(1)));
    b.graph.addInput(w);
    b.output(b.op('ReduceSum', [b.op('Mul', [w, w])], { keepdims: 0 }), 'loss');
    const tg = buildTrainingGraph(b.model({ opset: 13, irVersion: 3 }), 'loss');
    assert.deepEqual(
      tg.model.graph.inputs.map((v) => v.name),
      ['w'],
    );
    assert.equal(tg.model.graph.initializers.has('w'), false);
    assert.deepEqual(tg.dataInputs, []);
  });

  it('refuses Dropout in training mode', () => {
    const b = new GraphBuilder('g');
    const w = b.initializer('w', randomTensor(F32, [4], rng(1)));
    const mode = b.initializer('mode', new MemoryTensor(DataType.BOOL, [], Uint8Array.of(1)));
    const y = b.op('Dropout', [w, null, mode], {}, { name: 'drop' });
    b.output(b.op('ReduceSum', [y], { keepdims: 0 }), 'loss');
    assert.throws(() => buildTrainingGraph(b.model({ opset: 13 }), 'loss'), /Dropout 'drop': training mode/);
  });

  it('refuses a loss that is not a scalar', () => {
    const m = mlp();
    assert.throws(() => buildTrainingGraph(m, 'logits'), /loss 'logits' must be a scalar/);
    assert.throws(() => buildTrainingGraph(m, 'nope'), /no value 'nope'/);
  });

  it('stops on a diverging learning rate and keeps the last good weights', async () => {
    const m = mlp();
    const tg = buildTrainingGraph(m, appendCrossEntropy(m, 'logits'));
    const t = await Trainer.create(tg, new Sgd(1e38));
    const batch = { x: feeds.x, labels: feeds.labels };
    try {
      await t.step(batch);
      const good = new Map([...t.params()].map(([k, v]) => [k, v.slice()]));
      await assert.rejects(async () => {
        for (let i = 0; i < 5; i++) {
          for (const [k, v] of t.params()) good.set(k, v.slice());
          await t.step(batch);
        }
      }, /training diverged at step \d+: (loss is|gradient of)/);
      for (const [k, v] of t.params()) assert.deepEqual(v, good.get(k), `${k} kept its last good value`);
    } finally {
      await t.release();
    }
  });
});

describe('optimizers', () => {
  it('SGD with momentum and Adam minimize a quadratic; cosine schedule ends at its floor', () => {
    for (const opt of [
      new Sgd(0.1, { momentum: 0.9 }),
      new Adam(0.1),
      new Adam(0.1, { weightDecay: 0.01, decoupled: true }),
    ]) {
      const p = Float32Array.of(3, -2);
      for (let i = 0; i < 300; i++) opt.step([p], [Float32Array.from(p, (x) => 2 * x)]);
      assert.ok(Math.hypot(...p) < 1e-2, `${opt.constructor.name} reaches the minimum: ${p}`);
    }
    const lr = cosineLr(1, 100, { warmup: 10, minFactor: 0.1 });
    assert.ok(Math.abs(lr(0) - 0.1) < 1e-12 && Math.abs(lr(9) - 1) < 1e-12 && Math.abs(lr(100) - 0.1) < 1e-12);
  });
});
