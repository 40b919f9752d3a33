import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DataType, byteLength, dtypeName, typedArrayFor, type TypedArray } from './dtype.js';
import type { MetadataProps, ProtoExtras } from './extras.js';

/**
 * One interface, several storages (after onnx/ir-py's TensorProtocol): shape and dtype are free to
 * read; bytes are produced on demand, so an external-data tensor costs no memory until asked.
 *
 * `bytes()` is the ONNX `raw_data` layout: little-endian, sub-byte types packed low bits first.
 * The returned array may be a view into a larger buffer and is not guaranteed to be aligned: use
 * `toTypedArray()` for arithmetic.
 */
export interface Tensor {
  readonly kind: 'memory' | 'external' | 'lazy' | 'proto';
  /** Name as stored with the tensor (initializers take the value's name when saved). */
  name: string;
  readonly dtype: number;
  readonly dims: readonly number[];
  /** Number of elements. */
  readonly size: number;
  /** Bytes of raw data (0 for strings). */
  readonly nbytes: number;
  docString: string;
  metadataProps: MetadataProps;
  /** Raw little-endian bytes. Throws for string tensors. */
  bytes(): Uint8Array;
  /** The elements of a string tensor. Throws for other types. */
  strings(): Uint8Array[];
  /** Where the bytes live when they are in a side file (no I/O needed to ask). */
  readonly external?: ExternalLocation;
}

export interface ExternalLocation {
  /** Absolute path of the data file. */
  path: string;
  /** `location` as written in the model (relative to the model's folder). */
  location: string;
  offset: number;
  length: number;
}

function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

abstract class BaseTensor implements Tensor {
  abstract readonly kind: Tensor['kind'];
  docString = '';
  metadataProps: MetadataProps = [];
  /** Extras of the TensorProto this tensor was decoded from or will be written as. */
  extras?: ProtoExtras;
  readonly size: number;
  constructor(
    public name: string,
    readonly dtype: number,
    readonly dims: readonly number[],
  ) {
    this.size = elementCount(dims);
  }
  get nbytes(): number {
    return this.dtype === DataType.STRING ? 0 : byteLength(this.dtype, this.size);
  }
  abstract bytes(): Uint8Array;
  strings(): Uint8Array[] {
    throw new Error(`tensor '${this.name}' is ${dtypeName(this.dtype)}, not string`);
  }
}

/** A tensor whose bytes are in memory. */
export class MemoryTensor extends BaseTensor {
  readonly kind = 'memory' as const;
  readonly #raw?: Uint8Array;
  readonly #strings?: Uint8Array[];
  constructor(dtype: number, dims: readonly number[], data: TypedArray | Uint8Array[] | Uint8Array, name = '') {
    super(name, dtype, [...dims]);
    if (Array.isArray(data)) {
      if (dtype !== DataType.STRING) throw new Error('string data for a non-string tensor');
      if (data.length !== this.size)
        throw new Error(`tensor '${name}': ${data.length} strings for ${this.size} elements`);
      this.#strings = data;
    } else {
      const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      if (raw.byteLength !== this.nbytes) {
        throw new Error(
          `tensor '${name}': ${raw.byteLength} bytes for ${this.size} ${dtypeName(dtype)} elements (want ${this.nbytes})`,
        );
      }
      this.#raw = raw;
    }
  }
  bytes(): Uint8Array {
    if (!this.#raw) throw new Error(`tensor '${this.name}' holds strings`);
    return this.#raw;
  }
  override strings(): Uint8Array[] {
    return this.#strings ?? super.strings();
  }
}

/** A tensor computed on first access (e.g. generated weights); the result is not cached. */
export class LazyTensor extends BaseTensor {
  readonly kind = 'lazy' as const;
  constructor(
    dtype: number,
    dims: readonly number[],
    private readonly produce: () => Uint8Array,
    name = '',
  ) {
    super(name, dtype, [...dims]);
  }
  bytes(): Uint8Array {
    const b = this.produce();
    if (b.byteLength !== this.nbytes)
      throw new Error(`lazy tensor '${this.name}' produced ${b.byteLength} bytes, want ${this.nbytes}`);
    return b;
  }
}

/** A tensor stored as a byte range of a side file; read with one positioned read per call. */
export class ExternalTensor extends BaseTensor {
  readonly kind = 'external' as const;
  constructor(
    dtype: number,
    dims: readonly number[],
    readonly external: ExternalLocation,
    name = '',
  ) {
    super(name, dtype, [...dims]);
  }
  bytes(): Uint8Array {
    return readFileRange(this.external.path, this.external.offset, this.external.length, this.name);
  }
}

/** Reads `length` bytes at `offset` of `path`, failing clearly when the file is shorter. */
export function readFileRange(path: string, offset: number, length: number, what: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (offset + length > size) {
      throw new Error(
        `external data for '${what}' needs bytes ${offset}..${offset + length} of ${path}, which has ${size}`,
      );
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
      if (n === 0) throw new Error(`unexpected end of ${path} while reading '${what}'`);
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/**
 * The elements as an aligned typed array (a copy when the raw bytes are unaligned). Float16 and
 * bfloat16 come back as their Uint16 bit patterns; use `toFloat32()` for numbers.
 */
export function toTypedArray(t: Tensor): TypedArray {
  const Ctor = typedArrayFor(t.dtype);
  if (!Ctor) throw new Error(`tensor '${t.name}': no typed array for ${dtypeName(t.dtype)}`);
  const raw = t.bytes();
  if (raw.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(raw.buffer, raw.byteOffset, t.size);
  // Uint8Array.prototype.slice copies (Buffer#slice would return a view).
  const copy = Uint8Array.prototype.slice.call(raw);
  return new Ctor(copy.buffer, 0, t.size);
}

/** float16 bits → number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** The elements as float32 (converting float16, bfloat16, double and integer types). */
export function toFloat32(t: Tensor): Float32Array {
  const a = toTypedArray(t);
  if (a instanceof Float32Array) return a;
  const out = new Float32Array(t.size);
  if (t.dtype === DataType.FLOAT16) for (let i = 0; i < out.length; i++) out[i] = halfToFloat(a[i] as number);
  else if (t.dtype === DataType.BFLOAT16) {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < out.length; i++) {
      u[0] = (a[i] as number) << 16;
      out[i] = f[0];
    }
  } else for (let i = 0; i < out.length; i++) out[i] = Number(a[i]);
  return out;
}

/** Convenience constructors for tests and builders. */
export function tensorFromArray(
  data: Float32Array | Int32Array | BigInt64Array | Int8Array | Uint8Array | Float64Array,
  dims: readonly number[],
  name = '',
): MemoryTensor {
  const dtype =
    data instanceof Float32Array
      ? DataType.FLOAT
      : data instanceof Float64Array
        ? DataType.DOUBLE
        : data instanceof Int32Array
          ? DataType.INT32
          : data instanceof BigInt64Array
            ? DataType.INT64
            : data instanceof Int8Array
              ? DataType.INT8
              : DataType.UINT8;
  return new MemoryTensor(dtype, dims, data, name);
}
