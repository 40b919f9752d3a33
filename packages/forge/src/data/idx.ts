/**
 * MNIST-style idx files (plain or gzip, detected by content): a big-endian header
 * `00 00 <type> <ndim>` and `ndim` uint32 dims, then the data, big-endian, C order. The first dim
 * counts samples. Images stream from disk a chunk at a time; labels (small) are read whole.
 *
 * Values become float32 `(x * scale - mean) / std`; `scale` defaults to 1/255 for ubyte data and
 * 1 otherwise, `mean` to 0 and `std` to 1.
 */
import { basename } from 'node:path';
import { ByteReader, fileSize, openFile } from './byte-stream.js';
import { DataError } from './errors.js';
import { optString, type DataSpec } from './spec.js';
import { inputOf, normalizeInto, scalarNormalize, type Chunk, type Source } from './source.js';

interface IdxType {
  readonly name: string;
  readonly size: number;
  readonly integer: boolean;
  get(view: DataView, offset: number): number;
}

const TYPES: Record<number, IdxType> = {
  0x08: { name: 'ubyte', size: 1, integer: true, get: (v, o) => v.getUint8(o) },
  0x09: { name: 'sbyte', size: 1, integer: true, get: (v, o) => v.getInt8(o) },
  0x0b: { name: 'short', size: 2, integer: true, get: (v, o) => v.getInt16(o) },
  0x0c: { name: 'int', size: 4, integer: true, get: (v, o) => v.getInt32(o) },
  0x0d: { name: 'float', size: 4, integer: false, get: (v, o) => v.getFloat32(o) },
  0x0e: { name: 'double', size: 8, integer: false, get: (v, o) => v.getFloat64(o) },
};

export interface IdxHeader {
  readonly type: IdxType;
  readonly dims: number[];
  /** Bytes before the data. */
  readonly size: number;
}

function hex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/** Reads and checks the header (the reader is left at the first data byte). */
export async function readIdxHeader(reader: ByteReader): Promise<IdxHeader> {
  const head = await reader.read(4);
  if (head.length < 4) throw new DataError(`${reader.name}: not an idx file (only ${head.length} bytes)`);
  const type = TYPES[head[2]];
  if (head[0] !== 0 || head[1] !== 0 || !type || head[3] === 0)
    throw new DataError(`${reader.name}: not an idx file (header starts ${hex(head)}, expected 00 00 <type> <ndim>)`);
  const ndim = head[3];
  const raw = await reader.read(4 * ndim);
  if (raw.length < 4 * ndim) throw new DataError(`${reader.name}: truncated idx file: ended in the header`);
  const view = new DataView(raw.buffer);
  const dims = Array.from({ length: ndim }, (_, i) => view.getUint32(4 * i));
  return { type, dims, size: 4 + 4 * ndim };
}

/** The whole label file as int32 class ids. */
async function readLabels(path: string): Promise<Int32Array> {
  const { reader, gzip } = openFile(path);
  try {
    const h = await readIdxHeader(reader);
    if (h.dims.length !== 1 || !h.type.integer)
      throw new DataError(`${path}: labels must be a 1-d integer idx array, got ${h.type.name} [${h.dims.join(',')}]`);
    const n = h.dims[0];
    if (!gzip) checkSize(path, h, n);
    const bytes = await reader.read(n * h.type.size);
    if (bytes.length < n * h.type.size)
      throw new DataError(`${path}: truncated idx file: ${Math.floor(bytes.length / h.type.size)} of ${n} labels`);
    const view = new DataView(bytes.buffer);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = h.type.get(view, i * h.type.size);
    return out;
  } finally {
    reader.close();
  }
}

function checkSize(path: string, h: IdxHeader, count: number): void {
  const sample = h.dims.slice(1).reduce((a, b) => a * b, 1) * h.type.size;
  const expected = h.size + count * sample;
  const actual = fileSize(path);
  if (actual < expected)
    throw new DataError(
      `${path}: truncated idx file: header says ${count} × [${h.dims.slice(1).join(',')}] ${h.type.name} (${expected} bytes), file has ${actual} bytes`,
    );
  if (actual > expected)
    throw new DataError(
      `${path}: not a well-formed idx file: ${actual - expected} bytes after the data its header describes`,
    );
}

export async function openIdx(spec: DataSpec): Promise<Source> {
  const path = spec.path!;
  const { reader, gzip } = openFile(path);
  let header: IdxHeader;
  try {
    header = await readIdxHeader(reader);
  } finally {
    reader.close();
  }
  const count = header.dims[0];
  const sampleDims = header.dims.slice(1);
  if (!gzip) checkSize(path, header, count);
  const norm = scalarNormalize(spec, header.type.name === 'ubyte' ? 1 / 255 : 1)!;
  const labelsPath = optString(spec, 'labels');
  const labels = labelsPath !== undefined ? await readLabels(labelsPath) : undefined;
  if (labels && labels.length !== count)
    throw new DataError(`${labelsPath}: ${labels.length} labels for ${count} samples in ${path}`);
  const sampleElems = sampleDims.reduce((a, b) => a * b, 1);
  const sampleBytes = sampleElems * header.type.size;

  async function* read(chunk: number, end: number): AsyncGenerator<Chunk> {
    const { reader: r } = openFile(path);
    try {
      await readIdxHeader(r);
      for (let start = 0; start < end; start += chunk) {
        const n = Math.min(chunk, end - start);
        const bytes = await r.read(n * sampleBytes);
        if (bytes.length < n * sampleBytes)
          throw new DataError(
            `${path}: truncated idx file: ended after ${start + Math.floor(bytes.length / sampleBytes)} of ${count} samples`,
          );
        const view = new DataView(bytes.buffer);
        const { get, size } = header.type;
        const data = normalizeInto(n * sampleElems, (i) => get(view, i * size), norm);
        yield {
          columns: [{ type: 'float32', dims: [n, ...sampleDims], data }],
          ...(labels ? { labels: labels.slice(start, start + n) } : {}),
        };
      }
    } finally {
      r.close();
    }
  }

  return {
    description: `idx ${basename(path)}: ${count} × [${sampleDims.join(',')}] ${header.type.name}${labelsPath ? `, labels ${basename(labelsPath)}` : ''}`,
    count,
    columns: [{ ...inputOf(spec), type: 'float32', sampleDims }],
    hasLabels: labels !== undefined,
    read,
  };
}
