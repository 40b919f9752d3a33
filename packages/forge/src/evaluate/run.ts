import { loadModel, modelFileSize, summarizeModel, type Model } from '@edgeforge/onnx';
import { benchModel, benchPair, type BenchOptions } from '../bench/bench.js';
import { openDataset, type Dataset } from '../data/index.js';
import type {
  BenchResult,
  CompareResult,
  EvalResult,
  FidelityReport,
  ModelProfile,
  ModelRef,
  TaskMetrics,
} from '../report/types.js';
import { getBackend } from '../runtime/index.js';
import type { BackendName, Feeds, Session } from '../runtime/types.js';
import { evaluateModel, type EvalMeasurement } from './evaluate.js';
import type { ClassificationResult, FidelityResult } from './metrics.js';

/** What `edgeforge eval`, `bench` and `compare` share: where to run and what to feed. */
export interface RunOptions {
  backend?: BackendName;
  threads?: number;
  /** Data spec (see data/README.md); bench and compare fall back to synthetic inputs. */
  data?: string;
  batch?: number;
  limit?: number;
  /** Symbolic dims (`{ N: 1 }`) or whole input shapes (`{ x: [1, 3, 48, 320] }`). */
  shapes?: Record<string, number | number[]>;
  /** Output with class scores. */
  output?: string;
  onProgress?: (done: number, total: number) => void;
}

/** The model file plus its external data, as a download would cost. */
export function modelRef(path: string, loaded: Model = loadModel(path)): ModelRef {
  const { model, external } = modelFileSize(path, loaded);
  return { path, bytes: model + external };
}

function taskMetrics(c: ClassificationResult, classNames?: readonly string[]): TaskMetrics {
  return {
    top1: c.top1,
    ...(c.top5 !== undefined ? { top5: c.top5 } : {}),
    confusion: c.confusion,
    ...(classNames && classNames.length === c.confusion.length ? { classNames: [...classNames] } : {}),
    perClass: c.perClass,
  };
}

function fidelityReport(against: string, f: FidelityResult[]): FidelityReport {
  return {
    against,
    perOutput: f.map((x) => ({
      name: x.name,
      cosine: x.cosine,
      snrDb: x.snrDb,
      maxAbsError: Number.isFinite(x.maxAbsError) ? x.maxAbsError : null,
      meanAbsError: Number.isFinite(x.meanAbsError) ? x.meanAbsError : null,
      ...(x.argmaxAgreement !== undefined ? { argmaxAgreement: x.argmaxAgreement } : {}),
      samples: x.samples,
      elements: x.elements,
    })),
  };
}

async function open(path: string, o: RunOptions): Promise<Session> {
  return getBackend(o.backend ?? 'node').createSession(path, o.threads ? { threads: o.threads } : {});
}

