import { AttrType, type Attr } from './attr.js';
import { Graph, createNode } from './graph.js';
import { Model } from './model.js';
import type { Node } from './node.js';
import type { Tensor } from './tensor.js';
import { MemoryTensor } from './tensor.js';
import { tensorType, type Dim } from './types.js';
import { Value } from './value.js';

/**
 * Attribute values in builder calls: integers → INT(S), other numbers → FLOAT(S), strings → STRING(S),
 * tensors, graphs. `{ float: 1 }` / `{ floats: [1, 2] }` force floats for whole numbers.
 */
export type AttrInit =
  number | bigint | string | number[] | bigint[] | string[] | Tensor | Graph | { float: number } | { floats: number[] };

const enc = new TextEncoder();

export function toAttr(name: string, v: AttrInit): Attr {
  if (typeof v === 'bigint') return { name, type: AttrType.INT, value: v };
  if (typeof v === 'number')
    return Number.isInteger(v)
      ? { name, type: AttrType.INT, value: BigInt(v) }
      : { name, type: AttrType.FLOAT, value: v };
  if (typeof v === 'string') return { name, type: AttrType.STRING, value: enc.encode(v) };
  if (v instanceof Graph) return { name, type: AttrType.GRAPH, value: v };
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'bigint')) return { name, type: AttrType.INTS, value: v as bigint[] };
    if (v.every((x) => typeof x === 'string'))
      return { name, type: AttrType.STRINGS, value: (v as string[]).map((s) => enc.encode(s)) };
    const nums = v as number[];
    return nums.every(Number.isInteger)
      ? { name, type: AttrType.INTS, value: nums.map(BigInt) }
      : { name, type: AttrType.FLOATS, value: [...nums] };
  }
  if ('float' in v) return { name, type: AttrType.FLOAT, value: v.float };
  if ('floats' in v) return { name, type: AttrType.FLOATS, value: [...v.floats] };
  return { name, type: AttrType.TENSOR, value: v };
}

/**
 * Builds graphs and models in code (tests, synthetic models, passes that emit new structure).
 *
 * @example
 * ```ts
 * const b = new GraphBuilder('mlp');
 * const x = b.input('x', DataType.FLOAT, ['N', 4]);
 * const w = b.initializer('w', new MemoryTensor(DataType.FLOAT, [4, 2], new Float32Array(8)));
 * b.output(b.op('Relu', [b.op('MatMul', [x, w])]), 'y');
 * const model = b.model({ opset: 17 });
 * ```
 */
export class GraphBuilder {
  readonly graph: Graph;
  constructor(nameOrGraph: string | Graph = 'graph') {
    this.graph = typeof nameOrGraph === 'string' ? new Graph(nameOrGraph) : nameOrGraph;
  }

  input(name: string, elemType: number, shape?: Dim[]): Value {
    return this.graph.addInput(new Value(name, tensorType(elemType, shape)));
  }

  initializer(name: string, tensor: Tensor): Value {
    return this.graph.addInitializer(name, tensor);
  }

  /** A `Constant` node holding `tensor` (how paddle2onnx and Silero store weights). */
  constant(tensor: Tensor, name?: string): Value {
    const n = createNode('Constant', [], {
      attributes: [{ name: 'value', type: AttrType.TENSOR, value: tensor }],
      ...(name ? { outputs: [name] } : {}),
    });
    this.graph.append(n);
    n.outputs[0].type = tensorType(tensor.dtype, [...tensor.dims]);
    return n.outputs[0];
  }

  /** Appends a node and returns its first output. */
  op(
    opType: string,
    inputs: (Value | null)[],
    attrs: Record<string, AttrInit> = {},
    opts: { domain?: string; name?: string; output?: string } = {},
  ): Value {
    return this.node(opType, inputs, attrs, { ...opts, outputs: opts.output ? [opts.output] : 1 }).outputs[0];
  }

  /** Appends a node with several outputs (by count or by name) and returns it. */
  node(
    opType: string,
    inputs: (Value | null)[],
    attrs: Record<string, AttrInit> = {},
    opts: { domain?: string; name?: string; outputs?: number | string[] } = {},
  ): Node {
    const n = createNode(opType, inputs, {
      attributes: Object.entries(attrs).map(([k, v]) => toAttr(k, v)),
      domain: opts.domain ?? '',
      name: opts.name ?? '',
      outputs: opts.outputs ?? 1,
    });
    this.graph.append(n);
    return n;
  }

  /** Marks a value as graph output, optionally renaming it. */
  output(v: Value, name?: string, elemType?: number, shape?: Dim[]): Value {
    if (name && v.name !== name) this.graph.rename(v, name);
    if (elemType !== undefined) v.type = tensorType(elemType, shape);
    this.graph.outputs.push(v);
    return v;
  }

  model(opts: { opset?: number; irVersion?: number; opsets?: Record<string, number>; producer?: string } = {}): Model {
    const opsets = { '': opts.opset ?? 17, ...(opts.opsets ?? {}) };
    const m = new Model(this.graph, { opsetImports: opsets, ...(opts.irVersion ? { irVersion: opts.irVersion } : {}) });
    m.producerName = opts.producer ?? 'edgeforge';
    return m;
  }
}

/** A float32 tensor from numbers. */
export function floatTensor(dims: number[], data?: ArrayLike<number>, name = ''): MemoryTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const arr = new Float32Array(n);
  if (data) arr.set(data);
  return new MemoryTensor(1, dims, arr, name);
}

/** An int64 tensor from numbers. */
export function int64Tensor(dims: number[], data: ArrayLike<number | bigint>, name = ''): MemoryTensor {
  return new MemoryTensor(7, dims, BigInt64Array.from(Array.from(data, (x) => BigInt(x))), name);
}
