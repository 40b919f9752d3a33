/**
 * Calibration for static quantization: the real range [min, max] of each activation tensor, measured
 * by running the float model in onnxruntime-node over calibration batches, one batch at a time.
 *
 * The tensors to observe become extra graph outputs of a copy of the model (ORT's
 * `HistogramCalibrater.augment_graph` does the same). Per tensor only running statistics are kept —
 * min, max and, for the histogram methods, one histogram — never the activations themselves.
 *
 * Methods (after onnxruntime's `calibrate.py`, re-derived here, not copied):
 * - `minmax`: the observed min and max.
 * - `percentile` (default 99.999): cuts the histogram's tails. Symmetric by default, as ORT's
 *   `create_calibrator` sets for this method: a histogram of |x|, threshold t at the percentile, range
 *   [−t, t] clipped to the observed [min, max]. Asymmetric: a histogram of x, (100 − p)/2 % cut from
 *   each side.
 * - `entropy`: always a histogram of x (ORT ignores `symmetric` here), the TensorRT approach in ORT's `get_entropy_threshold`: over symmetric windows around
 *   zero of a histogram of x, pick the one whose clipped distribution, squeezed into
 *   `numQuantizedBins` levels, keeps the smallest KL divergence from the original; clipped to
 *   [min, max].
 *
 * Histograms are built in a second pass over the data, over the exact range the first pass found:
 * [−t, t] with t = max |x| for a histogram of x, [min |x|, max |x|] for one of |x| — what ORT's
 * collector makes of a single batch. (ORT grows its first batch's histogram as later batches exceed
 * it, so its bins depend on the batch order; here they do not.) Bins follow numpy's `histogram`:
 * equal width, float32 edges, the last bin closed.
 *
 * Defaults differ from ORT's in one place: entropy uses 2048 bins (TensorRT's choice). ORT's default
 * of 128 bins with 128 quantized bins leaves a single candidate window — the whole range — so it is
 * min/max in disguise whenever the histogram does not grow.
 */
import { elemTypeOf, inferShapes, loadModelFromBytes, serializeModel, type Model, type Value } from '@edgeforge/onnx';
import { getBackend } from '../../runtime/index.js';
import type { BackendName, Feeds, HostTensor, Session } from '../../runtime/types.js';

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

export interface CalibrateOptions {
  method?: CalibrationMethod;
  /** Percentile method: the share of values kept, in [0, 100] (default 99.999). */
  percentile?: number;
  /** Histogram of |x| and a range symmetric around 0 (default: true for percentile, false for entropy). */
  symmetric?: boolean;
  /** Histogram bins (default 2048). */
  numBins?: number;
  /** Entropy method: levels the clipped distribution is squeezed into (default 128). */
  numQuantizedBins?: number;
  backend?: BackendName;
  threads?: number;
}

export interface TensorRange {
  min: number;
  max: number;
}

export interface CalibrationResult {
  /** Range per observed tensor name. */
  ranges: Map<string, TensorRange>;
  /** Requested tensors that onnxruntime did not give as float32 (left out of `ranges`), with why. */
  skipped: Map<string, string>;
  /** Batches and samples seen in one pass. */
  batches: number;
  samples: number;
}

/** A histogram as numpy's `histogram` returns it, plus the data's observed range. */
export interface Histogram {
  /** Counts per bin. */
  counts: Float64Array;
  /** Bin edges (counts.length + 1), float32 values. */
  edges: Float64Array;
  /** Smallest and largest value seen (of x, also when the histogram is of |x|). */
  min: number;
  max: number;
}

/** An empty histogram over [lo, hi] with `bins` equal bins (edges as numpy.histogram makes them, in float32). */
export function emptyHistogram(lo: number, hi: number, bins: number, min: number, max: number): Histogram {
  if (!(Number.isInteger(bins) && bins > 0)) throw new RangeError(`histogram bins must be a positive integer`);
  // numpy widens an empty range to [lo − 0.5, hi + 0.5].
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  // numpy.linspace works in the edges' float32: step = (hi − lo)/bins, edge i = i·step + lo.
  const f = Math.fround;
  [lo, hi] = [f(lo), f(hi)];
  const step = f(f(hi - lo) / bins);
  const edges = new Float64Array(bins + 1);
  for (let i = 0; i < bins; i++) edges[i] = f(f(i * step) + lo);
  edges[bins] = hi;
  return { counts: new Float64Array(bins), edges, min, max };
}

