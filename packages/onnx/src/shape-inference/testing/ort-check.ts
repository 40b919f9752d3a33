/**
 * Test helper: compares inferred types with what onnxruntime actually produces, for every
 * main-graph node output (not part of the package build).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataType } from '../../ir/dtype.js';
import type { Model } from '../../ir/model.js';
import { elemTypeOf, formatShape, shapeOf, type TypeInfo } from '../../ir/types.js';
import { loadModel, serializeModel } from '../../serde/io.js';
import { ort } from '../../testing/ort.js';

/** 'match' (fully static and equal), 'partial' (nothing wrong, something unknown), 'none', or a mismatch description. */
export function compare(inferred: TypeInfo | undefined, elemType: number, dims: readonly number[]): string {
  const et = elemTypeOf(inferred);
  if (et === undefined) return 'none';
  const shape = shapeOf(inferred);
  const wrong = () => `inferred ${et}${formatShape(shape)}, actual ${elemType}${formatShape(dims)}`;
  if (et !== elemType) return wrong();
  if (!shape) return 'partial';
  if (shape.length !== dims.length) return wrong();
  let complete = true;
  for (let i = 0; i < dims.length; i++) {
    const d = shape[i];
    if (typeof d === 'number') {
      if (d !== dims[i]) return wrong();
    } else complete = false;
  }
  return complete ? 'match' : 'partial';
}

const ORT_TYPES: Record<string, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  int16: DataType.INT16,
  uint16: DataType.UINT16,
  int32: DataType.INT32,
  uint32: DataType.UINT32,
  int64: DataType.INT64,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
};

/**
 * Runs `path` in onnxruntime with every main-graph node output exposed (types stripped, so
 * onnxruntime judges alone) and compares each with the types inferred on `inferred`.
 */
export async function crossCheckWithOrt(
  path: string,
  inferred: Model,
  feeds: Record<string, ort.Tensor>,
  tmp: string,
): Promise<{ compared: number; match: number; mismatches: string[] }> {
  const exposed = loadModel(path);
  const outs = new Set(exposed.graph.outputs);
  for (const n of exposed.graph) {
    for (const o of n.outputs) {
      if (!o.name || outs.has(o)) continue;
      o.type = undefined;
      exposed.graph.outputs.push(o);
    }
  }
  exposed.graph.valueInfo.length = 0;
  const file = join(tmp, 'exposed.onnx');
  writeFileSync(file, serializeModel(exposed));
  const session = await ort.InferenceSession.create(file, { logSeverityLevel: 4, intraOpNumThreads: 1 });
  let results: Record<string, ort.Tensor>;
  try {
    results = await session.run(feeds);
  } finally {
    await session.release();
  }
  const byName = new Map<string, TypeInfo | undefined>();
  for (const n of inferred.graph) for (const o of n.outputs) if (o.name) byName.set(o.name, o.type);
  const r = { compared: 0, match: 0, mismatches: [] as string[] };
  for (const [name, actual] of Object.entries(results)) {
    if (!byName.has(name) || !Array.isArray(actual.dims) || ORT_TYPES[actual.type] === undefined) continue;
    r.compared++;
    const c = compare(byName.get(name), ORT_TYPES[actual.type], actual.dims);
    if (c === 'match') r.match++;
    else if (c !== 'partial' && c !== 'none') r.mismatches.push(`${name}: ${c}`);
  }
  return r;
}
