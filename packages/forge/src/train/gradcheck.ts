/**
 * Test helper: checks the gradients of a training graph against central finite differences, both
 * computed by onnxruntime-node (float64 where the ops allow it, float32 otherwise).
 */
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  checkModel,
  inferShapes,
  loadModelFromBytes,
  serializeModel,
  shapeOf,
  toTypedArray,
  type Model,
  type Tensor,
} from '@edgeforge/onnx';
import { nodeBackend } from '../runtime/node.js';
import type { Feeds, HostTensor, Session } from '../runtime/types.js';
import { buildTrainingGraph, type TrainingGraphOptions } from './autodiff.js';
import { mulberry32 } from '../data/prng.js';

/** Deterministic uniform numbers in [0, 1) (mulberry32). */
export const rng = mulberry32;

/** A float tensor of uniform values in [lo, hi). */
export function randomTensor(dtype: number, dims: number[], rand: () => number, lo = -1, hi = 1): MemoryTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = dtype === DataType.DOUBLE ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = lo + (hi - lo) * rand();
  return new MemoryTensor(dtype, dims, data);
}

export function hostTensor(t: Tensor): HostTensor {
  const data = toTypedArray(t);
  const type = t.dtype === DataType.DOUBLE ? 'float64' : t.dtype === DataType.INT64 ? 'int64' : 'float32';
  return { type, dims: [...t.dims], data: data as HostTensor['data'] };
}

/**
 * Appends `loss = ReduceSum(output · R)` with a fixed random R, so every element of `output` gets a
 * different, non-trivial gradient; `ReduceSum(output²)` when the output's shape is not static.
 */
export function weightedSumLoss(model: Model, output: string, seed = 7): string {
  const g = model.graph;
  inferShapes(model, { valueInfo: false });
  const y = g.findValue(output)!;
  const shape = shapeOf(y.type);
  const b = new GraphBuilder(g);
  const dtype = (y.type as { elemType: number }).elemType;
  const weights =
    shape && shape.every((d) => typeof d === 'number')
      ? b.initializer(g.freshName('loss_weights'), randomTensor(dtype, shape as number[], rng(seed)))
      : y;
  const loss = b.op('ReduceSum', [b.op('Mul', [y, weights])], { keepdims: 0 });
  b.output(loss, 'loss', dtype, []);
  return 'loss';
}

export interface GradCheckResult {
  param: string;
  /** Max |analytic − numeric| over the checked elements. */
  maxAbsError: number;
  /** maxAbsError divided by the largest |numeric| gradient (or 1 if that is smaller). */
  maxRelError: number;
  /** Largest |numeric| gradient among the checked elements. */
  maxNumeric: number;
  checked: number;
}

/** The forward model with `names` as graph inputs instead of initializers. */
function paramsAsInputs(model: Model, names: string[]): Model {
  const m = loadModelFromBytes(serializeModel(model));
  for (const name of names) {
    const v = m.graph.initializers.get(name)!;
    m.graph.removeInitializer(name, true);
    v.const = undefined;
    m.graph.addInput(v);
  }
  return m;
}

async function session(model: Model): Promise<Session> {
  const errors = checkModel(model).filter((i) => i.severity === 'error');
  if (errors.length) throw new Error(`checker: ${errors.map((e) => e.message).join('; ')}`);
  return nodeBackend.createSession(serializeModel(model), { threads: 1, graphOptimization: 'disabled' });
}

/**
 * Builds the training graph of `model` for `loss`, runs it once, and compares each gradient with
 * central differences of the forward loss (`eps` steps) on up to `maxElements` elements per parameter:
 * evenly spaced ones, or with `pick: 'largest'` those of largest analytic gradient (where float32
 * rounding of the loss matters least).
 * `params` picks the initializers to differentiate (default: the autodiff's own choice).
 */
