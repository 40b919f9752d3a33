/**
 * Test helper for the prune passes on the reference models (models/reference/README.md): the
 * model after the default optimize recipe (BatchNorm folded), and top-1 of a pruned copy against it
 * on the same test samples, with how far the outputs moved.
 */
import { join } from 'node:path';
import { loadModel, serializeModel, type Model } from '@edgeforge/onnx';
import { REPO_ROOT, mnistPath } from '../../../../../../tools/models.ts';
import { openDataset } from '../../../data/index.js';
import { getBackend } from '../../../runtime/index.js';
import { runPasses } from '../../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../../registry.js';
import { gzipSize } from '../storage.js';

const FASHION = '/usr/share/datasets/fashion-mnist';

export const REFERENCE_MODELS = {
  'mnist-cnn': () =>
    `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`,
  'fashion-resnet': () =>
    `idx:${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530`,
  'spam-transformer': () => `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`,
} as const;
export type ReferenceName = keyof typeof REFERENCE_MODELS;

/** A reference model through the default optimize recipe. */
export async function optimizedReference(name: ReferenceName): Promise<Model> {
  const model = loadModel(join(REPO_ROOT, 'models/reference', `${name}.onnx`));
  await runPasses(model, DEFAULT_RECIPE, { registry: PASSES });
  return model;
}

/** The base model's outputs on the first `limit` test samples, kept to compare pruned copies with. */
export interface Baseline {
  name: ReferenceName;
  limit: number;
  top1: number;
  gzip: number;
  /** First output (class scores) per batch, and the labels. */
  scores: Float32Array[];
  labels: Int32Array[];
  classes: number;
}

async function scoresOf(name: ReferenceName, model: Model, limit: number) {
  const s = await getBackend('node').createSession(serializeModel(model), { threads: 2 });
  try {
    const ds = await openDataset(REFERENCE_MODELS[name](), { inputs: s.inputs, batchSize: 200, limit });
    const scores: Float32Array[] = [];
    const labels: Int32Array[] = [];
    let classes = 0;
    for await (const b of ds.batches()) {
      const out = (await s.run(b.inputs))[s.outputs[0].name];
      classes = out.dims[1];
      scores.push(Float32Array.from(out.data as Float32Array));
      labels.push(b.labels!);
    }
    return { scores, labels, classes };
  } finally {
    await s.release();
  }
}

function top1(
  scores: Float32Array[],
  labels: Int32Array[],
  classes: number,
): { correct: number; n: number; pred: number[] } {
  let correct = 0;
  let n = 0;
  const pred: number[] = [];
  scores.forEach((s, b) => {
    for (let i = 0; i < labels[b].length; i++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (s[i * classes + c] > s[i * classes + best]) best = c;
      pred.push(best);
      if (best === labels[b][i]) correct++;
      n++;
    }
  });
  return { correct, n, pred };
}

export async function baseline(name: ReferenceName, base: Model, limit: number): Promise<Baseline> {
  const r = await scoresOf(name, base, limit);
  const t = top1(r.scores, r.labels, r.classes);
  return { name, limit, top1: t.correct / t.n, gzip: gzipSize(base), ...r };
}

export interface Comparison {
  samples: number;
  baseTop1: number;
  top1: number;
  /** Share of samples whose predicted class is unchanged. */
  agreement: number;
  /** Cosine of all class scores against the base model's. */
  cosine: number;
  baseGzip: number;
  gzip: number;
}

/** Top-1 of `model` on the baseline's samples, how its scores moved, and the gzip sizes. */
export async function compareToBase(b: Baseline, model: Model): Promise<Comparison> {
  const r = await scoresOf(b.name, model, b.limit);
  const t = top1(r.scores, r.labels, r.classes);
  const tb = top1(b.scores, b.labels, b.classes);
  let [dot, na, nb] = [0, 0, 0];
  r.scores.forEach((s, k) => {
    for (let i = 0; i < s.length; i++) {
      dot += s[i] * b.scores[k][i];
      na += s[i] * s[i];
      nb += b.scores[k][i] * b.scores[k][i];
    }
  });
  return {
    samples: t.n,
    baseTop1: b.top1,
    top1: t.correct / t.n,
    agreement: t.pred.filter((p, i) => p === tb.pred[i]).length / t.n,
    cosine: dot / Math.sqrt(na * nb),
    baseGzip: b.gzip,
    gzip: gzipSize(model),
  };
}

/** One printed line of a comparison. */
export function describeComparison(what: string, c: Comparison): string {
  const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
  return (
    `${what}: top-1 ${pct(c.baseTop1)} → ${pct(c.top1)} (drop ${(100 * (c.baseTop1 - c.top1)).toFixed(2)} pt, ` +
    `${c.samples} samples), same class ${pct(c.agreement)}, score cosine ${c.cosine.toFixed(5)}; ` +
    `gzip ${c.baseGzip} → ${c.gzip} bytes (${(c.gzip / c.baseGzip).toFixed(3)}×)`
  );
}
