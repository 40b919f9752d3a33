/**
 * Training data for distillation and fine-tuning: a dataset read into packed per-input arrays, split
 * into a training part and a held-out part, served as shuffled mini-batches. Samples are kept by
 * their index in the dataset, so per-sample caches (the teacher's outputs) survive reshuffling.
 *
 * When the data does not fit the memory budget, each epoch streams the file again and shuffles
 * within windows that do (as tf.data's shuffle buffer), so memory stays bounded.
 */
import { openDataset, type Dataset, type DatasetInput } from '../data/index.js';
import { mulberry32 } from '../data/prng.js';
import { arrayClassOf } from '../runtime/tensor.js';
import type { ElemType, Feeds, HostTensor, IoInfo } from '../runtime/types.js';

type Packed = Exclude<HostTensor['data'], string[]>;
type PackedCtor = { new (n: number): Packed };

export interface TrainBatch {
  feeds: Feeds;
  /** Class labels of the batch's samples, when the data has them. */
  labels?: Int32Array;
  /** Indices of the samples in the dataset. */
  indices: Int32Array;
}

/** Samples of one window of the dataset, packed input by input. */
class Block {
  readonly data: Packed[];
  readonly labels: Int32Array | undefined;
  readonly indices: Int32Array;
  n = 0;
  constructor(
    readonly cols: Column[],
    capacity: number,
    labelled: boolean,
  ) {
    this.data = cols.map((c) => new c.ctor(capacity * c.sampleSize));
    this.labels = labelled ? new Int32Array(capacity) : undefined;
    this.indices = new Int32Array(capacity);
  }
  get capacity(): number {
    return this.indices.length;
  }
  push(feeds: Feeds, labels: Int32Array | undefined, index: number, row: number): void {
    this.cols.forEach((c, k) => {
      const src = feeds[c.name].data as Packed;
      (this.data[k] as Float32Array).set(
        (src as Float32Array).subarray(row * c.sampleSize, (row + 1) * c.sampleSize),
        this.n * c.sampleSize,
      );
    });
    if (this.labels && labels) this.labels[this.n] = labels[row];
    this.indices[this.n++] = index;
  }
  /** The samples at `rows` of this block as one batch. */
  gather(rows: ArrayLike<number>): TrainBatch {
    const b = rows.length;
    const feeds: Feeds = {};
    this.cols.forEach((c, k) => {
      const out = new c.ctor(b * c.sampleSize) as Float32Array;
      const src = this.data[k] as Float32Array;
      for (let j = 0; j < b; j++)
        out.set(src.subarray(rows[j] * c.sampleSize, (rows[j] + 1) * c.sampleSize), j * c.sampleSize);
      feeds[c.name] = { type: c.type, dims: [b, ...c.sampleDims], data: out };
    });
    const indices = Int32Array.from({ length: b }, (_, j) => this.indices[rows[j]]);
    const labels = this.labels ? Int32Array.from({ length: b }, (_, j) => this.labels![rows[j]]) : undefined;
    return { feeds, indices, ...(labels ? { labels } : {}) };
  }
}

interface Column {
  name: string;
  type: ElemType;
  sampleDims: number[];
  sampleSize: number;
  ctor: PackedCtor;
}

function columnsOf(ds: Dataset): Column[] {
  return ds.inputs.map((inp: DatasetInput) => {
    if (inp.dims[0] !== 'N' && typeof inp.dims[0] !== 'number')
      throw new Error(`training data: input '${inp.name}' has no batch dim`);
    const sampleDims = inp.dims.slice(1).map((d) => {
      if (typeof d !== 'number') throw new Error(`training data: input '${inp.name}' has a symbolic dim '${d}'`);
      return d;
    });
    if (inp.type === 'string') throw new Error(`training data: input '${inp.name}' holds strings`);
    const ctor = arrayClassOf(inp.type) as PackedCtor;
    return { name: inp.name, type: inp.type, sampleDims, sampleSize: sampleDims.reduce((a, b) => a * b, 1), ctor };
  });
}

/** The first input whose leading (batch) dim is static, and that batch size. */
export function fixedBatchInput(inputs: readonly IoInfo[]): { name: string; batch: number } | undefined {
  const i = inputs.find((x) => typeof x.dims?.[0] === 'number');
  return i ? { name: i.name, batch: i.dims![0] as number } : undefined;
}

/** The batch size the model's inputs fix (a static leading dim), if any. */
export const fixedBatchOf = (inputs: readonly IoInfo[]): number | undefined => fixedBatchInput(inputs)?.batch;

/** `k` distinct indices of [0, n), chosen with `seed`. */
export function sampleIndices(n: number, k: number, seed: number): Set<number> {
  const rng = mulberry32(seed);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng() * (n - i));
    [all[i], all[j]] = [all[j], all[i]];
  }
  return new Set(all.subarray(0, k));
}

function shuffle(a: Int32Array, rng: () => number): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
}

export interface TrainSetOptions {
  /** The model's inputs (map, check and cast the data for them). */
  inputs: readonly IoInfo[];
  batchSize: number;
  /** Read at most this many samples. */
  limit?: number;
  /**
   * Hold these dataset indices out of training (the held-out split), or choose them from the
   * dataset's size once it is open.
   */
  heldOut?: ReadonlySet<number> | ((size: number) => ReadonlySet<number>);
  /** Memory for resident samples, bytes (default 1 GiB). */
  memoryBudget?: number;
  seed?: number;
}

