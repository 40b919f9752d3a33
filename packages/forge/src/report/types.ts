/**
 * The results edgeforge measures, as `--json` prints them and as the HTML report renders them.
 * Every object here is plain JSON: numbers, strings, arrays, objects. Producers (evaluate, bench,
 * compare) build these; `renderReport` and `parseReportResult` consume them.
 *
 * Conventions:
 * - accuracies, precision, recall and agreements are fractions in [0, 1], never percentages;
 * - times are milliseconds (`…Ms`), sizes are bytes (`…Bytes`, `bytes`);
 * - JSON has no NaN or Infinity: `JSON.stringify` writes them as `null`. Fields where a non-finite
 *   value is a real outcome (fidelity against a model that emits NaN, SNR of identical outputs) are
 *   typed `number | null`; see each field.
 */

/** A model file as measured. */
export interface ModelRef {
  /** Path as the user gave it (shown verbatim, HTML-escaped, in reports). */
  path: string;
  /** Size on disk in bytes, including external-data files. */
  bytes: number;
}

// ─── eval ────────────────────────────────────────────────────────────────────

/** Precision and recall of one class, computed from the confusion matrix. */
export interface ClassMetrics {
  /** tp / (tp + fp); 0 when the class was never predicted. */
  precision: number;
  /** tp / (tp + fn); 0 when the class never occurs in the labels. */
  recall: number;
  /** Samples whose label is this class (the confusion matrix's row sum). */
  support?: number;
}

/** Classification metrics on labelled data. */
export interface TaskMetrics {
  /** Fraction of samples whose highest score is the label, in [0, 1]. */
  top1: number;
  /** Fraction whose label is among the 5 highest scores; absent with fewer than 5 classes. */
  top5?: number;
  /** `confusion[label][predicted]`: sample counts, square, one row and column per class. */
  confusion?: number[][];
  /** Class names by class index (same length as `confusion`); reports fall back to the index. */
  classNames?: string[];
  /** Per-class metrics by class index. */
  perClass?: ClassMetrics[];
}

/** How closely one output of a model follows the same output of a reference model. */
export interface OutputFidelity {
  /** Output name. */
  name: string;
  /** Cosine similarity of the flattened outputs over all samples (1 = same direction); null if NaN. */
  cosine: number | null;
  /**
   * Signal-to-noise ratio in dB, 10·log10(Σref² / Σ(ref − test)²). `null` when not finite: the
   * outputs are identical (then `maxAbsError` is 0 and the SNR is +∞) or they hold NaN.
   */
  snrDb: number | null;
  /** Largest |ref − test| over all elements; null when the outputs hold NaN or ±∞. */
  maxAbsError: number | null;
  /** Mean |ref − test| over all elements; null when not finite. */
  meanAbsError: number | null;
  /** Fraction of rows (over the last axis) whose argmax agrees, in [0, 1]; for classifier-like outputs. */
  argmaxAgreement?: number;
  /** Samples compared. */
  samples: number;
  /** Elements compared (all elements of all samples). */
  elements?: number;
}

/** Fidelity of a model's outputs against a reference model, output by output. */
export interface FidelityReport {
  /** Path of the reference model (usually the original, uncompressed one). */
  against: string;
  perOutput: OutputFidelity[];
}

/** `edgeforge eval`: task metrics on labelled data and/or fidelity against a reference model. */
export interface EvalResult {
  kind: 'eval';
  model: ModelRef;
  /** Runtime backend that ran the model: `'node'` (onnxruntime-node) or `'wasm'` (onnxruntime-web). */
  backend: string;
  /** Samples evaluated. */
  samples: number;
  /** Present when the data is labelled. */
  task?: TaskMetrics;
  /** Present when a reference model was given. */
  fidelity?: FidelityReport;
  /** Wall time of the whole evaluation, ms. */
  durationMs: number;
}

// ─── bench ───────────────────────────────────────────────────────────────────

/** Latency statistics over the timed runs, ms. Percentiles interpolate linearly (numpy's default). */
export interface LatencyStats {
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation. */
  stdev?: number;
  /** Runs the statistics cover. */
  count?: number;
}

/** `edgeforge bench`: latency, throughput, cold start and memory of one model on one backend. */
export interface BenchResult {
  kind: 'bench';
  model: ModelRef;
  /** Runtime backend: `'node'` or `'wasm'`. */
  backend: string;
  /** Intra-op threads requested; `null` (or 0) means the runtime's default. */
  threads: number | null;
  /** Timed runs. */
  iterations: number;
  /** Untimed runs before the timed ones. */
  warmup: number;
  /** Samples per run (the batch dimension), for throughput; 1 when absent. */
  batch?: number;
  latencyMs: LatencyStats;
  /** Samples (inferences) per second at the mean latency. */
  throughputPerSec: number;
  /** Median time to create a session (load + optimize), ms: the cold start. */
  sessionCreateMs: number;
  /** Peak resident set size of the measuring process, bytes (includes the runtime itself). */
  peakRssBytes: number;
  /** RSS growth from before the first session to after the timed runs, bytes. */
  rssDeltaBytes?: number;
  /** Raw latency of each timed run in order, ms (for the histogram and the run-by-run chart). */
  samplesMs?: number[];
}

// ─── compare ─────────────────────────────────────────────────────────────────

/** Parameters of one element type (same shape as `@edgeforge/onnx`'s `DtypeStats`). */
export interface DtypeParams {
  /** Elements stored. */
  count: number;
  /** Bytes stored. */
  bytes: number;
  /** Tensors holding them. */
  tensors?: number;
}

/** What a comparison needs to know about each model (a subset of `edgeforge inspect --json`). */
export interface ModelProfile extends ModelRef {
  params: {
    /** By element type label (`float32`, `float16`, `int8`, …), as `inspect` reports them. */
    byDtype: Record<string, DtypeParams>;
  };
  /** Node count by operator type (domain-qualified for non-default domains, as `inspect` prints). */
  ops: Record<string, number>;
}

/** Latency of the two models measured side by side in one run (interleaved). */
export interface LatencyComparison {
  a: LatencyStats;
  b: LatencyStats;
  /** p50(b) / p50(a): below 1 means b is faster. */
  ratio: number;
  /** Backend both ran on. */
  backend?: string;
  /** Raw latencies of each timed run, ms. */
  samplesA?: number[];
  samplesB?: number[];
}

/** `edgeforge compare`: model `b` (usually compressed) against model `a` (usually the original). */
export interface CompareResult {
  kind: 'compare';
  a: ModelProfile;
  b: ModelProfile;
  /** Top-1 accuracy of each on the same labelled data, fractions in [0, 1]. */
  accuracy?: { a: number; b: number };
  /** Fidelity of b's outputs against a's (`against` is a's path). */
  fidelity?: FidelityReport;
  latency?: LatencyComparison;
}

/** Any result the report renders. `kind` tells them apart. */
export type ReportResult = EvalResult | BenchResult | CompareResult;
