/**
 * Training throughput of the MNIST CNN reference model (models/reference/mnist-cnn.onnx: Conv 1→32 3×3
 * pad 1, ReLU, MaxPool 2, Conv 32→64 3×3 pad 1, ReLU, MaxPool 2, Flatten, Gemm 3136→128, ReLU, Gemm
 * 128→10), edgeforge (autodiff training graph run in onnxruntime-node, Adam in TypeScript) side by side
 * with pure-JS `@tensorflow/tfjs` (CPU backend, the same architecture in NHWC), in this one process.
 *
 * Both start from the same fresh weights (seeded He-uniform, converted to tfjs's layouts: OIHW → HWIO,
 * Gemm transB → Dense kernel, and fc1's rows permuted from NCHW to NHWC flatten order, so both compute
 * the same function), train with mean softmax cross-entropy and Adam (lr 1e-3, β 0.9/0.999, ε 1e-8) on
 * the same batches of the first MNIST training images (normalized with mean 0.1307, std 0.3081), in
 * the same order. After untimed warm-up steps, edgeforge's timed steps are split into chunks with one
 * timed tfjs step between chunks, so both are timed over the same stretch of wall-clock and machine
 * noise hits both alike; a step is the whole of it: tensors in, forward, backward, optimizer update,
 * loss read back. Each side's loss on a fixed held-out set (the first 500 MNIST test images) is
 * printed before and after training, and edgeforge's mean training loss over its first and last steps.
 *
 * onnxruntime runs with `--threads` intra-op threads; tfjs's CPU backend is single-threaded (pass
 * `--threads 1` for the one-thread-each comparison).
 *
 *   node --import tsx --conditions=source bench/train-throughput.ts [--batch 64] [--steps 300] [--tfjs-steps 1]
 *     [--warmup 1] [--threads 2] [--profile]
 *
 * `--steps` is edgeforge's timed steps, `--tfjs-steps` tfjs's (one tfjs step at batch 64 takes about a
 * minute, so the defaults give each side ~30-60 s); the steps both run see the same batches from the
 * same weights, and their training losses are printed side by side (they agree to ~1e-5: the two
 * graphs compute the same function and gradients). `--profile` adds tfjs's per-kernel time.
 *
 * Last measured (2 cores shared with two other training runs, load average 4-9; Node 20,
 * onnxruntime-node 1.30.0, tfjs 4.22.0, batch 64, defaults), two runs each:
 *   --threads 2: edgeforge 453 / 753 samples/s (141 / 85 ms/step), tfjs 0.96 / 1.24 samples/s
 *                (66.6 / 51.6 s/step): 472× / 607×
 *   --threads 1: edgeforge 872 / 1140 samples/s (73 / 56 ms/step), tfjs 0.99 / 1.27 samples/s
 *                (64.7 / 50.2 s/step): 882× / 894×
 *   held-out loss 3.068 → 0.066 after edgeforge's 301 steps; 3.068 → 2.792 after tfjs's 2.
 * Under that load one onnxruntime thread beat two (the second thread has no free core to run on).
 * 93% of tfjs's step is its CPU backend's Conv2DBackpropFilter, a plain-JS nested loop over
 * TensorBuffer.get (Conv2D forward is 2%): the multiple is mostly that kernel.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataType, MemoryTensor, loadModel, toTypedArray } from '../packages/onnx/src/index.ts';
import { Adam, Trainer, appendCrossEntropy, buildTrainingGraph } from '../packages/forge/src/index.ts';
import type { Feeds } from '../packages/forge/src/index.ts';
import { ensureModels, mnistPath, REPO_ROOT } from '../tools/models.ts';
import { printTable } from './print-table.ts';

const args = process.argv.slice(2);
const flag = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const batch = Number(flag('--batch')) || 64;
const steps = Number(flag('--steps')) || 300;
const tfjsSteps = Number(flag('--tfjs-steps')) || 1;
const warmup = Number(flag('--warmup') ?? 1);
const profiling = args.includes('--profile');
const threads = Number(flag('--threads')) || 2;
const LR = 1e-3;
const EPS = 1e-8;
const MEAN = 0.1307;
const STD = 0.3081;
const HELD = 500;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

await ensureModels();

/** The first `n` images of an MNIST idx pair, normalized, as [n, 784] floats and int labels. */
function mnist(images: string, labels: string, n: number): { x: Float32Array; y: Int32Array } {
  const img = readFileSync(images);
  const lab = readFileSync(labels);
  const total = lab.readUInt32BE(4);
  if (n > total) throw new Error(`only ${total} images in ${images}`);
  const x = new Float32Array(n * 784);
  for (let i = 0; i < x.length; i++) x[i] = (img[16 + i] / 255 - MEAN) / STD;
  return { x, y: Int32Array.from(lab.subarray(8, 8 + n)) };
}

