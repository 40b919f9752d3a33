/**
 * Distillation proofs (issue 7), full runs that CI does not make:
 *
 * - `fashion`: the Fashion-MNIST ResNet (models/reference/fashion-resnet.onnx, 93.38 % on t10k) with
 *   50 % of its channels removed by structured pruning (`pruneModel`, method `channels`, L1), then
 *   distilled from the original on the Fashion-MNIST train set (2,000 samples held out to pick the best
 *   weights). Target: student within 1 pt of the teacher on the full t10k (10,000) with ≤ 0.5× the
 *   parameters.
 * - `mnist`: the MNIST CNN shrunk to half its width (`shrinkWidth: 0.5`) and distilled from itself on
 *   the MNIST train set. Target: ≥ 98 % on the full t10k.
 *
 * Each run prints teacher and student test accuracy, Δ (pt), parameters student/teacher (the teacher
 * file as shipped; the fashion teacher still has its BatchNormalizations), onnxruntime-node p50
 * latency student/teacher at batch 1 (the compare's interleaved measurement in this process,
 * onnxruntime's default threads), training samples/s (training steps only), wall time of the run
 * (prune/shrink, teacher, training, evaluation, test) and PASS/FAIL against the target. Wall times
 * and samples/s are noisy on a shared machine.
 *
 *   node --import tsx --conditions=source bench/distill.ts [--only fashion|mnist] [--epochs n] [--threads 2]
 *        [--amount 0.5] [--lr 1e-3] [--temperature 4] [--alpha 0.5] [--batch 64] [--seed 1]
 *        [--optimizer adam|adamw|sgd] [--eval-every steps] [--json]
 *
 * `--epochs` and the training flags apply to every selected run; without them each run uses its
 * defaults (`defaults` below: fashion 6 epochs at lr 3e-3, mnist 0.5 epoch at lr 1e-3; both Adam,
 * cosine, T 4, α 0.5, batch 64). `--amount` is the fashion student's pruned channel fraction.
 *
 * Last measured (2 cores shared with other work, Node 20, 2 training threads; full bench ≈ 21 min):
 *
 *   run      setting                         teacher  student      Δ  params  latency  samples/s  wall
 *   fashion  prune 0.5, 6 ep, lr 3e-3        93.38    92.63   -0.75   0.250    0.405        319  1241 s  PASS
 *   mnist    shrink 0.5, 0.5 ep, lr 1e-3     99.38    99.06   -0.32   0.251    0.483       1242    40 s  PASS
 *
 * Other settings tried (fashion unless named; α 0.5, T 4 unless named):
 *   prune 0.5, 1 ep, lr 1e-3 (1 thread)              86.45 (-6.93)  FAIL
 *   prune 0.5, 1 ep, lr 3e-3 (1 thread)              87.21 (-6.17)  FAIL
 *   prune 0.5, 4 ep, lr 3e-3                         92.15 (-1.23)  FAIL (519 s)
 *   prune 0.5, 8 ep, lr 3e-3                         92.92 (-0.46)  PASS (1230 s)
 *   prune 0.5, 6 ep, lr 3e-3, α 0.2                  92.65 (-0.73)  PASS
 *   prune 0.5, 6 ep, lr 3e-3, seed 2                 92.63 (-0.75)  PASS
 *   prune 0.3, 6 ep, lr 3e-3 (params 0.485)          93.38 ( 0.00)  PASS, latency ratio 0.962
 *   mnist shrink 0.5, 0.1 ep                         98.53 (-0.85)  PASS (25 s)
 * The pruned fashion student starts at chance (10 % held-out); in the 6-epoch default run the kept
 * weights are epoch 4's (best held-out accuracy, 93.20 %).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distillModel, pruneModel } from '../packages/forge/src/index.ts';
import type { DistillModelOptions, DistillModelResult, OptimizerName } from '../packages/forge/src/index.ts';
import { ensureModels, mnistPath, REPO_ROOT } from '../tools/models.ts';
import { printTable } from './print-table.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const num = (name: string) => {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${v}`);
  return n;
};
const only = flag('--only');
if (only !== undefined && only !== 'fashion' && only !== 'mnist')
  throw new Error(`--only must be fashion or mnist, got ${only}`);
const threads = num('--threads') ?? 2;
// Fraction of channels the fashion student loses (0.5: half of every channel group, ~0.25× the parameters).
const amount = num('--amount') ?? 0.5;
const asJson = args.includes('--json');
const overrides: Partial<DistillModelOptions> = {};
const set = <K extends keyof DistillModelOptions>(k: K, v: DistillModelOptions[K] | undefined) => {
  if (v !== undefined) overrides[k] = v;
};
set('epochs', num('--epochs'));
set('lr', num('--lr'));
set('temperature', num('--temperature'));
set('alpha', num('--alpha'));
set('batchSize', num('--batch'));
set('evalEvery', num('--eval-every'));
set('seed', num('--seed'));
set('optimizer', flag('--optimizer') as OptimizerName | undefined);

const FASHION = '/usr/share/datasets/fashion-mnist';
const idx = (images: string, labels: string, mean: number, std: number) =>
  `idx:${images},labels=${labels},mean=${mean},std=${std}`;

interface Case {
  name: 'fashion' | 'mnist';
  teacher: string;
  /** What the student is made of, for the table. */
  student: string;
  /** Makes the student from the teacher: a student file, or options for distillModel. */
  makeStudent: (dir: string) => Promise<Pick<DistillModelOptions, 'student' | 'shrinkWidth'>>;
  data: string;
  test: string;
  /** Training settings that met the target when last measured. */
  defaults: Partial<DistillModelOptions>;
  target: string;
  pass: (r: { teacher: number; student: number; paramsRatio: number }) => boolean;
}