export interface TrainSet {
  readonly description: string;
  /** Samples in the dataset (before the held-out split). */
  readonly size: number;
  /** Training samples (size minus held-out). */
  readonly trainSize: number;
  /** The held-out indices, never trained on. */
  readonly heldOut: ReadonlySet<number>;
  readonly hasLabels: boolean;
  readonly batchSize: number;
  /** Whether every training sample stays in memory between epochs. */
  readonly resident: boolean;
  /** One pass over the training samples in a fresh random order; the last partial batch is dropped. */
  epoch(): AsyncGenerator<TrainBatch>;
  /** Batches per epoch. */
  readonly batchesPerEpoch: number;
}

/**
 * Opens `spec` for training. The held-out indices (from `split` or a separate set) are skipped; the
 * rest are read once when they fit `memoryBudget`, else streamed again every epoch.
 */
export async function openTrainSet(spec: string, o: TrainSetOptions): Promise<TrainSet> {
  // A model with a static batch dim takes data only in batches of that size.
  const readBatch = fixedBatchOf(o.inputs) ?? Math.max(o.batchSize, 256);
  const ds = await openDataset(spec, {
    inputs: o.inputs,
    batchSize: readBatch,
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
  });
  const cols = columnsOf(ds);
  const heldOut = (typeof o.heldOut === 'function' ? o.heldOut(ds.size) : o.heldOut) ?? new Set<number>();
  const trainSize = ds.size - [...heldOut].filter((i) => i < ds.size).length;
  if (trainSize < o.batchSize)
    throw new Error(
      `training data: ${trainSize} training samples, fewer than one batch of ${o.batchSize} (lower --batch or add data)`,
    );
  const bytesPerSample = cols.reduce((s, c) => s + c.sampleSize * (new c.ctor(1) as Float32Array).BYTES_PER_ELEMENT, 8);
  const window = Math.max(o.batchSize, Math.floor((o.memoryBudget ?? 2 ** 30) / bytesPerSample));
  const resident = window >= trainSize;
  const rng = mulberry32(o.seed ?? 1);
  let kept: Block | undefined;

  async function* fill(): AsyncGenerator<Block> {
    let block = new Block(cols, Math.min(window, trainSize), ds.hasLabels);
    for await (const b of ds.batches()) {
      const n = b.indices.length;
      for (let r = 0; r < n; r++) {
        const idx = b.indices[r];
        if (heldOut.has(idx)) continue;
        block.push(b.inputs, b.labels, idx, r);
        if (block.n === block.capacity) {
          yield block;
          block = new Block(cols, Math.min(window, trainSize), ds.hasLabels);
        }
      }
    }
    if (block.n) yield block;
  }

  async function* epoch(): AsyncGenerator<TrainBatch> {
    const blocks: AsyncIterable<Block> | Block[] = resident ? (kept ? [kept] : fill()) : fill();
    for await (const block of blocks) {
      if (resident) kept = block;
      const order = Int32Array.from({ length: block.n }, (_, i) => i);
      shuffle(order, rng);
      let s = 0;
      // A window's last partial batch is dropped (drop_last); the order differs every epoch.
      for (; s + o.batchSize <= order.length; s += o.batchSize) yield block.gather(order.subarray(s, s + o.batchSize));
    }
  }

  return {
    description: ds.description,
    size: ds.size,
    trainSize,
    heldOut,
    hasLabels: ds.hasLabels,
    batchSize: o.batchSize,
    resident,
    batchesPerEpoch: resident
      ? Math.floor(trainSize / o.batchSize)
      : Math.floor(trainSize / window) * Math.floor(window / o.batchSize) +
        Math.floor((trainSize % window) / o.batchSize),
    epoch,
  };
}

/** Reads the samples at `indices` (all samples when undefined) of `spec` as batches kept in memory. */
export async function readSamples(
  spec: string,
  o: { inputs: readonly IoInfo[]; batchSize: number; indices?: ReadonlySet<number>; limit?: number },
): Promise<{ batches: TrainBatch[]; size: number; hasLabels: boolean; description: string }> {
  const fixed = fixedBatchOf(o.inputs);
  const ds = await openDataset(spec, {
    inputs: o.inputs,
    batchSize: fixed ?? Math.max(o.batchSize, 256),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
  });
  const cols = columnsOf(ds);
  const want = o.indices;
  const size = want ? [...want].filter((i) => i < ds.size).length : ds.size;
  const block = new Block(cols, size, ds.hasLabels);
  for await (const b of ds.batches()) {
    for (let r = 0; r < b.indices.length; r++)
      if (!want || want.has(b.indices[r])) block.push(b.inputs, b.labels, b.indices[r], r);
    if (block.n === size) break;
  }
  // With a fixed batch dim every batch must be full: a last partial batch is left out.
  const step = fixed ?? o.batchSize;
  const n = fixed ? block.n - (block.n % fixed) : block.n;
  const batches: TrainBatch[] = [];
  for (let s = 0; s < n; s += step)
    batches.push(block.gather(Int32Array.from({ length: Math.min(step, n - s) }, (_, j) => s + j)));
  return { batches, size: n, hasLabels: ds.hasLabels, description: ds.description };
}
