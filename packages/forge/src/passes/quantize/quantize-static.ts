/**
 * `quantize-static`: int8 static quantization in QDQ form — ONNX Runtime's
 * `quantize_static(quant_format=QDQ)` (contract §2, §3, §8 of `reference/quantization-contract.md`).
 * Activation ranges come from calibration batches (`ctx.calibration`), run through onnxruntime-node.
 *
 * ```
 * Before:  x ─► Conv(W, b) ─► Relu ─► GlobalAveragePool ─► Flatten ─► Gemm(W2, b2) ─► y
 * After:   x ─► Q ─► DQ ─► Conv(DQ(W_quantized), DQ(b_quantized int32)) ─► Q ─► DQ      (Relu absorbed)
 *            ─► GlobalAveragePool ─► Q ─► DQ ─► Flatten ─► Q ─► DQ (same scale) ─► Gemm(DQ(W2), DQ(b2))
 *            ─► y_QuantizeLinear_Input ─► Q ─► DQ ─► y           (y keeps its name and float type)
 * ```
 *
 * onnxruntime's CPU EP then fuses each DQ → op → Q group into an int8 kernel (QLinearConv,
 * QLinearGlobalAveragePool, QGemm, QLinearMatMul, QLinearAdd, …) and drops Q/DQ around data
 * movement. What is quantized, per op, is in `qdq-plan.ts`; the rewrite in `qdq-emit.ts`.
 *
 * Weights: int8 symmetric, per channel by default (Conv axis 0, ConvTranspose 1, Gemm 0 with transB
 * else 1, MatMul 1), which needs opset ≥ 13 (DequantizeLinear `axis`); biases int32 with scale
 * x_scale·w_scale (weight scales enlarged when the bias would overflow int32). Activations
 * asymmetric, uint8 by default (see `DEFAULT_ACTIVATION_TYPE`), from `minmax`, `percentile` or
 * `entropy` calibration (`calibrate.ts`). Weights in Constant nodes and behind Identity are read
 * where they are.
 *
 * Opsets: per-channel weights need 13, QuantizeLinear 10; older models are raised with
 * `upgrade-opset` (PaddleOCR's opset 9 → 13), or, with `perChannel: false`, below 10 only (→ 11,
 * as ORT's quantizer does). A model at ≥ 10 that cannot be raised gets per-tensor weights (note).
 *
 * Refused: a model that is already quantized; no calibration data; a model below 10 (or, with
 * `perChannel: true`, below 13) that `upgrade-opset` cannot raise; int8 activations with uint8
 * weights (no such CPU kernel).
 * Left float, with a note: nodes inside If/Loop/Scan bodies (calibration cannot see their tensors),
 * non-float32 tensors, Conv with a non-constant weight, Gemm whose C is not per-column, excluded
 * nodes. A node left float reads float tensors, never a DequantizeLinear output: onnxruntime would
 * otherwise quantize it anyway (its WeightBiasQuantization gives a Conv/Gemm after a DQ int8 weights
 * at load; DQ → Add → Q becomes QLinearAdd). Graph inputs and outputs keep their names and float types.
 *
 * `autoExcludeSnrDb` (with `autoExcludeMax`, default 8) runs `auto-exclude.ts`: layers that add the
 * most error are left in float, one at a time, until every output's SNR against the float model on
 * the calibration data reaches the target. `layer-errors.ts` gives the per-layer table it reads.
 */
import type { Model } from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/types.js';
import { PassOptionError, type Pass, type PassContext, type PassReport } from '../pass.js';
import { quantizeStaticAuto } from './auto-exclude.js';
import { CALIBRATION_METHODS } from './calibrate.js';
import { DEFAULT_OP_TYPES, type ActivationType, type WeightType } from './qdq-plan.js';
import { QUANTIZE_STATIC, quantizeStatic, type QuantizeStaticOptions } from './static-quantize.js';

export {
  QUANTIZE_STATIC,
  quantizeStatic,
  type QuantizeStaticOptions,
  type StaticQuantization,
} from './static-quantize.js';

/**
 * uint8 activations (U8S8), int8 weights. ORT's docs recommend S8S8 for QDQ in general (and ARM);
 * measured here (onnxruntime-node 1.30, x86-64 with AVX-512 VNNI, one thread, p50 interleaved),
 * S8S8 reads as accurately but runs 2.4–3× slower than U8S8: fashion-resnet 0.21 vs 0.53 ms
 * (batch 1) and 9.4 vs 22.8 ms (batch 32), PP-OCRv4 rec 39 vs 120 ms on a [1,3,48,584] line; top-1
 * 93.33% vs 93.30% (10,000 images), rec exact match 99% both; mnist-cnn equal in speed and
 * accuracy. U8S8 is also what the CPU guidance in ORT's `quantize_static` docstring gives for
 * x86 with VNNI.
 */
export const DEFAULT_ACTIVATION_TYPE: ActivationType = 'uint8';

function fail(msg: string): never {
  throw new PassOptionError(`pass '${QUANTIZE_STATIC}': ${msg}`);
}

function stringList(raw: unknown, key: string): string[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw) || raw.some((x) => typeof x !== 'string')) fail(`${key} must be a list of strings`);
  return [...(raw as string[])];
}

function bool(raw: unknown, key: string): boolean | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'boolean') fail(`${key} must be true or false`);
  return raw;
}