const trainCount = Math.min(60000, (warmup + Math.max(steps, tfjsSteps)) * batch);
const train = mnist(mnistPath('train-images-idx3-ubyte'), mnistPath('train-labels-idx1-ubyte'), trainCount);
const held = mnist(mnistPath('t10k-images-idx3-ubyte'), mnistPath('t10k-labels-idx1-ubyte'), HELD);
/** Batch `i` of the training stream: samples [i·batch, (i+1)·batch) of the first `trainCount`, wrapping. */
function batchAt(i: number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(batch * 784);
  const y = new Int32Array(batch);
  for (let k = 0; k < batch; k++) {
    const s = (i * batch + k) % trainCount;
    x.set(train.x.subarray(s * 784, s * 784 + 784), k * 784);
    y[k] = train.y[s];
  }
  return { x, y };
}
const batches = Array.from({ length: warmup + Math.max(steps, tfjsSteps) }, (_, i) => batchAt(i));

// ---- edgeforge: the reference model with fresh weights, its training graph, onnxruntime ----
const model = loadModel(join(REPO_ROOT, 'models/reference/mnist-cnn.onnx'));
const tg = buildTrainingGraph(model, appendCrossEntropy(model, 'logits'));
let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
for (const p of tg.params) {
  const fanIn = p.init.dims.slice(1).reduce((a, b) => a * b, 1) || 1;
  const bound = p.init.dims.length > 1 ? Math.sqrt(6 / fanIn) : 0;
  p.init = new MemoryTensor(
    DataType.FLOAT,
    [...p.init.dims],
    new Float32Array(p.init.size).map(() => rand() * bound),
  );
}
const init = new Map(tg.params.map((p) => [p.name, toTypedArray(p.init) as Float32Array]));
const trainer = await Trainer.create(tg, new Adam(LR, { eps: EPS }), { threads });
const ortFeeds = (b: { x: Float32Array; y: Int32Array }): Feeds => ({
  input: { type: 'float32', dims: [b.y.length, 1, 28, 28], data: b.x },
  labels: { type: 'int64', dims: [b.y.length], data: BigInt64Array.from(b.y, (v) => BigInt(v)) },
});

// ---- tfjs: the same architecture in NHWC, the same initial weights ----
await tf.setBackend('cpu');
await tf.ready();
/** OIHW → HWIO. */
function convKernel(w: Float32Array, [o, i, kh, kw]: number[]): tf.Tensor {
  const out = new Float32Array(w.length);
  for (let a = 0; a < o; a++)
    for (let b = 0; b < i; b++)
      for (let h = 0; h < kh; h++)
        for (let x = 0; x < kw; x++) out[((h * kw + x) * i + b) * o + a] = w[((a * i + b) * kh + h) * kw + x];
  return tf.tensor4d(out, [kh, kw, i, o]);
}
/** Gemm weight [out, in] (transB) → Dense kernel [in, out]; `row(j)` maps tfjs input j to the Gemm's. */
function denseKernel(w: Float32Array, outs: number, ins: number, row: (j: number) => number = (j) => j): tf.Tensor {
  const out = new Float32Array(w.length);
  for (let j = 0; j < ins; j++) for (let o = 0; o < outs; o++) out[j * outs + o] = w[o * ins + row(j)];
  return tf.tensor2d(out, [ins, outs]);
}
const net = tf.sequential({
  layers: [
    tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
    tf.layers.conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }),
    tf.layers.flatten(),
    tf.layers.dense({ units: 128, activation: 'relu' }),
    tf.layers.dense({ units: 10 }),
  ],
});
const g = (name: string) => init.get(name)!;
// NHWC flatten index (h·7 + w)·64 + c is NCHW's c·49 + h·7 + w.
const nhwcToNchw = (j: number) => (j % 64) * 49 + Math.floor(j / 64);
net.setWeights([
  convKernel(g('conv1.weight'), [32, 1, 3, 3]),
  tf.tensor1d(g('conv1.bias')),
  convKernel(g('conv2.weight'), [64, 32, 3, 3]),
  tf.tensor1d(g('conv2.bias')),
  denseKernel(g('fc1.weight'), 128, 3136, nhwcToNchw),
  tf.tensor1d(g('fc1.bias')),
  denseKernel(g('fc2.weight'), 10, 128),
  tf.tensor1d(g('fc2.bias')),
]);
const optimizer = tf.train.adam(LR, 0.9, 0.999, EPS);
const tfLoss = (x: tf.Tensor, y: tf.Tensor) =>
  tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), net.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
