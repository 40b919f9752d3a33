/**
 * @module
 * `@edgeforge/onnx`: ONNX models as data. A lossless protobuf codec (generated from ONNX 1.20's
 * schema), lazy and external-data tensors, a graph IR whose values know their producer and uses,
 * a checker that enforces what onnxruntime enforces, and shape inference.
 *
 * @example
 * ```ts
 * import { loadModel, saveModel, check } from '@edgeforge/onnx';
 * const model = loadModel('model.onnx');
 * for (const node of model.graph) console.log(node.opType, node.inputs.map((v) => v?.name));
 * saveModel(model, 'out.onnx', { externalDataThreshold: 1024 });
 * ```
 */
export {
  DataType,
  dtypeName,
  dtypeBits,
  byteLength,
  isFloat,
  isIntegerType,
  parseDtype,
  typedArrayFor,
  type TypedArray,
} from './ir/dtype.js';
export type { MetadataProps, ProtoExtras } from './ir/extras.js';
export {
  type Dim,
  type TypeInfo,
  type TensorType,
  tensorType,
  shapeOf,
  elemTypeOf,
  staticSize,
  formatShape,
} from './ir/types.js';
export {
  type Tensor,
  type ExternalLocation,
  MemoryTensor,
  LazyTensor,
  ExternalTensor,
  toTypedArray,
  toFloat32,
  halfToFloat,
  tensorFromArray,
} from './ir/tensor.js';
export {
  AttrType,
  attr,
  type Attr,
  type AttrValue,
  type SparseTensor,
  int64ToNumber,
  bytesToString,
} from './ir/attr.js';
export { Value, type Use } from './ir/value.js';
export { Node, type NodeInit } from './ir/node.js';
export { Graph, createNode, capturedValues, nodeDependencies } from './ir/graph.js';
export { Model, FunctionDef, irVersionForOpset, MAX_IR_VERSION } from './ir/model.js';
export { OP_VERSIONS, schemaVersion, versionsCrossed } from './ir/op-versions.js';
export {
  allGraphs,
  graphAndSubgraphs,
  allNodes,
  constantTensor,
  constantNodeTensor,
  weights,
  type WeightRef,
} from './ir/traversal.js';
export { ProtoTensor, ModelFormatError } from './serde/proto-tensor.js';
export { decodeModel } from './serde/decode.js';
export {
  loadModel,
  loadModelFromBytes,
  saveModel,
  serializeModel,
  storedTensors,
  modelFileSize,
  ModelLoadError,
  PROTOBUF_LIMIT,
  type SaveOptions,
  type SaveResult,
} from './serde/io.js';
export { GraphBuilder, toAttr, floatTensor, int64Tensor, type AttrInit } from './ir/builder.js';
export {
  summarizeModel,
  dtypeLabel,
  type SummaryOptions,
  type ModelSummary,
  type IoSummary,
  type TensorEntry,
  type DtypeStats,
} from './summary/summary.js';
export {
  checkModel,
  assertValid,
  CheckError,
  checkRules,
  type CheckIssue,
  type CheckOptions,
  type Severity,
} from './checker/index.js';
export {
  inferShapes,
  supportedOps,
  estimateMacs,
  modelMacs,
  type InferOptions,
  type InferReport,
  type MacsOptions,
  type ModelMacs,
} from './shape-inference/index.js';
