/**
 * Result fixtures for the report's tests: realistic in shape and scale (a Fashion-MNIST classifier,
 * MobileNetV2 fp32 vs int8), and internally consistent — top-1, precision and recall are computed
 * from the confusion matrix, latency statistics from the latency samples. The latency samples are
 * synthetic (seeded log-normal with a few slow outliers), not a measurement: these fixtures test
 * rendering, not models.
 */
import type { BenchResult, CompareResult, EvalResult, LatencyStats, TaskMetrics } from '../types.js';

export const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** confusion[label][predicted] for 10,000 test images (1,000 per class), typical of a small CNN. */
export const FASHION_CONFUSION = [
  [862, 0, 17, 22, 4, 1, 86, 0, 8, 0],
  [2, 978, 1, 13, 3, 0, 2, 0, 1, 0],
  [16, 1, 856, 9, 64, 0, 52, 0, 2, 0],
  [19, 6, 11, 907, 29, 0, 25, 0, 3, 0],
  [1, 1, 71, 26, 851, 0, 48, 0, 2, 0],
  [0, 0, 0, 1, 0, 974, 0, 17, 1, 7],
  [118, 1, 69, 27, 62, 0, 714, 0, 9, 0],
  [0, 0, 0, 0, 0, 11, 0, 967, 0, 22],
  [4, 1, 3, 4, 2, 2, 4, 3, 976, 1],
  [0, 0, 0, 0, 0, 5, 1, 33, 0, 961],
];

/** Top-1 and per-class precision/recall/support from a confusion matrix. */
export function taskFromConfusion(confusion: number[][], classNames?: string[], top5?: number): TaskMetrics {
  const total = confusion.flat().reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((a, row, i) => a + row[i], 0);
  return {
    top1: correct / total,
    ...(top5 !== undefined ? { top5 } : {}),
    confusion,
    ...(classNames ? { classNames } : {}),
    perClass: confusion.map((row, c) => {
      const support = row.reduce((a, b) => a + b, 0);
      const predicted = confusion.reduce((a, r) => a + r[c], 0);
      return { precision: predicted ? row[c] / predicted : 0, recall: support ? row[c] / support : 0, support };
    }),
  };
}

/** mulberry32: a small seeded PRNG, so fixtures are the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` latencies around `medianMs` (log-normal, spread `sigma`), with `outliers` runs 2–3× slower. */
export function syntheticLatencies(
  n: number,
  medianMs: number,
  sigma: number,
  outliers: number,
  seed: number,
): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    out.push(Math.round(medianMs * Math.exp(sigma * z) * 1000) / 1000);
  }
  for (let k = 0; k < outliers; k++) {
    const i = Math.floor(r() * n);
    out[i] = Math.round(out[i] * (2 + r()) * 1000) / 1000;
  }
  return out;
}

/** Latency statistics, percentiles by linear interpolation (numpy's default, as bench computes them). */
export function statsOf(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => {
    const r = p * (s.length - 1);
    const lo = Math.floor(r);
    return s[lo] + (s[Math.ceil(r)] - s[lo]) * (r - lo);
  };
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const stdev = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / (s.length - 1));
  return { p50: q(0.5), p90: q(0.9), p99: q(0.99), mean, min: s[0], max: s[s.length - 1], stdev, count: s.length };
}

export function evalFixture(): EvalResult {
  return {
    kind: 'eval',
    model: { path: 'models/fashion-mnist-cnn.int8.onnx', bytes: 431_204 },
    backend: 'node',
    samples: 10_000,
    task: taskFromConfusion(FASHION_CONFUSION, FASHION_CLASSES, 0.9981),
    fidelity: {
      against: 'models/fashion-mnist-cnn.onnx',
      perOutput: [
        {
          name: 'logits',
          cosine: 0.999874,
          snrDb: 38.214,
          maxAbsError: 0.08713,
          meanAbsError: 0.004125,
          argmaxAgreement: 0.9962,
          samples: 10_000,
          elements: 100_000,
        },
      ],
    },
    durationMs: 3_412.7,
  };
}

export function benchFixture(): BenchResult {
  const samplesMs = syntheticLatencies(200, 4.2, 0.06, 3, 7);
  const latencyMs = statsOf(samplesMs);
  return {
    kind: 'bench',
    model: { path: 'models/mobilenetv2-12.int8.onnx', bytes: 3_617_433 },
    backend: 'node',
    threads: 4,
    iterations: samplesMs.length,
    warmup: 10,
    batch: 1,
    latencyMs,
    throughputPerSec: 1000 / latencyMs.mean,
    sessionCreateMs: 61.84,
    peakRssBytes: 187_449_344,
    rssDeltaBytes: 41_201_664,
    samplesMs,
  };
}

