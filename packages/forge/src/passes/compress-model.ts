import { rmSync } from 'node:fs';
import { loadModel, modelFileSize, saveModel, type Dim, type Model, type SaveResult } from '@edgeforge/onnx';
import { openDataset } from '../data/index.js';
import { runCompare } from '../evaluate/run.js';
import type { CompareResult } from '../report/types.js';
import { getBackend } from '../runtime/index.js';
import type { BackendName, Feeds, IoInfo } from '../runtime/types.js';
import { runPasses, type RunReport } from './manager.js';
import type { PassContext } from './pass.js';
import type { RecipeStep } from './recipe.js';
import { DEFAULT_RECIPE, PASSES } from './registry.js';

export interface CompressOptions {
  /** The compression steps (run after the optimize recipe). */
  steps: RecipeStep[];
  /** Run the default optimize recipe first (BatchNorm folded, constants as initializers): default true. */
  optimize?: boolean;
  /** Calibration data spec (static quantization). */
  calib?: string;
  /** Calibration samples (default 256). */
  calibLimit?: number;
  calibBatch?: number;
  /** Fixed input shapes (symbolic dims resolved) for shape passes and calibration data. */
  inputShapes?: Record<string, Dim[]>;
  /**
   * Data to measure fidelity (and accuracy, when labelled) of the result against the original on;
   * default: the calibration data, else synthetic samples. `false` skips the measurement.
   */
  data?: string | false;
  /** Samples for the fidelity measurement (default 200; synthetic: 32). */
  limit?: number;
  /** Also measure latency, interleaved (b/a ratio). */
  latency?: boolean;
  backend?: BackendName;
  onStep?: Parameters<typeof runPasses>[2]['onStep'];
}

export interface CompressResult extends RunReport {
  input: string;
  output: string;
  saved: SaveResult;
  /** Bytes of the model file plus its external data, before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Original vs result: sizes, operators, fidelity, accuracy (labelled data), latency. */
  comparison?: CompareResult;
  /** What data the comparison used. */
  measuredOn?: string;
  /** Why fidelity was not measured (synthetic inputs impossible without fixed dims). */
  unmeasured?: string;
}

/** The shapes a data spec needs, from `--input-shape` (symbolic dims → 1). */
function concreteShapes(inputShapes?: Record<string, Dim[]>): Record<string, number[]> | undefined {
  if (!inputShapes) return undefined;
  return Object.fromEntries(
    Object.entries(inputShapes).map(([k, dims]) => [k, dims.map((d) => (typeof d === 'number' ? d : 1))]),
  );
}

/**
 * The batch size `--input-shape` fixed (first dim of every given shape, when they agree): the
 * optimize recipe bakes it into the graph, so calibration batches must have it too.
 */
function fixedBatch(inputShapes?: Record<string, Dim[]>): number | undefined {
  const firsts = new Set(Object.values(inputShapes ?? {}).map((d) => d[0]));
  const [b] = firsts;
  return firsts.size === 1 && typeof b === 'number' ? b : undefined;
}

/** The model's input signature, from an onnxruntime session (then released). */
export async function inputSignature(path: string, backend: BackendName): Promise<readonly IoInfo[]> {
  const s = await getBackend(backend).createSession(path);
  try {
    return s.inputs;
  } finally {
    await s.release();
  }
}

/** Calibration batches that stream from the data spec: one fresh reader per pass over the data. */
export async function calibrationSource(
  spec: string,
  inputs: readonly IoInfo[],
  o: { limit?: number; batch?: number; inputShapes?: Record<string, Dim[]> } = {},
): Promise<() => AsyncIterable<Feeds>> {
  const shapes = concreteShapes(o.inputShapes);
  const open = () =>
    openDataset(spec, {
      inputs,
      batchSize: o.batch ?? 8,
      limit: o.limit ?? 256,
      ...(shapes ? { shapes } : {}),
    });
  // Open once now so a bad spec fails before any pass runs.
  const first = await open().catch((e: Error) => {
    throw new Error(`--calib: ${e.message.replaceAll('--shape ', '--input-shape ')}`);
  });
  let fresh: typeof first | undefined = first;
  return async function* calibration() {
    const ds = fresh ?? (await open());
    fresh = undefined;
    for await (const b of ds.batches()) yield b.inputs;
  };
}

