/**
 * Losses written into the model: each function appends its nodes to a forward model (in place) and
 * makes the scalar loss a graph output, ready for `buildTrainingGraph`.
 */
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  elemTypeOf,
  inferShapes,
  shapeOf,
  typedArrayFor,
  type Model,
  type Value,
} from '@edgeforge/onnx';

function find(model: Model, name: string): Value {
  const v = model.graph.findValue(name);
  if (!v) throw new Error(`loss: the model has no value '${name}'`);
  return v;
}

/** The element type of `v` (inferring shapes first if needed). */
function typed(model: Model, v: Value): { dtype: number; shape: (number | string | null)[] | undefined } {
  if (elemTypeOf(v.type) === undefined) inferShapes(model, { valueInfo: false });
  const dtype = elemTypeOf(v.type);
  if (dtype === undefined) throw new Error(`loss: the element type of '${v.name}' is unknown`);
  return { dtype, shape: shapeOf(v.type) };
}

class LossBuilder {
  readonly b: GraphBuilder;
  constructor(
    readonly model: Model,
    readonly dtype: number,
  ) {
    this.b = new GraphBuilder(model.graph);
  }
  get opset(): number {
    return this.model.opset;
  }
  // Constants are Constant nodes, not initializers, so the autodiff never takes them for weights.
  scalar(x: number, dtype = this.dtype): Value {
    const Arr = typedArrayFor(dtype) as Float32ArrayConstructor;
    const name = this.model.graph.freshName('loss_const');
    const data = dtype === DataType.INT64 ? BigInt64Array.of(BigInt(x)) : Arr.of(x);
    return this.b.constant(new MemoryTensor(dtype, [], data), name);
  }
  ints(xs: number[]): Value {
    const name = this.model.graph.freshName('loss_axes');
    return this.b.constant(new MemoryTensor(DataType.INT64, [xs.length], BigInt64Array.from(xs.map(BigInt))), name);
  }
  reduce(op: 'ReduceSum' | 'ReduceMean', x: Value, axes: number[]): Value {
    const asInput = op === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    return asInput ? this.b.op(op, [x, this.ints(axes)], { keepdims: 0 }) : this.b.op(op, [x], { axes, keepdims: 0 });
  }
  /** Mean over the batch (axis 0) of a sum over the class axis (1). */
  batchMeanOfClassSum(x: Value): Value {
    return this.reduce('ReduceMean', this.reduce('ReduceSum', x, [1]), [0]);
  }
  output(v: Value, name: string): string {
    const names = this.model.graph.names();
    let free = name;
    for (let k = 1; names.has(free); k++) free = `${name}_${k}`;
    this.b.output(v, free);
    inferShapes(this.model, { valueInfo: false });
    return v.name;
  }
}

function logitsInput(model: Model, like: Value, name: string, dtype: number): Value {
  const existing = model.graph.findValue(name);
  if (existing) return existing;
  const shape = shapeOf(like.type);
  return new GraphBuilder(model.graph).input(name, dtype, shape ? [...shape] : undefined);
}

/**
 * Cross-entropy of `logits` [N, C] against integer class labels [N] (a new int64 input, default
 * `labels`), averaged over the batch. Returns the loss output's name.
 */
export function appendCrossEntropy(
  model: Model,
  logits: string,
  opts: { labels?: string; name?: string } = {},
): string {
  const z = find(model, logits);
  const { dtype, shape } = typed(model, z);
  const classes = shape?.[1];
  if (shape?.length !== 2 || typeof classes !== 'number')
    throw new Error(`cross-entropy: '${logits}' must be [N, C] with a static C (got [${shape?.join(', ') ?? '?'}])`);
  const L = new LossBuilder(model, dtype);
  const labels =
    model.graph.findValue(opts.labels ?? 'labels') ?? L.b.input(opts.labels ?? 'labels', DataType.INT64, [shape[0]]);
  const logp = L.b.op('LogSoftmax', [z], { axis: 1 });
  const Arr = typedArrayFor(dtype) as Float32ArrayConstructor;
  const values = L.b.constant(new MemoryTensor(dtype, [2], Arr.of(0, 1)), model.graph.freshName('loss_onehot_values'));
  const oneHot = L.b.op('OneHot', [labels, L.scalar(classes, DataType.INT64), values], { axis: -1 });
  const nll = L.b.op('Neg', [L.batchMeanOfClassSum(L.b.op('Mul', [oneHot, logp]))]);
  return L.output(nll, opts.name ?? 'loss');
}

/**
 * Knowledge-distillation loss: T²·KL(softmax(t/T) ‖ softmax(s/T)), summed over classes and averaged
 * over the batch (Hinton et al.). `teacher` names a value of the model or a new input of the
 * student logits' shape (default `teacher_logits`).
 */
export function appendDistillationLoss(
  model: Model,
  studentLogits: string,
  opts: { teacher?: string; temperature?: number; name?: string } = {},
): string {
  const s = find(model, studentLogits);
  const { dtype, shape } = typed(model, s);
  if (shape?.length !== 2) throw new Error(`distillation loss: '${studentLogits}' must be [N, C]`);
  const T = opts.temperature ?? 1;
  if (!(T > 0)) throw new Error(`distillation loss: temperature must be > 0 (got ${T})`);
  const L = new LossBuilder(model, dtype);
  const t = logitsInput(model, s, opts.teacher ?? 'teacher_logits', dtype);
  const invT = L.scalar(1 / T);
  const ts = L.b.op('Mul', [t, invT]);
  const logPt = L.b.op('LogSoftmax', [ts], { axis: 1 });
  const pt = L.b.op('Softmax', [ts], { axis: 1 });
  const logQs = L.b.op('LogSoftmax', [L.b.op('Mul', [s, invT])], { axis: 1 });
  const kl = L.batchMeanOfClassSum(L.b.op('Mul', [pt, L.b.op('Sub', [logPt, logQs])]));
  return L.output(L.b.op('Mul', [kl, L.scalar(T * T)]), opts.name ?? 'kd_loss');
}

/**
 * Mean squared error between two tensors of the same shape (feature matching). `b` names a value of
 * the model or a new input shaped like `a`.
 */
export function appendMse(model: Model, a: string, b: string, opts: { name?: string } = {}): string {
  const x = find(model, a);
  const { dtype, shape } = typed(model, x);
  const L = new LossBuilder(model, dtype);
  const y = logitsInput(model, x, b, dtype);
  const d = L.b.op('Sub', [x, y]);
  const all = [...Array(shape?.length ?? 0).keys()];
  if (!shape) throw new Error(`mse: the rank of '${a}' is unknown`);
  return L.output(L.reduce('ReduceMean', L.b.op('Mul', [d, d]), all), opts.name ?? 'mse_loss');
}

/** Σ wᵢ·lossᵢ as a new scalar output (e.g. α·hard-label loss + (1 − α)·distillation loss). */
export function appendWeightedSum(model: Model, terms: { loss: string; weight: number }[], name = 'loss'): string {
  if (terms.length === 0) throw new Error('weighted loss: no terms');
  const first = find(model, terms[0].loss);
  const L = new LossBuilder(model, typed(model, first).dtype);
  const parts = terms.map((t) => L.b.op('Mul', [find(model, t.loss), L.scalar(t.weight)]));
  const sum = parts.reduce((acc, p) => L.b.op('Add', [acc, p]));
  return L.output(sum, name);
}
