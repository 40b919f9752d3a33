import type { Attr } from './attr.js';
import type { MetadataProps, ProtoExtras } from './extras.js';
import { Graph } from './graph.js';

/** A model-local function (FunctionProto). Its body is a Graph whose inputs/outputs are the formals. */
export class FunctionDef {
  docString = '';
  metadataProps: MetadataProps = [];
  extras?: ProtoExtras;
  /** Attribute names declared without defaults. */
  attributes: string[] = [];
  /** Attributes declared with default values. */
  attributeDefaults: Attr[] = [];
  opsetImports = new Map<string, number>();
  overload = '';
  /** Opaque wire details (extras of the opset_import entries). */
  opaque?: unknown;
  constructor(
    public name: string,
    public domain: string,
    public readonly graph: Graph = new Graph(name),
  ) {}
}

/**
 * A whole model: the main graph plus everything around it. Fields the IR does not model
 * (training_info, configuration) are carried opaquely so a round trip keeps them.
 */
export class Model {
  irVersion: number;
  /** Operator sets by domain ('' is ai.onnx), in file order. */
  opsetImports: Map<string, number>;
  producerName = '';
  producerVersion = '';
  domain = '';
  modelVersion = 0;
  docString = '';
  metadataProps: MetadataProps = [];
  functions: FunctionDef[] = [];
  extras?: ProtoExtras;
  /** Opaque wire data: training_info and configuration. */
  opaque?: unknown;
  /** Folder the model was loaded from; external data locations are relative to it. */
  baseDir?: string;

  constructor(
    public graph: Graph,
    init: { irVersion?: number; opsetImports?: Record<string, number> | Map<string, number> } = {},
  ) {
    this.opsetImports =
      init.opsetImports instanceof Map
        ? new Map(init.opsetImports)
        : new Map(Object.entries(init.opsetImports ?? { '': 17 }));
    this.irVersion =
      init.irVersion ?? irVersionForOpset(this.opsetImports.get('') ?? this.opsetImports.get('ai.onnx') ?? 1);
  }

  /** Opset version of the default (ai.onnx) domain. */
  get opset(): number {
    return this.opsetImports.get('') ?? this.opsetImports.get('ai.onnx') ?? 0;
  }
}

/**
 * Lowest IR version that covers an ai.onnx opset (onnx.helper.VERSION_TABLE): ONNX Runtime 1.30
 * refuses IR 14, so never emit more than needed.
 */
export function irVersionForOpset(opset: number): number {
  if (opset <= 0) return 3;
  if (opset <= 1) return 3;
  if (opset <= 5) return 3;
  if (opset <= 6) return 3;
  if (opset <= 7) return 3;
  if (opset <= 8) return 3;
  if (opset <= 9) return 4;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  if (opset === 23) return 11;
  if (opset === 24) return 12;
  return 13;
}

/** Highest IR version this codec knows (ONNX 1.20). */
export const MAX_IR_VERSION = 13;
