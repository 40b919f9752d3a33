/**
 * Runs a training graph in onnxruntime-node: one session for all steps, parameters fed as inputs and
 * updated in TypeScript by an optimizer, then written back into the forward model's initializers.
 */
import { DataType, MemoryTensor, serializeModel, toTypedArray, type Model } from '@edgeforge/onnx';
import { nodeBackend } from '../runtime/node.js';
import type { Feeds, HostTensor, Session } from '../runtime/types.js';
import type { TrainingGraph } from './autodiff.js';
import type { Optimizer } from './optimizers.js';

type FloatArray = Float32Array | Float64Array;

export class Trainer {
  readonly #session: Session;
  readonly #values: FloatArray[];
  private constructor(
    readonly graph: TrainingGraph,
    session: Session,
    readonly optimizer: Optimizer,
  ) {
    this.#session = session;
    this.#values = graph.params.map((p) => {
      if (p.init.dtype !== DataType.FLOAT && p.init.dtype !== DataType.DOUBLE)
        throw new Error(`trainer: parameter '${p.name}' is not float32/float64`);
      return (toTypedArray(p.init) as FloatArray).slice();
    });
  }

  static async create(graph: TrainingGraph, optimizer: Optimizer, opts: { threads?: number } = {}): Promise<Trainer> {
    const session = await nodeBackend.createSession(serializeModel(graph.model), {
      ...(opts.threads ? { threads: opts.threads } : {}),
    });
    return new Trainer(graph, session, optimizer);
  }

  /** Current parameter values, by name. */
  params(): Map<string, FloatArray> {
    return new Map(this.graph.params.map((p, i) => [p.name, this.#values[i]]));
  }

  #feeds(batch: Feeds): Feeds {
    const feeds: Feeds = { ...batch };
    this.graph.params.forEach((p, i) => {
      const t: HostTensor = {
        type: p.init.dtype === DataType.DOUBLE ? 'float64' : 'float32',
        dims: [...p.init.dims],
        data: this.#values[i],
      };
      feeds[p.name] = t;
    });
    return feeds;
  }

  /** Loss and gradients at the current parameters, without updating them. */
  async run(batch: Feeds): Promise<{ loss: number; outputs: Record<string, HostTensor> }> {
    const outputs = await this.#session.run(this.#feeds(batch));
    return { loss: Number((outputs[this.graph.loss].data as FloatArray)[0]), outputs };
  }

  /**
   * One optimizer step on `batch`; returns the loss before the update. A non-finite loss or gradient
   * stops with an error and leaves the parameters at their last good values.
   */
  async step(batch: Feeds): Promise<number> {
    const { loss, outputs } = await this.run(batch);
    if (!Number.isFinite(loss))
      throw new Error(`training diverged at step ${this.optimizer.steps}: loss is ${loss} (lower the learning rate)`);
    const grads = this.graph.params.map((p) => outputs[p.grad].data as FloatArray);
    for (const [i, g] of grads.entries())
      if (!g.every(Number.isFinite))
        throw new Error(
          `training diverged at step ${this.optimizer.steps}: gradient of '${this.graph.params[i].name}' is not finite`,
        );
    this.optimizer.step(this.#values, grads);
    return loss;
  }

  /**
   * Writes the current parameters (or `values`, e.g. a saved snapshot of `params()`) into `model`'s
   * initializers of the same names (structure unchanged).
   */
  writeBack(model: Model, values?: ReadonlyMap<string, FloatArray>): void {
    this.graph.params.forEach((p, i) => {
      const data = values ? values.get(p.name) : this.#values[i];
      if (!data) throw new Error(`writeBack: no value for parameter '${p.name}'`);
      const v = model.graph.initializers.get(p.name);
      if (!v) throw new Error(`writeBack: the model has no initializer '${p.name}'`);
      model.graph.addInitializer(p.name, new MemoryTensor(p.init.dtype, [...p.init.dims], data.slice(), p.name));
    });
  }

  async release(): Promise<void> {
    await this.#session.release();
  }
}
