/**
 * Knowledge distillation and fine-tuning of an ONNX student, trained in onnxruntime-node through the
 * autodiff training graph (`train/`). The teacher runs in onnxruntime too; its outputs on the training
 * samples are computed once and cached by sample index. The loss is
 * `α · cross-entropy(labels) + (1 − α) · T² · KL(teacher/T ‖ student/T)` (Hinton et al.); α = 1 without
 * a teacher is plain supervised fine-tuning.
 *
 * The held-out split is evaluated before training and after every epoch (or `evalEvery` steps); the
 * best weights (held-out accuracy with labels, else top-1 agreement with the teacher) are kept, written
 * to the checkpoint file when one is given, and are what the student gets at the end. A non-finite loss
 * stops training with `TrainingDiverged`, the student holding the last good (best) weights.
 */
import {
  constantNodeTensor,
  DataType,
  loadModelFromBytes,
  saveModel,
  serializeModel,
  type Model,
} from '@edgeforge/onnx';
import { constantToInitializer, isConstantNode } from '../passes/optimize/constants-to-initializers.js';
import { nodeBackend } from '../runtime/node.js';
import type { Feeds, HostTensor, IoInfo, Session } from '../runtime/types.js';
import { buildTrainingGraph } from '../train/autodiff.js';
import { appendCrossEntropy, appendDistillationLoss, appendWeightedSum } from '../train/losses.js';
import { Adam, cosineLr, Sgd, type Optimizer } from '../train/optimizers.js';
import { Trainer } from '../train/trainer.js';
import { fixedBatchInput, openTrainSet, readSamples, sampleIndices, type TrainBatch } from './train-set.js';