/**
 * What `quantize` and `prune` share: load, optimize (default recipe), run the compression steps
 * (checker after every pass), save atomically, then measure the result against the original.
 * Nothing is written when a step fails.
 */
export async function compressModel(input: string, output: string, o: CompressOptions): Promise<CompressResult> {
  const model: Model = loadModel(input);
  const backend = o.backend ?? 'node';
  const steps: RecipeStep[] = [...((o.optimize ?? true) ? DEFAULT_RECIPE : []), ...o.steps];
  const ctx: PassContext = o.inputShapes ? { inputShapes: o.inputShapes } : {};
  const inputs = o.data !== false || o.calib ? await inputSignature(input, backend) : [];
  const shapes = concreteShapes(o.inputShapes);
  const probe = (spec: string) => openDataset(spec, { inputs, batchSize: 1, limit: 1, ...(shapes ? { shapes } : {}) });
  let unmeasured: string | undefined;
  if (typeof o.data === 'string') {
    // A bad measurement spec must fail before anything is written.
    await probe(o.data).catch((e: Error) => {
      throw new Error(`--data: ${e.message.replaceAll('--shape ', '--input-shape ')}`);
    });
  } else if (o.data === undefined && !o.calib) {
    // Synthetic inputs need every dim known; without them the result is saved unmeasured, and says why.
    await probe('synthetic').catch((e: Error) => {
      unmeasured = `${e.message.replaceAll('--shape ', '--input-shape ')} (or pass --data)`;
    });
  }
  if (o.calib) {
    ctx.calibration = await calibrationSource(o.calib, inputs, {
      ...(o.calibLimit !== undefined ? { limit: o.calibLimit } : {}),
      ...((o.calibBatch ?? fixedBatch(o.inputShapes)) !== undefined
        ? { batch: o.calibBatch ?? fixedBatch(o.inputShapes) }
        : {}),
      ...(o.inputShapes ? { inputShapes: o.inputShapes } : {}),
    });
  }
  const { model: mb, external } = modelFileSize(input, model);
  const report = await runPasses(model, steps, {
    registry: PASSES,
    ctx,
    ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  const saved = saveModel(model, output);
  const result: CompressResult = {
    input,
    output,
    ...report,
    saved,
    bytesBefore: mb + external,
    bytesAfter: saved.bytes + saved.externalBytes,
  };
  if (unmeasured) result.unmeasured = unmeasured;
  else if (o.data !== false) {
    const data = o.data ?? o.calib;
    result.comparison = await runCompare(input, output, {
      backend,
      ...(data ? { data, limit: o.limit ?? 200 } : { fidelitySamples: o.limit ?? 32 }),
      ...(shapes ? { shapes } : {}),
      latency: o.latency ?? false,
    }).catch((e: Error) => {
      // The data layer speaks of --shape; the flag here is --input-shape.
      const why = e.message.replaceAll('--shape ', '--input-shape ');
      if (data === undefined) {
        // Random inputs can be meaningless to a model (Silero's sample rate): say so, keep the result.
        result.unmeasured = `on synthetic inputs: ${why} (pass --data)`;
        return undefined;
      }
      // The user's own data must run on the result: a model that fails there is not delivered.
      rmSync(output, { force: true });
      if (saved.externalFile) rmSync(saved.externalFile, { force: true });
      throw new Error(`measuring the result on ${data}: ${why}; nothing written`);
    });
    if (result.comparison) result.measuredOn = data ?? 'synthetic';
    else delete result.comparison;
  }
  return result;
}
