/**
 * ONNX element types (TensorProto.DataType), their names and storage widths.
 * The numeric values are the wire values; the IR uses them directly so nothing is lost.
 */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
  UINT2: 25,
  INT2: 26,
} as const;
export type DataType = number;

const NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]),
);

/** Lower-case name of an element type (`float`, `int64`, …), or `type<N>` for unknown codes. */
export function dtypeName(dtype: number): string {
  return NAMES[dtype] ?? `type${dtype}`;
}

/** Parses a name such as `float32`, `float`, `fp16`, `int8` into its DataType code. */
export function parseDtype(name: string): number | undefined {
  const n = name.toLowerCase();
  const alias: Record<string, string> = {
    float32: 'float',
    fp32: 'float',
    fp16: 'float16',
    half: 'float16',
    float64: 'double',
    bf16: 'bfloat16',
  };
  const key = (alias[n] ?? n).toUpperCase();
  return (DataType as Record<string, number>)[key];
}

/** Bits per element as stored in raw_data (0 for strings / unknown). Sub-byte types pack low nibble first. */
export function dtypeBits(dtype: number): number {
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.INT32:
    case DataType.UINT32:
      return 32;
    case DataType.DOUBLE:
    case DataType.INT64:
    case DataType.UINT64:
    case DataType.COMPLEX64:
      return 64;
    case DataType.COMPLEX128:
      return 128;
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.INT16:
    case DataType.UINT16:
      return 16;
    case DataType.UINT8:
    case DataType.INT8:
    case DataType.BOOL:
    case DataType.FLOAT8E4M3FN:
    case DataType.FLOAT8E4M3FNUZ:
    case DataType.FLOAT8E5M2:
    case DataType.FLOAT8E5M2FNUZ:
    case DataType.FLOAT8E8M0:
      return 8;
    case DataType.UINT4:
    case DataType.INT4:
    case DataType.FLOAT4E2M1:
      return 4;
    case DataType.UINT2:
    case DataType.INT2:
      return 2;
    default:
      return 0;
  }
}

/** Bytes needed to store `count` elements of `dtype` in raw_data. */
export function byteLength(dtype: number, count: number): number {
  return Math.ceil((dtypeBits(dtype) * count) / 8);
}

/** True for the floating-point element types (weights worth counting as parameters). */
export function isFloat(dtype: number): boolean {
  return (
    dtype === DataType.FLOAT ||
    dtype === DataType.DOUBLE ||
    dtype === DataType.FLOAT16 ||
    dtype === DataType.BFLOAT16 ||
    (dtype >= DataType.FLOAT8E4M3FN && dtype <= DataType.FLOAT8E5M2FNUZ) ||
    dtype === DataType.FLOAT4E2M1 ||
    dtype === DataType.FLOAT8E8M0
  );
}

const INTEGER_TYPES: ReadonlySet<number> = new Set([
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
  DataType.BOOL,
]);

/** True for the integer and bool element types (every op computes on them exactly). */
export function isIntegerType(dtype: number | undefined): boolean {
  return dtype !== undefined && INTEGER_TYPES.has(dtype);
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** The typed array that holds one element per entry for `dtype`, when one exists (float16 as raw Uint16). */
export function typedArrayFor(
  dtype: number,
): { new (buf: ArrayBufferLike, off: number, len: number): TypedArray; BYTES_PER_ELEMENT: number } | undefined {
  switch (dtype) {
    case DataType.FLOAT:
      return Float32Array;
    case DataType.DOUBLE:
      return Float64Array;
    case DataType.INT8:
      return Int8Array;
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array;
    case DataType.INT16:
      return Int16Array;
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return Uint16Array;
    case DataType.INT32:
      return Int32Array;
    case DataType.UINT32:
      return Uint32Array;
    case DataType.INT64:
      return BigInt64Array;
    case DataType.UINT64:
      return BigUint64Array;
    default:
      return undefined;
  }
}
