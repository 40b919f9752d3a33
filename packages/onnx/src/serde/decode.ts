import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import { AttrType, type Attr, type SparseTensor } from '../ir/attr.js';
import type { MetadataProps } from '../ir/extras.js';
import { Graph } from '../ir/graph.js';
import { FunctionDef, Model } from '../ir/model.js';
import { Node } from '../ir/node.js';
import type { Dim, DimDetail, TypeInfo } from '../ir/types.js';
import { Value } from '../ir/value.js';
import { captureExtras } from './extras.js';
import { ModelFormatError, ProtoTensor } from './proto-tensor.js';
import {
  AttributeProtoSchema,
  FunctionProtoSchema,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  SparseTensorProtoSchema,
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
  type SparseTensorProto,
  type StringStringEntryProto,
  type TensorProto,
  type TypeProto,
  type ValueInfoProto,
} from './proto/onnx_pb.js';

interface Ctx {
  baseDir: string | undefined;
}

/** Lexical scope for name resolution: subgraphs see the values of the graphs around them. */
class Scope {
  readonly map = new Map<string, Value>();
  constructor(readonly parent?: Scope) {}
  lookup(name: string): Value | undefined {
    return this.map.get(name) ?? this.parent?.lookup(name);
  }
}

/** Decodes ModelProto bytes into the IR. `baseDir` resolves external data locations. */
export function decodeModel(bytes: Uint8Array, baseDir?: string): Model {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: true });
  } catch (e) {
    throw new ModelFormatError(`not a valid ONNX protobuf (${(e as Error).message})`);
  }
  return modelFromProto(proto, baseDir);
}

export function modelFromProto(proto: ModelProto, baseDir?: string): Model {
  if (!proto.graph) throw new ModelFormatError('not an ONNX model: no graph');
  if (
    proto.irVersion === 0n &&
    proto.opsetImport.length === 0 &&
    proto.graph.node.length === 0 &&
    proto.graph.output.length === 0
  ) {
    throw new ModelFormatError('not an ONNX model: no IR version, opsets, nodes or outputs');
  }
  const ctx: Ctx = { baseDir };
  const graph = decodeGraph(proto.graph, undefined, ctx);
  const opsets = new Map<string, number>();
  for (const o of proto.opsetImport) opsets.set(o.domain, Number(o.version));
  const model = new Model(graph, { irVersion: Number(proto.irVersion), opsetImports: opsets });
  model.baseDir = baseDir;
  model.producerName = proto.producerName;
  model.producerVersion = proto.producerVersion;
  model.domain = proto.domain;
  model.modelVersion = Number(proto.modelVersion);
  model.docString = proto.docString;
  model.metadataProps = props(proto.metadataProps);
  model.functions = proto.functions.map((f) => decodeFunction(f, ctx));
  model.extras = captureExtras(ModelProtoSchema, proto);
  const opsetExtras = proto.opsetImport.map((o) => captureExtras(ModelProtoSchema.field.opsetImport.message!, o));
  if (proto.trainingInfo.length || proto.configuration.length || opsetExtras.some(Boolean)) {
    model.opaque = { trainingInfo: proto.trainingInfo, configuration: proto.configuration, opsetExtras };
  }
  return model;
}

function props(list: StringStringEntryProto[]): MetadataProps {
  return list.map((e) => [e.key, e.value]);
}

function decodeValueInfo(vi: ValueInfoProto, v: Value): void {
  if (v.type === undefined && vi.type) v.type = decodeType(vi.type);
  if (!v.docString) v.docString = vi.docString;
  if (v.metadataProps.length === 0) v.metadataProps = props(vi.metadataProps);
  v.extras ??= captureExtras(ValueInfoProtoSchema, vi);
}

