/**
 * Mixed precision by sensitivity: quantize, measure each layer's error against the float model
 * (`layerErrors`), leave the layer that adds the most in float, and repeat until the model's outputs
 * reach a target SNR against the float model or a cap on float layers is hit.
 *
 * "Adds the most" is the SNR drop across the layer, `inputSnrDb − snrDb`: the error a layer brings
 * on top of what its inputs already carry (a layer late in the network inherits everything before
 * it, so its plain SNR would always look worst). Calibration runs once; later rounds reuse its
 * ranges. The criterion is label-free (output SNR on the calibration data); an accuracy budget on
 * labelled data can drive the same loop through `excludeNodes`.
 */
import { loadModelFromBytes, serializeModel, type Model } from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/types.js';
import type { TensorRange } from './calibrate.js';
import { layerErrors, outputSnr } from './layer-errors.js';
import { UNIT_OPS } from './qdq-plan.js';
import { quantizeStatic, type QuantizeStaticOptions, type StaticQuantization } from './static-quantize.js';

export interface AutoExcludeOptions {
  /** Stop once every model output has at least this SNR against the float model (dB). */
  targetSnrDb: number;
  /** Most layers left in float (default 8). */
  maxExcluded?: number;
  /** Data to measure on (default: the calibration batches). */
  data?: () => AsyncIterable<Feeds>;
}

export interface AutoExcludeStep {
  /** Layers in float at this step. */
  excluded: string[];
  /** Lowest SNR over the model's outputs, dB. */
  outputSnrDb: number;
}

export interface AutoExcludeResult extends StaticQuantization {
  /** Layers left in float (on top of `excludeNodes`) in the step kept: the one with the best output SNR. */
  excluded: string[];
  outputSnrDb: number;
  /** Whether the target was reached. */
  met: boolean;
  steps: AutoExcludeStep[];
}

/** Noise floor for a layer whose inputs are all float: a drop is measured from here. */
const FLOAT_SNR_DB = 100;

/**
 * Quantizes `model` in place like `quantizeStatic`, leaving the most harmful layers in float until
 * the output SNR reaches `a.targetSnrDb` (or `a.maxExcluded` layers are float, or none is left);
 * the model gets the step with the best output SNR.
 *
 * @example
 * ```ts
 * const r = await quantizeStaticAuto(model, options, calibration, { targetSnrDb: 30 });
 * console.log(r.excluded, r.outputSnrDb, r.met);
 * ```
 */
export async function quantizeStaticAuto(
  model: Model,
  o: QuantizeStaticOptions,
  calibration: () => AsyncIterable<Feeds>,
  a: AutoExcludeOptions,
): Promise<AutoExcludeResult> {
  const max = a.maxExcluded ?? 8;
  const data = a.data ?? calibration;
  const floatBytes = serializeModel(model);
  const excluded: string[] = [];
  const steps: AutoExcludeStep[] = [];
  let ranges = new Map<string, TensorRange>();
  for (;;) {
    const q = loadModelFromBytes(floatBytes);
    const r = await quantizeStatic(q, { ...o, excludeNodes: [...o.excludeNodes, ...excluded] }, calibration, ranges);
    ranges = r.ranges;
    const snr = Math.min(...Object.values(await outputSnr(floatBytes, q, data)));
    steps.push({ excluded: [...excluded], outputSnrDb: snr });
    let next: string | undefined;
    if (snr < a.targetSnrDb && excluded.length < max) {
      const table = await layerErrors(floatBytes, q, data);
      let worst = -Infinity;
      for (const row of table) {
        if (!UNIT_OPS.includes(row.opType) || excluded.includes(row.node)) continue;
        const drop = Math.min(row.inputSnrDb, FLOAT_SNR_DB) - row.snrDb;
        if (drop > worst) [worst, next] = [drop, row.node];
      }
    }
    if (next === undefined) {
      // Output SNR need not rise with every float layer (a float layer also breaks its producer's
      // int8 fusion): the model gets the best step seen. The ranges are known, so this only rewrites.
      const best = steps.reduce((a, b) => (b.outputSnrDb > a.outputSnrDb ? b : a));
      const final = await quantizeStatic(
        model,
        { ...o, excludeNodes: [...o.excludeNodes, ...best.excluded] },
        calibration,
        ranges,
      );
      for (const s of steps)
        final.report.notes = [
          ...(final.report.notes ?? []),
          `auto-exclude: ${s.excluded.length} layer(s) in float → output SNR ${s.outputSnrDb.toFixed(1)} dB` +
            (s.excluded.length ? ` (${s.excluded.join(', ')})` : '') +
            (s === best ? ' — kept' : ''),
        ];
      return {
        ...final,
        excluded: best.excluded,
        outputSnrDb: best.outputSnrDb,
        met: best.outputSnrDb >= a.targetSnrDb,
        steps,
      };
    }
    excluded.push(next);
  }
}
