import { compressModel, type CompressOptions, type CompressResult } from './compress-model.js';
import type { RecipeStep } from './recipe.js';
import { DEFAULT_RECIPE } from './registry.js';

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
}

export interface QuantizeResult extends CompressResult {
  mode: QuantizeMode;
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
  const { mode, passOptions, ...rest } = o;
  const steps = quantizeSteps(mode, passOptions, false);
  return { mode, ...(await compressModel(input, output, { ...rest, steps })) };
}