function decodeGraph(gp: GraphProto, parent: Scope | undefined, ctx: Ctx, parentNode?: Node): Graph {
  const g = new Graph(gp.name);
  g.parentNode = parentNode ?? null;
  g.docString = gp.docString;
  g.metadataProps = props(gp.metadataProps);
  g.extras = captureExtras(GraphProtoSchema, gp);
  if (gp.quantizationAnnotation.length) g.quantizationAnnotation = gp.quantizationAnnotation;
  const scope = new Scope(parent);

  for (const vi of gp.input) {
    const v = new Value(vi.name);
    decodeValueInfo(vi, v);
    g.addInput(v);
    scope.map.set(vi.name, v);
  }
  for (const tp of gp.initializer) {
    const t = new ProtoTensor(tp, ctx.baseDir);
    t.extras = captureExtras(TensorProtoSchema, tp);
    const asInput = g.inputs.find((v) => v.name === tp.name && !v.const);
    if (asInput) {
      asInput.const = t;
      g.initializers.set(tp.name, asInput);
    } else {
      const v = g.addInitializer(tp.name, t);
      scope.map.set(tp.name, v);
    }
  }
  for (const sp of gp.sparseInitializer) {
    const tensor = decodeSparse(sp, ctx);
    const name = sp.values?.name ?? '';
    const v =
      g.inputs.find((x) => x.name === name) ??
      new Value(name, { kind: 'tensor', elemType: tensor.values.dtype, shape: [...tensor.dims] });
    if (!g.inputs.includes(v)) v.owner = g;
    g.sparseInitializers.set(name, { value: v, tensor });
    scope.map.set(name, v);
  }

  // Pass 1: nodes and their outputs (so out-of-order references still resolve).
  const later = new Map<string, Value>();
  const nodes: [Node, NodeProto][] = [];
  for (const np of gp.node) {
    const n = new Node(np.opType, [], {
      domain: np.domain,
      name: np.name,
      overload: np.overload,
      docString: np.docString,
      outputs: np.output,
    });
    n.metadataProps = props(np.metadataProps);
    n.extras = captureExtras(NodeProtoSchema, np);
    if (np.deviceConfigurations.length) n.opaque = { deviceConfigurations: np.deviceConfigurations };
    for (const o of n.outputs) if (o.name && !later.has(o.name)) later.set(o.name, o);
    nodes.push([n, np]);
  }
  // Pass 2: inputs in order; a name resolves to the latest definition before the node.
  const dangling = new Map<string, Value>();
  const resolveName = (name: string): Value => {
    const v = scope.lookup(name) ?? later.get(name);
    if (v) return v;
    let d = dangling.get(name);
    if (!d) dangling.set(name, (d = new Value(name)));
    return d;
  };
  for (const [n, np] of nodes) {
    for (const name of np.input) n.appendInput(name === '' ? null : resolveName(name));
    for (const ap of np.attribute) n.attributes.set(ap.name, decodeAttr(ap, scope, ctx, n));
    g.append(n);
    for (const o of n.outputs) if (o.name) scope.map.set(o.name, o);
  }
  for (const vi of gp.output) {
    const v = resolveName(vi.name);
    decodeValueInfo(vi, v);
    g.outputs.push(v);
  }
  for (const vi of gp.valueInfo) {
    const v = scope.map.get(vi.name) ?? resolveName(vi.name);
    decodeValueInfo(vi, v);
    g.valueInfo.push(v);
  }
  return g;
}

function decodeFunction(fp: FunctionProto, ctx: Ctx): FunctionDef {
  const gp = {
    name: fp.name,
    docString: '',
    input: fp.input.map((name) => ({ name, docString: '', metadataProps: [] })),
    output: fp.output.map((name) => ({ name, docString: '', metadataProps: [] })),
    initializer: [],
    sparseInitializer: [],
    node: fp.node,
    valueInfo: fp.valueInfo,
    quantizationAnnotation: [],
    metadataProps: [],
  } as unknown as GraphProto;
  const graph = decodeGraph(gp, undefined, ctx);
  graph.extras = undefined;
  for (const v of [...graph.inputs, ...graph.outputs]) v.extras = undefined;
  const f = new FunctionDef(fp.name, fp.domain, graph);
  f.overload = fp.overload;
  f.docString = fp.docString;
  f.metadataProps = props(fp.metadataProps);
  f.attributes = [...fp.attribute];
  f.attributeDefaults = fp.attributeProto.map((ap) => decodeAttr(ap, new Scope(), ctx, undefined));
  for (const o of fp.opsetImport) f.opsetImports.set(o.domain, Number(o.version));
  const opsetExtras = fp.opsetImport.map((o) => captureExtras(FunctionProtoSchema.field.opsetImport.message!, o));
  if (opsetExtras.some(Boolean)) f.opaque = { opsetExtras };
  f.extras = captureExtras(FunctionProtoSchema, fp);
  return f;
}