/** Adds values (or their absolute values) to the histogram; values outside its range and NaN are dropped. */
export function addToHistogram(h: Histogram, data: ArrayLike<number>, absolute = false): void {
  const { counts, edges } = h;
  const n = counts.length;
  const lo = edges[0];
  const hi = edges[n];
  const perUnit = n / (hi - lo);
  const last = n - 1;
  for (let k = 0; k < data.length; k++) {
    const x = data[k];
    const v = absolute && x < 0 ? -x : x;
    if (!(v >= lo && v <= hi)) continue;
    // Non-negative and below 2^31: truncation is floor.
    let i = ((v - lo) * perUnit) | 0;
    if (i > last) i = last;
    // The computed index can be one off at a bin edge; the edges themselves decide (as numpy does).
    if (i > 0 && v < edges[i]) i--;
    else if (i < last && v >= edges[i + 1]) i++;
    counts[i]++;
  }
}

/** [min, max] of the values, NaN ignored (numpy's nanmin/nanmax); [Infinity, -Infinity] when none. */
export function valueRange(data: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  // Math.min/max keep the hot loop branch-free; a NaN poisons them, then the slow loop skips it.
  for (let i = 0; i < data.length; i++) {
    lo = Math.min(lo, data[i]);
    hi = Math.max(hi, data[i]);
  }
  if (!Number.isNaN(lo) && !Number.isNaN(hi)) return [lo, hi];
  [lo, hi] = [Infinity, -Infinity];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** First index i with cdf[i] ≥ v (numpy.searchsorted, side 'left'). */
function searchSorted(cdf: Float64Array, v: number): number {
  let lo = 0;
  let hi = cdf.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function clipToObserved(h: Histogram, lo: number, hi: number): TensorRange {
  return { min: Math.max(lo, h.min), max: Math.min(hi, h.max) };
}

/**
 * The percentile range of a histogram (ORT `compute_percentile`): symmetric → the histogram is of
 * |x| and the range is [−t, t] with t the edge where the cumulative share reaches `percentile`;
 * otherwise (100 − percentile)/2 % is cut from each tail. Clipped to the observed [min, max].
 */
export function percentileRange(h: Histogram, percentile: number, symmetric: boolean): TensorRange {
  if (!(percentile >= 0 && percentile <= 100))
    throw new RangeError(`percentile must be in [0, 100], got ${percentile}`);
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (total === 0) return { min: h.min, max: h.max };
  const cdf = new Float64Array(h.counts.length);
  let acc = 0;
  for (let i = 0; i < cdf.length; i++) cdf[i] = acc += h.counts[i] / total;
  if (symmetric) {
    const t = h.edges[searchSorted(cdf, percentile / 100)];
    return clipToObserved(h, -t, t);
  }
  const cut = (100 - percentile) / 200;
  return clipToObserved(h, h.edges[searchSorted(cdf, cut)], h.edges[searchSorted(cdf, 1 - cut)]);
}

/**
 * Replaces zeros by eps and takes the same mass off the non-zero entries (ORT `smooth_distribution`),
 * so that KL divergence stays finite; undefined when every entry is zero.
 */
function smooth(p: Float64Array, eps = 0.0001): Float64Array | undefined {
  let zeros = 0;
  for (const x of p) if (x === 0) zeros++;
  const nonzeros = p.length - zeros;
  if (nonzeros === 0) return undefined;
  const take = (eps * zeros) / nonzeros;
  return p.map((x) => (x === 0 ? eps : x - take));
}

/** KL(p ‖ q) of two (unnormalized) positive distributions, natural log. */
function klDivergence(p: Float64Array, q: Float64Array): number {
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i];
    sq += q[i];
  }
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i] / sp;
    const qi = q[i] / sq;
    if (pi > 0) kl += qi > 0 ? pi * Math.log(pi / qi) : Infinity;
  }
  return kl;
}

/**
 * The entropy (KL) threshold of a histogram of x (ORT `get_entropy_threshold`, after TensorRT's
 * calibrator). For each window of 2i+1 bins centred on the zero bin, i from numQuantizedBins/2 to
 * the half width:
 *   p = the window's counts, with everything outside added to its first and last bin;
 *   q = the window squeezed into numQuantizedBins groups of ⌊(2i+1)/numQuantizedBins⌋ bins (the
 *       remainder joins the last group), each group's count spread evenly over its non-empty bins
 *       of p — truncated to an integer, and the remainder bins left empty, both as ORT does;
 * and the window with the smallest KL(p ‖ q) after smoothing wins. Ties go to the narrowest window.
 */