/** One tfjs training step on `b`; returns the loss before the update, like `Trainer.step`. */
function tfStep(b: { x: Float32Array; y: Int32Array }): number {
  return tf.tidy(() => {
    const x = tf.tensor4d(b.x, [b.y.length, 28, 28, 1]);
    const y = tf.tensor1d(b.y, 'int32');
    const loss = optimizer.minimize(() => tfLoss(x, y), true)!;
    return loss.dataSync()[0];
  });
}
const tfEval = (b: { x: Float32Array; y: Int32Array }): number =>
  tf.tidy(() => tfLoss(tf.tensor4d(b.x, [b.y.length, 28, 28, 1]), tf.tensor1d(b.y, 'int32')).dataSync()[0]);

// ---- measure ----
// Steps 0..warmup-1 are untimed for both; then edgeforge's timed steps are split into tfjsSteps + 1
// chunks with one tfjs step between chunks, so both are timed over the same stretch of wall-clock.
const heldFeeds = ortFeeds(held);
const before = { ort: (await trainer.run(heldFeeds)).loss, tfjs: tfEval(held) };
const feeds = batches.map(ortFeeds);
const losses = { ort: [] as number[], tfjs: [] as number[] }; // by global step
const time = { ort: 0, tfjs: 0 };
let ortAt = 0;
async function ortUpTo(end: number, timed: boolean): Promise<void> {
  const t0 = performance.now();
  for (; ortAt < end; ortAt++) losses.ort.push(await trainer.step(feeds[ortAt]));
  if (timed) time.ort += performance.now() - t0;
}
await ortUpTo(warmup, false);
for (let i = 0; i < warmup; i++) losses.tfjs.push(tfStep(batches[i]));
const profile = new Map<string, number>();
for (let j = 0; j <= tfjsSteps; j++) {
  await ortUpTo(warmup + Math.round((steps * (j + 1)) / (tfjsSteps + 1)), true);
  if (j === tfjsSteps) break;
  const t0 = performance.now();
  if (profiling) {
    const info = await tf.profile(() => void losses.tfjs.push(tfStep(batches[warmup + j])));
    for (const kern of info.kernels) profile.set(kern.name, (profile.get(kern.name) ?? 0) + Number(kern.kernelTimeMs));
  } else losses.tfjs.push(tfStep(batches[warmup + j]));
  time.tfjs += performance.now() - t0;
}
const after = { ort: (await trainer.run(heldFeeds)).loss, tfjs: tfEval(held) };
await trainer.release();

const rate = (ms: number, n: number) => (n * batch) / (ms / 1000);
const ortRate = rate(time.ort, steps);
const tfRate = rate(time.tfjs, tfjsSteps);
console.log(
  `MNIST CNN training, batch ${batch}, Adam lr ${LR}, same initial weights and batches; ${warmup} untimed warm-up ` +
    `step(s) each; held-out loss on the first ${HELD} MNIST test images`,
);
printTable(
  [
    {
      engine: 'edgeforge (onnxruntime-node)',
      threads: String(threads),
      'timed steps': steps,
      'ms/step': (time.ort / steps).toFixed(1),
      'samples/s': ortRate.toFixed(1),
      'held-out loss start → end': `${before.ort.toFixed(4)} → ${after.ort.toFixed(4)}`,
    },
    {
      engine: `@tensorflow/tfjs ${tf.version.tfjs} (cpu backend)`,
      threads: '1 (single-threaded)',
      'timed steps': tfjsSteps,
      'ms/step': (time.tfjs / tfjsSteps).toFixed(1),
      'samples/s': tfRate.toFixed(1),
      'held-out loss start → end': `${before.tfjs.toFixed(4)} → ${after.tfjs.toFixed(4)}`,
    },
  ],
  2,
);
console.log(`edgeforge / tfjs samples/s: ${(ortRate / tfRate).toFixed(0)}×`);
// Same weights, batches and optimizer: the per-step training losses of the steps both ran agree.
const shared = losses.tfjs.length;
const diff = Math.max(...losses.tfjs.map((l, i) => Math.abs(l - losses.ort[i])));
console.log(
  `training loss, steps 1..${shared} (both): edgeforge ${losses.ort
    .slice(0, shared)
    .map((l) => l.toFixed(4))
    .join(' ')}; ` + `tfjs ${losses.tfjs.map((l) => l.toFixed(4)).join(' ')} (max difference ${diff.toExponential(1)})`,
);
const tail = Math.min(10, steps);
console.log(
  `edgeforge training loss, mean of first ${tail} → last ${tail} of its ${warmup + steps} steps: ` +
    `${mean(losses.ort.slice(0, tail)).toFixed(4)} → ${mean(losses.ort.slice(-tail)).toFixed(4)}`,
);
if (profiling) {
  const total = [...profile.values()].reduce((a, b) => a + b, 0);
  console.log(`tfjs kernel time over its timed steps (tf.profile), top 6 of ${(total / 1000).toFixed(1)} s:`);
  for (const [name, ms] of [...profile].sort((a, b) => b[1] - a[1]).slice(0, 6))
    console.log(
      `  ${name.padEnd(22)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${((100 * ms) / total).toFixed(1).padStart(5)}%`,
    );
}
