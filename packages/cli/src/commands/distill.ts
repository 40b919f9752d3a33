import {
  writeReport,
  distillModel,
  OPTIMIZERS,
  type DistillModelOptions,
  type DistillModelResult,
  type DistillProgress,
  type EvalRecord,
  type OptimizerName,
} from '@edgeforge/forge';
import { UsageError } from '../errors.js';
import { bytes, count, json, pct, table } from '../output.js';
import { fidelityTable, int, num } from './measure.js';

/** Flags of `distill` and `finetune`, as commander hands them over. */
export interface TrainFlags {
  output?: string;
  data?: string;
  val?: string;
  valSplit?: string;
  valLimit?: string;
  limit?: string;
  epochs?: string;
  maxSteps?: string;
  batch?: string;
  lr?: string;
  warmup?: string;
  optimizer?: string;
  weightDecay?: string;
  momentum?: string;
  logits?: string;
  evalEvery?: string;
  patience?: string;
  checkpoint?: string;
  threads?: string;
  seed?: string;
  test?: string;
  testLimit?: string;
  latency?: boolean;
  report?: string;
  json?: boolean;
}

export interface DistillFlags extends TrainFlags {
  teacher?: string;
  student?: string;
  shrinkWidth?: string;
  temperature?: string;
  alpha?: string;
}

/** Options shared by both verbs; range checks happen in forge and come back as one line. */
function trainOptions(f: TrainFlags): Omit<DistillModelOptions, 'output'> {
  if (!f.data) throw new UsageError('needs --data <spec> (the training data)');
  if (f.optimizer !== undefined && !OPTIMIZERS.includes(f.optimizer as OptimizerName))
    throw new UsageError(`--optimizer: choose one of ${OPTIMIZERS.join(', ')}`);
  const pick = <T>(k: string, v: T | undefined) => (v === undefined ? {} : { [k]: v });
  return {
    data: f.data,
    ...pick('val', f.val),
    ...pick('valSplit', num('val-split', f.valSplit)),
    ...pick('valLimit', int('val-limit', f.valLimit)),
    ...pick('limit', int('limit', f.limit)),
    ...pick('epochs', num('epochs', f.epochs)),
    ...pick('maxSteps', int('max-steps', f.maxSteps)),
    ...pick('batchSize', int('batch', f.batch)),
    ...pick('lr', num('lr', f.lr)),
    ...pick('warmup', int('warmup', f.warmup, 0)),
    ...pick('optimizer', f.optimizer as OptimizerName | undefined),
    ...pick('weightDecay', num('weight-decay', f.weightDecay)),
    ...pick('momentum', num('momentum', f.momentum)),
    ...pick('logits', f.logits),
    ...pick('evalEvery', int('eval-every', f.evalEvery)),
    ...pick('patience', int('patience', f.patience)),
    ...pick('checkpoint', f.checkpoint),
    ...pick('threads', int('threads', f.threads)),
    ...pick('seed', int('seed', f.seed, 0)),
    ...pick('test', f.test),
    ...pick('testLimit', int('test-limit', f.testLimit)),
    latency: !!f.latency,
    onProgress: progressBar(),
  };
}

/** A one-line progress bar on stderr (terminals only): steps, running loss, samples/s, last held-out score. */
function progressBar(): (e: DistillProgress) => void {
  if (!process.stderr.isTTY) return () => {};
  let last = 0;
  let held = '';
  return (e) => {
    if (e.kind === 'eval') {
      const r = e.record;
      held =
        r.accuracy !== undefined
          ? ` · held-out ${pct(r.accuracy)}`
          : r.agreement !== undefined
            ? ` · agreement ${pct(r.agreement)}`
            : '';
      return;
    }
    if (e.kind === 'phase') {
      process.stderr.write(`\r\x1b[K${e.message}…`);
      return;
    }
    const now = Date.now();
    if (now - last < 200 && e.step < e.totalSteps) return;
    last = now;
    const width = 24;
    const bar = '█'.repeat(Math.round((e.step / e.totalSteps) * width)).padEnd(width, '░');
    process.stderr.write(
      `\r\x1b[Kepoch ${e.epoch.toFixed(2)} ${bar} ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(4)} · ${e.samplesPerSec.toFixed(0)} samples/s${held}`,
    );
  };
}

function clearBar(): void {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
}

function evalRow(r: EvalRecord, best: EvalRecord): string[] {
  return [
    String(r.step),
    r.epoch.toFixed(2),
    r.trainLoss === undefined ? '-' : r.trainLoss.toFixed(4),
    r.loss === undefined ? '-' : r.loss.toFixed(4),
    pct(r.accuracy),
    pct(r.agreement),
    r === best || (r.step === best.step && r.epoch === best.epoch) ? 'best' : '',
  ];
}

