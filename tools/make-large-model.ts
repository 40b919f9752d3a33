/**
 * A synthetic transformer-shaped model past protobuf's 2 GiB limit, for the external-data paths of
 * the serde (tests, benchmarks). Weights are lazy tensors generated from a seeded PRNG when saved,
 * so building the model costs no memory; the same seed always gives the same bytes.
 *
 *   node --import tsx tools/make-large-model.ts <out.onnx> [--gib 2.1] [--hidden 4096] [--seed 1]
 *
 * Graph (opset 17), per layer, pre-LayerNorm:
 *
 *   a = LN(h);  q,k,v = a·Wq, a·Wk, a·Wv;  p = Softmax(q·kᵀ · 1/√hidden);  h = h + (p·v)·Wo
 *   m = LN(h);  h = h + Relu(m·W1)·W2          (W1: hidden→4·hidden, W2: 4·hidden→hidden)
 *
 * then a final LN gives `y`. Input `x` and output `y` are float [1, 'seq', hidden]. Weights are
 * uniform in ±1/√fan_in, so activations stay in range for any input of unit scale.
 */
import { resolve } from 'node:path';
import {
  DataType,
  GraphBuilder,
  LazyTensor,
  MemoryTensor,
  saveModel,
  type Model,
  type Value,
} from '../packages/onnx/src/index.ts';

export interface LargeModelOptions {
  /** The model's weights total strictly more than this many bytes. */
  targetBytes: number;
  /** PRNG seed (default 1). */
  seed?: number;
  /** Model width (default 4096): Q/K/V/O weights are [hidden, hidden], the MLP's [hidden, 4·hidden]. */
  hidden?: number;
}

/** 2.1 GiB: just past protobuf's 2 GiB limit (2^31 bytes). */
export const DEFAULT_GIB = 2.1;
export const DEFAULT_TARGET_BYTES = Math.round(DEFAULT_GIB * 2 ** 30);
export const DEFAULT_HIDDEN = 4096;

/** Bytes of float32 weights in one layer of width `hidden`: 4·h² (attention) + 8·h² (MLP) + two LayerNorms. */
export function layerBytes(hidden: number): number {
  return 4 * (12 * hidden * hidden + 4 * hidden);
}

/** Layers needed for the weights (plus the final LayerNorm) to pass `targetBytes`. */
export function layerCount(targetBytes: number, hidden: number): number {
  const finalNorm = 4 * 2 * hidden;
  return Math.max(1, Math.floor(Math.max(0, targetBytes - finalNorm) / layerBytes(hidden)) + 1);
}

/** A 32-bit seed for tensor number `index` of a model seeded with `seed` (splitmix-style mix, never 0). */
export function tensorSeed(seed: number, index: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return z === 0 ? 0x6d2b79f5 : z;
}

/**
 * `count` float32 values `center + u`, u uniform in [-scale, scale), from an xorshift32 stream seeded
 * with `seed` (nonzero), as raw little-endian bytes.
 */
export function uniformBytes(count: number, seed: number, scale: number, center = 0): Uint8Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  const k = (2 * scale) / 4294967296;
  const lo = center - scale;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) * k + lo;
  }
  return new Uint8Array(out.buffer);
}

