/**
 * Reverse-mode autodiff on the ONNX IR. From a forward model with a scalar loss output it builds a
 * training model whose outputs are the loss and the gradient of every trainable float initializer,
 * written with standard ai.onnx operators only, so onnxruntime runs training in its normal kernels.
 *
 * The trainable initializers become graph inputs of the training model (same names), so a session is
 * created once and the optimizer feeds the updated weights on each step.
 */
import {
  DataType,
  MemoryTensor,
  type Dim,
  type Model,
  type Node,
  type Tensor,
  Value,
  createNode,
  elemTypeOf,
  inferShapes,
  isFloat,
  nodeDependencies,
  loadModelFromBytes,
  serializeModel,
  shapeOf,
  tensorType,
  toAttr,
  typedArrayFor,
  type AttrInit,
} from '@edgeforge/onnx';
import { GRADIENT_RULES } from './rules/index.js';

/** A gradient rule: the gradients of a node's inputs from the gradients of its outputs. */
export type GradientRule = (
  ctx: GradContext,
  node: Node,
  /** Gradient of each output (null: that output does not reach the loss). */
  grads: readonly (Value | null)[],
  /** Which inputs need a gradient (they depend on a trainable initializer). */
  needs: readonly boolean[],
) => (Value | null)[];

export interface TrainingGraphOptions {
  /**
   * Which float initializers to train (default: every float initializer with more than one element,
   * except BatchNormalization running mean/variance). Scalars are left out by default because they are
   * constants of the computation (epsilons, scales), not weights.
   */
  trainable?: (name: string, tensor: Tensor) => boolean;
  /** Keep the forward model's other outputs after the gradients (default false). */
  keepOutputs?: boolean;
}

export interface TrainableParam {
  /** Initializer name in the forward model; a graph input of the training model. */
  name: string;
  /** Output of the training model holding its gradient. */
  grad: string;
  /** The initial value (the forward model's initializer). */
  init: Tensor;
}

export interface TrainingGraph {
  model: Model;
  /** Output name of the loss. */
  loss: string;
  params: TrainableParam[];
  /** Inputs of the training model that are data (not parameters). */
  dataInputs: string[];
  /** Float initializers that would be trained but get no gradient from the loss. */
  unreached: string[];
}

/** Everything a gradient rule may use to emit its nodes. */
export class GradContext {
  #consts = 0;
  constructor(readonly model: Model) {}

  get opset(): number {
    return this.model.opset;
  }

  /** Appends one node and returns its first output. */
  op(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInit> = {}): Value {
    return this.node(opType, inputs, attrs, 1).outputs[0];
  }

  node(opType: string, inputs: (Value | null)[], attrs: Record<string, AttrInit>, outputs: number): Node {
    const n = createNode(opType, inputs, {
      attributes: Object.entries(attrs).map(([k, v]) => toAttr(k, v)),
      outputs,
    });
    this.model.graph.append(n);
    return n;
  }

  /** A constant initializer. */
  constant(dtype: number, dims: number[], values: ArrayLike<number>): Value {
    const Ctor = typedArrayFor(dtype);
    const n = dims.reduce((a, b) => a * b, 1);
    let data;
    if (dtype === DataType.INT64) data = BigInt64Array.from(Array.from(values, (x) => BigInt(x)));
    else data = new (Ctor as Float32ArrayConstructor)(Array.from(values));
    if (data.length !== n) throw new Error(`constant: ${data.length} values for shape [${dims}]`);
    const name = this.model.graph.freshName(`grad_const_${++this.#consts}`);
    return this.model.graph.addInitializer(name, new MemoryTensor(dtype, dims, data as Float32Array, name));
  }

  /** A scalar of `like`'s element type. */
  scalar(x: number, like: Value): Value {
    return this.constant(this.dtype(like), [], [x]);
  }

  /** A 1-D int64 constant. */
  ints(xs: number[]): Value {
    return this.constant(DataType.INT64, [xs.length], xs);
  }

  dtype(v: Value): number {
    const t = elemTypeOf(v.type);
    if (t === undefined) throw new Error(`autodiff: element type of '${v.name}' is unknown`);
    return t;
  }

  /** Inferred shape of a forward value (undefined when its rank is unknown). */
  shape(v: Value): Dim[] | undefined {
    return shapeOf(v.type);
  }

  rank(v: Value, node: Node): number {
    const s = this.shape(v);
    if (!s) throw this.fail(node, `the rank of '${v.name}' is unknown`);
    return s.length;
  }

