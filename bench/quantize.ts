/**
 * Quantization side by side, in one run: for each model and mode, the time `quantize` takes, the
 * size ratio, and onnxruntime-node latency of the quantized model against the float model after
 * the same optimize recipe (so the ratio shows what quantization buys, not what folding did),
 * measured interleaved in this one process (ratio < 1: quantized is faster).
 *
 *   node --import tsx --conditions=source bench/quantize.ts [--only fashion-resnet,ocr-det] [--iterations 50] [--json]
 *
 * Calibration uses real images for the MNIST/Fashion models; PaddleOCR det calibrates on synthetic
 * inputs here, which is fine for latency (accuracy is measured in the tests, on rendered text).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchPair, getBackend, openDataset, optimizeModel, quantizeModel } from '../packages/forge/src/index.ts';
import type { Feeds, QuantizeMode } from '../packages/forge/src/index.ts';
import { ensureModels, mnistPath, modelPath, REPO_ROOT } from '../tools/models.ts';
import { printTable } from './print-table.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const iterations = Number(flag('--iterations')) || 50;
const only = flag('--only')?.split(',');
const asJson = args.includes('--json');

const FASHION = '/usr/share/datasets/fashion-mnist';
const ref = (f: string) => join(REPO_ROOT, 'models/reference', f);

interface Case {
  name: string;
  path: () => string;
  modes: QuantizeMode[];
  /** Calibration spec for static mode. */
  calib?: () => string;
  /** Input shape to benchmark and calibrate at. */
  shape?: Record<string, number[]>;
  passOptions?: Partial<Record<QuantizeMode, Record<string, unknown>>>;
  /** Inputs to time with, when random ones would be meaningless (Silero's sample rate). */
  feeds?: () => Feeds;
}

const CASES: Case[] = [
  {
    name: 'fashion-resnet',
    path: () => ref('fashion-resnet.onnx'),
    modes: ['static', 'dynamic', 'fp16'],
    calib: () =>
      `idx:${FASHION}/train-images-idx3-ubyte.gz,labels=${FASHION}/train-labels-idx1-ubyte.gz,mean=0.2860,std=0.3530`,
    shape: { input: [1, 1, 28, 28] },
  },
  {
    name: 'mnist-cnn',
    path: () => ref('mnist-cnn.onnx'),
    modes: ['static', 'dynamic'],
    calib: () =>
      `idx:${mnistPath('train-images-idx3-ubyte')},labels=${mnistPath('train-labels-idx1-ubyte')},mean=0.1307,std=0.3081`,
    shape: { input: [1, 1, 28, 28] },
  },
  {
    name: 'ocr-det',
    path: () => modelPath('ocr-det'),
    modes: ['static', 'dynamic', 'fp16'],
    calib: () => 'synthetic:seed=1,count=16',
    shape: { x: [1, 3, 480, 480] },
  },
  {
    name: 'ocr-cls',
    path: () => modelPath('ocr-cls'),
    modes: ['static', 'dynamic'],
    calib: () => 'synthetic:seed=1,count=32',
    shape: { x: [1, 3, 48, 192] },
  },
  {
    name: 'ocr-rec',
    path: () => modelPath('ocr-rec'),
    modes: ['static', 'dynamic', 'weight-only'],
    calib: () => 'synthetic:seed=1,count=16',
    shape: { x: [1, 3, 48, 320] },
  },
  {
    name: 'spam-transformer',
    path: () => ref('spam-transformer.onnx'),
    modes: ['dynamic', 'weight-only'],
    passOptions: { 'weight-only': { blockSize: 32 } },
  },
  {
    name: 'silero-v5',
    path: () => modelPath('silero-v5'),
    modes: ['dynamic', 'fp16'],
    // 32 ms of 16 kHz audio, the recurrent state, the sample rate: what the VAD sees in use.
    feeds: () => ({
      input: {
        type: 'float32',
        dims: [1, 512],
        data: Float32Array.from({ length: 512 }, (_, i) => Math.sin(i / 7) * 0.3),
      },
      state: { type: 'float32', dims: [2, 1, 128], data: new Float32Array(256) },
      sr: { type: 'int64', dims: [], data: BigInt64Array.of(16000n) },
    }),
  },
];

await ensureModels();
const dir = mkdtempSync(join(tmpdir(), 'edgeforge-bench-quantize-'));
const node = getBackend('node');
const rows: Record<string, unknown>[] = [];
try {
  for (const c of CASES) {
    if (only && !only.includes(c.name)) continue;
    const src = c.path();
    const base = join(dir, `${c.name}.fp32.onnx`);
    await optimizeModel(src, base);
    const probe = await node.createSession(base);
    const inputs = probe.inputs;
    await probe.release();
    let feeds = c.feeds?.();
    if (!feeds) {
      const ds = await openDataset('synthetic:seed=3,count=1', {
        inputs,
        batchSize: 1,
        ...(c.shape ? { shapes: c.shape } : {}),
      });
      for await (const b of ds.batches()) feeds = b.inputs;
    }
    if (!feeds) throw new Error(`${c.name}: no synthetic input`);
    for (const mode of c.modes) {
      const out = join(dir, `${c.name}.${mode}.onnx`);
      const t0 = performance.now();
      const r = await quantizeModel(src, out, {
        mode,
        ...(c.passOptions?.[mode] ? { passOptions: c.passOptions[mode] } : {}),
        ...(mode === 'static' && c.calib ? { calib: c.calib(), calibLimit: 128 } : {}),
        ...(c.shape ? { inputShapes: c.shape } : {}),
        data: false,
      });
      const quantizeMs = performance.now() - t0;
      const p = await benchPair(node, { model: base, feeds }, { model: out, feeds }, { iterations, warmup: 5 });
      rows.push({
        model: c.name,
        mode,
        quantizeSeconds: +(quantizeMs / 1000).toFixed(2),
        bytesBefore: r.bytesBefore,
        bytesAfter: r.bytesAfter,
        sizeRatio: +(r.bytesAfter / r.bytesBefore).toFixed(3),
        p50FloatMs: +p.a.latencyMs.p50.toFixed(3),
        p50QuantMs: +p.b.latencyMs.p50.toFixed(3),
        latencyRatio: +p.ratio.toFixed(3),
      });
      if (!asJson) console.error(JSON.stringify(rows.at(-1)));
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
if (asJson) console.log(JSON.stringify(rows, null, 2));
else {
  printTable(rows, 2);
  console.log(
    '\nlatencyRatio = p50(quantized) / p50(float after the same optimize recipe), onnxruntime-node, interleaved',
  );
}
