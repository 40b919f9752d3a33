/**
 * Test helpers: run models in onnxruntime-node and compare outputs bit for bit. Test-only (not
 * part of the package build); the package itself never imports onnxruntime.
 */
import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { DataType } from '../ir/dtype.js';
import { ProtoTensor } from '../serde/proto-tensor.js';
import { TensorProtoSchema } from '../serde/proto/onnx_pb.js';
import type { Tensor } from '../ir/tensor.js';

const ORT_TYPES: Record<number, ort.Tensor.Type> = {
  [DataType.FLOAT]: 'float32',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.UINT16]: 'uint16',
  [DataType.INT16]: 'int16',
  [DataType.INT32]: 'int32',
  [DataType.INT64]: 'int64',
  [DataType.STRING]: 'string',
  [DataType.BOOL]: 'bool',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64',
};

/** An IR tensor as an onnxruntime tensor (copying into an aligned buffer). */
export function toOrt(t: Tensor): ort.Tensor {
  const type = ORT_TYPES[t.dtype];
  if (!type) throw new Error(`no onnxruntime tensor type for data type ${t.dtype}`);
  if (type === 'string')
    return new ort.Tensor(
      'string',
      t.strings().map((b) => new TextDecoder().decode(b)),
      [...t.dims],
    );
  const raw = Uint8Array.prototype.slice.call(t.bytes());
  const buf = raw.buffer;
  const data = (() => {
    switch (type) {
      case 'float32':
        return new Float32Array(buf);
      case 'float64':
        return new Float64Array(buf);
      case 'int8':
        return new Int8Array(buf);
      case 'uint8':
      case 'bool':
        return new Uint8Array(buf);
      case 'int16':
        return new Int16Array(buf);
      case 'uint16':
      case 'float16':
        return new Uint16Array(buf);
      case 'int32':
        return new Int32Array(buf);
      case 'uint32':
        return new Uint32Array(buf);
      case 'int64':
        return new BigInt64Array(buf);
      case 'uint64':
        return new BigUint64Array(buf);
      default:
        throw new Error(type);
    }
  })();
  return new ort.Tensor(type, data as never, [...t.dims]);
}

/** Reads a conformance-suite `input_N.pb` (a TensorProto); undefined when it is not a tensor. */
export function readTensorPb(path: string): Tensor | undefined {
  try {
    const buf = readFileSync(path);
    const p = fromBinary(TensorProtoSchema, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    if (p.dataType === 0) return undefined;
    const t = new ProtoTensor(p, undefined);
    if (t.dtype !== DataType.STRING) t.bytes();
    return t;
  } catch {
    return undefined;
  }
}

/** Bytes of an onnxruntime output, for bitwise comparison. */
export function ortBytes(t: ort.Tensor): Uint8Array {
  const d = t.data as unknown;
  if (Array.isArray(d)) return new TextEncoder().encode(JSON.stringify(d));
  const a = d as ArrayBufferView;
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Runs a model file (single-threaded, for reproducible kernels) and returns outputs by name. */
export async function runFile(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const s = await ort.InferenceSession.create(path, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    logSeverityLevel: 4,
  });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Compares two output maps; returns a description of the first difference, or undefined. */
export function diffOutputs(a: Record<string, ort.Tensor>, b: Record<string, ort.Tensor>): string | undefined {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  if (ka.join() !== kb.join()) return `output names differ: ${ka} vs ${kb}`;
  for (const k of ka) {
    if (a[k].type !== b[k].type) return `${k}: type ${a[k].type} vs ${b[k].type}`;
    if (a[k].dims.join() !== b[k].dims.join()) return `${k}: dims ${a[k].dims} vs ${b[k].dims}`;
    if (!sameBytes(ortBytes(a[k]), ortBytes(b[k]))) return `${k}: values differ`;
  }
  return undefined;
}

/** Whether onnxruntime accepts a model; the error message when it does not. */
export async function ortLoads(path: string): Promise<string | undefined> {
  try {
    const s = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, logSeverityLevel: 4 });
    await s.release();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export { ort };
