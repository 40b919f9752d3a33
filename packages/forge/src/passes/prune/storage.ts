/**
 * What pruning buys on disk: per-weight sparsity, the gzip size of the serialized model (what a
 * bundle download costs: zeros compress, a dense file of zeros is not smaller), and the pass
 * `store-sparse`, which writes pruned initializers as ONNX `sparse_initializer`s where that is
 * smaller than the dense tensor.
 *
 * `store-sparse`:
 * ```
 * Before:  initializer W float32[128,3136]: 401,408 values, 82% zero          1,605,632 bytes
 * After:   sparse_initializer W dims [128,3136]: values float32[72,039],
 *          indices int64[72,039] (linearized)                                     864,468 bytes
 * ```
 * The format is COO with linearized int64 indices `[NNZ]` (the ONNX spec allows only int64; the
 * `[NNZ, rank]` form costs rank× more). Each kept value costs its own bytes plus 8 for the index,
 * so a float32 tensor only gets smaller above 2/3 sparsity (float16: 4/5): a 50%-pruned model has
 * nothing to gain, and the pass says so rather than writing a bigger file. An element counts as
 * zero only when all its bits are (a −0 stays a stored value, so the densified tensor is
 * bit-identical). onnxruntime 1.30 turns sparse initializers back into dense ones when it loads the
 * model (same outputs, bit for bit; same memory and speed): the gain is the file, not the run.
 * And only the raw file: gzip squeezes runs of zeros better than it squeezes int64 indices
 * (mnist-cnn at 80%: dense 1,687,977 B → 390,986 B gzipped; sparse 946,835 B → 418,262 B gzipped),
 * so a bundle served compressed is smaller dense.
 *
 * Options: `minSparsity` (default 0.5, in [0, 1]): tensors below it stay dense. Candidates: every
 * initializer of the main graph and its subgraphs that is not a graph input or output, of a type
 * with whole-byte elements. Refused: models with IR version < 6 (before sparse tensors). Put it
 * last in a recipe: a weight in a sparse initializer is no longer a constant the other passes see.
 */
import { gzipSync } from 'node:zlib';
import {
  DataType,
  MemoryTensor,
  allGraphs,
  dtypeBits,
  serializeModel,
  toTypedArray,
  type Graph,
  type Model,
  type SparseTensor,
  type Tensor,
} from '@edgeforge/onnx';
import { Changes, type Pass, type PassReport } from '../pass.js';
import { checkFraction, checkKeys } from './prune-magnitude.js';
import { PRUNABLE_OPS, countZeros, findWeights, nodeLabel, type WeightSelection } from './select.js';

export const STORE_SPARSE = 'store-sparse';

/** gzip size (node:zlib, default level 6) of the serialized model: what a compressed download costs. */
export function gzipSize(model: Model | Uint8Array): number {
  return gzipSync(model instanceof Uint8Array ? model : serializeModel(model)).length;
}

export interface WeightSparsity {
  /** The value holding the weight. */
  name: string;
  /** Nodes reading it, as `Conv '/conv1/Conv'`. */
  readers: string[];
  dims: number[];
  zeros: number;
  total: number;
  sparsity: number;
  storage: 'dense' | 'sparse';
}

export interface SparsityReport {
  weights: WeightSparsity[];
  zeros: number;
  total: number;
  sparsity: number;
}

const ALL: WeightSelection = { opTypes: [...PRUNABLE_OPS], minSize: 1 };

/**
 * Zeros per prunable weight (the selection of the prune passes, default all of them), dense or
 * already stored sparse.
 */
export function sparsityReport(model: Model, sel: WeightSelection = ALL): SparsityReport {
  const weights: WeightSparsity[] = findWeights(model, sel).weights.map((w) => {
    const zeros = countZeros(w.tensor);
    return {
      name: w.root.name,
      readers: w.readers.map((r) => nodeLabel(r.node)),
      dims: [...w.tensor.dims],
      zeros,
      total: w.tensor.size,
      sparsity: w.tensor.size ? zeros / w.tensor.size : 0,
      storage: 'dense',
    };
  });
  for (const g of allGraphs(model, { functions: false }))
    for (const [name, { value, tensor: s }] of g.sparseInitializers) {
      const readers = value.uses().filter((u) => sel.opTypes.some((op) => u.node.opType === op) && u.index === 1);
      if (!readers.length) continue;
      const total = s.dims.reduce((a, b) => a * b, 1);
      const zeros = total - s.values.size + countZeros(s.values);
      weights.push({
        name,
        readers: readers.map((u) => nodeLabel(u.node)),
        dims: [...s.dims],
        zeros,
        total,
        sparsity: total ? zeros / total : 0,
        storage: 'sparse',
      });
    }
  const zeros = weights.reduce((s, w) => s + w.zeros, 0);
  const total = weights.reduce((s, w) => s + w.total, 0);
  return { weights, zeros, total, sparsity: total ? zeros / total : 0 };
}