function tensorOf(tp: TensorProto, ctx: Ctx): ProtoTensor {
  const t = new ProtoTensor(tp, ctx.baseDir);
  t.extras = captureExtras(TensorProtoSchema, tp);
  return t;
}

function decodeSparse(sp: SparseTensorProto, ctx: Ctx): SparseTensor {
  if (!sp.values || !sp.indices) throw new ModelFormatError('sparse tensor without values or indices');
  return {
    values: tensorOf(sp.values, ctx),
    indices: tensorOf(sp.indices, ctx),
    dims: sp.dims.map(Number),
    extras: captureExtras(SparseTensorProtoSchema, sp),
  };
}

/** Infers the type of an attribute written without `type` (very old exporters). */
function inferAttrType(ap: AttributeProto): number {
  const F = AttributeProtoSchema.field;
  if (isFieldSet(ap, F.f)) return AttrType.FLOAT;
  if (isFieldSet(ap, F.i)) return AttrType.INT;
  if (isFieldSet(ap, F.s)) return AttrType.STRING;
  if (ap.t) return AttrType.TENSOR;
  if (ap.g) return AttrType.GRAPH;
  if (ap.sparseTensor) return AttrType.SPARSE_TENSOR;
  if (ap.tp) return AttrType.TYPE_PROTO;
  if (ap.floats.length) return AttrType.FLOATS;
  if (ap.ints.length) return AttrType.INTS;
  if (ap.strings.length) return AttrType.STRINGS;
  if (ap.tensors.length) return AttrType.TENSORS;
  if (ap.graphs.length) return AttrType.GRAPHS;
  if (ap.sparseTensors.length) return AttrType.SPARSE_TENSORS;
  if (ap.typeProtos.length) return AttrType.TYPE_PROTOS;
  return AttrType.UNDEFINED;
}

function decodeAttr(ap: AttributeProto, scope: Scope, ctx: Ctx, owner: Node | undefined): Attr {
  const type = ap.type !== 0 ? ap.type : inferAttrType(ap);
  const base = {
    name: ap.name,
    ...(ap.refAttrName ? { refAttrName: ap.refAttrName } : {}),
    ...(ap.docString ? { docString: ap.docString } : {}),
  };
  const extras = captureExtras(AttributeProtoSchema, ap);
  const mk = (a: Attr): Attr => {
    if (extras) a.extras = extras;
    // Remember that `type` was absent so it is not added on save.
    if (ap.type === 0 && type !== 0) a.extras = { ...a.extras, present: [...(a.extras?.present ?? []), '!type'] };
    return a;
  };
  const sub = (gp: GraphProto) => decodeGraph(gp, scope, ctx, owner);
  switch (type) {
    case AttrType.FLOAT:
      return mk({ ...base, type, value: ap.f });
    case AttrType.INT:
      return mk({ ...base, type, value: ap.i });
    case AttrType.STRING:
      return mk({ ...base, type, value: ap.s });
    case AttrType.TENSOR:
      if (!ap.t) throw new ModelFormatError(`attribute '${ap.name}' of type TENSOR has no tensor`);
      return mk({ ...base, type, value: tensorOf(ap.t, ctx) });
    case AttrType.GRAPH:
      if (!ap.g) throw new ModelFormatError(`attribute '${ap.name}' of type GRAPH has no graph`);
      return mk({ ...base, type, value: sub(ap.g) });
    case AttrType.SPARSE_TENSOR:
      if (!ap.sparseTensor) throw new ModelFormatError(`attribute '${ap.name}' of type SPARSE_TENSOR has no tensor`);
      return mk({ ...base, type, value: decodeSparse(ap.sparseTensor, ctx) });
    case AttrType.TYPE_PROTO:
      if (!ap.tp) throw new ModelFormatError(`attribute '${ap.name}' of type TYPE_PROTO has no type`);
      return mk({ ...base, type, value: decodeType(ap.tp) });
    case AttrType.FLOATS:
      return mk({ ...base, type, value: [...ap.floats] });
    case AttrType.INTS:
      return mk({ ...base, type, value: [...ap.ints] });
    case AttrType.STRINGS:
      return mk({ ...base, type, value: [...ap.strings] });
    case AttrType.TENSORS:
      return mk({ ...base, type, value: ap.tensors.map((t) => tensorOf(t, ctx)) });
    case AttrType.GRAPHS:
      return mk({ ...base, type, value: ap.graphs.map(sub) });
    case AttrType.SPARSE_TENSORS:
      return mk({ ...base, type, value: ap.sparseTensors.map((s) => decodeSparse(s, ctx)) });
    case AttrType.TYPE_PROTOS:
      return mk({ ...base, type, value: ap.typeProtos.map(decodeType) });
    default:
      return mk({ ...base, type: AttrType.UNDEFINED, value: undefined });
  }
}