export const OPTIMIZERS = ['adam', 'adamw', 'sgd'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export interface DistillOptions {
  /** The student; trained in place (initializers replaced, structure unchanged). */
  student: Model;
  /** The teacher (omit to fine-tune on labels alone). */
  teacher?: Model;
  /** Training data spec (`idx:train-images…,labels=…`). Labels are needed when `alpha` > 0. */
  data: string;
  /** Held-out data spec; default: `valSplit` of the training data, held out of training. */
  val?: string;
  /** Fraction of the training data held out when `val` is not given (default 0.05). */
  valSplit?: number;
  /** At most this many held-out samples (default 2000). */
  valLimit?: number;
  /** Read at most this many training samples. */
  limit?: number;
  /** Passes over the training data (default 3). */
  epochs?: number;
  /** Stop after this many steps (default: no limit). */
  maxSteps?: number;
  /** Samples per step (default 64). */
  batchSize?: number;
  /** Peak learning rate (default 1e-3), cosine-decayed to 0 after a warm-up of `warmup` steps. */
  lr?: number;
  /** Warm-up steps (default 3 % of all steps). */
  warmup?: number;
  optimizer?: OptimizerName;
  weightDecay?: number;
  /** SGD momentum (default 0.9). */
  momentum?: number;
  /** Softening temperature of the distillation loss (default 4). */
  temperature?: number;
  /** Weight of the hard-label loss (default 0.5 with labels and a teacher, 0 without labels, 1 without a teacher). */
  alpha?: number;
  /** The teacher output to distill (default its first); the student output of the same name (or its only one). */
  logits?: string;
  /** Evaluate every this many steps (default once per epoch). */
  evalEvery?: number;
  /** Stop after this many evaluations without improvement (default: never). */
  patience?: number;
  /** Write the best student so far here after every improving evaluation (atomic). */
  checkpoint?: string;
  /** onnxruntime intra-op threads (default: its choice). */
  threads?: number;
  seed?: number;
  /** Bytes of training samples kept in memory (default 1 GiB; beyond it, epochs stream the data). */
  memoryBudget?: number;
  onProgress?: (e: DistillProgress) => void;
}

export interface EvalRecord {
  /** Steps taken when evaluated (0: the starting weights). */
  step: number;
  /** Epochs done (fractional). */
  epoch: number;
  /** Held-out top-1 accuracy (labelled held-out data). */
  accuracy?: number;
  /** Held-out top-1 agreement with the teacher. */
  agreement?: number;
  /** Held-out cross-entropy (labelled held-out data). */
  loss?: number;
  /** Mean training loss since the previous evaluation. */
  trainLoss?: number;
}

export type DistillProgress =
  | { kind: 'phase'; message: string }
  | { kind: 'step'; step: number; totalSteps: number; epoch: number; loss: number; samplesPerSec: number }
  | { kind: 'eval'; record: EvalRecord; best: boolean };

export interface DistillResult {
  /** `'distill'` with a teacher, `'finetune'` without. */
  mode: 'distill' | 'finetune';
  steps: number;
  epochs: number;
  samples: number;
  /** Training samples per second over the steps (teacher, data loading and evaluation excluded). */
  samplesPerSec: number;
  seconds: number;
  stopped: 'completed' | 'max-steps' | 'early-stopping';
  /** The evaluation the student's weights come from. */
  best: EvalRecord;
  history: EvalRecord[];
  /** The teacher on the held-out data. */
  teacher?: { accuracy?: number };
  trainSamples: number;
  heldOutSamples: number;
  heldOut: string;
  data: string;
  /** Whether training samples stayed in memory (else streamed every epoch). */
  resident: boolean;
  trainableParams: number;
  trainableTensors: number;
  /** Initializers that get no gradient from the loss (left as they were). */
  frozen: string[];
  alpha: number;
  temperature: number;
  notes: string[];
}

/** Training stopped on a non-finite loss; the student holds the last good weights. */
export class TrainingDiverged extends Error {
  override name = 'TrainingDiverged';
  constructor(
    message: string,
    readonly best: EvalRecord,
  ) {
    super(message);
  }
}

const clone = (m: Model): Model => loadModelFromBytes(serializeModel(m), m.baseDir);
const argmax = (a: Float32Array, off: number, c: number) => {
  let k = 0;
  for (let j = 1; j < c; j++) if (a[off + j] > a[off + k]) k = j;
  return k;
};

/** Static class count of a [N, C] output, or an error naming it. */
function classesOf(io: IoInfo, who: string): number {
  const c = io.dims?.[1];
  if (io.dims?.length !== 2 || typeof c !== 'number')
    throw new Error(
      `${who} output '${io.name}' must be [N, C] logits with a static C to distill (it is [${io.dims?.join(', ') ?? '?'}])`,
    );
  return c;
}

/** The student must take the teacher's inputs and give the distilled output with the same class count. */
function pairOutputs(student: Session, teacher: Session | undefined, wanted?: string): { s: IoInfo; t?: IoInfo } {
  if (teacher) {
    const sIn = new Map(student.inputs.map((i) => [i.name, i]));
    for (const ti of teacher.inputs) {
      const si = sIn.get(ti.name);
      if (!si)
        throw new Error(
          `student and teacher inputs differ: the student has no input '${ti.name}' (its inputs: ${student.inputs.map((i) => i.name).join(', ')})`,
        );
      if (si.type !== ti.type)
        throw new Error(
          `student and teacher inputs differ: '${ti.name}' is ${si.type} in the student, ${ti.type} in the teacher`,
        );
      const clash = si.dims
        ?.slice(1)
        .some((d, k) => typeof d === 'number' && typeof ti.dims?.[k + 1] === 'number' && d !== ti.dims[k + 1]);
      if (clash || (si.dims && ti.dims && si.dims.length !== ti.dims.length))
        throw new Error(
          `student and teacher inputs differ: '${ti.name}' is [${si.dims?.join(', ')}] in the student, [${ti.dims?.join(', ')}] in the teacher`,
        );
    }
    const extra = student.inputs.filter((i) => !teacher.inputs.some((t) => t.name === i.name));
    if (extra.length) throw new Error(`student and teacher inputs differ: the teacher has no input '${extra[0].name}'`);
    const t = wanted ? teacher.outputs.find((o) => o.name === wanted) : teacher.outputs[0];
    if (!t)
      throw new Error(
        `the teacher has no output '${wanted}' (its outputs: ${teacher.outputs.map((o) => o.name).join(', ')})`,
      );
    const s =
      student.outputs.find((o) => o.name === t.name) ??
      (student.outputs.length === 1 && teacher.outputs.length === 1 ? student.outputs[0] : undefined);
    if (!s)
      throw new Error(
        `student and teacher outputs differ: the student has no output '${t.name}' (its outputs: ${student.outputs.map((o) => o.name).join(', ')})`,
      );
    const cs = classesOf(s, 'student');
    const ct = classesOf(t, 'teacher');
    if (cs !== ct)
      throw new Error(
        `student and teacher outputs differ: '${s.name}' has ${cs} classes, the teacher's '${t.name}' ${ct}`,
      );
    return { s, t };
  }
  const s = wanted ? student.outputs.find((o) => o.name === wanted) : student.outputs[0];
  if (!s)
    throw new Error(
      `the model has no output '${wanted}' (its outputs: ${student.outputs.map((o) => o.name).join(', ')})`,
    );
  classesOf(s, 'model');
  return { s };
}

function int64Labels(labels: Int32Array): HostTensor {
  return { type: 'int64', dims: [labels.length], data: BigInt64Array.from(labels, (x) => BigInt(x)) };
}

function check(name: string, v: number | undefined, ok: (x: number) => boolean, want: string): void {
  if (v !== undefined && !(Number.isFinite(v) && ok(v))) throw new Error(`${name} must be ${want}, got ${v}`);
}

/** Validates the numeric options with one message naming the option. */
export function checkDistillOptions(o: Omit<DistillOptions, 'student' | 'teacher'>): void {
  check('epochs', o.epochs, (x) => x > 0, 'a positive number');
  check('maxSteps', o.maxSteps, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  check('batch', o.batchSize, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  check('lr', o.lr, (x) => x > 0, 'a positive number');
  check('warmup', o.warmup, (x) => Number.isInteger(x) && x >= 0, 'a non-negative integer');
  check('weight decay', o.weightDecay, (x) => x >= 0, 'non-negative');
  check('momentum', o.momentum, (x) => x >= 0 && x < 1, 'in [0, 1)');
  check('temperature', o.temperature, (x) => x > 0, 'a positive number');
  check('alpha', o.alpha, (x) => x >= 0 && x <= 1, 'in [0, 1]');
  check('val split', o.valSplit, (x) => x >= 0 && x < 1, 'in [0, 1)');
  check('val limit', o.valLimit, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  check('eval every', o.evalEvery, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  check('patience', o.patience, (x) => Number.isInteger(x) && x > 0, 'a positive integer');
  if (o.optimizer !== undefined && !OPTIMIZERS.includes(o.optimizer))
    throw new Error(`optimizer must be ${OPTIMIZERS.join(', ')}, got ${String(o.optimizer)}`);
}

/** Trains `o.student` in place; see the module comment. */
export async function distill(o: DistillOptions): Promise<DistillResult> {
  checkDistillOptions(o);
  const progress = o.onProgress ?? (() => {});
  const notes: string[] = [];
  const threads = o.threads !== undefined ? { threads: o.threads } : {};
  // Float tensors held in Constant nodes (PaddleOCR, Silero exports keep weights there) become
  // initializers so they can train; shape constants and scalars stay as they are.
  let moved = 0;
  if (o.student.irVersion >= 4)
    for (const n of o.student.graph.nodes()) {
      const t = isConstantNode(n) ? constantNodeTensor(n) : undefined;
      if (t && (t.dtype === DataType.FLOAT || t.dtype === DataType.DOUBLE) && t.size > 1)
        moved += constantToInitializer(o.student.graph, n) ? 1 : 0;
    }
  if (moved) notes.push(`${moved} weights held in Constant nodes moved to initializers so they can train`);

  const studentSession = await nodeBackend.createSession(serializeModel(o.student), threads);
  const teacherSession = o.teacher ? await nodeBackend.createSession(serializeModel(o.teacher), threads) : undefined;
  let trainer: Trainer | undefined;
  try {
    const { s: sOut, t: tOut } = pairOutputs(studentSession, teacherSession, o.logits);
    const classes = classesOf(sOut, 'student');
    const batchSize = o.batchSize ?? 64;
    const fixed = fixedBatchInput(studentSession.inputs);
    if (fixed && fixed.batch !== batchSize)
      throw new Error(
        `input '${fixed.name}' has a fixed batch dim of ${fixed.batch}: train with --batch ${fixed.batch} or export the model with a dynamic batch axis`,
      );

    progress({ kind: 'phase', message: `opening ${o.data}` });
    const seed = o.seed ?? 1;
    const valLimit = o.valLimit ?? 2000;
    const train = await openTrainSet(o.data, {
      inputs: studentSession.inputs,
      batchSize,
      seed,
      // Without a separate held-out set, a seeded sample of the training data is held out.
      ...(o.val
        ? {}
        : {
            heldOut: (size: number) =>
              sampleIndices(size, Math.min(valLimit, Math.round((o.valSplit ?? 0.05) * size)), seed),
          }),
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
      ...(o.memoryBudget !== undefined ? { memoryBudget: o.memoryBudget } : {}),
    });
    const hasLabels = train.hasLabels;
    const alpha = o.alpha ?? (!teacherSession ? 1 : hasLabels ? 0.5 : 0);
    if (!teacherSession && alpha !== 1)
      throw new Error(`fine-tuning without a teacher trains on labels alone: alpha must be 1, got ${alpha}`);
    if (alpha > 0 && !hasLabels)
      throw new Error(
        `${o.data}: the data has no labels, but alpha is ${alpha} (the hard-label weight): pass labels, or set alpha to 0 to learn from the teacher alone`,
      );
    progress({ kind: 'phase', message: 'reading the held-out samples' });
    const val = o.val
      ? await readSamples(o.val, { inputs: studentSession.inputs, batchSize: 256, limit: valLimit })
      : train.heldOut.size
        ? await readSamples(o.data, { inputs: studentSession.inputs, batchSize: 256, indices: train.heldOut })
        : undefined;
    if (val && val.size === 0)
      throw new Error(`${o.val ?? 'the held-out split'}: no held-out samples (or fewer than one fixed batch)`);

    // The training model: the student with its losses appended, differentiated.
    const fwd = clone(o.student);
    const terms: { loss: string; weight: number }[] = [];
    const feedNames: { labels?: string; teacher?: string } = {};
    const temperature = o.temperature ?? 4;
    if (alpha > 0) {
      feedNames.labels = fwd.graph.freshName('labels');
      terms.push({
        loss: appendCrossEntropy(fwd, sOut.name, { labels: feedNames.labels, name: fwd.graph.freshName('ce_loss') }),
        weight: alpha,
      });
    }
    if (alpha < 1) {
      feedNames.teacher = fwd.graph.freshName('teacher_logits');
      terms.push({
        loss: appendDistillationLoss(fwd, sOut.name, {
          teacher: feedNames.teacher,
          temperature,
          name: fwd.graph.freshName('kd_loss'),
        }),
        weight: 1 - alpha,
      });
    }
    const lossName =
      terms.length === 1 && terms[0].weight === 1
        ? terms[0].loss
        : appendWeightedSum(fwd, terms, fwd.graph.freshName('loss'));
    const tg = buildTrainingGraph(fwd, lossName);
    if (!tg.params.length) throw new Error('the student has no trainable float initializers on the path to its output');
    const frozen = tg.unreached;

    const epochs = o.epochs ?? 3;
    const perEpoch = train.batchesPerEpoch;
    const totalSteps = Math.min(o.maxSteps ?? Infinity, Math.max(1, Math.round(epochs * perEpoch)));
    const lr = o.lr ?? 1e-3;
    const schedule = cosineLr(lr, totalSteps, { warmup: o.warmup ?? Math.round(totalSteps * 0.03) });
    const name = o.optimizer ?? 'adam';
    const wd = o.weightDecay ?? (name === 'adamw' ? 0.01 : 0);
    const optimizer: Optimizer =
      name === 'sgd'
        ? new Sgd(schedule, { momentum: o.momentum ?? 0.9, weightDecay: wd })
        : new Adam(schedule, { weightDecay: wd, decoupled: name === 'adamw' });
    trainer = await Trainer.create(tg, optimizer, threads);
    const t = trainer;

    // Teacher outputs, cached by dataset index when they fit.
    const cache =
      teacherSession && feedNames.teacher && train.size * classes * 4 <= (o.memoryBudget ?? 2 ** 30)
        ? new Float32Array(train.size * classes)
        : undefined;
    const cached = cache ? new Uint8Array(train.size) : undefined;
    const teacherLogits = async (b: TrainBatch): Promise<Float32Array> => {
      const n = b.indices.length;
      if (cache && b.indices.every((i) => cached![i])) {
        const out = new Float32Array(n * classes);
        b.indices.forEach((i, j) => out.set(cache.subarray(i * classes, (i + 1) * classes), j * classes));
        return out;
      }
      const r = await teacherSession!.run(b.feeds, [tOut!.name]);
      const out = Float32Array.from(r[tOut!.name].data as Float32Array);
      if (cache)
        b.indices.forEach((i, j) => {
          cache.set(out.subarray(j * classes, (j + 1) * classes), i * classes);
          cached![i] = 1;
        });
      return out;
    };

    // Held-out evaluation of the current weights, in a plain inference session.
    const evalModel = clone(o.student);
    const teacherVal: Float32Array[] = [];
    let teacherAcc: number | undefined;
    if (val && teacherSession) {
      let right = 0;
      for (const b of val.batches) {
        const out = (await teacherSession.run(b.feeds, [tOut!.name]))[tOut!.name].data as Float32Array;
        teacherVal.push(Float32Array.from(out));
        if (b.labels) b.labels.forEach((l, j) => (right += argmax(out, j * classes, classes) === l ? 1 : 0));
      }
      if (val.hasLabels) teacherAcc = right / val.size;
    }
    const evaluate = async (step: number, trainLoss?: number): Promise<EvalRecord> => {
      const rec: EvalRecord = { step, epoch: step / perEpoch, ...(trainLoss !== undefined ? { trainLoss } : {}) };
      if (!val) return rec;
      t.writeBack(evalModel);
      const s = await nodeBackend.createSession(serializeModel(evalModel), threads);
      try {
        let right = 0;
        let agree = 0;
        let ce = 0;
        for (const [k, b] of val.batches.entries()) {
          const out = (await s.run(b.feeds, [sOut.name]))[sOut.name].data as Float32Array;
          for (let j = 0; j < b.indices.length; j++) {
            const p = argmax(out, j * classes, classes);
            if (b.labels) {
              right += p === b.labels[j] ? 1 : 0;
              let max = -Infinity;
              for (let c = 0; c < classes; c++) max = Math.max(max, out[j * classes + c]);
              let sum = 0;
              for (let c = 0; c < classes; c++) sum += Math.exp(out[j * classes + c] - max);
              ce += max + Math.log(sum) - out[j * classes + b.labels[j]];
            }
            if (teacherVal.length) agree += p === argmax(teacherVal[k], j * classes, classes) ? 1 : 0;
          }
        }
        if (val.hasLabels) Object.assign(rec, { accuracy: right / val.size, loss: ce / val.size });
        if (teacherVal.length) rec.agreement = agree / val.size;
      } finally {
        await s.release();
      }
      return rec;
    };
    const score = (r: EvalRecord) => r.accuracy ?? r.agreement ?? -(r.trainLoss ?? Infinity);

    const history: EvalRecord[] = [];
    let best: EvalRecord | undefined;
    let bestWeights: Map<string, Float32Array | Float64Array> | undefined;
    let sinceBest = 0;
    const record = async (rec: EvalRecord) => {
      history.push(rec);
      const improved = !best || score(rec) > score(best);
      if (improved) {
        best = rec;
        bestWeights = new Map([...t.params()].map(([k, v]) => [k, v.slice()]));
        sinceBest = 0;
        if (o.checkpoint) {
          t.writeBack(evalModel);
          saveModel(evalModel, o.checkpoint);
        }
      } else sinceBest++;
      progress({ kind: 'eval', record: rec, best: improved });
    };
    progress({ kind: 'phase', message: 'evaluating the starting weights' });
    await record(await evaluate(0));

    const evalEvery = o.evalEvery ?? perEpoch;
    let step = 0;
    let samples = 0;
    let trainMs = 0;
    let lossSum = 0;
    let lossN = 0;
    let stopped: DistillResult['stopped'] = 'completed';
    const t0 = performance.now();
    outer: while (step < totalSteps) {
      for await (const b of train.epoch()) {
        const feeds: Feeds = { ...b.feeds };
        if (feedNames.labels) feeds[feedNames.labels] = int64Labels(b.labels!);
        if (feedNames.teacher)
          feeds[feedNames.teacher] = {
            type: 'float32',
            dims: [b.indices.length, classes],
            data: await teacherLogits(b),
          };
        const ts = performance.now();
        let loss: number;
        try {
          loss = await t.step(feeds);
        } catch (e) {
          if (!/diverged/.test((e as Error).message)) throw e;
          t.writeBack(o.student, bestWeights);
          throw new TrainingDiverged(
            `${(e as Error).message}; stopped, keeping the last good weights (step ${best!.step}${best!.accuracy !== undefined ? `, held-out accuracy ${(best!.accuracy * 100).toFixed(2)} %` : ''})`,
            best!,
          );
        }
        trainMs += performance.now() - ts;
        step++;
        samples += b.indices.length;
        lossSum += loss;
        lossN++;
        progress({
          kind: 'step',
          step,
          totalSteps,
          epoch: step / perEpoch,
          loss: lossSum / lossN,
          samplesPerSec: samples / (trainMs / 1000),
        });
        if (step % evalEvery === 0 || step === totalSteps) {
          await record(await evaluate(step, lossSum / lossN));
          lossSum = lossN = 0;
          if (o.patience !== undefined && sinceBest >= o.patience) {
            stopped = 'early-stopping';
            break outer;
          }
        }
        if (step >= totalSteps) {
          if (o.maxSteps !== undefined && step === o.maxSteps && o.maxSteps < Math.round(epochs * perEpoch))
            stopped = 'max-steps';
          break outer;
        }
      }
    }
    t.writeBack(o.student, bestWeights);
    return {
      mode: teacherSession ? 'distill' : 'finetune',
      steps: step,
      epochs: step / perEpoch,
      samples,
      samplesPerSec: samples / Math.max(1e-9, trainMs / 1000),
      seconds: (performance.now() - t0) / 1000,
      stopped,
      best: best!,
      history,
      ...(teacherAcc !== undefined ? { teacher: { accuracy: teacherAcc } } : {}),
      trainSamples: train.trainSize,
      heldOutSamples: val?.size ?? 0,
      heldOut: o.val
        ? `${val!.size} samples of ${o.val}`
        : val
          ? `${val.size} samples (${((100 * val.size) / train.size).toFixed(1)} %) of the training data, never trained on`
          : 'none',
      data: o.data,
      resident: train.resident,
      trainableParams: tg.params.reduce((s, p) => s + p.init.size, 0),
      trainableTensors: tg.params.length,
      frozen,
      alpha,
      temperature,
      notes,
    };
  } finally {
    await trainer?.release();
    await studentSession.release();
    await teacherSession?.release();
  }
}
