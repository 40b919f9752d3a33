/**
 * Distillation and fine-tuning on the MNIST CNN reference model through onnxruntime: a half-width
 * student learns from the teacher (with labels and without), a pruned model recovers by fine-tuning,
 * and bad input stops with one clear message. Short runs (a few thousand samples, tens of steps); the
 * full runs are in bench/distill.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DataType,
  floatTensor,
  GraphBuilder,
  loadModel,
  serializeModel,
  tensorType,
  type Model as ModelT,
} from '@edgeforge/onnx';
import { REPO_ROOT, ensureModels, mnistPath } from '../../../../tools/models.ts';
import { distill, TrainingDiverged, type DistillProgress } from './distill.js';
import { shrinkWidth } from './shrink-width.js';
import { openTrainSet } from './train-set.js';
import { initializersToConstants } from '../passes/optimize/initializers-to-constants.js';
import { nodeBackend } from '../runtime/node.js';

const MNIST = join(REPO_ROOT, 'models/reference/mnist-cnn.onnx');
const train = (labels = true) =>
  `idx:${mnistPath('train-images-idx3-ubyte')},${labels ? `labels=${mnistPath('train-labels-idx1-ubyte')},` : ''}mean=0.1307,std=0.3081`;
/** Short-run options: 4,000 samples (400 held out), 40 steps of 64. */
const SHORT = { limit: 4000, valSplit: 0.1, maxSteps: 40, evalEvery: 20, threads: 2 } as const;

const opTypes = (m: ModelT) => [...m.graph].map((n) => `${n.name}:${n.opType}`);

async function halfWidth(): Promise<ModelT> {
  const s = loadModel(MNIST);
  await shrinkWidth(s, 0.5);
  return s;
}

