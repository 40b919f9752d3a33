/**
 * NumPy `.npy` arrays (format versions 1, 2 and 3): magic `\x93NUMPY`, version, a little-endian
 * header length, then a Python dict literal `{'descr': '<f4', 'fortran_order': False, 'shape': (N, 28, 28), }`
 * and the data. Supported dtypes: little-endian (or single-byte) f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8
 * b1, C order. The first axis counts samples; rows stream from disk a chunk at a time.
 */
import { basename } from 'node:path';
import type { ElemType, HostTensor } from '../runtime/types.js';
import { allocTensor } from '../runtime/tensor.js';
import { ByteReader, fileSize, openFile } from './byte-stream.js';
import { DataError } from './errors.js';
import { optString, type DataSpec } from './spec.js';
import { inputOf, normalizeInto, scalarNormalize, type Chunk, type Normalize, type Source } from './source.js';

const DTYPES: Record<string, ElemType> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  u2: 'uint16',
  u4: 'uint32',
  u8: 'uint64',
  b1: 'bool',
};
const SIZES: Record<string, number> = { 1: 1, 2: 2, 4: 4, 8: 8 };

export interface NpyHeader {
  readonly type: ElemType;
  readonly descr: string;
  readonly shape: number[];
  readonly itemSize: number;
  /** Bytes before the data (magic, version, length and dict). */
  readonly size: number;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses the header dict; throws one line naming `name` for what it cannot use. */
export function parseNpyDict(
  dict: string,
  name: string,
): { type: ElemType; descr: string; shape: number[]; itemSize: number } {
  const descrM = /['"]descr['"]\s*:\s*(['"])(.*?)\1/.exec(dict);
  if (!descrM) {
    if (/['"]descr['"]\s*:\s*\[/.test(dict))
      throw new DataError(`${name}: structured (record) dtypes are not supported`);
    throw new DataError(`${name}: not a .npy file (header has no 'descr')`);
  }
  const descr = descrM[2];
  const fortran = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(dict);
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(dict);
  if (!fortran || !shapeM) throw new DataError(`${name}: not a .npy file (header lacks fortran_order or shape)`);
  const shape = shapeM[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, '')));
  if (!shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new DataError(`${name}: not a .npy file (bad shape (${shapeM[1]}))`);
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(descr);
  const key = m ? `${m[2]}${m[3]}` : '';
  const type = DTYPES[key];
  if (!m || !type)
    throw new DataError(`${name}: dtype '${descr}' is not supported (use f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)`);
  const itemSize = SIZES[m[3]];
  if (m[1] === '>' && itemSize > 1)
    throw new DataError(
      `${name}: big-endian dtype '${descr}' is not supported; save it little-endian (arr.astype('<${key}'))`,
    );
  if (fortran[1] === 'True' && shape.filter((d) => d !== 1).length > 1)
    throw new DataError(`${name}: Fortran-order arrays are not supported; save it in C order (np.ascontiguousarray)`);
  return { type, descr, shape, itemSize };
}

/** Reads and checks the header (the reader is left at the first data byte). */
export async function readNpyHeader(reader: ByteReader): Promise<NpyHeader> {
  const pre = await reader.read(8);
  if (pre.length < 8 || !MAGIC.every((b, i) => pre[i] === b))
    throw new DataError(`${reader.name}: not a .npy file (bad magic; expected \\x93NUMPY)`);
  const major = pre[6];
  if (major < 1 || major > 3) throw new DataError(`${reader.name}: unsupported .npy format version ${major}.${pre[7]}`);
  const lenBytes = await reader.readExactly(major === 1 ? 2 : 4, 'the .npy header');
  const view = new DataView(lenBytes.buffer);
  const len = major === 1 ? view.getUint16(0, true) : view.getUint32(0, true);
  const dictBytes = await reader.readExactly(len, 'the .npy header');
  const dict = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(dictBytes);
  return { ...parseNpyDict(dict, reader.name), size: 8 + lenBytes.length + len };
}

/** Little-endian bytes as a host tensor of `type` (copying into an aligned buffer when needed). */
export function bytesToTensor(bytes: Uint8Array, type: ElemType, dims: number[]): HostTensor {
  const t = allocTensor(type, dims);
  const dst = t.data as Exclude<HostTensor['data'], string[]>;
  new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(bytes.subarray(0, dst.byteLength));
  if (type === 'bool') for (let i = 0; i < dst.length; i++) dst[i] = dst[i] ? 1 : 0;
  return t;
}

function normalizeTensor(t: HostTensor, norm: Normalize): HostTensor {
  const src = t.data as Exclude<HostTensor['data'], string[]>;
  const get =
    t.type === 'int64' || t.type === 'uint64' ? (i: number) => Number(src[i]) : (i: number) => src[i] as number;
  if (t.type === 'float16') throw new DataError('scale/mean/std on float16 data is not supported');
  return { type: 'float32', dims: t.dims, data: normalizeInto(src.length, get, norm) };
}

/** Streams rows of an npy array from `open()` (a fresh reader positioned anywhere before the header). */
export async function* readNpyRows(
  open: () => ByteReader,
  header: NpyHeader,
  chunk: number,
  end: number,
  norm: Normalize | undefined,
): AsyncGenerator<HostTensor> {
  const r = open();
  try {
    await readNpyHeader(r);
    const sampleDims = header.shape.slice(1);
    const rowBytes = sampleDims.reduce((a, b) => a * b, 1) * header.itemSize;
    for (let start = 0; start < end; start += chunk) {
      const n = Math.min(chunk, end - start);
      const bytes = await r.read(n * rowBytes);
      if (bytes.length < n * rowBytes)
        throw new DataError(
          `${r.name}: truncated .npy data: ended after ${start + Math.floor(bytes.length / rowBytes)} of ${header.shape[0]} rows`,
        );
      const t = bytesToTensor(bytes, header.type, [n, ...sampleDims]);
      // Having read every row, reach the end of the stream, so that a zip member's CRC is checked
      // before its last rows are handed out.
      if (start + n === header.shape[0]) await r.read(1);
      yield norm ? normalizeTensor(t, norm) : t;
    }
  } finally {
    r.close();
  }
}

/** A whole (small) npy array as int32 class ids: shape [N] or [N,1], integer dtype. */
export async function readLabelArray(open: () => ByteReader): Promise<Int32Array> {
  const r = open();
  try {
    const h = await readNpyHeader(r);
    const n = h.shape[0] ?? 0;
    if (h.shape.length === 0 || h.shape.slice(1).some((d) => d !== 1) || !/^[iub]/.test(h.descr.replace(/^[<>|=]/, '')))
      throw new DataError(
        `${r.name}: labels must be integer class ids of shape [N], got ${h.descr} (${h.shape.join(',')})`,
      );
    const bytes = await r.readExactly(n * h.itemSize, 'the label data');
    const t = bytesToTensor(bytes, h.type, [n]);
    const src = t.data as Exclude<HostTensor['data'], string[]>;
    return Int32Array.from(src as ArrayLike<number | bigint>, (v) => Number(v));
  } finally {
    r.close();
  }
}

export function npyDescription(h: NpyHeader): string {
  return `${h.shape[0]} × [${h.shape.slice(1).join(',')}] ${h.type}`;
}

export async function openNpy(spec: DataSpec): Promise<Source> {
  const path = spec.path!;
  const open = () => openFile(path).reader;
  const { reader: r, gzip } = openFile(path);
  let header: NpyHeader;
  try {
    header = await readNpyHeader(r);
  } finally {
    r.close();
  }
  if (header.shape.length === 0) throw new DataError(`${path}: a 0-d array has no samples (need at least one axis)`);
  const expected = header.size + header.shape.reduce((a, b) => a * b, 1) * header.itemSize;
  const actual = fileSize(path);
  if (!gzip && actual < expected)
    throw new DataError(
      `${path}: truncated .npy file: header says ${header.descr} (${header.shape.join(',')}) = ${expected} bytes, file has ${actual}`,
    );
  const norm = scalarNormalize(spec);
  const labelsPath = optString(spec, 'labels');
  const labels = labelsPath !== undefined ? await readLabelArray(() => openFile(labelsPath).reader) : undefined;
  const count = header.shape[0];
  if (labels && labels.length !== count)
    throw new DataError(`${labelsPath}: ${labels.length} labels for ${count} samples in ${path}`);

  async function* read(chunk: number, end: number): AsyncGenerator<Chunk> {
    let start = 0;
    for await (const t of readNpyRows(open, header, chunk, end, norm)) {
      const n = t.dims[0];
      yield { columns: [t], ...(labels ? { labels: labels.slice(start, start + n) } : {}) };
      start += n;
    }
  }
  return {
    description: `npy ${basename(path)}: ${npyDescription(header)}${labelsPath ? `, labels ${basename(labelsPath)}` : ''}`,
    count,
    columns: [{ ...inputOf(spec), type: norm ? 'float32' : header.type, sampleDims: header.shape.slice(1) }],
    hasLabels: labels !== undefined,
    read,
  };
}