/** Builds the model (no tensor data is generated until something reads the weights). */
export function makeLargeModel(opts: LargeModelOptions): Model {
  const hidden = opts.hidden ?? DEFAULT_HIDDEN;
  const seed = opts.seed ?? 1;
  if (!Number.isSafeInteger(hidden) || hidden < 1)
    throw new Error(`makeLargeModel: hidden must be a positive integer, got ${hidden}`);
  if (!(opts.targetBytes >= 0)) throw new Error(`makeLargeModel: targetBytes must be ≥ 0, got ${opts.targetBytes}`);
  const layers = layerCount(opts.targetBytes, hidden);
  const b = new GraphBuilder('large_transformer');
  let index = 0;
  const weight = (name: string, dims: number[], scale: number, center = 0): Value => {
    const s = tensorSeed(seed, index++);
    const count = dims.reduce((a, d) => a * d, 1);
    return b.initializer(name, new LazyTensor(DataType.FLOAT, dims, () => uniformBytes(count, s, scale, center), name));
  };
  const layerNorm = (prefix: string, input: Value): Value => {
    const gamma = weight(`${prefix}.weight`, [hidden], 0.02, 1);
    const beta = weight(`${prefix}.bias`, [hidden], 0.02);
    return b.op('LayerNormalization', [input, gamma, beta], { axis: -1, epsilon: { float: 1e-5 } }, { name: prefix });
  };
  const linear = (name: string, input: Value, fanIn: number, fanOut: number): Value =>
    b.op('MatMul', [input, weight(`${name}.weight`, [fanIn, fanOut], 1 / Math.sqrt(fanIn))], {}, { name });

  let h = b.input('x', DataType.FLOAT, [1, 'seq', hidden]);
  const invSqrtD = b.initializer(
    'attn_scale',
    new MemoryTensor(DataType.FLOAT, [], new Float32Array([1 / Math.sqrt(hidden)]), 'attn_scale'),
  );
  for (let l = 0; l < layers; l++) {
    const p = `layers.${l}`;
    const a = layerNorm(`${p}.attn_norm`, h);
    const q = linear(`${p}.attn.q_proj`, a, hidden, hidden);
    const k = linear(`${p}.attn.k_proj`, a, hidden, hidden);
    const v = linear(`${p}.attn.v_proj`, a, hidden, hidden);
    const kt = b.op('Transpose', [k], { perm: [0, 2, 1] }, { name: `${p}.attn.k_transpose` });
    const scores = b.op('MatMul', [q, kt], {}, { name: `${p}.attn.scores` });
    const scaled = b.op('Mul', [scores, invSqrtD], {}, { name: `${p}.attn.scale` });
    const probs = b.op('Softmax', [scaled], { axis: -1 }, { name: `${p}.attn.softmax` });
    const ctx = b.op('MatMul', [probs, v], {}, { name: `${p}.attn.context` });
    const o = linear(`${p}.attn.o_proj`, ctx, hidden, hidden);
    h = b.op('Add', [h, o], {}, { name: `${p}.attn.residual` });
    const m = layerNorm(`${p}.mlp_norm`, h);
    const up = b.op('Relu', [linear(`${p}.mlp.up_proj`, m, hidden, 4 * hidden)], {}, { name: `${p}.mlp.act` });
    h = b.op('Add', [h, linear(`${p}.mlp.down_proj`, up, 4 * hidden, hidden)], {}, { name: `${p}.mlp.residual` });
  }
  b.output(layerNorm('final_norm', h), 'y', DataType.FLOAT, [1, 'seq', hidden]);
  const model = b.model({ opset: 17, producer: 'edgeforge-make-large-model' });
  model.docString = `synthetic transformer: ${layers} layers, hidden ${hidden}, seed ${seed}`;
  return model;
}

/** Total bytes of the model's weights (no data is generated). */
export function weightBytes(model: Model): number {
  let n = 0;
  for (const v of model.graph.initializers.values()) n += v.const?.nbytes ?? 0;
  return n;
}

const USAGE = 'usage: node --import tsx tools/make-large-model.ts <out.onnx> [--gib 2.1] [--hidden 4096] [--seed 1]';

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): { out: string; gib: number; hidden: number; seed: number } {
  let out: string | undefined;
  let gib = DEFAULT_GIB;
  let hidden = DEFAULT_HIDDEN;
  let seed = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (argv[i] === undefined || !Number.isFinite(v) || v < 0)
        throw new UsageError(`${a} needs a non-negative number (${USAGE})`);
      return v;
    };
    if (a === '--gib') gib = num();
    else if (a === '--hidden') hidden = num();
    else if (a === '--seed') seed = num();
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a} (${USAGE})`);
    else if (out === undefined) out = a;
    else throw new UsageError(`unexpected argument ${a} (${USAGE})`);
  }
  if (!out) throw new UsageError(USAGE);
  return { out, gib, hidden, seed };
}

function main(argv: readonly string[]): void {
  const args = parseArgs(argv);
  const t0 = performance.now();
  const model = makeLargeModel({ targetBytes: Math.round(args.gib * 2 ** 30), hidden: args.hidden, seed: args.seed });
  const r = saveModel(model, args.out);
  const s = (performance.now() - t0) / 1000;
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(3)} GiB`;
  process.stdout.write(
    `${args.out}: ${model.graph.nodeCount} nodes, ${model.graph.initializers.size} initializers, ${gib(weightBytes(model))} of weights; ` +
      `.onnx ${r.bytes} bytes, ${r.externalTensors} tensors (${gib(r.externalBytes)}) in ${r.externalFile ?? 'no side file'}; ${s.toFixed(1)} s\n`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === import.meta.filename) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`make-large-model: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  }
}
