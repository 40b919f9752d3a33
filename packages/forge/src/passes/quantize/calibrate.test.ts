/**
 * calibrate: min/max exact on known data over several batches; percentile and entropy thresholds
 * equal to onnxruntime's own HistogramCollector on the same data (goldens written by
 * tools/quant-goldens/calibration_goldens.py), both from the histogram functions and end to end
 * through a model in onnxruntime-node with the data split into batches.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, floatTensor, serializeModel } from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/index.js';
import {
  addToHistogram,
  calibrate,
  emptyHistogram,
  entropyRange,
  percentileRange,
  type CalibrationMethod,
  type Histogram,
} from './calibrate.js';

interface GoldenResult {
  method: 'percentile' | 'entropy';
  symmetric: boolean;
  numBins: number;
  percentile?: number;
  numQuantizedBins?: number;
  edges: [number, number];
  checksum: [number, number, number];
  range: [number, number];
  /** Entropy: upper thresholds whose KL is within 1e-5 of ORT's minimum (float32 rounding picks among them). */
  nearOptimalUpper?: number[];
}
interface GoldenCase {
  kind: 'bell' | 'relu-tail' | 'skewed-outliers';
  seed: number;
  n: number;
  min: number;
  max: number;
  results: GoldenResult[];
}
const goldens = JSON.parse(readFileSync(join(import.meta.dirname, 'testdata/calibration-goldens.json'), 'utf8')) as {
  cases: GoldenCase[];
};

/** The golden script's xorshift32 uniforms, bit for bit. */
function uniforms(seed: number, n: number): Float64Array {
  let x = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x >>> 8) / 16777216;
  }
  return out;
}

function dataset(kind: GoldenCase['kind'], seed: number, n: number): Float32Array {
  const u = uniforms(seed, 6 * n);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = u.subarray(6 * i, 6 * i + 6);
    const bell = (r[0] + r[1] + r[2] + r[3] - 2) * 1.5;
    out[i] =
      kind === 'bell'
        ? bell
        : kind === 'relu-tail'
          ? Math.max(bell, 0) * (1 + 20 * r[4] ** 12)
          : bell * 0.5 + 1 + (r[5] < 0.002 ? 40 * r[4] : 0);
  }
  return out;
}

function histogramOf(data: Float32Array, bins: number, absolute: boolean): Histogram {
  let [min, max, minAbs] = [Infinity, -Infinity, Infinity];
  for (const v of data) [min, max, minAbs] = [Math.min(min, v), Math.max(max, v), Math.min(minAbs, Math.abs(v))];
  const t = Math.max(-min, max);
  const h = absolute ? emptyHistogram(minAbs, t, bins, min, max) : emptyHistogram(-t, t, bins, min, max);
  addToHistogram(h, data, absolute);
  return h;
}

function checksum(h: Histogram): number[] {
  let [s0, s1, s2] = [0, 0, 0];
  h.counts.forEach((c, i) => ((s0 += c), (s1 += c * i), (s2 += c * i * i)));
  return [s0, s1, s2];
}

/**
 * ORT's range, or for entropy one of the windows whose KL ties ORT's minimum to 1e-5 (ORT sums in
 * float32, here in float64: on a flat KL curve the two may pick neighbouring windows).
 */
function assertGoldenRange(got: { min: number; max: number }, r: GoldenResult, c: GoldenCase, what: string): void {
  if (got.min === r.range[0] && got.max === r.range[1]) return;
  const tie = r.nearOptimalUpper?.find((u) => got.max === Math.min(u, c.max));
  assert.ok(tie !== undefined, `${what}: [${got.min}, ${got.max}], ORT [${r.range.join(', ')}]`);
  assert.ok(Math.abs(got.min - Math.max(-tie, c.min)) <= 1e-6 * tie, `${what}: lower ${got.min}`);
}

/** x → Identity → y: calibrating 'y' observes exactly the data fed. */
function identityModel() {
  const b = new GraphBuilder('id');
  const x = b.input('x', DataType.FLOAT, ['N']);
  b.output(b.op('Identity', [x]), 'y', DataType.FLOAT, ['N']);
  return b.model({ opset: 13 });
}

function batchesOf(data: Float32Array, size: number): () => AsyncIterable<Feeds> {
  return async function* () {
    for (let i = 0; i < data.length; i += size) {
      const part = data.slice(i, i + size);
      yield { x: { type: 'float32', dims: [part.length], data: part } };
    }
  };
}