describe('distill', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-distill-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('a half-width student learns from the teacher and labels; structure unchanged, best weights kept', async () => {
    const teacher = loadModel(MNIST);
    const student = await halfWidth();
    const before = opTypes(student);
    const events: DistillProgress[] = [];
    const checkpoint = join(tmp, 'ckpt.onnx');
    const r = await distill({
      teacher,
      student,
      data: train(),
      ...SHORT,
      checkpoint,
      onProgress: (e) => events.push(e),
    });
    const h = r.history;
    console.log(
      `half-width student: ${r.steps} steps, ${r.samplesPerSec.toFixed(0)} samples/s, held-out ${h.map((x) => `${(x.accuracy! * 100).toFixed(2)}%`).join(' → ')} (teacher ${(r.teacher!.accuracy! * 100).toFixed(2)}%)`,
    );
    assert.equal(r.mode, 'distill');
    assert.equal(r.alpha, 0.5, 'labelled data: half hard-label loss');
    assert.equal(r.heldOutSamples, 400);
    assert.equal(r.trainSamples, 3600);
    assert.equal(r.steps, 40);
    assert.deepEqual(
      h.map((x) => x.step),
      [0, 20, 40],
    );
    assert.ok(h.at(-1)!.accuracy! > h[0].accuracy! + 0.01, 'held-out accuracy rises by more than a point');
    assert.ok(r.best.accuracy! >= 0.97, `held-out accuracy ${r.best.accuracy} ≥ 97 %`);
    assert.ok(h.every((x) => x.agreement !== undefined && x.loss !== undefined));
    assert.ok(events.some((e) => e.kind === 'step') && events.some((e) => e.kind === 'eval'));
    assert.deepEqual(opTypes(student), before, 'same nodes, names and op types');
    assert.equal(student.opset, loadModel(MNIST).opset);
    // The student carries the best weights: its held-out accuracy is the best record's, and the checkpoint holds them too.
    assert.ok(existsSync(checkpoint));
    const s = await nodeBackend.createSession(serializeModel(student));
    const c = await nodeBackend.createSession(checkpoint);
    const ds = await openTrainSet(train(), { inputs: s.inputs, batchSize: 8, limit: 8 });
    for await (const b of ds.epoch()) {
      const a = (await s.run(b.feeds)).logits.data as Float32Array;
      const k = (await c.run(b.feeds)).logits.data as Float32Array;
      assert.deepEqual(a, k, 'student = checkpoint');
      break;
    }
    await s.release();
    await c.release();
  });

  it('unlabelled data: learns from the teacher alone (α 0), scored by agreement with the teacher', async () => {
    const r = await distill({ teacher: loadModel(MNIST), student: await halfWidth(), data: train(false), ...SHORT });
    const h = r.history;
    console.log(`unlabelled: agreement ${h.map((x) => `${(x.agreement! * 100).toFixed(2)}%`).join(' → ')}`);
    assert.equal(r.alpha, 0);
    assert.equal(r.teacher, undefined, 'no labels: no teacher accuracy');
    assert.ok(h.every((x) => x.accuracy === undefined));
    assert.ok(h.at(-1)!.agreement! > h[0].agreement! + 0.01);
  });

  it('finetune: a channel-pruned model recovers on labels alone', async () => {
    const r = await distill({ student: await halfWidth(), data: train(), ...SHORT });
    const h = r.history;
    console.log(`finetune: held-out ${h.map((x) => `${(x.accuracy! * 100).toFixed(2)}%`).join(' → ')}`);
    assert.equal(r.mode, 'finetune');
    assert.equal(r.alpha, 1);
    assert.ok(h.at(-1)!.accuracy! > h[0].accuracy!);
  });

  it('weights held in Constant nodes (as paddle2onnx writes them) are moved to initializers and train', async () => {
    const student = await halfWidth();
    await initializersToConstants.run(student, {}, {});
    assert.equal(student.graph.initializers.size, 0);
    const r = await distill({ student, data: train(), ...SHORT, maxSteps: 10, evalEvery: 10 });
    assert.equal(r.trainableTensors, 8);
    assert.match(r.notes.join(), /8 weights held in Constant nodes moved to initializers/);
    assert.ok(r.history.at(-1)!.accuracy! > r.history[0].accuracy!);
  });

  it('a model with a fixed batch dim trains in batches of that size; held-out rounded down to full batches', async () => {
    const student = await halfWidth();
    student.graph.inputs[0].type = tensorType(DataType.FLOAT, [32, 1, 28, 28]);
    const r = await distill({ student, data: train(), ...SHORT, batchSize: 32, maxSteps: 10, evalEvery: 10 });
    assert.equal(r.steps, 10);
    assert.equal(r.heldOutSamples, 384, '400 held out, 12 full batches of 32');
    assert.ok(r.history.at(-1)!.accuracy! > 0.9);
  });

  it('early stopping: stops after `patience` evaluations without improvement, keeping the best', async () => {
    // At a learning rate of 1e-7 the held-out accuracy cannot improve between 5-step windows.
    const r = await distill({
      student: await halfWidth(),
      data: train(),
      ...SHORT,
      lr: 1e-7,
      evalEvery: 5,
      patience: 1,
    });
    assert.equal(r.stopped, 'early-stopping');
    assert.ok(r.steps < 40);
    const bestScore = Math.max(...r.history.map((x) => x.accuracy!));
    assert.equal(r.best.accuracy, bestScore);
  });

  it('a learning rate that makes the loss explode stops with the last good weights', async () => {
    const student = await halfWidth();
    const start = serializeModel(student);
    await assert.rejects(
      distill({ student, data: train(), ...SHORT, lr: 1e12, optimizer: 'sgd', evalEvery: 40 }),
      (e: Error) => {
        assert.ok(e instanceof TrainingDiverged);
        assert.match(e.message, /diverged at step \d+: (loss|gradient).*not finite|loss is (NaN|Infinity)/);
        assert.match(e.message, /keeping the last good weights \(step 0/);
        return true;
      },
    );
    assert.deepEqual(serializeModel(student), start, 'the student holds the starting (last good) weights');
  });

  it('bad input: mismatched student, labels missing with α > 0, no gradient rule, fixed batch, bad options', async () => {
    const teacher = loadModel(MNIST);
    await assert.rejects(
      distill({
        teacher,
        student: loadModel(join(REPO_ROOT, 'models/reference/spam-transformer.onnx')),
        data: train(),
      }),
      /student and teacher inputs differ/,
    );
    await assert.rejects(
      distill({ teacher, student: await halfWidth(), data: train(false), alpha: 0.3, ...SHORT }),
      /has no labels, but alpha is 0.3/,
    );
    await assert.rejects(distill({ student: await halfWidth(), data: train(), alpha: 0.5 }), /alpha must be 1/);
    await assert.rejects(
      distill({ teacher, student: await halfWidth(), data: train(), temperature: 0 }),
      /temperature must be a positive number/,
    );
    await assert.rejects(
      distill({ teacher, student: await halfWidth(), data: train(), batchSize: 0 }),
      /batch must be a positive integer/,
    );
    await assert.rejects(
      distill({ teacher, student: await halfWidth(), data: train(), logits: 'nope' }),
      /the teacher has no output 'nope'/,
    );

    // A student whose path to the logits holds an op without a gradient rule: named with its node.
    const b = new GraphBuilder('odd');
    const x = b.input('input', DataType.FLOAT, ['N', 1, 28, 28]);
    const z = b.op('MatMul', [
      b.op('Flatten', [x], { axis: 1 }),
      b.initializer('w', floatTensor([784, 10], new Float32Array(7840).fill(0.01))),
    ]);
    b.output(b.op('Sin', [z], {}, { name: 'the_sin' }), 'logits', DataType.FLOAT, ['N', 10]);
    const odd = b.model({ opset: 13 });
    await assert.rejects(
      distill({ teacher, student: odd, data: train(), ...SHORT }),
      /no gradient rule for Sin \(node 'the_sin'\)/,
    );

    // A model whose batch dim is fixed at 1 trains only with batch 1.
    const fixed = loadModel(MNIST);
    fixed.graph.inputs[0].type = tensorType(DataType.FLOAT, [1, 1, 28, 28]);
    await assert.rejects(
      distill({ teacher, student: fixed, data: train(), ...SHORT }),
      /input 'input' has a fixed batch dim of 1: train with --batch 1/,
    );
  });
});
