import { isAbsolute, normalize, resolve, sep } from 'node:path';
import { DataType, byteLength, dtypeName } from '../ir/dtype.js';
import type { MetadataProps, ProtoExtras } from '../ir/extras.js';
import { ExternalTensor, type ExternalLocation, type Tensor } from '../ir/tensor.js';
import { TensorProto_DataLocation, type TensorProto } from './proto/onnx_pb.js';

export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

/**
 * A tensor backed by the TensorProto it was decoded from. Raw bytes are a view into the file buffer
 * (no copy); typed fields (float_data, int32_data …) are converted to raw layout on demand;
 * external data is read lazily from its side file. Saving writes the original message back, so
 * nothing is lost.
 */
export class ProtoTensor implements Tensor {
  readonly kind = 'proto' as const;
  readonly dtype: number;
  readonly dims: readonly number[];
  readonly size: number;
  readonly external?: ExternalLocation;
  readonly #ext?: ExternalTensor;
  name: string;
  docString: string;
  metadataProps: MetadataProps;
  extras?: ProtoExtras;

  constructor(
    readonly proto: TensorProto,
    baseDir: string | undefined,
  ) {
    this.dtype = proto.dataType;
    this.dims = proto.dims.map((d) => Number(d));
    let n = 1;
    for (const d of this.dims) n *= d;
    this.size = n;
    this.name = proto.name;
    this.docString = proto.docString;
    this.metadataProps = proto.metadataProps.map((e) => [e.key, e.value]);
    if (proto.dataLocation === TensorProto_DataLocation.EXTERNAL) {
      this.external = resolveExternal(proto, baseDir, this.nbytes);
      this.#ext = new ExternalTensor(this.dtype, this.dims, this.external, this.name);
    }
  }

  get nbytes(): number {
    return this.dtype === DataType.STRING ? 0 : byteLength(this.dtype, this.size);
  }

  bytes(): Uint8Array {
    if (this.#ext) return this.#ext.bytes();
    const p = this.proto;
    if (this.dtype === DataType.STRING) throw new Error(`tensor '${this.name}' holds strings`);
    if (p.rawData.byteLength > 0 || this.size === 0) {
      if (p.rawData.byteLength !== this.nbytes) {
        throw new ModelFormatError(
          `tensor '${this.name}': raw_data has ${p.rawData.byteLength} bytes, ${dtypeName(this.dtype)}${fmtDims(this.dims)} needs ${this.nbytes}`,
        );
      }
      return p.rawData;
    }
    return typedFieldsToRaw(p, this.dtype, this.size, this.nbytes, this.name);
  }

  strings(): Uint8Array[] {
    if (this.dtype !== DataType.STRING)
      throw new Error(`tensor '${this.name}' is ${dtypeName(this.dtype)}, not string`);
    return this.proto.stringData;
  }
}

function fmtDims(d: readonly number[]): string {
  return `[${d.join(',')}]`;
}

function typedFieldsToRaw(p: TensorProto, dtype: number, size: number, nbytes: number, name: string): Uint8Array {
  const out = new Uint8Array(nbytes);
  const dv = new DataView(out.buffer);
  const need = (have: number, field: string, want = size) => {
    if (have !== want)
      throw new ModelFormatError(
        `tensor '${name}': ${field} has ${have} values, ${dtypeName(dtype)}${fmtDims(p.dims.map(Number))} needs ${want}`,
      );
  };
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.COMPLEX64: {
      const want = dtype === DataType.COMPLEX64 ? size * 2 : size;
      need(p.floatData.length, 'float_data', want);
      p.floatData.forEach((v, i) => dv.setFloat32(i * 4, v, true));
      break;
    }
    case DataType.DOUBLE:
    case DataType.COMPLEX128: {
      const want = dtype === DataType.COMPLEX128 ? size * 2 : size;
      need(p.doubleData.length, 'double_data', want);
      p.doubleData.forEach((v, i) => dv.setFloat64(i * 8, v, true));
      break;
    }
    case DataType.INT64:
      need(p.int64Data.length, 'int64_data');
      p.int64Data.forEach((v, i) => dv.setBigInt64(i * 8, v, true));
      break;
    case DataType.UINT64:
      need(p.uint64Data.length, 'uint64_data');
      p.uint64Data.forEach((v, i) => dv.setBigUint64(i * 8, v, true));
      break;
    case DataType.UINT32:
      need(p.uint64Data.length, 'uint64_data');
      p.uint64Data.forEach((v, i) => dv.setUint32(i * 4, Number(v), true));
      break;
    case DataType.INT32:
      need(p.int32Data.length, 'int32_data');
      p.int32Data.forEach((v, i) => dv.setInt32(i * 4, v, true));
      break;
    case DataType.INT16:
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      need(p.int32Data.length, 'int32_data');
      p.int32Data.forEach((v, i) => dv.setUint16(i * 2, v & 0xffff, true));
      break;
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      need(p.int32Data.length, 'int32_data');
      p.int32Data.forEach((v, i) => (out[i] = v & 0xff));
      break;
    case DataType.INT4:
    case DataType.UINT4:
    case DataType.FLOAT4E2M1:
    case DataType.INT2:
    case DataType.UINT2:
      // Sub-byte types store their packed bytes one per int32_data entry.
      need(p.int32Data.length, 'int32_data', nbytes);
      p.int32Data.forEach((v, i) => (out[i] = v & 0xff));
      break;
    default:
      throw new ModelFormatError(`tensor '${name}': unsupported data type ${dtype}`);
  }
  return out;
}

/** Resolves and validates a tensor's external_data entries (path stays inside the model folder). */
function resolveExternal(p: TensorProto, baseDir: string | undefined, nbytes: number): ExternalLocation {
  const kv = new Map(p.externalData.map((e) => [e.key, e.value]));
  const location = kv.get('location');
  if (!location) throw new ModelFormatError(`tensor '${p.name}': external data without a location`);
  if (isAbsolute(location) || normalize(location).split(/[\\/]/).includes('..')) {
    throw new ModelFormatError(
      `tensor '${p.name}': external data location '${location}' must be a relative path inside the model's folder`,
    );
  }
  if (baseDir === undefined)
    throw new ModelFormatError(
      `tensor '${p.name}': external data '${location}' but the model was not loaded from a file`,
    );
  const offset = Number(kv.get('offset') ?? '0');
  const length = kv.has('length') ? Number(kv.get('length')) : nbytes;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ModelFormatError(
      `tensor '${p.name}': bad external data offset/length '${kv.get('offset')}'/'${kv.get('length')}'`,
    );
  }
  if (length !== nbytes && p.dataType !== DataType.STRING) {
    throw new ModelFormatError(
      `tensor '${p.name}': external data length ${length} but ${dtypeName(p.dataType)}${fmtDims(p.dims.map(Number))} needs ${nbytes}`,
    );
  }
  const path = resolve(baseDir, location);
  if (!(path + sep).startsWith(resolve(baseDir) + sep))
    throw new ModelFormatError(`tensor '${p.name}': external data escapes the model folder`);
  return { path, location, offset, length };
}