/** The report as aligned text lines (for `--report`). */
export function formatSparsity(r: SparsityReport): string {
  const rows = r.weights.map((w) => [
    w.name,
    `[${w.dims.join(',')}]`,
    `${w.zeros}/${w.total}`,
    `${(100 * w.sparsity).toFixed(1)}%`,
    w.storage,
    w.readers.join(', '),
  ]);
  rows.push(['total', '', `${r.zeros}/${r.total}`, `${(100 * r.sparsity).toFixed(1)}%`, '', '']);
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  return rows
    .map((row) =>
      row
        .map((x, c) => (c === 2 || c === 3 ? x.padStart(widths[c]) : x.padEnd(widths[c])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export interface StoreSparseOptions {
  minSparsity: number;
}

export function parseStoreSparseOptions(raw: Record<string, unknown>): StoreSparseOptions {
  checkKeys(STORE_SPARSE, raw, ['minSparsity']);
  return { minSparsity: checkFraction(STORE_SPARSE, 'minSparsity', raw.minSparsity, false) ?? 0.5 };
}

/** Bytes per element, for types whose elements are whole bytes (else undefined). */
function elementBytes(dtype: number): number | undefined {
  const bits = dtypeBits(dtype);
  return dtype !== DataType.STRING && bits > 0 && bits % 8 === 0 ? bits / 8 : undefined;
}

/** Whether a raw element is all-zero bits (+0, 0, 0n; float16/bfloat16 come as their bits). */
function zeroBits(x: number | bigint): boolean {
  return x === 0 ? !Object.is(x, -0) : x === 0n;
}

/**
 * `t` as a sparse tensor with linearized int64 indices. Only all-zero-bit elements are left out:
 * a −0 stays a value, so densifying gives back the same bits.
 */
export function toSparse(t: Tensor): SparseTensor {
  const a = toTypedArray(t);
  const idx: number[] = [];
  for (let i = 0; i < a.length; i++) if (!zeroBits(a[i])) idx.push(i);
  const Ctor = a.constructor as new (n: number) => typeof a;
  const values = new Ctor(idx.length);
  idx.forEach((i, k) => (values[k] = a[i]));
  return {
    values: new MemoryTensor(t.dtype, [idx.length], values, t.name),
    indices: new MemoryTensor(DataType.INT64, [idx.length], BigInt64Array.from(idx, BigInt)),
    dims: [...t.dims],
  };
}

/** Moves an initializer to the graph's sparse initializers, keeping its Value (name, type, uses). */
function makeSparse(g: Graph, name: string, s: SparseTensor): void {
  const v = g.initializers.get(name)!;
  g.removeInitializer(name, true);
  v.owner = g;
  g.sparseInitializers.set(name, { value: v, tensor: s });
}

/** IR version that brought sparse tensors (IR_VERSION_2019_9_19). */
export const SPARSE_IR = 6;

export function storeSparse(model: Model, o: StoreSparseOptions): PassReport {
  const changes = new Changes();
  if (model.irVersion < SPARSE_IR) {
    changes.note(`IR version ${model.irVersion} < ${SPARSE_IR} has no sparse initializers: nothing stored sparse`);
    return changes.report();
  }
  let notSmaller = 0;
  // Function bodies cannot hold initializers.
  for (const g of allGraphs(model, { functions: false })) {
    for (const [name, v] of [...g.initializers]) {
      const t = v.const;
      const bytes = t && elementBytes(t.dtype);
      if (!t || !bytes || t.size === 0 || v.isGraphInput() || v.isGraphOutput()) continue;
      const zeros = countZeros(t);
      if (zeros / t.size < o.minSparsity || zeros === 0) continue;
      const s = toSparse(t);
      const sparseBytes = s.values.nbytes + s.indices.nbytes;
      if (sparseBytes >= t.nbytes) {
        notSmaller++;
        continue;
      }
      makeSparse(g, name, s);
      changes.add('initializers stored sparse');
      changes.add('bytes saved', t.nbytes - sparseBytes);
    }
  }
  if (notSmaller)
    changes.note(
      `${notSmaller} initializer(s) at ≥ ${(100 * o.minSparsity).toFixed(0)}% sparsity kept dense: values + int64 indices would not be smaller (float32 needs > 2/3 zeros)`,
    );
  return changes.report();
}

export const storeSparsePass: Pass<StoreSparseOptions> = {
  name: STORE_SPARSE,
  family: 'prune',
  description: 'Stores mostly-zero initializers as ONNX sparse_initializer (values + int64 indices) where smaller',
  idempotent: true,
  tolerance: 0,
  parseOptions: parseStoreSparseOptions,
  run: (model, o) => storeSparse(model, o),
};
