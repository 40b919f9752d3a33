/**
 * `tensor-data`: every stored tensor (initializers, sparse initializers, tensor attributes such as
 * Constant's `value`) holds as much data as its element type and dims say. Checked without
 * reading tensor bytes: `raw_data` length or typed-field counts of decoded tensors, and the length
 * (and file size) of external data.
 *
 * ORT refuses a tensor with no data type even when nothing uses it ("Tensor does not have type
 * information"), and a used tensor whose data size is wrong ("raw_data size (4 bytes) does not
 * match expected size from shape and data type (8 bytes)", "data field count (1) does not match
 * expected count from shape (2)"). It drops unused initializers and Constants before it looks at
 * their data, so for those a size mismatch is a warning.
 */
import { statSync } from 'node:fs';
import { isFieldSet } from '@bufbuild/protobuf';
import { AttrType, type SparseTensor } from '../../ir/attr.js';
import { DataType, dtypeBits, dtypeName } from '../../ir/dtype.js';
import type { Node } from '../../ir/node.js';
import type { Tensor } from '../../ir/tensor.js';
import type { Value } from '../../ir/value.js';
import { ProtoTensor } from '../../serde/proto-tensor.js';
import { TensorProtoSchema, type TensorProto } from '../../serde/proto/onnx_pb.js';
import type { GraphInfo } from '../context.js';
import type { Reporter, Rule, Where } from '../types.js';

export const tensorData: Rule = {
  name: 'tensor-data',
  description: 'stored tensors have a data type and exactly the data their dtype × dims need (no bytes are read)',
  check(ctx, report) {
    for (const info of ctx.graphs) {
      const g = info.graph;
      const at = { graph: info };
      for (const [name, v] of g.initializers) {
        if (!v.const) report.error(at, `initializer '${name}' has no tensor`);
        else checkTensor(v.const, `initializer '${name}'`, isUsed(info, v), at, report);
      }
      for (const [name, s] of g.sparseInitializers)
        checkSparse(s.tensor, `sparse initializer '${name}'`, isUsed(info, s.value), at, report);
      for (const n of info.nodes) {
        const used = !isConstant(n) || n.outputs.some((o) => isUsed(info, o));
        const here = { graph: info, node: n };
        for (const a of n.attributes.values()) {
          if (a.type === AttrType.TENSOR) checkTensor(a.value, `attribute '${a.name}'`, used, here, report);
          else if (a.type === AttrType.TENSORS)
            a.value.forEach((t, i) => checkTensor(t, `attribute '${a.name}'[${i}]`, used, here, report));
          else if (a.type === AttrType.SPARSE_TENSOR) checkSparse(a.value, `attribute '${a.name}'`, used, here, report);
        }
      }
    }
  },
};

function isConstant(n: Node): boolean {
  return n.opType === 'Constant' && (n.domain === '' || n.domain === 'ai.onnx');
}

function isUsed(info: GraphInfo, v: Value): boolean {
  return v.uses().length > 0 || info.graph.outputs.includes(v);
}

function checkSparse(s: SparseTensor, what: string, used: boolean, at: Where, report: Reporter): void {
  checkTensor(s.values, `${what} (values)`, used, at, report);
  checkTensor(s.indices, `${what} (indices)`, used, at, report);
}

function checkTensor(t: Tensor, what: string, used: boolean, at: Where, report: Reporter): void {
  if (t.dtype === DataType.UNDEFINED || (dtypeBits(t.dtype) === 0 && t.dtype !== DataType.STRING)) {
    const problem = t.dtype === DataType.UNDEFINED ? 'has no data type' : `has unknown data type ${t.dtype}`;
    report.error(at, `${what} ${problem} (ORT: "Tensor does not have type information")`);
    return;
  }
  const problem = sizeProblem(t);
  if (!problem) return;
  if (used) report.error(at, `${what}: ${problem}`);
  else report.warning(at, `${what}: ${problem} (it is unused, and ORT drops it before looking)`);
}

function shape(t: Tensor): string {
  return `${dtypeName(t.dtype)}[${t.dims.join(',')}]`;
}

/** What is wrong with the amount of data behind `t`, without reading it. */
function sizeProblem(t: Tensor): string | undefined {
  if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    return `dims [${t.dims.join(',')}] are not all non-negative integers`;
  const ext = t.external;
  if (ext) {
    if (t.dtype !== DataType.STRING && ext.length !== t.nbytes)
      return `external data has ${ext.length} bytes, ${shape(t)} needs ${t.nbytes}`;
    let size: number;
    try {
      size = statSync(ext.path).size;
    } catch {
      return `external data file '${ext.location}' (${ext.path}) does not exist`;
    }
    if (ext.offset + ext.length > size)
      return `external data needs bytes ${ext.offset}..${ext.offset + ext.length} of '${ext.location}', which has ${size}`;
    return undefined;
  }
  if (t instanceof ProtoTensor) return protoProblem(t.proto, t);
  return undefined; // memory tensors are checked when built; lazy ones only know when asked for bytes
}

function protoProblem(p: TensorProto, t: Tensor): string | undefined {
  if (t.dtype === DataType.STRING) {
    return p.stringData.length === t.size
      ? undefined
      : `string_data has ${p.stringData.length} strings, ${shape(t)} needs ${t.size}`;
  }
  if (isFieldSet(p, TensorProtoSchema.field.rawData) || p.rawData.byteLength > 0) {
    return p.rawData.byteLength === t.nbytes
      ? undefined
      : `raw_data has ${p.rawData.byteLength} bytes, ${shape(t)} needs ${t.nbytes}`;
  }
  const [field, have, want] = typedField(p, t);
  return have === want ? undefined : `${field} has ${have} values, ${shape(t)} needs ${want}`;
}

/** The typed field that holds `t`'s elements when there is no raw_data, its count, and the count needed. */
function typedField(p: TensorProto, t: Tensor): [string, number, number] {
  switch (t.dtype) {
    case DataType.FLOAT:
      return ['float_data', p.floatData.length, t.size];
    case DataType.COMPLEX64:
      return ['float_data', p.floatData.length, 2 * t.size];
    case DataType.DOUBLE:
      return ['double_data', p.doubleData.length, t.size];
    case DataType.COMPLEX128:
      return ['double_data', p.doubleData.length, 2 * t.size];
    case DataType.INT64:
      return ['int64_data', p.int64Data.length, t.size];
    case DataType.UINT32:
    case DataType.UINT64:
      return ['uint64_data', p.uint64Data.length, t.size];
    case DataType.INT4:
    case DataType.UINT4:
    case DataType.FLOAT4E2M1:
    case DataType.INT2:
    case DataType.UINT2:
      return ['int32_data', p.int32Data.length, t.nbytes]; // packed: one int32 per byte
    default:
      return ['int32_data', p.int32Data.length, t.size];
  }
}