export function compareFixture(): CompareResult {
  const samplesA = syntheticLatencies(150, 9.8, 0.05, 2, 11);
  const samplesB = syntheticLatencies(150, 4.2, 0.07, 2, 12);
  const a = statsOf(samplesA);
  const b = statsOf(samplesB);
  return {
    kind: 'compare',
    a: {
      path: 'models/mobilenetv2-12.onnx',
      bytes: 13_964_571,
      params: { byDtype: { float32: { count: 3_487_816, bytes: 13_951_264, tensors: 104 } } },
      ops: {
        Conv: 52,
        Clip: 35,
        Add: 10,
        GlobalAveragePool: 1,
        Reshape: 1,
        Gemm: 1,
        Shape: 1,
        Gather: 1,
        Unsqueeze: 1,
        Concat: 1,
      },
    },
    b: {
      path: 'models/mobilenetv2-12.int8.onnx',
      bytes: 3_617_433,
      params: {
        byDtype: {
          int8: { count: 3_470_752, bytes: 3_470_752, tensors: 53 },
          int32: { count: 17_064, bytes: 68_256, tensors: 53 },
          float32: { count: 1_172, bytes: 4_688, tensors: 128 },
          uint8: { count: 122, bytes: 122, tensors: 122 },
        },
      },
      ops: {
        DequantizeLinear: 170,
        QuantizeLinear: 66,
        Conv: 52,
        Clip: 35,
        Add: 10,
        GlobalAveragePool: 1,
        Reshape: 1,
        Gemm: 1,
        Shape: 1,
        Gather: 1,
        Unsqueeze: 1,
        Concat: 1,
      },
    },
    accuracy: { a: 0.7188, b: 0.7102 },
    fidelity: {
      against: 'models/mobilenetv2-12.onnx',
      perOutput: [
        {
          name: 'output',
          cosine: 0.998412,
          snrDb: 24.87,
          maxAbsError: 1.2031,
          meanAbsError: 0.09174,
          argmaxAgreement: 0.9512,
          samples: 1_000,
          elements: 1_000_000,
        },
      ],
    },
    latency: { a, b, ratio: b.p50 / a.p50, backend: 'node', samplesA, samplesB },
  };
}

/** Strings that break out of HTML, attributes or script elements unless escaped. */
export const HOSTILE = {
  path: '<script>alert(1)</script>.onnx',
  className: '</script><script>alert("class")</script>',
  quotes: `"quoted" & 'apos' <!-- comment`,
  output: '<img src=x onerror=alert(3)>',
  against: '"><svg onload=alert(4)>',
  title: '</title><script>alert(5)</script>',
};

/** An eval result whose every string is hostile. */
export function hostileEvalFixture(): EvalResult {
  const r = evalFixture();
  r.model.path = HOSTILE.path;
  r.task!.classNames = FASHION_CLASSES.map((n, i) => (i === 0 ? HOSTILE.className : i === 1 ? HOSTILE.quotes : n));
  r.fidelity!.against = HOSTILE.against;
  r.fidelity!.perOutput[0].name = HOSTILE.output;
  return r;
}

/** A compare result whose paths and operator names are hostile. */
export function hostileCompareFixture(): CompareResult {
  const r = compareFixture();
  r.a.path = HOSTILE.path;
  r.b.path = `dir/${HOSTILE.className}`;
  r.a.ops[HOSTILE.output] = 3;
  r.b.params.byDtype[HOSTILE.quotes] = { count: 1, bytes: 1 };
  return r;
}

/** 100 classes (beyond the drawn-matrix limit): mostly correct, each confused with its neighbour. */
export function manyClassesEvalFixture(): EvalResult {
  const n = 100;
  const confusion = Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => (j === i ? 40 + (i % 9) : j === (i + 1) % n ? 2 + (i % 5) : 0)),
  );
  return {
    kind: 'eval',
    model: { path: 'models/cifar100-resnet20.onnx', bytes: 1_118_432 },
    backend: 'wasm',
    samples: confusion.flat().reduce((a, b) => a + b, 0),
    task: taskFromConfusion(confusion, undefined, 0.9712),
    durationMs: 812.5,
  };
}
