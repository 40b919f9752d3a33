/**
 * Datasets: batches of model inputs (and class labels), streamed from a data spec. Opening a
 * dataset reads only headers (and small label files); `batches()` reads the data front to back,
 * one batch at a time, each call a fresh pass.
 *
 * Given the model's inputs (`session.inputs`), opening also maps the data's arrays to the inputs,
 * checks each array's per-sample shape and element type against the input, and fixes how each
 * batch is shaped and cast — so a mismatch fails at once, in one line naming the input.
 */
import type { ElemType, HostTensor, IoInfo } from '../runtime/types.js';
import { canCast, castTensor, formatDims } from '../runtime/tensor.js';
import { DataError } from './errors.js';
import { openIdx } from './idx.js';
import { openImages } from './images.js';
import { openJson } from './json.js';
import { openNpy } from './npy.js';
import { openNpz } from './npz.js';
import { optInt, parseDataSpec, type DataSpec } from './spec.js';
import type { Column, ShapedSource, Source, SourceContext } from './source.js';
import { openSynthetic } from './synthetic.js';

export interface DatasetOptions {
  /** The model's inputs (`session.inputs`): map, check and cast the data for them. */
  inputs?: readonly IoInfo[];
  /** Samples per batch (default: the model's fixed batch dim if it has one, else 1). */
  batchSize?: number;
  /** Read at most this many samples (the spec's `limit=` applies too; the smaller wins). */
  limit?: number;
  /** Symbolic dims (`{ N: 1 }`) or whole input shapes (`{ x: [1, 3, 48, 320] }`), for synthetic data. */
  shapes?: Readonly<Record<string, number | readonly number[]>>;
}

export interface Batch {
  /** One tensor per model input, `n` samples along the batch dim. */
  readonly inputs: Record<string, HostTensor>;
  /** Class ids of the `n` samples, when the data has labels. */
  readonly labels?: Int32Array;
  /** Positions of the batch's samples in the dataset. */
  readonly indices: number[];
}

/** One model input as the dataset fills it: `dims` of a batch, `'N'` for the batch dim. */
export interface DatasetInput {
  readonly name: string;
  readonly type: ElemType;
  readonly dims: readonly (number | string)[];
}

export interface Dataset {
  /** The spec as given. */
  readonly spec: string;
  /** What was opened: `idx t10k-images-idx3-ubyte: 10000 × [28,28] ubyte, labels …`. */
  readonly description: string;
  /** Samples `batches()` yields (after the limit). */
  readonly size: number;
  readonly batchSize: number;
  readonly inputs: readonly DatasetInput[];
  readonly hasLabels: boolean;
  /** Class names by label id (image folders with class subfolders). */
  readonly classes?: readonly string[];
  /** A fresh pass over the data; stop early with `break` and the files are closed. */
  batches(): AsyncGenerator<Batch>;
  [Symbol.asyncIterator](): AsyncGenerator<Batch>;
}

/** How a column becomes a model input. */
interface Fit {
  readonly name: string;
  readonly type: ElemType;
  /** Dims of one sample as the model sees it. */
  readonly sampleDims: number[];
  /** False when the model input has no batch dim (the sample is the whole tensor; batch size 1). */
  readonly batched: boolean;
  /** Static batch dim the model requires, if any. */
  readonly fixedBatch?: number;
}

const product = (d: readonly number[]) => d.reduce((a, b) => a * b, 1);

function describeColumn(c: Column): string {
  return c.label !== undefined ? `'${c.label}'` : 'the data';
}