export function entropyRange(h: Histogram, numQuantizedBins = 128): TensorRange {
  const { counts, edges } = h;
  const n = counts.length;
  const zero = Math.floor(n / 2);
  const half = Math.floor(numQuantizedBins / 2);
  if (half > zero) {
    throw new RangeError(`entropy calibration needs at least ${numQuantizedBins} bins, the histogram has ${n}`);
  }
  // Prefix sums give the outlier mass outside each window in O(1).
  const prefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) prefix[i + 1] = prefix[i] + counts[i];
  let best = Infinity;
  let bestRange: [number, number] = [edges[0], edges[n]];
  for (let i = half; i <= zero; i++) {
    const start = zero - i;
    const end = Math.min(zero + i + 1, n);
    const len = end - start;
    const p = counts.slice(start, end);
    p[0] += prefix[start];
    p[len - 1] += prefix[n] - prefix[end];
    const merged = Math.floor(len / numQuantizedBins);
    const q = new Float64Array(len);
    for (let g = 0; g < numQuantizedBins; g++) {
      const a = g * merged;
      const b = a + merged;
      let sum = prefix[start + b] - prefix[start + a];
      if (g === numQuantizedBins - 1) sum += prefix[end] - prefix[start + numQuantizedBins * merged];
      let nonzero = 0;
      for (let k = a; k < b; k++) if (p[k] !== 0) nonzero++;
      if (nonzero) q.fill(Math.trunc(sum / nonzero), a, b);
    }
    const ps = smooth(p);
    const qs = smooth(q);
    const kl = ps && qs ? klDivergence(ps, qs) : Infinity;
    if (kl < best) {
      best = kl;
      bestRange = [edges[start], edges[end]];
    }
  }
  return clipToObserved(h, bestRange[0], bestRange[1]);
}

/** A float32 view of a host tensor, or why it has none. */
function floatData(t: HostTensor): Float32Array | string {
  if (t.type !== 'float32') return `onnxruntime gives it as ${t.type}, not float32`;
  return t.data as Float32Array;
}

/** Serialized copy of `model` whose outputs also include `names` (typed where shape inference knows). */
export function withExtraOutputs(model: Model, names: readonly string[]): Uint8Array {
  const copy = loadModelFromBytes(serializeModel(model));
  inferShapes(copy, { valueInfo: false });
  const produced = new Map<string, Value>();
  for (const n of copy.graph) for (const o of n.outputs) if (o.name) produced.set(o.name, o);
  const outputs = new Set(copy.graph.outputs.map((v) => v.name));
  for (const name of names) {
    const v = produced.get(name);
    if (!v || outputs.has(name)) continue;
    // A value of unknown type is still a valid output: onnxruntime infers it.
    if (v.type && elemTypeOf(v.type) === undefined) v.type = undefined;
    copy.graph.outputs.push(v);
    outputs.add(name);
  }
  return serializeModel(copy);
}

interface Running {
  min: number;
  max: number;
  /** Smallest |x|: where ORT's histogram of |x| starts (numpy's default range is the data's). */
  minAbs: number;
  hist?: Histogram;
}

function samplesOf(feeds: Feeds): number {
  const first = Object.values(feeds)[0];
  return first && first.dims.length > 0 ? first.dims[0] : 1;
}

/** Runs every calibration batch and hands each observed tensor to `visit`. */
async function pass(
  session: Session,
  names: readonly string[],
  data: () => AsyncIterable<Feeds>,
  visit: (name: string, values: Float32Array | string) => void,
): Promise<{ batches: number; samples: number }> {
  const outputs = new Set(session.outputs.map((o) => o.name));
  const fetched = names.filter((n) => outputs.has(n));
  let batches = 0;
  let samples = 0;
  for await (const feeds of data()) {
    const out = fetched.length ? await session.run(feeds, fetched) : {};
    for (const name of names) {
      const t = out[name] ?? feeds[name];
      visit(name, t ? floatData(t) : 'not produced by the model nor fed to it');
    }
    batches++;
    samples += samplesOf(feeds);
  }
  return { batches, samples };
}