describe('calibrate: thresholds against onnxruntime HistogramCollector', () => {
  for (const c of goldens.cases) {
    it(`${c.kind}: histograms and percentile thresholds equal ORT's, entropy equal or a KL tie`, () => {
      const data = dataset(c.kind, c.seed, c.n);
      assert.equal(Math.min(...data), c.min, 'data generator reproduces the golden data');
      assert.equal(Math.max(...data), c.max);
      for (const r of c.results) {
        const absolute = r.method === 'percentile' && r.symmetric;
        const h = histogramOf(data, r.numBins, absolute);
        const what = `${c.kind} ${r.method} symmetric=${r.symmetric} bins=${r.numBins}`;
        assert.deepEqual([h.edges[0], h.edges[r.numBins]], r.edges, `${what}: edges`);
        assert.deepEqual(checksum(h), r.checksum, `${what}: bin counts`);
        const got =
          r.method === 'percentile'
            ? percentileRange(h, r.percentile!, r.symmetric)
            : entropyRange(h, r.numQuantizedBins);
        console.log(`${what}: ORT [${r.range.join(', ')}], here [${got.min}, ${got.max}]`);
        if (r.method === 'percentile') assert.deepEqual([got.min, got.max], r.range, what);
        else assertGoldenRange(got, r, c, what);
      }
    });
  }

  it('entropy cuts outliers that percentile 99.999 keeps; both lie within min/max', () => {
    const data = dataset('skewed-outliers', 13, 20000);
    const p = percentileRange(histogramOf(data, 2048, true), 99.999, true);
    const e = entropyRange(histogramOf(data, 2048, false), 128);
    assert.ok(e.max < p.max / 5, `entropy ${e.max} vs percentile ${p.max}`);
    assert.ok(e.min >= Math.min(...data) && p.max <= Math.max(...data));
  });

  it('refuses bad parameters', () => {
    const h = histogramOf(dataset('bell', 7, 100), 64, false);
    assert.throws(() => percentileRange(h, 101, true), /percentile must be in \[0, 100\]/);
    assert.throws(() => entropyRange(h, 128), /needs at least 128 bins/);
  });
});

describe('calibrate: through onnxruntime-node', () => {
  it('min/max is exact over several batches, for inputs, intermediate tensors and outputs', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, ['N', 3]);
    const r = b.op('Relu', [x], {}, { output: 'r' });
    const m = b.op('Mul', [r, b.initializer('two', floatTensor([], [2]))], {}, { output: 'm' });
    const s = b.op('Shape', [m], {}, { output: 's' });
    b.output(b.op('Sub', [m, b.initializer('one', floatTensor([], [1]))]), 'y');
    b.output(s, 's');
    const model = b.model({ opset: 13 });
    const bytes = serializeModel(model);
    const values = [
      [-3, 0.5, 2],
      [1, -7.25, 4],
      [0.125, 9, -1],
    ];
    const data = async function* (): AsyncIterable<Feeds> {
      for (const row of values) yield { x: { type: 'float32', dims: [1, 3], data: Float32Array.from(row) } };
    };
    const res = await calibrate(model, ['x', 'r', 'm', 'y', 's'], data);
    assert.deepEqual(Object.fromEntries(res.ranges), {
      x: { min: -7.25, max: 9 },
      r: { min: 0, max: 9 },
      m: { min: 0, max: 18 },
      y: { min: -1, max: 17 },
    });
    assert.match(res.skipped.get('s')!, /int64, not float32/);
    assert.deepEqual([res.batches, res.samples], [3, 3]);
    assert.deepEqual(serializeModel(model), bytes, 'the model itself is not changed');
  });

  it('percentile and entropy through a model, data in batches of 3000: ORT single-batch thresholds', async () => {
    const model = identityModel();
    for (const c of goldens.cases) {
      const data = dataset(c.kind, c.seed, c.n);
      for (const r of c.results) {
        const method: CalibrationMethod = r.method;
        const res = await calibrate(model, ['y'], batchesOf(data, 3000), {
          method,
          symmetric: r.symmetric,
          numBins: r.numBins,
          ...(r.percentile !== undefined ? { percentile: r.percentile } : {}),
          ...(r.numQuantizedBins !== undefined ? { numQuantizedBins: r.numQuantizedBins } : {}),
        });
        assertGoldenRange(res.ranges.get('y')!, r, c, `${c.kind} ${r.method} bins=${r.numBins}`);
      }
    }
  });

  it('refuses empty data and infinite activations', async () => {
    const model = identityModel();
    const none = async function* (): AsyncIterable<Feeds> {};
    await assert.rejects(calibrate(model, ['y'], none), /calibration data is empty/);
    const inf = batchesOf(Float32Array.of(1, Infinity), 2);
    await assert.rejects(calibrate(model, ['y'], inf), /tensor 'y' reaches Infinity/);
    await assert.rejects(calibrate(model, ['y'], inf, { method: 'median' as never }), /unknown calibration method/);
  });
});
