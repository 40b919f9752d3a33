/**
 * Synthetic inputs made from the model's own signature: deterministic (a seeded PRNG), so two
 * runs, two backends or two models see the same numbers.
 *
 * - Dims: static dims as declared; a symbolic (or unknown) leading dim is the batch, and the same
 *   symbol elsewhere (Silero's `h: [2,batch,64]`) follows it. Other symbolic dims need `shapes`:
 *   `{ seq: 512 }` sets a symbol, `{ x: [1, 3, 48, 320] }` a whole input.
 * - Values: floats uniform in [low, high) (default [0, 1)); integers uniform in [0, intmax)
 *   (default 10); bools 0/1. A batched input's sample i is the same whatever the batch size.
 * - `count` samples (default 100), `seed` (default 1).
 */
import type { ElemType, HostTensor, IoInfo } from '../runtime/types.js';
import { allocTensor, floatToHalf } from '../runtime/tensor.js';
import { DataError } from './errors.js';
import { optInt, optNumber, type DataSpec } from './spec.js';
import type { ShapedSource, SourceContext } from './source.js';
import { mulberry32 } from './prng.js';

/** Mixes seed, input index and sample index into one 32-bit seed. */
function mix(seed: number, input: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (input + 0x27d4eb2f) ^ (h >>> 13), 0xc2b2ae35);
  h = Math.imul(h ^ (index + 0x165667b1) ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 15)) >>> 0;
}

const BATCH = Symbol('batch');
type Plan = (number | typeof BATCH)[];

export function openSynthetic(spec: DataSpec, ctx: SourceContext): ShapedSource {
  const inputs = ctx.inputs;
  if (!inputs || inputs.length === 0)
    throw new DataError(`data spec '${spec.text}': synthetic data is made from the model's inputs; none were given`);
  const seed = optInt(spec, 'seed', 0) ?? 1;
  const count = optInt(spec, 'count', 1) ?? 100;
  const low = optNumber(spec, 'low') ?? 0;
  const high = optNumber(spec, 'high') ?? 1;
  const intmax = optInt(spec, 'intmax', 1) ?? 10;
  if (!(high > low)) throw new DataError(`data spec '${spec.text}': high (${high}) must be above low (${low})`);
  const shapes = ctx.shapes ?? {};

  // Batch symbols: symbolic leading dims.
  const batchSymbols = new Set<string>();
  for (const io of inputs) {
    const d0 = io.dims?.[0];
    if (typeof d0 === 'string' && typeof shapes[d0] !== 'number' && !Array.isArray(shapes[io.name]))
      batchSymbols.add(d0);
  }
  let fixedBatch: number | undefined;
  const pin = (n: number, why: string) => {
    if (fixedBatch !== undefined && fixedBatch !== n)
      throw new DataError(
        `synthetic data: ${why} fixes the batch at ${n}, but another input fixes it at ${fixedBatch}`,
      );
    fixedBatch = n;
  };

  const plans: Plan[] = inputs.map((io) => {
    if (io.type === 'unknown' || io.type === 'string')
      throw new DataError(`synthetic data: cannot make values for input '${io.name}' of type ${io.type}`);
    const full = shapes[io.name];
    if (Array.isArray(full)) {
      const dims = full as readonly number[];
      if (io.dims && (dims.length !== io.dims.length || io.dims.some((d, i) => typeof d === 'number' && d !== dims[i])))
        throw new DataError(
          `synthetic data: shape [${dims.join(',')}] for input '${io.name}' does not fit its declared [${io.dims.map((d) => d ?? '?').join(',')}]`,
        );
      return [...dims];
    }
    if (!io.dims)
      throw new DataError(
        `synthetic data: input '${io.name}' has unknown rank; give its shape (--shape ${io.name}=d0,d1,...)`,
      );
    return io.dims.map((d, i): number | typeof BATCH => {
      if (typeof d === 'number') return d;
      if (typeof d === 'string' && typeof shapes[d] === 'number') return shapes[d] as number;
      if ((typeof d === 'string' && batchSymbols.has(d)) || (d === null && i === 0)) return BATCH;
      const what = d === null ? `dim ${i} is unknown` : `dim ${i} ('${d}') is symbolic`;
      throw new DataError(
        `synthetic data: input '${io.name}' ${what}; set it with --shape ${d === null ? `${io.name}=<dims>` : `${d}=<n> or --shape ${io.name}=<dims>`}`,
      );
    });
  });
  // Inputs whose leading dim is a pinned batch symbol or a whole given shape fix the batch size.
  inputs.forEach((io, k) => {
    const d0 = io.dims?.[0];
    if (typeof d0 === 'string' && typeof shapes[d0] === 'number') pin(shapes[d0] as number, `--shape ${d0}`);
    else if (Array.isArray(shapes[io.name]) && (d0 === null || typeof d0 === 'string'))
      pin(plans[k][0] as number, `--shape ${io.name}`);
  });
  const batched = plans.map((p) => p[0] === BATCH);
  if (!batched.some(Boolean) && fixedBatch === undefined) {
    const first = plans.find((p) => p.length > 0);
    fixedBatch = first ? (first[0] as number) : 1;
  }

  function make(io: IoInfo, k: number, dims: number[], n: number, start: number, batchIndex: number): HostTensor {
    const type = io.type as ElemType;
    const t = allocTensor(type, dims);
    const data = t.data as Exclude<HostTensor['data'], string[]>;
    const fill = (from: number, to: number, rand: () => number) => {
      if (type === 'float32' || type === 'float64')
        for (let i = from; i < to; i++) data[i] = low + (high - low) * rand();
      else if (type === 'float16') for (let i = from; i < to; i++) data[i] = floatToHalf(low + (high - low) * rand());
      else if (type === 'bool') for (let i = from; i < to; i++) data[i] = rand() < 0.5 ? 1 : 0;
      else if (type === 'int64' || type === 'uint64')
        for (let i = from; i < to; i++) (data as BigInt64Array)[i] = BigInt(Math.floor(rand() * intmax));
      else for (let i = from; i < to; i++) data[i] = Math.floor(rand() * intmax);
    };
    if (batched[k]) {
      const per = data.length / Math.max(1, n);
      for (let s = 0; s < n; s++) fill(s * per, (s + 1) * per, mulberry32(mix(seed, k, start + s)));
    } else fill(0, data.length, mulberry32(mix(seed, k, 0x40000000 + batchIndex)));
    return t;
  }

  async function* read(batch: number, end: number): AsyncGenerator<{ inputs: Record<string, HostTensor>; n: number }> {
    let b = 0;
    for (let start = 0; start < end; start += batch, b++) {
      const n = Math.min(batch, end - start);
      const out: Record<string, HostTensor> = {};
      inputs!.forEach((io, k) => {
        const dims = plans[k].map((d) => (d === BATCH ? n : d));
        out[io.name] = make(io, k, dims, n, start, b);
      });
      yield { inputs: out, n };
    }
  }

  return {
    shaped: true,
    description: `synthetic seed ${seed}: ${count} samples of ${inputs.map((io, k) => `${io.name} ${io.type} [${plans[k].map((d) => (d === BATCH ? 'N' : d)).join(',')}]`).join(', ')}`,
    count,
    inputs: inputs.map((io, k) => ({
      name: io.name,
      type: io.type as ElemType,
      dims: plans[k].map((d) => (d === BATCH ? 'N' : d)),
    })),
    ...(fixedBatch !== undefined ? { fixedBatch } : {}),
    read,
  };
}
