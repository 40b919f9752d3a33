/**
 * `distill` as a recipe step, so one recipe runs prune → distill → quantize:
 *
 * ```yaml
 * passes:
 *   - prune-channels: { amount: 0.5 }
 *   - distill: { data: "idx:train-images-idx3-ubyte.gz,labels=train-labels-idx1-ubyte.gz", epochs: 2 }
 *   - quantize-static: {}
 * ```
 *
 * The teacher is the model as it was before the recipe's first step (or `teacher: <file>`); the
 * student is the model at this step, trained in place (structure unchanged). Options are those of
 * `edgeforge distill`, in camelCase.
 */
import { loadModel } from '@edgeforge/onnx';
import { Changes, PassOptionError, type Pass } from '../passes/pass.js';
import {
  checkDistillOptions,
  distill,
  OPTIMIZERS,
  type DistillOptions,
  type EvalRecord,
  type OptimizerName,
} from './distill.js';

export const DISTILL = 'distill';

export type DistillPassOptions = Omit<DistillOptions, 'student' | 'teacher' | 'onProgress' | 'checkpoint'> & {
  /** Teacher model file (default: the model before the recipe's first step). */
  teacher?: string;
};

const NUMBERS = [
  'valSplit',
  'valLimit',
  'limit',
  'epochs',
  'maxSteps',
  'batchSize',
  'lr',
  'warmup',
  'weightDecay',
  'momentum',
  'temperature',
  'alpha',
  'evalEvery',
  'patience',
  'threads',
  'seed',
  'memoryBudget',
] as const;
const STRINGS = ['data', 'val', 'logits', 'teacher', 'optimizer'] as const;

export function parseDistillPassOptions(raw: Record<string, unknown>): DistillPassOptions {
  const known = new Set<string>([...NUMBERS, ...STRINGS, 'batch']);
  const unknown = Object.keys(raw).filter((k) => !known.has(k));
  if (unknown.length)
    throw new PassOptionError(
      `${DISTILL}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')} (options: ${[...known].join(', ')})`,
    );
  const o: Record<string, unknown> = {};
  for (const k of STRINGS) {
    const v = raw[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !v) throw new PassOptionError(`${DISTILL}: ${k} must be a non-empty string`);
    o[k] = v;
  }
  for (const k of [...NUMBERS, 'batch'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    const n = typeof v === 'string' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n))
      throw new PassOptionError(`${DISTILL}: ${k} must be a number, got ${String(v)}`);
    o[k === 'batch' ? 'batchSize' : k] = n;
  }
  if (typeof o.data !== 'string') throw new PassOptionError(`${DISTILL}: needs data: <training data spec>`);
  if (o.optimizer !== undefined && !OPTIMIZERS.includes(o.optimizer as OptimizerName))
    throw new PassOptionError(`${DISTILL}: optimizer must be ${OPTIMIZERS.join(', ')}, got ${String(o.optimizer)}`);
  const opts = o as DistillPassOptions;
  try {
    checkDistillOptions(opts);
  } catch (e) {
    throw new PassOptionError(`${DISTILL}: ${(e as Error).message}`);
  }
  return opts;
}

export const distillPass: Pass<DistillPassOptions> = {
  name: DISTILL,
  family: 'distill',
  description: 'Train the model (the student) to match the original (the teacher) on data: knowledge distillation',
  idempotent: false,
  tolerance: Infinity,
  needsOriginal: true,
  parseOptions: parseDistillPassOptions,
  async run(model, o, ctx) {
    const { teacher: teacherPath, ...train } = o;
    const teacher = teacherPath ? loadModel(teacherPath) : ctx.original?.();
    if (!teacher) throw new Error('no teacher: give teacher: <file> (the recipe runner keeps no original here)');
    const r = await distill({ ...train, student: model, teacher });
    const c = new Changes();
    c.add('training steps', r.steps);
    c.add('tensors trained', r.trainableTensors);
    // The best record is scored like the first: the same metric, so one label serves both.
    const metric = (x: EvalRecord): [string, string] =>
      x.accuracy !== undefined
        ? ['held-out accuracy', `${(x.accuracy * 100).toFixed(2)} %`]
        : x.agreement !== undefined
          ? ['agreement with the teacher', `${(x.agreement * 100).toFixed(2)} %`]
          : ['train loss', x.trainLoss?.toFixed(4) ?? '-'];
    const [label, from] = metric(r.history[0]);
    c.note(
      `${label} ${from} → ${metric(r.best)[1]} after ${r.epochs.toFixed(2)} epochs (step ${r.best.step} kept)` +
        (r.teacher?.accuracy !== undefined ? `; teacher ${(r.teacher.accuracy * 100).toFixed(2)} %` : '') +
        `; ${r.samplesPerSec.toFixed(0)} samples/s`,
    );
    for (const n of r.notes) c.note(n);
    return c.report();
  },
};