/**
 * Measures the range of each named tensor (node outputs or graph inputs of the main graph) over
 * the calibration batches. `data()` is called once per pass over the data: once for min/max, a
 * second time to fill the histograms of the percentile and entropy methods.
 *
 * @example
 * ```ts
 * const { ranges } = await calibrate(model, ['conv1_out', 'relu2_out'], () => batches(), { method: 'percentile' });
 * ranges.get('conv1_out'); // { min: -3.2, max: 5.9 }
 * ```
 */
export async function calibrate(
  model: Model,
  names: readonly string[],
  data: () => AsyncIterable<Feeds>,
  options: CalibrateOptions = {},
): Promise<CalibrationResult> {
  const method = options.method ?? 'minmax';
  if (!CALIBRATION_METHODS.includes(method))
    throw new RangeError(`unknown calibration method '${String(method)}' (${CALIBRATION_METHODS.join(', ')})`);
  const percentile = options.percentile ?? 99.999;
  if (!(percentile >= 0 && percentile <= 100))
    throw new RangeError(`percentile must be in [0, 100], got ${percentile}`);
  const symmetric = options.symmetric ?? method === 'percentile';
  // Only the percentile method histograms |x| (ORT's entropy always histograms x).
  const absolute = method === 'percentile' && symmetric;
  const numBins = options.numBins ?? 2048;
  const numQuantizedBins = options.numQuantizedBins ?? 128;
  if (method === 'entropy' && Math.floor(numQuantizedBins / 2) > Math.floor(numBins / 2))
    throw new RangeError(
      `entropy calibration: numBins (${numBins}) must be at least numQuantizedBins (${numQuantizedBins})`,
    );

  const session = await getBackend(options.backend ?? 'node').createSession(withExtraOutputs(model, names), {
    // Basic level folds constants but fuses nothing, so every observed tensor is what the float model computes.
    graphOptimization: 'basic',
    ...(options.threads ? { threads: options.threads } : {}),
  });
  const running = new Map<string, Running>();
  const skipped = new Map<string, string>();
  try {
    const seen = await pass(session, names, data, (name, values) => {
      if (skipped.has(name)) return;
      if (typeof values === 'string') {
        skipped.set(name, values);
        running.delete(name);
        return;
      }
      let r = running.get(name);
      if (!r) running.set(name, (r = { min: Infinity, max: -Infinity, minAbs: Infinity }));
      const [lo, hi] = valueRange(values);
      [r.min, r.max] = [Math.min(r.min, lo), Math.max(r.max, hi)];
      if (absolute) {
        let m = r.minAbs;
        for (let i = 0; i < values.length; i++) if (Math.abs(values[i]) < m) m = Math.abs(values[i]);
        r.minAbs = m;
      }
    });
    if (seen.batches === 0) throw new Error('calibration data is empty: no batch to run');
    for (const [name, r] of running) {
      if (r.min === Infinity) {
        // Only NaN (or no element at all): nothing to measure; zero range like ORT's empty tensors.
        r.min = r.max = 0;
      }
      if (!Number.isFinite(r.min) || !Number.isFinite(r.max))
        throw new Error(`tensor '${name}' reaches ${r.min < -1e38 ? r.min : r.max} on the calibration data`);
    }
    if (method !== 'minmax') {
      for (const r of running.values()) {
        if (r.min === r.max) continue;
        const t = Math.max(Math.abs(r.min), Math.abs(r.max));
        r.hist = absolute
          ? emptyHistogram(r.minAbs, t, numBins, r.min, r.max)
          : emptyHistogram(-t, t, numBins, r.min, r.max);
      }
      await pass(session, names, data, (name, values) => {
        const r = running.get(name);
        if (r?.hist && typeof values !== 'string') addToHistogram(r.hist, values, absolute);
      });
    }
    const ranges = new Map<string, TensorRange>();
    for (const [name, r] of running) {
      if (!r.hist || r.min === r.max) ranges.set(name, { min: r.min, max: r.max });
      else if (method === 'percentile') ranges.set(name, percentileRange(r.hist, percentile, symmetric));
      else ranges.set(name, entropyRange(r.hist, numQuantizedBins));
    }
    return { ranges, skipped, ...seen };
  } finally {
    await session.release();
  }
}