  /**
   * The shape of `v` with static dims from axis `from` on (earlier dims, such as the batch, may be
   * symbolic and read as -1), or a clear error naming the node that needs it.
   */
  staticShape(v: Value, node: Node, from = 0): number[] {
    const s = this.shape(v);
    if (!s || s.slice(from).some((d) => typeof d !== 'number'))
      throw this.fail(node, `needs the static shape of '${v.name}' (got [${s?.join(', ') ?? '?'}])`);
    return s.map((d) => (typeof d === 'number' ? d : -1));
  }

  fail(node: Node, msg: string): Error {
    return new Error(`autodiff: ${node.opType} '${node.name || node.outputs[0]?.name}': ${msg}`);
  }

  reduceSum(x: Value, axes: number[], keepdims: boolean): Value {
    if (this.opset >= 13) return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op('ReduceSum', [x], { axes, keepdims: keepdims ? 1 : 0 });
  }

  reduceMean(x: Value, axes: number[], keepdims: boolean): Value {
    if (this.opset >= 18) return this.op('ReduceMean', [x, this.ints(axes)], { keepdims: keepdims ? 1 : 0 });
    return this.op('ReduceMean', [x], { axes, keepdims: keepdims ? 1 : 0 });
  }

  /** Zeros with the runtime shape of `like` and the element type of `dtypeOf`. */
  zerosLike(like: Value, dtypeOf: Value = like): Value {
    const zero = new MemoryTensor(
      this.dtype(dtypeOf),
      [1],
      new (typedArrayFor(this.dtype(dtypeOf)) as Float32ArrayConstructor)(1),
    );
    return this.op('ConstantOfShape', [this.op('Shape', [like])], { value: zero });
  }

  unsqueeze(x: Value, axes: number[]): Value {
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.ints(axes)]);
    return this.op('Unsqueeze', [x], { axes });
  }

  /** Slice with constant starts/ends on `axes` (attributes before opset 10). */
  slice(x: Value, starts: number[], ends: number[], axes: number[]): Value {
    if (this.opset >= 10) return this.op('Slice', [x, this.ints(starts), this.ints(ends), this.ints(axes)]);
    return this.op('Slice', [x], { starts, ends, axes });
  }

  /** Reshapes `g` to the runtime shape of `like`. */
  reshapeLike(g: Value, like: Value): Value {
    return this.op('Reshape', [g, this.op('Shape', [like])]);
  }

  /**
   * Sums a gradient over the axes along which `operand` was broadcast to the output, and gives it
   * the operand's shape (numpy broadcasting, as in Add/Mul/Where/MatMul batch dims).
   */
  reduceTo(g: Value, operand: Value, out: Value, node: Node): Value {
    const a = this.shape(operand);
    const o = this.shape(out);
    if (!a || !o)
      throw this.fail(node, `needs the ranks of '${operand.name}' and '${out.name}' to reduce broadcasting`);
    const lead = o.length - a.length;
    const axes: number[] = [];
    for (let i = 0; i < o.length; i++) {
      if (i < lead) axes.push(i);
      else if (a[i - lead] === 1 && o[i] !== 1) axes.push(i);
    }
    if (axes.length === 0) return g;
    return this.reshapeLike(this.reduceSum(g, axes, true), operand);
  }

  mul(a: Value, b: Value): Value {
    return this.op('Mul', [a, b]);
  }
}

/** A name not yet defined in `g` (without reserving it, so `rename` accepts it). */
function freeName(g: Model['graph'], base: string): string {
  const names = g.names();
  let name = base;
  for (let k = 1; names.has(name); k++) name = `${base}_${k}`;
  return name;
}

/** The ops this module can differentiate. */
export function differentiableOps(): string[] {
  return Object.keys(GRADIENT_RULES).sort();
}

function defaultTrainable(model: Model): (name: string, tensor: Tensor) => boolean {
  const bnStats = new Set<string>();
  for (const n of model.graph) {
    if (n.opType === 'BatchNormalization') for (const v of n.inputs.slice(3, 5)) if (v) bnStats.add(v.name);
  }
  return (name, t) => isFloat(t.dtype) && t.size > 1 && !bnStats.has(name);
}

/**
 * Builds the training model of `forward` for the scalar output `loss` (the forward model is not
 * changed). Throws one error naming every node on the gradient path whose op has no rule.
 */
