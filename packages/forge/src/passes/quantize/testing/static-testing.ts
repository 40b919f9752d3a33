/**
 * Test helpers for static quantization: what onnxruntime makes of a QDQ model (the op types of its
 * optimized graph), calibration batches from arrays, seeded random data and SNR.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, loadModelFromBytes, serializeModel, type Model } from '@edgeforge/onnx';
import { REPO_ROOT, mnistPath, modelPath } from '../../../../../../tools/models.ts';
import { openDataset } from '../../../data/index.js';
import { evaluateModel } from '../../../evaluate/evaluate.js';
import { preprocessBatch, type PreprocessOptions } from '../../../evaluate/ocr/preprocess.js';
import { OCR_DEFAULT_FONTS, ocrFont, renderLine, type RgbImage } from '../../../evaluate/ocr/render.js';
import { getBackend, type BackendName, type Feeds, type HostTensor, type Session } from '../../../runtime/index.js';
import { runPasses } from '../../manager.js';
import { DEFAULT_RECIPE, PASSES } from '../../registry.js';
import type { CalibrationMethod } from '../calibrate.js';
import { parseQuantizeStaticOptions, quantizeStatic } from '../quantize-static.js';
import { mulberry32 } from '../../../data/prng.js';

/**
 * Op types (with their domain, `com.microsoft::QGemm`) of the graph onnxruntime-node runs after its
 * own optimizations at `level`, counted: the proof that Q/DQ groups became int8 kernels.
 */
export async function optimizedOps(
  model: Model | Uint8Array,
  level: 'extended' | 'all' = 'extended',
): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeforge-qdq-'));
  try {
    const path = join(dir, 'optimized.onnx');
    const bytes = model instanceof Uint8Array ? model : serializeModel(model);
    const s = await getBackend('node').createSession(bytes, { graphOptimization: level, optimizedModelPath: path });
    await s.release();
    const counts: Record<string, number> = {};
    for (const n of loadModel(path).graph) counts[n.qualifiedType] = (counts[n.qualifiedType] ?? 0) + 1;
    return counts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Calibration batches from a fixed list of feeds (a fresh pass on every call). */
/** A reference model after the default optimize recipe (what quantization starts from). */
export async function optimizedFloat(name: 'ocr-cls' | 'ocr-rec'): Promise<Model> {
  const model = loadModel(modelPath(name));
  await runPasses(model, DEFAULT_RECIPE, { registry: PASSES });
  return model;
}

/** Runs `f` on a session of `bytes`, released afterwards. */
export async function withSession<T>(
  bytes: Uint8Array,
  backend: BackendName,
  f: (s: Session) => Promise<T>,
): Promise<T> {
  const s = await getBackend(backend).createSession(bytes);
  try {
    return await f(s);
  } finally {
    await s.release();
  }
}

export function batchesOf(list: readonly Feeds[]): () => AsyncIterable<Feeds> {
  return async function* () {
    for (const f of list) yield f;
  };
}

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
export const rng = mulberry32;

/** A float32 host tensor of uniform values in [lo, hi). */
export function uniform(rand: () => number, dims: number[], lo = -1, hi = 1): HostTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return { type: 'float32', dims, data: Float32Array.from({ length: n }, () => lo + (hi - lo) * rand()) };
}

/** 10·log10(Σ ref² / Σ (ref − got)²) in dB (Infinity when equal). */
export function snrDb(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  let s = 0;
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    s += ref[i] * ref[i];
    e += (ref[i] - got[i]) ** 2;
  }
  return e === 0 ? Infinity : 10 * Math.log10(s / e);
}

const FASHION = '/usr/share/datasets/fashion-mnist';

/** The reference models with their data specs (models/reference/README.md). */
export const REFERENCE_CASES = {
  'mnist-cnn': {
    train: () => `idx:${mnistPath('train-images-idx3-ubyte')},mean=0.1307,std=0.3081`,
    test: () =>
      `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`,
  },
  'fashion-resnet': {
    train: () => `idx:${FASHION}/train-images-idx3-ubyte.gz,mean=0.2860,std=0.3530`,
    test: () =>
      `idx:${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530`,
  },
} as const;
export type ReferenceModel = keyof typeof REFERENCE_CASES;

async function top1(model: Uint8Array, spec: string, limit: number): Promise<number> {
  const s = await getBackend('node').createSession(model);
  try {
    const ds = await openDataset(spec, { inputs: s.inputs, batchSize: 250, limit });
    return (await evaluateModel({ session: s, batches: ds.batches() })).task!.top1;
  } finally {
    await s.release();
  }
}

export interface ReferenceResult {
  method: CalibrationMethod;
  floatTop1: number;
  int8Top1: number;
  originalBytes: number;
  floatBytes: number;
  int8Bytes: number;
  quantizedNodes: number;
  /** Op types of onnxruntime's optimized int8 graph. */
  ops: Record<string, number>;
  /** Conv and Gemm nodes of the optimized float model. */
  convs: number;
  gemms: number;
}