export function decodeType(tp: TypeProto): TypeInfo {
  const extras = captureExtras(TypeProtoSchema, tp);
  const common = { ...(tp.denotation ? { denotation: tp.denotation } : {}), ...(extras ? { extras } : {}) };
  const v = tp.value;
  switch (v.case) {
    case 'tensorType':
    case 'sparseTensorType': {
      const inner = v.value;
      const schema = v.case === 'tensorType' ? TypeProto_TensorSchema : TypeProto_SparseTensorSchema;
      const innerExtras = captureExtras(schema, inner);
      const out: TypeInfo = {
        kind: v.case === 'tensorType' ? 'tensor' : 'sparse_tensor',
        elemType: inner.elemType,
        ...common,
      };
      if (innerExtras) out.innerExtras = innerExtras;
      if (inner.shape) {
        const shapeExtras = captureExtras(TensorShapeProtoSchema, inner.shape);
        if (shapeExtras) out.shapeExtras = shapeExtras;
        const dims: Dim[] = [];
        let details: (DimDetail | undefined)[] | undefined;
        inner.shape.dim.forEach((d, i) => {
          dims.push(
            d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : null,
          );
          const de = captureExtras(TensorShapeProto_DimensionSchema, d);
          if (d.denotation || de)
            (details ??= [])[i] = {
              ...(d.denotation ? { denotation: d.denotation } : {}),
              ...(de ? { extras: de } : {}),
            };
        });
        out.shape = dims;
        if (details) out.dimDetails = details;
      }
      return out;
    }
    case 'sequenceType': {
      const innerExtras = captureExtras(TypeProto_SequenceSchema, v.value);
      return {
        kind: 'sequence',
        ...(v.value.elemType ? { elem: decodeType(v.value.elemType) } : {}),
        ...common,
        ...(innerExtras ? { innerExtras } : {}),
      };
    }
    case 'optionalType': {
      const innerExtras = captureExtras(TypeProto_OptionalSchema, v.value);
      return {
        kind: 'optional',
        ...(v.value.elemType ? { elem: decodeType(v.value.elemType) } : {}),
        ...common,
        ...(innerExtras ? { innerExtras } : {}),
      };
    }
    case 'mapType': {
      const innerExtras = captureExtras(TypeProto_MapSchema, v.value);
      return {
        kind: 'map',
        keyType: v.value.keyType,
        ...(v.value.valueType ? { valueType: decodeType(v.value.valueType) } : {}),
        ...common,
        ...(innerExtras ? { innerExtras } : {}),
      };
    }
    default:
      return { kind: 'none', ...common };
  }
}
