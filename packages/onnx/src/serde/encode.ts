import { create, type DescMessage } from '@bufbuild/protobuf';
import { AttrType, type Attr, type SparseTensor } from '../ir/attr.js';
import { DataType } from '../ir/dtype.js';
import type { MetadataProps, ProtoExtras } from '../ir/extras.js';
import type { Graph } from '../ir/graph.js';
import type { FunctionDef, Model } from '../ir/model.js';
import type { Node } from '../ir/node.js';
import type { Tensor } from '../ir/tensor.js';
import type { TypeInfo } from '../ir/types.js';
import type { Value } from '../ir/value.js';
import { put, restorePresent, restoreUnknown } from './extras.js';
import { ProtoTensor } from './proto-tensor.js';
import {
  AttributeProtoSchema,
  FunctionProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  SparseTensorProtoSchema,
  StringStringEntryProtoSchema,
  TensorProto_DataLocation,
  TensorProtoSchema,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_MapSchema,
  TypeProto_OptionalSchema,
  TypeProto_SequenceSchema,
  TypeProto_SparseTensorSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type FunctionProto,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type OperatorSetIdProto,
  type SparseTensorProto,
  type StringStringEntryProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto/onnx_pb.js';

/** Where a tensor's bytes go when saved: inline (undefined) or a range of a side file. */
export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

export interface EncodeOptions {
  /** Decides, per tensor, whether it is written as external data. */
  placement?: (t: Tensor) => ExternalRef | undefined;
}

/** Builds a message from `init`, restoring the wire extras that decoding captured. */
function build<T extends DescMessage>(schema: T, init: Record<string, unknown>, extras: ProtoExtras | undefined) {
  restorePresent(schema, init, extras);
  return restoreUnknown(create(schema, init as never), extras);
}

function props(list: MetadataProps): StringStringEntryProto[] {
  return list.map(([key, value]) => create(StringStringEntryProtoSchema, { key, value }));
}

/** Encodes the IR back into a ModelProto message. */
export function modelToProto(model: Model, opts: EncodeOptions = {}): ModelProto {
  const opaque = model.opaque as
    { trainingInfo?: unknown[]; configuration?: unknown[]; opsetExtras?: (ProtoExtras | undefined)[] } | undefined;
  const init: Record<string, unknown> = {};
  put(init, 'irVersion', BigInt(model.irVersion));
  init.opsetImport = [...model.opsetImports].map(([domain, version], i) =>
    opset(domain, version, opaque?.opsetExtras?.[i]),
  );
  put(init, 'producerName', model.producerName);
  put(init, 'producerVersion', model.producerVersion);
  put(init, 'domain', model.domain);
  put(init, 'modelVersion', BigInt(model.modelVersion));
  put(init, 'docString', model.docString);
  init.graph = encodeGraph(model.graph, opts);
  init.metadataProps = props(model.metadataProps);
  if (opaque?.trainingInfo) init.trainingInfo = opaque.trainingInfo;
  init.functions = model.functions.map((f) => encodeFunction(f, opts));
  if (opaque?.configuration) init.configuration = opaque.configuration;
  return build(ModelProtoSchema, init, model.extras);
}

function opset(domain: string, version: number, extras?: ProtoExtras): OperatorSetIdProto {
  const init: Record<string, unknown> = {};
  put(init, 'domain', domain);
  put(init, 'version', BigInt(version));
  return build(OperatorSetIdProtoSchema, init, extras);
}

function valueInfo(v: Value): ValueInfoProto {
  const init: Record<string, unknown> = {};
  put(init, 'name', v.name);
  if (v.type) init.type = encodeType(v.type);
  put(init, 'docString', v.docString);
  init.metadataProps = props(v.metadataProps);
  return build(ValueInfoProtoSchema, init, v.extras);
}

function encodeGraph(g: Graph, opts: EncodeOptions): GraphProto {
  const init: Record<string, unknown> = {};
  init.node = g.nodes().map((n) => encodeNode(n, opts));
  put(init, 'name', g.name);
  init.initializer = [...g.initializers]
    .filter(([, v]) => v.const)
    .map(([name, v]) => encodeTensor(v.const!, name, opts));
  init.sparseInitializer = [...g.sparseInitializers.values()].map((s) => encodeSparse(s.tensor, opts, s.value.name));
  put(init, 'docString', g.docString);
  init.input = g.inputs.map(valueInfo);
  init.output = g.outputs.map(valueInfo);
  init.valueInfo = g.valueInfo.map(valueInfo);
  if (g.quantizationAnnotation) init.quantizationAnnotation = g.quantizationAnnotation;
  init.metadataProps = props(g.metadataProps);
  return build(GraphProtoSchema, init, g.extras);
}

function encodeFunction(f: FunctionDef, opts: EncodeOptions): FunctionProto {
  const init: Record<string, unknown> = {};
  put(init, 'name', f.name);
  init.input = f.graph.inputs.map((v) => v.name);
  init.output = f.graph.outputs.map((v) => v.name);
  init.attribute = [...f.attributes];
  init.attributeProto = f.attributeDefaults.map((a) => encodeAttr(a, opts));
  init.node = f.graph.nodes().map((n) => encodeNode(n, opts));
  put(init, 'docString', f.docString);
  const fo = f.opaque as { opsetExtras?: (ProtoExtras | undefined)[] } | undefined;
  init.opsetImport = [...f.opsetImports].map(([d, v], i) => opset(d, v, fo?.opsetExtras?.[i]));
  put(init, 'domain', f.domain);
  put(init, 'overload', f.overload);
  init.valueInfo = f.graph.valueInfo.map(valueInfo);
  init.metadataProps = props(f.metadataProps);
  return build(FunctionProtoSchema, init, f.extras);
}

function encodeNode(n: Node, opts: EncodeOptions): NodeProto {
  const init: Record<string, unknown> = {};
  init.input = n.inputs.map((v) => v?.name ?? '');
  init.output = n.outputs.map((v) => v.name);
  put(init, 'name', n.name);
  put(init, 'opType', n.opType);
  put(init, 'domain', n.domain);
  put(init, 'overload', n.overload);
  init.attribute = [...n.attributes.values()].map((a) => encodeAttr(a, opts));
  put(init, 'docString', n.docString);
  init.metadataProps = props(n.metadataProps);
  const opaque = n.opaque as { deviceConfigurations?: unknown[] } | undefined;
  if (opaque?.deviceConfigurations) init.deviceConfigurations = opaque.deviceConfigurations;
  return build(NodeProtoSchema, init, n.extras);
}

function encodeAttr(a: Attr, opts: EncodeOptions): AttributeProto {
  const init: Record<string, unknown> = {};
  put(init, 'name', a.name);
  put(init, 'refAttrName', a.refAttrName ?? '');
  put(init, 'docString', a.docString ?? '');
  const omitType = a.extras?.present?.includes('!type');
  if (!omitType) put(init, 'type', a.type);
  switch (a.type) {
    case AttrType.FLOAT:
      put(init, 'f', a.value);
      break;
    case AttrType.INT:
      put(init, 'i', a.value);
      break;
    case AttrType.STRING:
      put(init, 's', a.value);
      break;
    case AttrType.TENSOR:
      init.t = encodeTensor(a.value, a.value.name, opts);
      break;
    case AttrType.GRAPH:
      init.g = encodeGraph(a.value, opts);
      break;
    case AttrType.SPARSE_TENSOR:
      init.sparseTensor = encodeSparse(a.value, opts);
      break;
    case AttrType.TYPE_PROTO:
      init.tp = encodeType(a.value);
      break;
    case AttrType.FLOATS:
      init.floats = a.value;
      break;
    case AttrType.INTS:
      init.ints = a.value;
      break;
    case AttrType.STRINGS:
      init.strings = a.value;
      break;
    case AttrType.TENSORS:
      init.tensors = a.value.map((t) => encodeTensor(t, t.name, opts));
      break;
    case AttrType.GRAPHS:
      init.graphs = a.value.map((g) => encodeGraph(g, opts));
      break;
    case AttrType.SPARSE_TENSORS:
      init.sparseTensors = a.value.map((s) => encodeSparse(s, opts));
      break;
    case AttrType.TYPE_PROTOS:
      init.typeProtos = a.value.map(encodeType);
      break;
  }
  const extras = a.extras?.present ? { ...a.extras, present: a.extras.present.filter((p) => p !== '!type') } : a.extras;
  return build(AttributeProtoSchema, init, extras);
}

function encodeSparse(s: SparseTensor, opts: EncodeOptions, name?: string): SparseTensorProto {
  return build(
    SparseTensorProtoSchema,
    {
      values: encodeTensor(s.values, name ?? s.values.name, opts),
      indices: encodeTensor(s.indices, s.indices.name, opts),
      dims: s.dims.map(BigInt),
    },
    s.extras,
  );
}

/**
 * A tensor as TensorProto. An unchanged ProtoTensor staying inline is written back as decoded
 * (lossless: typed fields, segment and all); everything else becomes raw_data or external data.
 */
export function encodeTensor(t: Tensor, name: string, opts: EncodeOptions = {}): TensorProto {
  const ext = t.dtype === DataType.STRING ? undefined : opts.placement?.(t);
  if (t instanceof ProtoTensor && !ext && !t.external) {
    if (t.proto.name === name && t.docString === t.proto.docString && !metadataChanged(t)) return t.proto;
    return { ...t.proto, name, docString: t.docString, metadataProps: props(t.metadataProps) };
  }
  const init: Record<string, unknown> = {};
  init.dims = t.dims.map(BigInt);
  put(init, 'dataType', t.dtype);
  put(init, 'name', name);
  put(init, 'docString', t.docString);
  init.metadataProps = props(t.metadataProps);
  if (t.dtype === DataType.STRING) init.stringData = t.strings();
  else if (ext) {
    const entries: [string, string][] = [
      ['location', ext.location],
      ['offset', String(ext.offset)],
      ['length', String(ext.length)],
    ];
    init.externalData = props(entries);
    init.dataLocation = TensorProto_DataLocation.EXTERNAL;
  } else init.rawData = t.bytes();
  // Keep segment / unknown fields of a decoded tensor whose storage moves.
  const extras = t instanceof ProtoTensor ? { unknown: t.extras?.unknown } : (t as { extras?: ProtoExtras }).extras;
  if (t instanceof ProtoTensor && t.proto.segment) init.segment = t.proto.segment;
  return build(TensorProtoSchema, init, extras?.unknown ? { unknown: extras.unknown } : undefined);
}

function metadataChanged(t: ProtoTensor): boolean {
  const a = t.metadataProps;
  const b = t.proto.metadataProps;
  return a.length !== b.length || a.some(([k, v], i) => b[i].key !== k || b[i].value !== v);
}

export function encodeType(t: TypeInfo): TypeProto {
  const init: Record<string, unknown> = {};
  put(init, 'denotation', t.denotation ?? '');
  switch (t.kind) {
    case 'tensor':
    case 'sparse_tensor': {
      const inner: Record<string, unknown> = {};
      put(inner, 'elemType', t.elemType);
      if (t.shape) {
        const dim = t.shape.map((d, i) => {
          const det = t.dimDetails?.[i];
          const di: Record<string, unknown> = {};
          if (typeof d === 'number') di.value = { case: 'dimValue', value: BigInt(d) };
          else if (typeof d === 'string') di.value = { case: 'dimParam', value: d };
          put(di, 'denotation', det?.denotation ?? '');
          return build(TensorShapeProto_DimensionSchema, di, det?.extras);
        });
        inner.shape = build(TensorShapeProtoSchema, { dim }, t.shapeExtras);
      }
      if (t.kind === 'tensor')
        init.value = { case: 'tensorType', value: build(TypeProto_TensorSchema, inner, t.innerExtras) };
      else init.value = { case: 'sparseTensorType', value: build(TypeProto_SparseTensorSchema, inner, t.innerExtras) };
      break;
    }
    case 'sequence':
      init.value = {
        case: 'sequenceType',
        value: build(TypeProto_SequenceSchema, t.elem ? { elemType: encodeType(t.elem) } : {}, t.innerExtras),
      };
      break;
    case 'optional':
      init.value = {
        case: 'optionalType',
        value: build(TypeProto_OptionalSchema, t.elem ? { elemType: encodeType(t.elem) } : {}, t.innerExtras),
      };
      break;
    case 'map': {
      const inner: Record<string, unknown> = {};
      put(inner, 'keyType', t.keyType);
      if (t.valueType) inner.valueType = encodeType(t.valueType);
      init.value = { case: 'mapType', value: build(TypeProto_MapSchema, inner, t.innerExtras) };
      break;
    }
    case 'none':
      break;
  }
  return build(TypeProtoSchema, init, t.extras);
}