function oneOf<T extends string>(raw: unknown, key: string, values: readonly T[], def: T): T {
  if (raw === undefined) return def;
  if (!values.includes(raw as T)) fail(`${key} must be one of ${values.join(', ')} (got ${String(raw)})`);
  return raw as T;
}

/** The pass's options: the quantization's, plus the optional auto-exclude loop. */
export interface QuantizeStaticPassOptions extends QuantizeStaticOptions {
  /** Leave layers in float, worst first, until the outputs reach this SNR (dB) against float. */
  autoExcludeSnrDb?: number;
  /** Most layers auto-exclude leaves in float (default 8). */
  autoExcludeMax?: number;
}

export function parseQuantizeStaticOptions(raw: Record<string, unknown>): QuantizeStaticPassOptions {
  const known = [
    'calibrateMethod',
    'percentile',
    'activationType',
    'weightType',
    'perChannel',
    'reduceRange',
    'opTypes',
    'excludeNodes',
    'includeNodes',
    'autoExcludeSnrDb',
    'autoExcludeMax',
  ];
  const extra = Object.keys(raw).filter((k) => !known.includes(k));
  if (extra.length) fail(`unknown option(s) ${extra.join(', ')} (options: ${known.join(', ')})`);
  const percentile = raw.percentile ?? 99.999;
  if (typeof percentile !== 'number' || !(percentile > 0 && percentile <= 100))
    fail(`percentile must be a number in (0, 100] (got ${String(raw.percentile)})`);
  const activationType = oneOf<ActivationType>(
    raw.activationType,
    'activationType',
    ['uint8', 'int8'],
    DEFAULT_ACTIVATION_TYPE,
  );
  const weightType = oneOf<WeightType>(raw.weightType, 'weightType', ['int8', 'uint8'], 'int8');
  if (activationType === 'int8' && weightType === 'uint8')
    fail('int8 activations need int8 weights (onnxruntime has no int8 × uint8 kernel; contract §3)');
  const opTypes = raw.opTypes === undefined ? [...DEFAULT_OP_TYPES] : stringList(raw.opTypes, 'opTypes');
  const unknownOps = opTypes.filter((t) => !DEFAULT_OP_TYPES.includes(t));
  if (unknownOps.length || opTypes.length === 0)
    fail(
      `opTypes must be a non-empty list of ${DEFAULT_OP_TYPES.join(', ')}` +
        (unknownOps.length ? ` (got ${unknownOps.join(', ')})` : ''),
    );
  const perChannel = bool(raw.perChannel, 'perChannel');
  const snr = raw.autoExcludeSnrDb;
  if (snr !== undefined && !(typeof snr === 'number' && Number.isFinite(snr)))
    fail(`autoExcludeSnrDb must be a number of dB (got ${String(snr)})`);
  const max = raw.autoExcludeMax;
  if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 1))
    fail(`autoExcludeMax must be a positive integer (got ${String(max)})`);
  if (max !== undefined && snr === undefined) fail('autoExcludeMax needs autoExcludeSnrDb');
  return {
    ...(snr !== undefined ? { autoExcludeSnrDb: snr } : {}),
    ...(max !== undefined ? { autoExcludeMax: max as number } : {}),
    calibrateMethod: oneOf(raw.calibrateMethod, 'calibrateMethod', CALIBRATION_METHODS, 'minmax'),
    percentile,
    activationType,
    weightType,
    ...(perChannel !== undefined ? { perChannel } : {}),
    // u8 activations × s8 weights saturate on x86 CPUs without VNNI (AVX2); 7-bit weights cannot.
    reduceRange: bool(raw.reduceRange, 'reduceRange') ?? (activationType === 'uint8' && weightType === 'int8'),
    opTypes: [...new Set(opTypes)],
    excludeNodes: stringList(raw.excludeNodes, 'excludeNodes'),
    includeNodes: stringList(raw.includeNodes, 'includeNodes'),
  };
}

/** What a pass run is given: the calibration batches. */
function calibrationOf(ctx: PassContext): () => AsyncIterable<Feeds> {
  if (!ctx.calibration)
    throw new Error(
      `${QUANTIZE_STATIC} needs calibration data (--calib <data spec>): activation ranges are measured on real ` +
        'inputs; to calibrate on random inputs, pass synthetic data explicitly (--calib synthetic:count=100)',
    );
  return ctx.calibration;
}

export const quantizeStaticPass: Pass<QuantizeStaticPassOptions> = {
  name: QUANTIZE_STATIC,
  family: 'quantize',
  description: 'Static int8 quantization (QDQ, calibrated activations) that onnxruntime runs with int8 kernels',
  idempotent: false,
  tolerance: Infinity,
  parseOptions: parseQuantizeStaticOptions,
  async run(model: Model, o: QuantizeStaticPassOptions, ctx: PassContext): Promise<PassReport> {
    const calibration = calibrationOf(ctx);
    if (o.autoExcludeSnrDb === undefined) return (await quantizeStatic(model, o, calibration)).report;
    const r = await quantizeStaticAuto(model, o, calibration, {
      targetSnrDb: o.autoExcludeSnrDb,
      ...(o.autoExcludeMax !== undefined ? { maxExcluded: o.autoExcludeMax } : {}),
    });
    return r.report;
  },
};