/** Decides which model input each column feeds (see the README: explicit, by name, or the only one). */
function mapColumns(source: Source, inputs: readonly IoInfo[] | undefined, spec: DataSpec): (IoInfo | undefined)[] {
  const cols = source.columns;
  if (!inputs) return cols.map(() => undefined);
  const byName = new Map(inputs.map((i) => [i.name, i]));
  const names = () => inputs.map((i) => `'${i.name}'`).join(', ');
  const out: (IoInfo | undefined)[] = cols.map((c) => {
    if (c.input === undefined) return undefined;
    const io = byName.get(c.input);
    if (!io)
      throw new DataError(`data spec '${spec.text}': '${c.input}' is not an input of the model (inputs: ${names()})`);
    return io;
  });
  cols.forEach((c, k) => {
    if (!out[k] && c.label !== undefined && byName.has(c.label)) out[k] = byName.get(c.label);
  });
  const unfed = inputs.filter((io) => !out.includes(io));
  const unmapped = cols.map((_, k) => k).filter((k) => !out[k]);
  if (unmapped.length === 1 && unfed.length === 1) out[unmapped[0]] = unfed[0];
  const taken = new Set<string>();
  cols.forEach((c, k) => {
    const io = out[k];
    if (!io)
      throw new DataError(
        `${source.description}: cannot tell which model input ${describeColumn(c)} feeds (inputs: ${names()}); name it with input=`,
      );
    if (taken.has(io.name)) throw new DataError(`data spec '${spec.text}': two arrays feed input '${io.name}'`);
    taken.add(io.name);
  });
  const missing = inputs.filter((io) => !taken.has(io.name));
  if (missing.length > 0)
    throw new DataError(
      `model input '${missing[0].name}' gets no data from ${source.description} (the data feeds ${[...taken].map((n) => `'${n}'`).join(', ')})`,
    );
  return out;
}

/** Checks a column against its model input and decides shape, batching and cast. */
function fitColumn(c: Column, io: IoInfo | undefined, name: string, where: string): Fit {
  if (!io) return { name, type: c.type, sampleDims: [...c.sampleDims], batched: true };
  const got = `${c.type} ${formatDims(['N', ...c.sampleDims])}`;
  const expected = `${io.type} ${formatDims(io.dims)}`;
  const fail = (why: string) =>
    new DataError(`input '${io.name}': expected ${expected}, the data gives ${got}${why} (${where})`);
  if (io.type !== 'unknown' && !canCast(c.type, io.type)) throw fail(`; ${c.type} does not convert to ${io.type}`);
  const type = io.type === 'unknown' ? c.type : io.type;
  const D = io.dims;
  if (!D) return { name: io.name, type, sampleDims: [...c.sampleDims], batched: true };
  const per = D.slice(1);
  const matches = (want: readonly (number | string | null)[], have: readonly number[]) =>
    want.length === have.length && want.every((d, i) => typeof d !== 'number' || d === have[i]);
  const allStatic = (dims: readonly (number | string | null)[]): dims is number[] =>
    dims.every((d) => typeof d === 'number');
  const batchDim = D[0];
  const fixed = typeof batchDim === 'number' ? { fixedBatch: batchDim } : {};
  if (D.length >= 1 && matches(per, c.sampleDims))
    return { name: io.name, type, sampleDims: [...c.sampleDims], batched: true, ...fixed };
  if (D.length >= 1 && allStatic(per) && product(per) === product(c.sampleDims))
    return { name: io.name, type, sampleDims: per, batched: true, ...fixed };
  if (matches(D, c.sampleDims))
    return { name: io.name, type, sampleDims: [...c.sampleDims], batched: false, fixedBatch: 1 };
  throw fail('');
}

async function openSource(spec: DataSpec, ctx: SourceContext): Promise<Source | ShapedSource> {
  switch (spec.format) {
    case 'idx':
      return openIdx(spec);
    case 'npy':
      return openNpy(spec);
    case 'npz':
      return openNpz(spec, ctx);
    case 'json':
      return openJson(spec);
    case 'images':
      return openImages(spec, ctx);
    case 'synthetic':
      return openSynthetic(spec, ctx);
  }
}

function resolveBatch(
  spec: DataSpec,
  requested: number | undefined,
  fixed: { batch: number; why: string }[],
  size: number,
): number {
  if (requested !== undefined && !(Number.isInteger(requested) && requested > 0))
    throw new DataError(`batch size must be a positive integer, got ${requested}`);
  const f = fixed[0];
  for (const g of fixed.slice(1))
    if (g.batch !== f.batch)
      throw new DataError(`${g.why} fixes the batch at ${g.batch}, but ${f.why} fixes it at ${f.batch}`);
  if (f && requested !== undefined && requested !== f.batch)
    throw new DataError(`${f.why} fixes the batch at ${f.batch}; batch size ${requested} does not fit`);
  const batch = f?.batch ?? requested ?? 1;
  if (f && f.batch > 1 && size % f.batch !== 0)
    throw new DataError(
      `${f.why} fixes the batch at ${f.batch}, and ${size} samples do not divide into such batches; set a limit that does (data spec '${spec.text}')`,
    );
  return batch;
}

