/**
 * The part both backends share: onnxruntime-node and onnxruntime-web expose the same
 * `onnxruntime-common` API (`InferenceSession`, `Tensor`), so one session class drives either,
 * given the module. Each backend supplies its module and its session-option quirks.
 */
import { loadModel, loadModelFromBytes, type Model } from '@edgeforge/onnx';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { BackendError, FeedError, ortFirstLine } from './errors.js';
import { modelIo, type ModelIo } from './model-io.js';
import type { BackendName, ElemType, Feeds, HostTensor, IoInfo, Session, SessionOptions } from './types.js';
import { validateFeeds, validateOutputNames } from './validate.js';
import { ELEM_TYPES } from './tensor.js';

/** What both onnxruntime packages export (they re-export onnxruntime-common's classes). */
export interface OrtModule {
  InferenceSession: {
    create(model: string | Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession>;
  };
  Tensor: new (
    type: OrtTensor.Type,
    data: OrtTensor.DataType | readonly string[],
    dims?: readonly number[],
  ) => OrtTensor;
}

const RUN_OPTIONS: InferenceSession.RunOptions = { logSeverityLevel: 4 };
const LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;

/** Checks options shared by all backends; throws one line per problem. */
export function checkOptions(backend: BackendName, opts: SessionOptions): void {
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads > 0))
    throw new Error(`${backend} backend: threads must be a positive integer, got ${String(opts.threads)}`);
  if (opts.graphOptimization !== undefined && !LEVELS.includes(opts.graphOptimization))
    throw new Error(
      `${backend} backend: graphOptimization must be one of ${LEVELS.join(', ')}, got '${String(opts.graphOptimization)}'`,
    );
}

/** Reads the model's signature and external data list (a path keeps relative external data working). */
export function readModelIo(model: string | Uint8Array): ModelIo {
  let ir: Model;
  if (typeof model === 'string') {
    ir = loadModel(model); // ModelLoadError: "<path>: <problem>"
  } else {
    try {
      ir = loadModelFromBytes(model);
    } catch (e) {
      const msg = (e as Error).message;
      if (/external data/.test(msg) && /not loaded from a file/.test(msg))
        throw new Error(`model bytes reference external data (${msg}); create the session from the model's file path`);
      throw new Error(`model bytes: ${msg}`);
    }
  }
  return modelIo(ir);
}

/** Base session options every backend sets: quiet logging, the optimization level. */
export function baseOrtOptions(opts: SessionOptions): InferenceSession.SessionOptions {
  return {
    // 3 (error) still prints run failures to stderr; they reach the caller as BackendError instead.
    logSeverityLevel: 4,
    graphOptimizationLevel: opts.graphOptimization ?? 'all',
  };
}

/** Creates an onnxruntime session, turning its failures into one-line `BackendError`s. */
export async function createOrtSession(
  backend: BackendName,
  ort: OrtModule,
  model: string | Uint8Array,
  options: InferenceSession.SessionOptions,
): Promise<InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
    const detail = (e as Error).message ?? String(e);
    throw new BackendError(backend, `${backend} backend cannot run this model: ${ortFirstLine(detail)}`, detail);
  }
}

function toOrt(ort: OrtModule, t: HostTensor): OrtTensor {
  return new ort.Tensor(t.type, t.data as OrtTensor.DataType, t.dims);
}

function fromOrt(name: string, t: OrtTensor): HostTensor {
  const type = t.type as ElemType;
  if (!ELEM_TYPES.includes(type))
    throw new FeedError(undefined, `output '${name}' has type ${t.type}, which host tensors cannot carry`);
  let data = t.data as HostTensor['data'];
  if (type === 'float16' && !(data instanceof Uint16Array)) {
    // A Float16Array where the platform has one: keep the raw bits, as HostTensor promises.
    const view = data as unknown as ArrayBufferView;
    data = new Uint16Array(view.buffer, view.byteOffset, view.byteLength / 2);
  }
  if (!Array.isArray(data)) {
    // Outputs normally own their buffer (onnxruntime copies them out of native / wasm memory);
    // copy anyway when they are a view into something larger.
    const view = data as Exclude<HostTensor['data'], string[]>;
    if (view.byteOffset !== 0 || view.byteLength !== view.buffer.byteLength) data = view.slice();
  }
  return { type, dims: [...t.dims], data };
}

/** A `Session` over an onnxruntime `InferenceSession` of either package. */
export class OrtSession implements Session {
  readonly inputs: readonly IoInfo[];
  readonly outputs: readonly IoInfo[];
  #released = false;

  constructor(
    readonly backend: BackendName,
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    private readonly io: ModelIo,
    readonly threads: number | undefined,
  ) {
    this.inputs = io.inputs;
    this.outputs = io.outputs;
  }

  async run(feeds: Feeds, outputNames?: string[]): Promise<Record<string, HostTensor>> {
    if (this.#released) throw new Error(`${this.backend} backend: the session was released`);
    validateFeeds(this.io.inputs, feeds, this.io.overridable);
    if (outputNames) validateOutputNames(this.io.outputs, outputNames);
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(this.ort, t);
    let results: InferenceSession.OnnxValueMapType;
    try {
      results = outputNames
        ? await this.session.run(ortFeeds, outputNames, RUN_OPTIONS)
        : await this.session.run(ortFeeds, RUN_OPTIONS);
    } catch (e) {
      const detail = (e as Error).message ?? String(e);
      throw new BackendError(
        this.backend,
        `${this.backend} backend failed to run the model: ${ortFirstLine(detail)}`,
        detail,
      );
    }
    const out: Record<string, HostTensor> = {};
    for (const name of outputNames ?? Object.keys(results)) {
      out[name] = fromOrt(name, results[name] as OrtTensor);
    }
    return out;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    await this.session.release();
  }
}
