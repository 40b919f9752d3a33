import { loadModel, saveModel, type Dim, type SaveResult } from '@edgeforge/onnx';
import { openDataset } from '../data/index.js';
import { getBackend } from '../runtime/index.js';
import type { BackendName, Feeds } from '../runtime/types.js';
import { calibrationSource, inputSignature } from './compress-model.js';
import { runPasses, type RunReport, type Verifier } from './manager.js';
import type { PassContext } from './pass.js';
import type { RecipeStep } from './recipe.js';
import { DEFAULT_RECIPE, PASSES } from './registry.js';

export interface OptimizeOptions {
  /** Steps to run (default: the safe default recipe). */
  steps?: RecipeStep[];
  /** Compare outputs with the original after every pass. */
  verify?: boolean;
  /** Fixed input shapes (symbolic dims resolved) for shape passes and for synthetic verify inputs. */
  inputShapes?: Record<string, Dim[]>;
  /** Data spec for verify inputs (default: two synthetic samples). */
  data?: string;
  /** Calibration data spec, for a recipe's static quantization step. */
  calib?: string;
  /** Calibration samples (default 256). */
  calibLimit?: number;
  backend?: BackendName;
  onStep?: Parameters<typeof runPasses>[2]['onStep'];
}

export interface OptimizeResult extends RunReport {
  input: string;
  output: string;
  saved: SaveResult;
}

async function verifier(input: string, o: OptimizeOptions): Promise<Verifier> {
  const backend = getBackend(o.backend ?? 'node');
  const probe = await backend.createSession(input);
  const feeds: Feeds[] = [];
  try {
    const shapes = o.inputShapes
      ? Object.fromEntries(
          Object.entries(o.inputShapes).map(([k, dims]) => [k, dims.map((d) => (typeof d === 'number' ? d : 1))]),
        )
      : undefined;
    try {
      const ds = await openDataset(o.data ?? 'synthetic:count=2', {
        inputs: probe.inputs,
        batchSize: 1,
        limit: 2,
        ...(shapes ? { shapes } : {}),
      });
      for await (const b of ds.batches()) feeds.push(b.inputs);
    } catch (e) {
      // The data layer speaks of --shape; optimize's flag is --input-shape.
      throw new Error(`--verify inputs: ${(e as Error).message.replaceAll('--shape ', '--input-shape ')}`);
    }
  } finally {
    await probe.release();
  }
  return { createSession: (bytes) => backend.createSession(bytes), feeds };
}

/**
 * `edgeforge optimize`: load, run the recipe (checker after every pass, optional verification),
 * save atomically. Nothing is written when any step fails.
 */
export async function optimizeModel(input: string, output: string, o: OptimizeOptions = {}): Promise<OptimizeResult> {
  const model = loadModel(input);
  const ctx: PassContext = o.inputShapes ? { inputShapes: o.inputShapes } : {};
  if (o.calib)
    ctx.calibration = await calibrationSource(o.calib, await inputSignature(input, o.backend ?? 'node'), {
      ...(o.calibLimit !== undefined ? { limit: o.calibLimit } : {}),
      ...(o.inputShapes ? { inputShapes: o.inputShapes } : {}),
    });
  const report = await runPasses(model, o.steps ?? DEFAULT_RECIPE, {
    registry: PASSES,
    ctx,
    ...(o.verify ? { verify: await verifier(input, o) } : {}),
    ...(o.onStep ? { onStep: o.onStep } : {}),
  });
  const saved = saveModel(model, output);
  return { input, output, ...report, saved };
}
