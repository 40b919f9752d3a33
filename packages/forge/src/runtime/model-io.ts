/**
 * What a session needs to know about its model before onnxruntime sees it: the input and output
 * signature (read from the model itself through `@edgeforge/onnx`, not from onnxruntime) and the
 * external data files it references.
 */
import { DataType, storedTensors, type Model, type TypeInfo, type Value } from '@edgeforge/onnx';
import type { ElemType, IoInfo } from './types.js';

const ELEM_OF: Record<number, ElemType> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT8]: 'int8',
  [DataType.UINT8]: 'uint8',
  [DataType.INT16]: 'int16',
  [DataType.UINT16]: 'uint16',
  [DataType.INT32]: 'int32',
  [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64',
  [DataType.UINT64]: 'uint64',
  [DataType.BOOL]: 'bool',
  [DataType.STRING]: 'string',
};

/** The host element type of an ONNX data type, or 'unknown' (bfloat16, float8, int4, …). */
export function elemTypeOf(dtype: number): ElemType | 'unknown' {
  return ELEM_OF[dtype] ?? 'unknown';
}

function ioInfo(v: Value): IoInfo {
  const t: TypeInfo | undefined = v.type;
  if (!t || t.kind !== 'tensor') return { name: v.name, type: 'unknown' };
  const info: IoInfo = { name: v.name, type: elemTypeOf(t.elemType) };
  if (t.shape) info.dims = t.shape.map((d) => (d === '' ? null : d));
  return info;
}

export interface ModelIo {
  /** Graph inputs that are not initializers: what a caller must feed. */
  inputs: IoInfo[];
  outputs: IoInfo[];
  /** Graph inputs that are also initializers: a caller may override them. */
  overridable: IoInfo[];
  /** External data files: `location` as written in the model, `path` absolute. */
  externalData: { location: string; path: string }[];
}

export function modelIo(model: Model): ModelIo {
  const g = model.graph;
  const external = new Map<string, string>();
  for (const { tensor } of storedTensors(model)) {
    const ext = tensor.external;
    if (ext) external.set(ext.location, ext.path);
  }
  return {
    inputs: g.inputs.filter((v) => !v.isInitializer()).map(ioInfo),
    outputs: g.outputs.map(ioInfo),
    overridable: g.inputs.filter((v) => v.isInitializer()).map(ioInfo),
    externalData: [...external].map(([location, path]) => ({ location, path })),
  };
}