/**
 * A reference model through the default optimize recipe and quantize-static with each method:
 * calibration on `calibration` training images, top-1 on `test` test images (float and int8).
 */
export async function quantizeReference(
  name: ReferenceModel,
  methods: readonly CalibrationMethod[],
  o: { calibration: number; test: number },
): Promise<ReferenceResult[]> {
  const c = REFERENCE_CASES[name];
  const path = join(REPO_ROOT, 'models/reference', `${name}.onnx`);
  const model = loadModel(path);
  await runPasses(model, DEFAULT_RECIPE, { registry: PASSES });
  const floatBytes = serializeModel(model);
  const probe = await getBackend('node').createSession(floatBytes);
  const inputs = probe.inputs;
  await probe.release();
  const calibration = async function* (): AsyncIterable<Feeds> {
    const ds = await openDataset(c.train(), { inputs, batchSize: 50, limit: o.calibration });
    for await (const b of ds.batches()) yield b.inputs;
  };
  const floatTop1 = await top1(floatBytes, c.test(), o.test);
  const count = (op: string) => model.graph.nodes().filter((n) => n.opType === op).length;
  const out: ReferenceResult[] = [];
  for (const method of methods) {
    const q = loadModelFromBytes(floatBytes);
    const r = await quantizeStatic(q, parseQuantizeStaticOptions({ calibrateMethod: method }), calibration);
    const bytes = serializeModel(q);
    out.push({
      method,
      floatTop1,
      int8Top1: await top1(bytes, c.test(), o.test),
      originalBytes: statSync(path).size,
      floatBytes: floatBytes.length,
      int8Bytes: bytes.length,
      quantizedNodes: r.quantized.length,
      ops: await optimizedOps(bytes),
      convs: count('Conv'),
      gemms: count('Gemm'),
    });
  }
  return out;
}

/** One printed row of a reference result. */
export function describeReference(name: string, r: ReferenceResult, test: number): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  return (
    `${name} ${r.method.padEnd(10)} top-1 float ${pct(r.floatTop1)} → int8 ${pct(r.int8Top1)} ` +
    `(${test} test images, drop ${((r.floatTop1 - r.int8Top1) * 100).toFixed(2)} pt); bytes ${r.originalBytes} original, ` +
    `${r.floatBytes} optimized float → ${r.int8Bytes} int8 (${(r.int8Bytes / r.originalBytes).toFixed(3)}× original, ` +
    `${(r.int8Bytes / r.floatBytes).toFixed(3)}× optimized); ${r.quantizedNodes} nodes quantized; ORT: ${JSON.stringify(r.ops)}`
  );
}

/** Calibration and test images of the reference-model tests. */
export const REFERENCE_CALIBRATION = 500;
export const REFERENCE_TEST = 2000;

/** The bounds: top-1 drop ≤ 1 pt, file ≤ 0.3× the original, every Conv and Gemm an int8 kernel. */
export function assertReference(r: ReferenceResult): void {
  assert.ok(r.floatTop1 - r.int8Top1 <= 0.01, `${r.method}: top-1 ${r.int8Top1} vs float ${r.floatTop1}`);
  assert.ok(r.int8Bytes <= 0.3 * r.originalBytes, `${r.method}: ${r.int8Bytes} bytes vs ${r.originalBytes}`);
  assert.equal(r.ops.QLinearConv, r.convs);
  assert.equal(r.ops['com.microsoft::QGemm'], r.gemms);
  assert.equal(r.ops.Conv ?? 0, 0);
  assert.equal(r.ops.Gemm ?? 0, 0);
}

/** Line i as `ocrAccuracy` draws it: font i mod 3, size [24, 32, 40][⌊i/3⌋ mod 3]. */
export function renderOcrLine(text: string, i: number): RgbImage {
  const fonts = OCR_DEFAULT_FONTS;
  return renderLine(text, { font: ocrFont(fonts[i % fonts.length]), size: [24, 32, 40][Math.floor(i / 3) % 3] });
}

/** The image turned upside down (what PaddleOCR's direction classifier detects). */
export function rotate180(im: RgbImage): RgbImage {
  const n = im.width * im.height;
  const data = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) data.set(im.data.subarray((n - 1 - p) * 3, (n - p) * 3), p * 3);
  return { width: im.width, height: im.height, data };
}

/**
 * Batches of rendered images for a PaddleOCR model input `x`, sorted by width so that a batch pads
 * little (a fresh pass on every call; images are drawn once).
 */
export function ocrBatches(
  images: readonly RgbImage[],
  batchSize: number,
  preprocess: PreprocessOptions = {},
): () => AsyncIterable<Feeds> {
  const sorted = [...images].sort((a, b) => a.width / a.height - b.width / b.height);
  const feeds: Feeds[] = [];
  for (let i = 0; i < sorted.length; i += batchSize) {
    const { tensor } = preprocessBatch(sorted.slice(i, i + batchSize), preprocess);
    feeds.push({ x: { type: 'float32', dims: tensor.dims, data: tensor.data } });
  }
  return batchesOf(feeds);
}