async function dataset(session: Session, spec: string, o: RunOptions, limit = o.limit): Promise<Dataset> {
  return openDataset(spec, {
    inputs: session.inputs,
    ...(o.batch ? { batchSize: o.batch } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(o.shapes ? { shapes: o.shapes } : {}),
  });
}

/** One batch of inputs for timing: the first batch of `--data`, or synthetic inputs. */
async function sampleFeeds(session: Session, o: RunOptions): Promise<Feeds> {
  const ds = await dataset(session, o.data ?? 'synthetic', { ...o, batch: o.batch ?? 1 }, o.batch ?? 1);
  for await (const b of ds.batches()) return b.inputs;
  throw new Error(`data '${o.data}' holds no samples`);
}

/** `edgeforge eval`: task metrics on labelled data, fidelity against a reference model. */
export async function runEval(model: string, o: RunOptions & { against?: string }): Promise<EvalResult> {
  if (!o.data) throw new Error('eval needs --data <spec> (e.g. idx:images.gz,labels=labels.gz, or synthetic)');
  const session = await open(model, o);
  const reference = o.against ? await open(o.against, o) : undefined;
  try {
    const ds = await dataset(session, o.data, o);
    if (!ds.hasLabels && !reference) {
      throw new Error(
        `data '${o.data}' has no labels and there is no --against model: nothing to measure (add labels=… to the data spec)`,
      );
    }
    const m: EvalMeasurement = await evaluateModel({
      session,
      batches: ds.batches(),
      ...(reference ? { reference } : {}),
      ...(o.output ? { output: o.output } : {}),
      onProgress: (n) => o.onProgress?.(n, ds.size),
    });
    return {
      kind: 'eval',
      model: modelRef(model),
      backend: session.backend,
      samples: m.samples,
      ...(m.task ? { task: taskMetrics(m.task, ds.classes) } : {}),
      ...(m.fidelity && o.against ? { fidelity: fidelityReport(o.against, m.fidelity) } : {}),
      durationMs: m.durationMs,
    };
  } finally {
    await session.release();
    await reference?.release();
  }
}

/** `edgeforge bench`: cold start, latency percentiles, throughput, memory. */
export async function runBench(model: string, o: RunOptions & BenchOptions): Promise<BenchResult> {
  const probe = await open(model, o);
  let feeds: Feeds;
  try {
    feeds = await sampleFeeds(probe, o);
  } finally {
    await probe.release();
  }
  const m = await benchModel(getBackend(o.backend ?? 'node'), model, feeds, o);
  return {
    kind: 'bench',
    model: modelRef(model),
    backend: m.backend,
    threads: m.threads,
    iterations: m.iterations,
    warmup: m.warmup,
    batch: m.batch,
    latencyMs: m.latencyMs,
    throughputPerSec: m.throughputPerSec,
    sessionCreateMs: m.sessionCreateMs,
    peakRssBytes: m.peakRssBytes,
    rssDeltaBytes: m.rssDeltaBytes,
    samplesMs: m.samplesMs,
  };
}

function profile(path: string): ModelProfile {
  const model = loadModel(path);
  const s = summarizeModel(model);
  return { ...modelRef(path, model), params: { byDtype: s.parameters.byDtype }, ops: s.operators };
}

/**
 * `edgeforge compare a b`: sizes, parameters by dtype and operators side by side; on `--data`
 * (synthetic when absent) accuracy of both and fidelity of b against a; latency measured
 * interleaved in this one process, reported as the ratio b/a.
 */
export async function runCompare(
  a: string,
  b: string,
  o: RunOptions & BenchOptions & { latency?: boolean; fidelitySamples?: number },
): Promise<CompareResult> {
  const result: CompareResult = { kind: 'compare', a: profile(a), b: profile(b) };
  const sa = await open(a, o);
  const sb = await open(b, o);
  let feedsA: Feeds;
  let feedsB: Feeds;
  try {
    const ds = await dataset(sb, o.data ?? 'synthetic', o, o.data ? o.limit : (o.limit ?? o.fidelitySamples ?? 32));
    const m = await evaluateModel({
      session: sb,
      reference: sa,
      referenceTask: true,
      batches: ds.batches(),
      ...(o.output ? { output: o.output } : {}),
      onProgress: (n) => o.onProgress?.(n, ds.size),
    });
    if (m.task && m.referenceTask) result.accuracy = { a: m.referenceTask.top1, b: m.task.top1 };
    if (m.fidelity) result.fidelity = fidelityReport(a, m.fidelity);
    feedsA = await sampleFeeds(sa, o);
    feedsB = await sampleFeeds(sb, o);
  } finally {
    await sa.release();
    await sb.release();
  }
  if (o.latency ?? true) {
    const p = await benchPair(
      getBackend(o.backend ?? 'node'),
      { model: a, feeds: feedsA },
      { model: b, feeds: feedsB },
      o,
    );
    result.latency = {
      a: p.a.latencyMs,
      b: p.b.latencyMs,
      ratio: p.ratio,
      backend: p.a.backend,
      samplesA: p.a.samplesMs,
      samplesB: p.b.samplesMs,
    };
  }
  return result;
}
