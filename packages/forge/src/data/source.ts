/**
 * What each format reader provides to the dataset layer: named columns of samples (each sample an
 * array of fixed dims), read front to back in chunks. Mapping columns to model inputs, shape
 * checks, casts and batching live in `dataset.ts`, once for all formats.
 */
import type { ElemType, HostTensor, IoInfo } from '../runtime/types.js';
import { DataError } from './errors.js';
import { optNumber, optNumbers, type DataSpec } from './spec.js';

export interface Column {
  /** The column's own name (npz member, json key); undefined for a format's single array. */
  readonly label?: string;
  /** The model input the spec says it feeds (`input=x`, `input=member:x`), if it says. */
  readonly input?: string;
  readonly type: ElemType;
  /** Dims of one sample. */
  readonly sampleDims: readonly number[];
}

export interface Chunk {
  /** One tensor per column, dims `[n, ...sampleDims]`. */
  readonly columns: HostTensor[];
  readonly labels?: Int32Array;
}

export interface Source {
  /** `idx t10k-images-idx3-ubyte.gz: 10000 × [28,28] uint8` */
  readonly description: string;
  readonly count: number;
  readonly columns: readonly Column[];
  readonly hasLabels: boolean;
  /** Class names for label ids (images from class subfolders). */
  readonly classes?: readonly string[];
  /** Reads samples [0, end) front to back, `chunk` samples at a time; stops early when the caller does. */
  read(chunk: number, end: number): AsyncGenerator<Chunk>;
}

/**
 * A source whose tensors are already shaped for the model (synthetic data): each chunk holds one
 * tensor per model input, with `n` samples where the model has a batch dimension.
 */
export interface ShapedSource {
  readonly shaped: true;
  readonly description: string;
  readonly count: number;
  readonly inputs: readonly { name: string; type: ElemType; dims: (number | string)[] }[];
  /** The batch size the model's dims force (a dim pinned by `shapes`), if any. */
  readonly fixedBatch?: number;
  read(batch: number, end: number): AsyncGenerator<{ inputs: Record<string, HostTensor>; n: number }>;
}

/** What a reader may know about the model when it is opened. */
export interface SourceContext {
  /** The model's inputs (from a session), when known. */
  readonly inputs?: readonly IoInfo[];
  /** Symbolic dim values (`N=1`) or whole input shapes (`x=[1,3,48,320]`). */
  readonly shapes?: Readonly<Record<string, number | readonly number[]>>;
}

/** `x * scale`, then `(x - mean) / std`, into float32. */
export interface Normalize {
  readonly scale: number;
  readonly mean: number;
  readonly std: number;
}

/**
 * Scalar scale/mean/std from a spec (`scale=1/255,mean=0.1307,std=0.3081`); undefined when none
 * is given and there is no default. Per-channel lists belong to images only.
 */
export function scalarNormalize(spec: DataSpec, defaultScale?: number): Normalize | undefined {
  const scale = optNumber(spec, 'scale');
  const mean = optNumbers(spec, 'mean');
  const std = optNumbers(spec, 'std');
  for (const [k, v] of [
    ['mean', mean],
    ['std', std],
  ] as const) {
    if (v && v.length !== 1)
      throw new DataError(
        `data spec '${spec.text}': ${k} takes one number for ${spec.format} (per-channel lists are for images)`,
      );
  }
  if (std && std[0] === 0) throw new DataError(`data spec '${spec.text}': std must not be 0`);
  if (scale === undefined && !mean && !std && defaultScale === undefined) return undefined;
  return { scale: scale ?? defaultScale ?? 1, mean: mean?.[0] ?? 0, std: std?.[0] ?? 1 };
}

/** Applies a `Normalize` to numbers read by `get`, into a new Float32Array. */
export function normalizeInto(n: number, get: (i: number) => number, norm: Normalize): Float32Array {
  const out = new Float32Array(n);
  const { scale, mean, std } = norm;
  for (let i = 0; i < n; i++) out[i] = (get(i) * scale - mean) / std;
  return out;
}

/** `{ input }` from a single-array format's `input=` option. */
export function inputOf(spec: DataSpec): { input?: string } {
  const v = spec.options.get('input');
  if (!v) return {};
  if (v.length > 1) throw new DataError(`data spec '${spec.text}': ${spec.format} has one array; give input= once`);
  return { input: v[0] };
}