export function buildTrainingGraph(forward: Model, loss: string, opts: TrainingGraphOptions = {}): TrainingGraph {
  // Gradients use Where, Expand, ConstantOfShape, Erf, Sign: opset 9 operators.
  if (forward.opset < 9) throw new Error(`autodiff: needs ai.onnx opset 9 or later (the model has ${forward.opset})`);
  const model = loadModelFromBytes(serializeModel(forward), forward.baseDir);
  const g = model.graph;
  g.topologicalSort();
  inferShapes(model, { overwrite: false, valueInfo: false });
  const lossValue = g.findValue(loss);
  if (!lossValue) throw new Error(`autodiff: the model has no value '${loss}'`);
  const lossShape = shapeOf(lossValue.type);
  if (lossShape && lossShape.some((d) => d !== 1))
    throw new Error(`autodiff: loss '${loss}' must be a scalar, its shape is [${lossShape.join(', ')}]`);

  // Forward pass needs MaxPool indices; give every MaxPool an Indices output before differentiating.
  for (const n of g) {
    if (n.opType === 'MaxPool' && n.outputs.length < 2) {
      const name = g.freshName(`${n.outputs[0].name}_indices`);
      n.addOutput(new Value(name, tensorType(DataType.INT64, shapeOf(n.outputs[0].type))));
    }
  }

  const isTrainable = opts.trainable ?? defaultTrainable(model);
  const candidates = [...g.initializers.values()].filter((v) => v.const && isTrainable(v.name, v.const));
  const trainable = new Set(candidates);

  // requires-grad: float values that depend on a trainable initializer. Integer and boolean outputs
  // (Shape, ArgMax, comparisons, MaxPool indices) carry no gradient, so ops like Shape need no rule.
  const requires = new Set<Value>(trainable);
  const nodes = g.nodes();
  for (const n of nodes) {
    // Values captured by If/Loop/Scan bodies count as inputs: such a node then needs a rule and is reported.
    if (![...nodeDependencies(n)].some((v) => requires.has(v))) continue;
    for (const o of n.outputs) {
      const t = elemTypeOf(o.type);
      if (t === undefined || isFloat(t)) requires.add(o);
    }
  }
  // Only nodes that lead to the loss matter.
  const reaches = new Set<Value>([lossValue]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    if (n.outputs.some((o) => reaches.has(o))) for (const v of nodeDependencies(n)) reaches.add(v);
  }

  const missing = nodes.filter(
    (n) =>
      n.outputs.some((o) => reaches.has(o) && requires.has(o)) &&
      !(n.domain === '' || n.domain === 'ai.onnx' ? GRADIENT_RULES[n.opType] : undefined),
  );
  if (missing.length) {
    const list = missing.slice(0, 8).map((n) => `${n.qualifiedType} (node '${n.name || n.outputs[0]?.name}')`);
    throw new Error(
      `autodiff: no gradient rule for ${list.join(', ')}${missing.length > 8 ? ` and ${missing.length - 8} more` : ''}`,
    );
  }

  const ctx = new GradContext(model);
  const grads = new Map<Value, Value>();
  const addGrad = (v: Value, d: Value) => {
    // A gradient has its value's type; rules read element types from it.
    d.type ??= v.type;
    const prev = grads.get(v);
    const sum = prev ? ctx.op('Add', [prev, d]) : d;
    sum.type ??= v.type;
    grads.set(v, sum);
  };
  addGrad(lossValue, ctx.op('Expand', [ctx.scalar(1, lossValue), ctx.op('Shape', [lossValue])]));

  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i];
    const outGrads = n.outputs.map((o) => grads.get(o) ?? null);
    if (outGrads.every((x) => x === null)) continue;
    const needs = n.inputs.map((v) => v !== null && requires.has(v));
    if (!needs.some(Boolean)) continue;
    const rule = GRADIENT_RULES[n.opType]!;
    const inGrads = rule(ctx, n, outGrads, needs);
    n.inputs.forEach((v, k) => {
      const d = inGrads[k];
      if (v && d && needs[k]) addGrad(v, d);
    });
  }

  const params: TrainableParam[] = [];
  const unreached: string[] = [];
  const outputs = opts.keepOutputs ? g.outputs.filter((o) => o !== lossValue) : [];
  g.outputs.length = 0;
  g.outputs.push(lossValue);
  for (const v of candidates) {
    const d = grads.get(v);
    if (!d) {
      unreached.push(v.name);
      continue;
    }
    // A gradient that is itself a parameter or shared value needs its own output name.
    const out = d.producer && !g.outputs.includes(d) ? d : ctx.op('Identity', [d]);
    g.rename(out, freeName(g, `${v.name}_grad`));
    out.type = v.type;
    g.outputs.push(out);
    params.push({ name: v.name, grad: out.name, init: v.const! });
  }
  g.outputs.push(...outputs);
  // Parameters become inputs so one session serves every step.
  for (const p of params) {
    const v = g.initializers.get(p.name)!;
    g.removeInitializer(p.name, true);
    v.const = undefined;
    // Before IR 4 an initializer may also be listed as a graph input (its default value).
    if (!g.inputs.includes(v)) g.addInput(v);
  }
  const dataInputs = g.inputs.filter((v) => !params.some((p) => p.name === v.name)).map((v) => v.name);
  if (model.irVersion < 4) model.irVersion = 4;
  return { model, loss, params, dataInputs, unreached };
}