/**
 * Opens a dataset from a data spec (see README.md). With `inputs`, the data is checked against the
 * model now, and every batch comes shaped and typed for it.
 *
 * @example
 * ```ts
 * const session = await getBackend('node').createSession('mnist.onnx');
 * const data = await openDataset('idx:t10k-images-idx3-ubyte.gz,labels=t10k-labels-idx1-ubyte.gz', {
 *   inputs: session.inputs,
 *   batchSize: 64,
 *   limit: 1000,
 * });
 * for await (const { inputs, labels } of data) {
 *   const out = await session.run(inputs);
 * }
 * ```
 */
export async function openDataset(spec: string | DataSpec, options: DatasetOptions = {}): Promise<Dataset> {
  const parsed = typeof spec === 'string' ? parseDataSpec(spec) : spec;
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 0))
    throw new DataError(`limit must be a non-negative integer, got ${options.limit}`);
  const ctx: SourceContext = {
    ...(options.inputs ? { inputs: options.inputs } : {}),
    ...(options.shapes ? { shapes: options.shapes } : {}),
  };
  const source = await openSource(parsed, ctx);
  const limits = [source.count, options.limit, optInt(parsed, 'limit', 0)].filter((x): x is number => x !== undefined);
  const size = Math.min(...limits);

  if ('shaped' in source) {
    const shaped: ShapedSource = source;
    const fb = shaped.fixedBatch;
    const fixed = fb !== undefined ? [{ batch: fb, why: 'the model input shapes' }] : [];
    const batchSize = resolveBatch(parsed, options.batchSize, fixed, size);
    async function* batches(): AsyncGenerator<Batch> {
      let start = 0;
      for await (const { inputs, n } of shaped.read(batchSize, size)) {
        yield { inputs, indices: Array.from({ length: n }, (_, i) => start + i) };
        start += n;
      }
    }
    return dataset(parsed.text, source.description, size, batchSize, source.inputs, false, undefined, batches);
  }

  const plain: Source = source;
  const targets = mapColumns(plain, options.inputs, parsed);
  const fits = source.columns.map((c, k) =>
    fitColumn(
      c,
      targets[k],
      c.input ?? c.label ?? (source.columns.length === 1 ? 'input' : `input${k}`),
      source.description,
    ),
  );
  const fixed = fits.flatMap((f) =>
    f.fixedBatch !== undefined
      ? [
          {
            batch: f.fixedBatch,
            why: `input '${f.name}' ${f.batched ? `(batch dim ${f.fixedBatch})` : '(no batch dim)'}`,
          },
        ]
      : [],
  );
  const batchSize = resolveBatch(parsed, options.batchSize, fixed, size);
  const inputs: DatasetInput[] = fits.map((f) => ({
    name: f.name,
    type: f.type,
    dims: f.batched ? [f.fixedBatch ?? 'N', ...f.sampleDims] : f.sampleDims,
  }));

  async function* batches(): AsyncGenerator<Batch> {
    let start = 0;
    for await (const chunk of plain.read(batchSize, size)) {
      const n = chunk.columns[0].dims[0];
      const out: Record<string, HostTensor> = {};
      chunk.columns.forEach((t, k) => {
        const f = fits[k];
        const shaped: HostTensor = {
          type: t.type,
          dims: f.batched ? [n, ...f.sampleDims] : [...f.sampleDims],
          data: t.data,
        };
        out[f.name] = castTensor(shaped, f.type);
      });
      yield {
        inputs: out,
        ...(chunk.labels ? { labels: chunk.labels } : {}),
        indices: Array.from({ length: n }, (_, i) => start + i),
      };
      start += n;
    }
  }
  return dataset(parsed.text, source.description, size, batchSize, inputs, source.hasLabels, source.classes, batches);
}

function dataset(
  spec: string,
  description: string,
  size: number,
  batchSize: number,
  inputs: readonly DatasetInput[],
  hasLabels: boolean,
  classes: readonly string[] | undefined,
  batches: () => AsyncGenerator<Batch>,
): Dataset {
  return {
    spec,
    description,
    size,
    batchSize,
    inputs,
    hasLabels,
    ...(classes ? { classes } : {}),
    batches,
    [Symbol.asyncIterator]: batches,
  };
}