export async function gradCheck(
  model: Model,
  loss: string,
  feeds: Feeds,
  opts: {
    params?: string[];
    eps?: number;
    maxElements?: number;
    pick?: 'spaced' | 'largest';
    training?: TrainingGraphOptions;
  } = {},
): Promise<GradCheckResult[]> {
  const only = opts.params;
  const training = only ? { ...opts.training, trainable: (name: string) => only.includes(name) } : opts.training;
  const tg = buildTrainingGraph(model, loss, training);
  const params = tg.params;
  if (params.length === 0) throw new Error('gradCheck: nothing to train');
  const train = await session(tg.model);
  const fwd = await session(
    paramsAsInputs(
      model,
      params.map((p) => p.name),
    ),
  );
  try {
    const values: Feeds = { ...feeds };
    for (const p of params) values[p.name] = hostTensor(p.init);
    const out = await train.run(values);
    const eps = opts.eps ?? 1e-6;
    const results: GradCheckResult[] = [];
    for (const p of params) {
      const analytic = out[p.grad].data as Float32Array | Float64Array;
      const base = values[p.name].data as Float32Array | Float64Array;
      const n = base.length;
      const budget = opts.maxElements ?? 64;
      const step = Math.max(1, Math.floor(n / budget));
      const picked =
        opts.pick === 'largest'
          ? [...analytic.keys()].sort((x, y) => Math.abs(analytic[y]) - Math.abs(analytic[x])).slice(0, budget)
          : [...Array(Math.ceil(n / step)).keys()].map((k) => k * step);
      let maxAbs = 0;
      let maxNum = 0;
      let checked = 0;
      for (const i of picked) {
        const orig = base[i];
        const lossAt = async (x: number) => {
          const copy = base.slice();
          copy[i] = x;
          const r = await fwd.run({ ...values, [p.name]: { ...values[p.name], data: copy } }, [tg.loss]);
          return Number((r[tg.loss].data as Float64Array)[0]);
        };
        const numeric = ((await lossAt(orig + eps)) - (await lossAt(orig - eps))) / (2 * eps);
        maxAbs = Math.max(maxAbs, Math.abs(numeric - analytic[i]));
        maxNum = Math.max(maxNum, Math.abs(numeric));
        checked++;
      }
      results.push({
        param: p.name,
        maxAbsError: maxAbs,
        maxRelError: maxAbs / Math.max(1, maxNum),
        maxNumeric: maxNum,
        checked,
      });
    }
    return results;
  } finally {
    await train.release();
    await fwd.release();
  }
}

export interface DirectionalResult {
  param: string;
  /** g·v for a random ±1 direction v over the tensor. */
  analytic: number;
  /** (L(θ + eps·v) − L(θ − eps·v)) / 2eps. */
  numeric: number;
  /** |numeric − analytic| / max(|analytic|, 1e-6). */
  relError: number;
}

/**
 * Directional finite differences: per parameter tensor, moves the whole tensor along a random ±1
 * direction. The loss changes by eps·Σ|gᵢ|-ish instead of eps·|gᵢ|, so float32 rounding matters far
 * less than in per-element checks (use it on deep float32 models).
 */
export async function directionalCheck(
  model: Model,
  loss: string,
  feeds: Feeds,
  opts: { eps?: number; seed?: number } = {},
): Promise<DirectionalResult[]> {
  const tg = buildTrainingGraph(model, loss);
  const train = await session(tg.model);
  const fwd = await session(
    paramsAsInputs(
      model,
      tg.params.map((p) => p.name),
    ),
  );
  try {
    const values: Feeds = { ...feeds };
    for (const p of tg.params) values[p.name] = hostTensor(p.init);
    const out = await train.run(values);
    const eps = opts.eps ?? 1e-3;
    const rand = rng(opts.seed ?? 9);
    const results: DirectionalResult[] = [];
    for (const p of tg.params) {
      const g = out[p.grad].data as Float32Array;
      const base = values[p.name].data as Float32Array;
      const v = Float32Array.from(base, () => (rand() < 0.5 ? -1 : 1));
      let analytic = 0;
      for (let i = 0; i < g.length; i++) analytic += g[i] * v[i];
      const lossAt = async (t: number) => {
        const moved = base.map((x, i) => x + t * v[i]);
        const r = await fwd.run({ ...values, [p.name]: { ...values[p.name], data: moved } }, [tg.loss]);
        return Number((r[tg.loss].data as Float32Array)[0]);
      };
      const numeric = ((await lossAt(eps)) - (await lossAt(-eps))) / (2 * eps);
      results.push({
        param: p.name,
        analytic,
        numeric,
        relError: Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-6),
      });
    }
    return results;
  } finally {
    await train.release();
    await fwd.release();
  }
}