const CASES: Case[] = [
  {
    name: 'fashion',
    teacher: join(REPO_ROOT, 'models/reference/fashion-resnet.onnx'),
    student: `prune channels ${amount}`,
    makeStudent: async (dir) => {
      const student = join(dir, 'fashion-pruned.onnx');
      await pruneModel(join(REPO_ROOT, 'models/reference/fashion-resnet.onnx'), student, {
        method: 'channels',
        passOptions: { amount },
        data: false,
      });
      return { student };
    },
    data: idx(`${FASHION}/train-images-idx3-ubyte.gz`, `${FASHION}/train-labels-idx1-ubyte.gz`, 0.286, 0.353),
    test: idx(`${FASHION}/t10k-images-idx3-ubyte.gz`, `${FASHION}/t10k-labels-idx1-ubyte.gz`, 0.286, 0.353),
    defaults: { epochs: 6, lr: 3e-3 },
    target: 'Δ ≥ -1 pt, params ≤ 0.5',
    pass: (r) => r.student >= r.teacher - 0.01 && r.paramsRatio <= 0.5,
  },
  {
    name: 'mnist',
    teacher: join(REPO_ROOT, 'models/reference/mnist-cnn.onnx'),
    student: 'shrink-width 0.5',
    makeStudent: () => Promise.resolve({ shrinkWidth: 0.5 }),
    data: idx(mnistPath('train-images-idx3-ubyte'), mnistPath('train-labels-idx1-ubyte'), 0.1307, 0.3081),
    test: idx(mnistPath('t10k-images-idx3-ubyte'), mnistPath('t10k-labels-idx1-ubyte'), 0.1307, 0.3081),
    defaults: { epochs: 0.5 },
    target: 'student ≥ 98 %',
    pass: (r) => r.student >= 0.98,
  },
];

await ensureModels();
const dir = mkdtempSync(join(tmpdir(), 'edgeforge-bench-distill-'));
const rows: Record<string, unknown>[] = [];
const results: Record<string, unknown>[] = [];
const pct = (x: number) => (x * 100).toFixed(2);
try {
  for (const c of CASES.filter((c) => !only || c.name === only)) {
    const t0 = performance.now();
    const train = { ...c.defaults, ...overrides };
    const r: DistillModelResult = await distillModel({
      teacher: c.teacher,
      ...(await c.makeStudent(dir)),
      data: c.data,
      test: c.test,
      latency: true,
      threads,
      output: join(dir, `${c.name}-student.onnx`),
      ...train,
      onProgress: (e) => {
        if (e.kind === 'eval' && !asJson) {
          const x = e.record;
          console.error(
            `${c.name}: step ${x.step} (epoch ${x.epoch.toFixed(2)}) held-out ${pct(x.accuracy ?? NaN)} %, agreement ${pct(x.agreement ?? NaN)} %${x.trainLoss !== undefined ? `, train loss ${x.trainLoss.toFixed(4)}` : ''}${e.best ? ' *' : ''}`,
          );
        }
      },
    });
    const wall = (performance.now() - t0) / 1000;
    const acc = r.comparison!.accuracy!;
    const paramsRatio = r.paramsAfter / r.paramsBefore;
    const ok = c.pass({ teacher: acc.a, student: acc.b, paramsRatio });
    const row = {
      run: c.name,
      student: c.student,
      epochs: +r.epochs.toFixed(2),
      lr: train.lr ?? 1e-3,
      T: r.temperature,
      alpha: r.alpha,
      batch: train.batchSize ?? 64,
      seed: train.seed ?? 1,
      teacherAcc: pct(acc.a),
      studentAcc: pct(acc.b),
      deltaPt: ((acc.b - acc.a) * 100).toFixed(2),
      paramsRatio: paramsRatio.toFixed(3),
      latencyRatio: r.comparison!.latency!.ratio.toFixed(3),
      samplesPerSec: Math.round(r.samplesPerSec),
      wallS: Math.round(wall),
      target: c.target,
      result: ok ? 'PASS' : 'FAIL',
    };
    rows.push(row);
    results.push({
      ...row,
      paramsBefore: r.paramsBefore,
      paramsAfter: r.paramsAfter,
      best: r.best,
      history: r.history,
      trainSeconds: r.seconds,
      latency: { teacherP50Ms: r.comparison!.latency!.a.p50, studentP50Ms: r.comparison!.latency!.b.p50 },
    });
    if (!asJson) console.error(JSON.stringify(row));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (asJson) console.log(JSON.stringify(results, null, 2));
else {
  printTable(rows, 2);
  console.log(
    `\nAccuracy on the full t10k (10,000). paramsRatio = student/teacher file; latencyRatio = p50(student)/p50(teacher), onnxruntime-node, batch 1, interleaved; training on ${threads} thread(s).`,
  );
}
