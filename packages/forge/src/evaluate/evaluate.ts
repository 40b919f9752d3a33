import type { Feeds, HostTensor, Session } from '../runtime/types.js';
import { numericView } from '../runtime/tensor.js';
import { ClassificationMetrics, FidelityMetrics, type ClassificationResult, type FidelityResult } from './metrics.js';

/** One batch of evaluation data: model inputs and, for labelled data, one class id per sample. */
export interface EvalBatch {
  inputs: Feeds;
  labels?: ArrayLike<number | bigint>;
}

export interface EvaluateOptions {
  session: Session;
  batches: AsyncIterable<EvalBatch>;
  /** Run the same inputs through this model and measure fidelity against it, output by output. */
  reference?: Session;
  /** Output holding class scores for task metrics (default: the first output). */
  output?: string;
  /** Also compute the reference model's task metrics from the outputs already computed. */
  referenceTask?: boolean;
  onProgress?: (samples: number) => void;
}

export interface EvalMeasurement {
  samples: number;
  task?: ClassificationResult;
  /** The reference model's task metrics on the same batches (with `referenceTask`). */
  referenceTask?: ClassificationResult;
  fidelity?: FidelityResult[];
  durationMs: number;
}

function samplesOf(feeds: Feeds): number {
  const first = Object.values(feeds)[0];
  return first && first.dims.length > 0 ? first.dims[0] : 1;
}

/**
 * Streams batches through a model: task metrics when labels are present, fidelity against a
 * reference model when given. Only running sums are kept, never the outputs.
 */
export async function evaluateModel(o: EvaluateOptions): Promise<EvalMeasurement> {
  const t0 = performance.now();
  const cls = new ClassificationMetrics();
  const refCls = new ClassificationMetrics();
  let labelled = false;
  const fidelity = new Map<string, FidelityMetrics>();
  let samples = 0;
  const scoreName = o.output ?? o.session.outputs[0]?.name;
  if (o.output && !o.session.outputs.some((x) => x.name === o.output)) {
    throw new Error(
      `output '${o.output}' is not an output of the model (outputs: ${o.session.outputs.map((x) => x.name).join(', ')})`,
    );
  }
  const addTask = (
    metrics: ClassificationMetrics,
    out: Record<string, HostTensor>,
    name: string,
    labels: ArrayLike<number | bigint>,
  ) => {
    const scores = out[name];
    const values = scores && numericView(scores);
    if (!values) throw new Error(`output '${name}' holds no class scores`);
    if (scores.dims.length !== 2) {
      throw new Error(
        `output '${name}' has shape [${scores.dims.join(',')}]; classification needs [samples, classes] (choose one with --output)`,
      );
    }
    if (labels.length !== scores.dims[0])
      throw new Error(`batch has ${labels.length} labels for ${scores.dims[0]} samples`);
    metrics.add(values, scores.dims[1], labels);
  };
  const refScoreName = o.reference
    ? (
        o.reference.outputs.find((x) => x.name === scoreName) ??
        o.reference.outputs[o.session.outputs.findIndex((x) => x.name === scoreName)]
      )?.name
    : undefined;
  for await (const batch of o.batches) {
    const n = samplesOf(batch.inputs);
    const out = await o.session.run(batch.inputs);
    if (batch.labels) {
      labelled = true;
      addTask(cls, out, scoreName, batch.labels);
    }
    if (o.reference) {
      const ref = await o.reference.run(batch.inputs);
      if (batch.labels && o.referenceTask && refScoreName) addTask(refCls, ref, refScoreName, batch.labels);
      const names = o.session.outputs.map((x) => x.name);
      const refNames = o.reference.outputs.map((x) => x.name);
      names.forEach((name, i) => {
        // Outputs pair by name, or by position when a tool renamed them.
        const refName = refNames.includes(name) ? name : refNames[i];
        const a = ref[refName];
        const b = out[name];
        if (!a || !b) return;
        const ra = numericView(a);
        const rb = numericView(b);
        if (!ra || !rb) return;
        if (a.dims.join() !== b.dims.join()) {
          throw new Error(`output '${name}': reference shape [${a.dims.join(',')}] differs from [${b.dims.join(',')}]`);
        }
        let f = fidelity.get(name);
        if (!f) fidelity.set(name, (f = new FidelityMetrics(name)));
        f.add(ra, rb, n, b.dims.length >= 2 ? b.dims[b.dims.length - 1] : 0);
      });
    }
    samples += n;
    o.onProgress?.(samples);
  }
  return {
    samples,
    ...(labelled ? { task: cls.result() } : {}),
    ...(labelled && o.reference && o.referenceTask ? { referenceTask: refCls.result() } : {}),
    ...(o.reference ? { fidelity: [...fidelity.values()].map((f) => f.result()) } : {}),
    durationMs: performance.now() - t0,
  };
}