function human(r: DistillModelResult, verb: 'distill' | 'finetune'): string {
  const from =
    verb === 'finetune'
      ? `${r.studentPath} → ${r.output} (fine-tuned on labels)`
      : `${r.teacherPath} → ${r.output} (distilled into ${r.shrink ? `the teacher at ${r.shrink.factor}× width` : r.studentPath})`;
  const secs = r.seconds;
  const time = secs >= 120 ? `${Math.floor(secs / 60)} min ${Math.round(secs % 60)} s` : `${secs.toFixed(1)} s`;
  const lines = [
    from,
    `parameters ${count(r.paramsBefore)} → ${count(r.paramsAfter)} (${(r.paramsAfter / r.paramsBefore).toFixed(3)}×), file ${bytes(r.saved.bytes)}`,
    ...(r.shrink
      ? [
          `shrink-width: ${Object.entries(r.shrink.counts)
            .map(([k, n]) => `${k} ${n}`)
            .join(', ')}`,
        ]
      : []),
    `training data ${r.trainSamples} samples${r.resident ? '' : ' (streamed each epoch)'}; held out: ${r.heldOut}`,
    `${r.steps} steps (${r.epochs.toFixed(2)} epochs) in ${time}, ${r.samplesPerSec.toFixed(0)} samples/s; ${r.trainableTensors} tensors (${count(r.trainableParams)} parameters) trained` +
      (r.mode === 'distill' ? `; α ${r.alpha}, T ${r.temperature}` : '') +
      (r.stopped === 'early-stopping' ? '; stopped early (no held-out improvement)' : ''),
  ];
  if (r.heldOutSamples) {
    lines.push(
      '',
      table(
        [
          ['step', 'epoch', 'train loss', 'held-out loss', 'held-out acc', 'agreement', ''],
          ...r.history.map((h) => evalRow(h, r.best)),
        ],
        { align: ['r', 'r', 'r', 'r', 'r', 'r', 'l'] },
      ),
    );
    const b = r.best;
    lines.push(
      '',
      `kept the weights of step ${b.step}` +
        (b.accuracy !== undefined
          ? ` (held-out accuracy ${pct(b.accuracy)}`
          : b.agreement !== undefined
            ? ` (agreement ${pct(b.agreement)}`
            : ' (') +
        (r.teacher?.accuracy !== undefined ? `; teacher ${pct(r.teacher.accuracy)})` : ')'),
    );
  }
  if (r.frozen.length)
    lines.push(
      `no gradient reaches (left as they were): ${r.frozen.slice(0, 6).join(', ')}${r.frozen.length > 6 ? ' …' : ''}`,
    );
  for (const n of r.notes) lines.push(`note: ${n}`);
  const c = r.comparison;
  if (c) {
    const ref = verb === 'finetune' ? 'original' : 'teacher';
    if (c.accuracy) {
      const drop = (c.accuracy.a - c.accuracy.b) * 100;
      lines.push(
        '',
        `test top-1 ${ref} ${pct(c.accuracy.a)} → ${pct(c.accuracy.b)} (${drop >= 0 ? '−' : '+'}${Math.abs(drop).toFixed(2)} pt) on ${r.testedOn}`,
      );
    }
    if (c.fidelity) lines.push('', `fidelity against the ${ref} on ${r.testedOn}`, fidelityTable(c.fidelity));
    if (c.latency)
      lines.push('', `latency p50 ${c.latency.backend}: ratio result/${ref} ${c.latency.ratio.toFixed(3)}`);
  }
  return lines.join('\n');
}

/** Writes the HTML report of the test comparison (when asked) and returns the JSON or the human text. */
async function finish(r: DistillModelResult, f: TrainFlags, verb: 'distill' | 'finetune'): Promise<string> {
  if (f.report && r.comparison) await writeReport(f.report, r.comparison);
  const text = f.json ? json(r) : human(r, verb);
  return f.report && r.comparison && !f.json ? `${text}\n\nreport: ${f.report}` : text;
}

export async function distillCommand(f: DistillFlags): Promise<string> {
  if (!f.output) throw new UsageError('distill needs -o <out.onnx>');
  if (f.report && !f.test) throw new UsageError('--report needs --test <spec> (the report is the test comparison)');
  if (!f.teacher) throw new UsageError('distill needs --teacher <model.onnx>');
  if ((f.student === undefined) === (f.shrinkWidth === undefined))
    throw new UsageError('distill needs one of --student <model.onnx> or --shrink-width <fraction>');
  const factor = num('shrink-width', f.shrinkWidth);
  if (factor !== undefined && !(factor > 0 && factor < 1))
    throw new UsageError(`--shrink-width: '${f.shrinkWidth}' must be in (0, 1)`);
  const o = trainOptions(f);
  try {
    const r = await distillModel({
      ...o,
      teacher: f.teacher,
      ...(f.student ? { student: f.student } : {}),
      ...(factor !== undefined ? { shrinkWidth: factor } : {}),
      ...(f.temperature !== undefined ? { temperature: num('temperature', f.temperature)! } : {}),
      ...(f.alpha !== undefined ? { alpha: num('alpha', f.alpha)! } : {}),
      output: f.output,
    });
    return await finish(r, f, 'distill');
  } finally {
    clearBar();
  }
}

export async function finetuneCommand(model: string, f: TrainFlags): Promise<string> {
  if (!f.output) throw new UsageError('finetune needs -o <out.onnx>');
  if (f.report && !f.test) throw new UsageError('--report needs --test <spec> (the report is the test comparison)');
  const o = trainOptions(f);
  try {
    const r = await distillModel({ ...o, student: model, output: f.output });
    return await finish(r, f, 'finetune');
  } finally {
    clearBar();
  }
}
