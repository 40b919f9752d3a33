import { readFileSync } from 'node:fs';
import { loadModel, serializeModel } from '@edgeforge/onnx';
import {
  calibrationSource,
  compressModel,
  inputSignature,
  type CompressOptions,
  type CompressResult,
} from './compress-model.js';
import { runPasses } from './manager.js';
import { layerErrors, type LayerError } from './quantize/layer-errors.js';
import type { RecipeStep } from './recipe.js';
import { DEFAULT_RECIPE, PASSES } from './registry.js';

/** `edgeforge quantize --mode` → the pass that does it. */
export const QUANTIZE_MODES = {
  dynamic: 'quantize-dynamic',
  static: 'quantize-static',
  'weight-only': 'quantize-weight-only',
  fp16: 'convert-fp16',
} as const;
export type QuantizeMode = keyof typeof QUANTIZE_MODES;

export interface QuantizeOptions extends Omit<CompressOptions, 'steps'> {
  mode: QuantizeMode;
  /** Options of the mode's pass (validated by the pass). */
  passOptions?: Record<string, unknown>;
  /**
   * Static mode: measure every quantized layer's error against the float model on the calibration
   * data (`layerErrors`) and return the table, worst layer first.
   */
  analyze?: boolean;
}

export interface QuantizeResult extends CompressResult {
  mode: QuantizeMode;
  /** With `analyze`: per-layer error, sorted by what each layer adds (inputSnrDb − snrDb), worst first. */
  layers?: LayerError[];
}

/** The recipe `quantize` runs: the safe optimize recipe (unless turned off), then the mode's pass. */
export function quantizeSteps(mode: QuantizeMode, passOptions: Record<string, unknown> = {}, optimize = true) {
  const pass = QUANTIZE_MODES[mode];
  if (!pass) throw new Error(`unknown mode '${String(mode)}' (modes: ${Object.keys(QUANTIZE_MODES).join(', ')})`);
  const steps: RecipeStep[] = optimize ? [...DEFAULT_RECIPE] : [];
  steps.push({ pass, options: passOptions });
  return steps;
}

/**
 * `edgeforge quantize`: the default optimize recipe, then the mode's pass; saved atomically and
 * measured against the original (see `compressModel`).
 */
export async function quantizeModel(input: string, output: string, o: QuantizeOptions): Promise<QuantizeResult> {
  const { mode, passOptions, analyze, ...rest } = o;
  if (analyze && mode !== 'static')
    throw new Error('the per-layer analysis compares QDQ layers: it needs --mode static');
  if (analyze && !rest.calib) throw new Error('the per-layer analysis runs on the calibration data: it needs --calib');
  const steps = quantizeSteps(mode, passOptions, false);
  const result: QuantizeResult = { mode, ...(await compressModel(input, output, { ...rest, steps })) };
  if (analyze) result.layers = await analyzeLayers(input, output, rest);
  return result;
}

/**
 * The float reference the layers are compared with is the input after the same optimize recipe,
 * so node and tensor names match the quantized model's.
 */
async function analyzeLayers(input: string, output: string, o: Omit<CompressOptions, 'steps'>): Promise<LayerError[]> {
  const float = loadModel(input);
  if (o.optimize ?? true)
    await runPasses(float, DEFAULT_RECIPE, {
      registry: PASSES,
      ctx: o.inputShapes ? { inputShapes: o.inputShapes } : {},
    });
  const backend = o.backend ?? 'node';
  const data = await calibrationSource(o.calib!, await inputSignature(input, backend), {
    ...(o.calibLimit !== undefined ? { limit: o.calibLimit } : {}),
    ...(o.calibBatch !== undefined ? { batch: o.calibBatch } : {}),
    ...(o.inputShapes ? { inputShapes: o.inputShapes } : {}),
  });
  const table = await layerErrors(serializeModel(float), readFileSync(output), data, { backend });
  const adds = (l: LayerError) => (Number.isFinite(l.inputSnrDb) ? l.inputSnrDb : 100) - l.snrDb;
  return table.sort((a, b) => adds(b) - adds(a));
}
