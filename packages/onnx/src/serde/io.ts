import {
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { toBinary } from '@bufbuild/protobuf';
import type { Model } from '../ir/model.js';
import { ExternalTensor, MemoryTensor, type Tensor } from '../ir/tensor.js';
import { allGraphs } from '../ir/traversal.js';
import { AttrType } from '../ir/attr.js';
import { decodeModel } from './decode.js';
import { modelToProto, type ExternalRef } from './encode.js';
import { ModelFormatError } from './proto-tensor.js';
import { ModelProtoSchema } from './proto/onnx_pb.js';

/** Protobuf cannot encode a message of 2 GiB or more. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Headroom for everything that is not tensor data when deciding whether a model fits inline. */
const NON_TENSOR_MARGIN = 64 * 1024 * 1024;
/** Tensors from this size move out when a model must use external data (onnx's default). */
const AUTO_THRESHOLD = 1024;

/** A model file could not be loaded: the message names the file and the problem. */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}

/**
 * Loads an ONNX model. Tensor bytes stay views into the file buffer; external data is checked
 * (file present and long enough) but not read until a tensor's bytes are asked for.
 */
export function loadModel(path: string): Model {
  const abs = resolve(path);
  let bytes: Uint8Array;
  try {
    const st = statSync(abs);
    if (st.isDirectory()) throw new ModelLoadError(path, 'is a directory, not an ONNX file');
    if (st.size === 0) throw new ModelLoadError(path, 'is empty');
    if (st.size > PROTOBUF_LIMIT)
      throw new ModelLoadError(
        path,
        `is ${st.size} bytes, over protobuf's 2 GiB limit (large models keep tensors in external data)`,
      );
    const buf = readFileSync(abs);
    // A plain Uint8Array view: decoded byte fields become Uint8Array views, never Buffers.
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    if (e instanceof ModelLoadError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new ModelLoadError(
      path,
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EACCES' ? 'permission denied' : err.message,
    );
  }
  try {
    const model = decodeModel(bytes, dirname(abs));
    checkExternalFiles(model);
    return model;
  } catch (e) {
    if (e instanceof ModelFormatError || e instanceof RangeError || e instanceof Error)
      throw new ModelLoadError(path, (e as Error).message);
    throw e;
  }
}

/** Decodes a model from memory (external data, if any, is resolved against `baseDir`). */
export function loadModelFromBytes(bytes: Uint8Array, baseDir?: string): Model {
  const model = decodeModel(bytes, baseDir);
  checkExternalFiles(model);
  return model;
}

/** Every tensor stored in the model: initializers, sparse parts and attribute tensors, everywhere. */
export function* storedTensors(model: Model): IterableIterator<{ tensor: Tensor; initializer: boolean }> {
  for (const g of allGraphs(model)) {
    for (const v of g.initializers.values()) if (v.const) yield { tensor: v.const, initializer: true };
    for (const s of g.sparseInitializers.values()) {
      yield { tensor: s.tensor.values, initializer: false };
      yield { tensor: s.tensor.indices, initializer: false };
    }
    for (const n of g) {
      for (const a of n.attributes.values()) {
        if (a.type === AttrType.TENSOR) yield { tensor: a.value, initializer: false };
        else if (a.type === AttrType.TENSORS) for (const t of a.value) yield { tensor: t, initializer: false };
      }
    }
  }
}

function checkExternalFiles(model: Model): void {
  const sizes = new Map<string, number>();
  for (const { tensor } of storedTensors(model)) {
    const ext = tensor.external;
    if (!ext) continue;
    let size = sizes.get(ext.path);
    if (size === undefined) {
      if (!existsSync(ext.path))
        throw new ModelFormatError(`external data file '${ext.location}' of tensor '${tensor.name}' is missing`);
      size = statSync(ext.path).size;
      sizes.set(ext.path, size);
    }
    if (ext.offset + ext.length > size) {
      throw new ModelFormatError(
        `external data file '${ext.location}' is ${size} bytes, tensor '${tensor.name}' needs bytes ${ext.offset}..${ext.offset + ext.length}`,
      );
    }
  }
}

export interface SaveOptions {
  /**
   * Tensors of at least this many bytes go to external data (`<model file>.data`), others inline.
   * Without it, tensors stay where they were (inline, or external rewritten beside the output), and
   * when the model would pass 2 GiB every initializer of 1 KiB or more moves out automatically.
   */
  externalDataThreshold?: number;
  /** Write every tensor inline (fails when that would pass protobuf's 2 GiB limit). */
  inline?: boolean;
  /** File name of the side file, relative to the model (default `<model file name>.data`). */
  externalDataLocation?: string;
}

export interface SaveResult {
  bytes: number;
  externalTensors: number;
  externalBytes: number;
  externalFile?: string;
}

/**
 * Saves a model atomically: the .onnx and its side file are written to temporary names and renamed
 * into place only when both are complete. Tensors are streamed one at a time into the side file
 * (external sources are copied in fixed-size chunks), so memory stays bounded by the largest
 * in-memory tensor. Saving over the file the model was loaded from is safe: tensors that read from
 * the replaced side file are re-pointed at their new location (or kept in memory when inlined).
 */
export function saveModel(model: Model, path: string, opts: SaveOptions = {}): SaveResult {
  const abs = resolve(path);
  const location = opts.externalDataLocation ?? `${basename(abs)}.data`;
  const dataPath = resolve(dirname(abs), location);
  const external = planExternal(model, opts);
  const tag = `.tmp-${process.pid}-${Date.now()}`;
  const tmpModel = abs + tag;
  const tmpData = dataPath + tag;
  const refs = new Map<Tensor, ExternalRef>();
  let externalBytes = 0;
  try {
    if (external.size > 0) {
      const fd = openSync(tmpData, 'w');
      try {
        let offset = 0;
        const chunk = new Uint8Array(COPY_CHUNK);
        for (const t of external) {
          // Page-align large tensors so runtimes can map them.
          const align = t.nbytes >= 1 << 20 ? 4096 : 64;
          const pad = (align - (offset % align)) % align;
          if (pad) writeAll(fd, new Uint8Array(pad));
          offset += pad;
          const length = t.external
            ? copyRange(t.external.path, t.external.offset, t.external.length, fd, chunk)
            : writeAll(fd, t.bytes());
          refs.set(t, { location, offset, length });
          offset += length;
          externalBytes += length;
        }
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    const proto = modelToProto(model, { placement: (t) => refs.get(t) });
    const bin = toBinary(ModelProtoSchema, proto);
    const fd = openSync(tmpModel, 'w');
    try {
      writeAll(fd, bin);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // Tensors reading from the side file about to be replaced: keep their bytes reachable.
    const stale = [...storedTensors(model)].map((x) => x.tensor).filter((t) => t.external?.path === dataPath);
    const keep = new Map<Tensor, Tensor>();
    for (const t of stale) {
      const ref = refs.get(t);
      const next = ref
        ? new ExternalTensor(t.dtype, t.dims, { path: dataPath, ...ref }, t.name)
        : new MemoryTensor(t.dtype, t.dims, t.bytes(), t.name);
      next.docString = t.docString;
      next.metadataProps = t.metadataProps;
      keep.set(t, next);
    }
    if (external.size > 0) renameSync(tmpData, dataPath);
    renameSync(tmpModel, abs);
    if (keep.size) replaceTensors(model, keep);
    return {
      bytes: bin.byteLength,
      externalTensors: external.size,
      externalBytes,
      ...(external.size ? { externalFile: dataPath } : {}),
    };
  } catch (e) {
    rmSync(tmpModel, { force: true });
    rmSync(tmpData, { force: true });
    throw e;
  }
}

const COPY_CHUNK = 16 * 1024 * 1024;

/** Copies a byte range of a file into `fd` through one reused buffer; returns the length. */
function copyRange(path: string, offset: number, length: number, fd: number, chunk: Uint8Array): number {
  const src = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(src, chunk, 0, Math.min(chunk.byteLength, length - done), offset + done);
      if (n === 0) throw new Error(`${path} ended before byte ${offset + length}`);
      writeAll(fd, n === chunk.byteLength ? chunk : chunk.subarray(0, n));
      done += n;
    }
    return length;
  } finally {
    closeSync(src);
  }
}

/** Swaps tensor objects wherever the model holds them (initializers, attributes, sparse parts). */
function replaceTensors(model: Model, map: Map<Tensor, Tensor>): void {
  for (const g of allGraphs(model)) {
    for (const v of g.initializers.values()) if (v.const && map.has(v.const)) v.const = map.get(v.const);
    for (const s of g.sparseInitializers.values()) {
      s.tensor.values = map.get(s.tensor.values) ?? s.tensor.values;
      s.tensor.indices = map.get(s.tensor.indices) ?? s.tensor.indices;
    }
    for (const n of g) {
      for (const a of n.attributes.values()) {
        if (a.type === AttrType.TENSOR && map.has(a.value)) a.value = map.get(a.value)!;
        else if (a.type === AttrType.TENSORS) a.value = a.value.map((t) => map.get(t) ?? t);
      }
    }
  }
}

/** Encodes a model into memory (no external data; fails past 2 GiB). */
export function serializeModel(model: Model): Uint8Array {
  const inlineBytes = [...storedTensors(model)].reduce((s, x) => s + x.tensor.nbytes, 0);
  if (inlineBytes + NON_TENSOR_MARGIN > PROTOBUF_LIMIT)
    throw new Error('model is over 2 GiB: save it to a file with external data');
  return toBinary(ModelProtoSchema, modelToProto(model));
}

function writeAll(fd: number, b: Uint8Array): number {
  let done = 0;
  while (done < b.byteLength) done += writeSync(fd, b, done, Math.min(b.byteLength - done, 1 << 30));
  return done;
}

function planExternal(model: Model, opts: SaveOptions): Set<Tensor> {
  const out = new Set<Tensor>();
  const all = [...storedTensors(model)].filter((x) => x.tensor.dtype !== 8 /* strings stay inline */);
  if (opts.inline) {
    const total = all.reduce((s, x) => s + x.tensor.nbytes, 0);
    if (total + NON_TENSOR_MARGIN > PROTOBUF_LIMIT) {
      throw new Error(
        `cannot inline ${(total / 2 ** 30).toFixed(2)} GiB of tensors: protobuf files are limited to 2 GiB`,
      );
    }
    return out;
  }
  if (opts.externalDataThreshold !== undefined) {
    for (const x of all) if (x.tensor.nbytes >= opts.externalDataThreshold && x.tensor.nbytes > 0) out.add(x.tensor);
  } else {
    for (const x of all) if (x.tensor.external) out.add(x.tensor);
  }
  let inline = all.filter((x) => !out.has(x.tensor)).reduce((s, x) => s + x.tensor.nbytes, 0);
  if (inline + NON_TENSOR_MARGIN > PROTOBUF_LIMIT) {
    // Too big for one protobuf: every initializer of 1 KiB or more goes out (onnx's size_threshold),
    // not just enough to squeeze under the limit, so the .onnx stays small and loads instantly.
    for (const x of all) {
      if (x.initializer && !out.has(x.tensor) && x.tensor.nbytes >= AUTO_THRESHOLD) {
        out.add(x.tensor);
        inline -= x.tensor.nbytes;
      }
    }
    if (inline + NON_TENSOR_MARGIN > PROTOBUF_LIMIT) {
      throw new Error(
        'model is over 2 GiB even with every initializer in external data (large Constant-node tensors?)',
      );
    }
  }
  // Keep file order stable: the order tensors appear in the model.
  return new Set(all.map((x) => x.tensor).filter((t) => out.has(t)));
}

/** Total size of a model on disk: the file and its external data files. */
export function modelFileSize(path: string, model: Model): { model: number; external: number; files: string[] } {
  const files = new Set<string>();
  for (const { tensor } of storedTensors(model)) if (tensor.external) files.add(tensor.external.path);
  let external = 0;
  for (const f of files) {
    const fd = openSync(f, 'r');
    try {
      external += fstatSync(fd).size;
    } finally {
      closeSync(fd);
    }
  }
  return { model: statSync(path).size, external, files: [...files] };
}
