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
 * Refused: a model that is already quantized; no calibration data; opset < 10 (QuantizeLinear);
 * `perChannel: true` below opset 13; int8 activations with uint8 weights (no such CPU kernel).
 * Left float, with a note: nodes inside If/Loop/Scan bodies (calibration cannot see their tensors),
 * non-float32 tensors, Conv with a non-constant weight, Gemm whose C is not per-column, excluded
 * nodes. Graph inputs and outputs keep their names and float types.
 */
import { allGraphs, inferShapes, type Model } from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/types.js';
import { Changes, PassOptionError, type Pass, type PassContext, type PassReport } from '../pass.js';
import { CALIBRATION_METHODS, calibrate, type CalibrationMethod, type TensorRange } from './calibrate.js';
import { emitQdq, type QuantizedNode } from './qdq-emit.js';
import {
  DEFAULT_OP_TYPES,
  nodeId,
  planQdq,
  tensorsToCalibrate,
  type ActivationType,
  type PlannedNode,
  type QdqPlan,
  type WeightType,
} from './qdq-plan.js';

export const QUANTIZE_STATIC = 'quantize-static';

/**
 * uint8 activations (U8S8). Measured on this repo's reference models with onnxruntime-node 1.30 on
 * an AVX-512 VNNI x86 CPU (bench in the report of issue 5): U8S8 and S8S8 give the same accuracy,
 * and U8S8 runs faster, because MLAS's x86 int8 GEMM kernels take unsigned activations natively
 * (S8S8 is ORT's recommendation for QDQ in general and for ARM; see the contract §3).
 */
export const DEFAULT_ACTIVATION_TYPE: ActivationType = 'uint8';

/** Lowest opset with QuantizeLinear / DequantizeLinear. */
const MIN_OPSET = 10;
/** DequantizeLinear `axis` (per-channel weights) exists from here. */
const PER_CHANNEL_OPSET = 13;

export interface QuantizeStaticOptions {
  calibrateMethod: CalibrationMethod;
  /** Percentile method: share of values kept (default 99.999). */
  percentile: number;
  activationType: ActivationType;
  weightType: WeightType;
  /** undefined: per channel when the opset allows it (≥ 13), else per tensor with a note. */
  perChannel?: boolean;
  reduceRange: boolean;
  opTypes: string[];
  excludeNodes: string[];
  /** When non-empty, only these nodes are quantized. */
  includeNodes: string[];
}

/** Ops that say a model is already quantized. */
const QUANTIZED_OPS = new Set([
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'QLinearConv',
  'QLinearMatMul',
  'MatMulInteger',
  'ConvInteger',
  'QGemm',
  'QLinearAdd',
  'QLinearMul',
  'QLinearConcat',
  'QLinearGlobalAveragePool',
  'QLinearAveragePool',
  'QLinearSigmoid',
  'QLinearSoftmax',
  'QLinearLeakyRelu',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'MatMulNBits',
  'GatherBlockQuantized',
]);

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

export function parseQuantizeStaticOptions(raw: Record<string, unknown>): QuantizeStaticOptions {
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
  return {
    calibrateMethod: oneOf(raw.calibrateMethod, 'calibrateMethod', CALIBRATION_METHODS, 'minmax'),
    percentile,
    activationType,
    weightType,
    ...(perChannel !== undefined ? { perChannel } : {}),
    reduceRange: bool(raw.reduceRange, 'reduceRange') ?? false,
    opTypes: [...new Set(opTypes)],
    excludeNodes: stringList(raw.excludeNodes, 'excludeNodes'),
    includeNodes: stringList(raw.includeNodes, 'includeNodes'),
  };
}

/** Throws when the model already holds quantized operators (quantizing twice compounds the error). */
export function refuseQuantized(model: Model, pass = QUANTIZE_STATIC): void {
  const found = new Map<string, number>();
  for (const g of allGraphs(model))
    for (const n of g) if (QUANTIZED_OPS.has(n.opType)) found.set(n.opType, (found.get(n.opType) ?? 0) + 1);
  if (found.size)
    throw new Error(
      `${pass}: the model is already quantized (${[...found].map(([op, k]) => `${k} ${op}`).join(', ')}); ` +
        'quantize the float original instead',
    );
}

export interface StaticQuantization {
  report: PassReport;
  /** Nodes that now run between DequantizeLinear inputs and a QuantizeLinear output. */
  quantized: QuantizedNode[];
  /** Calibrated range of every observed tensor (by float-model name). */
  ranges: Map<string, TensorRange>;
}

/** Names of the tensors a planned node reads or writes as activations. */
function activationNames(p: PlannedNode): string[] {
  const names = [...p.inputs].filter(([, r]) => r.kind === 'activation').map(([i]) => p.node.inputs[i]?.name ?? '');
  return [...names, ...p.node.outputs.map((o) => o.name)];
}

/**
 * Quantizes `model` in place: plans, calibrates (reusing `ranges` already measured, e.g. by an
 * earlier run with fewer exclusions), rewrites. The programmatic form of the pass.
 */
export async function quantizeStatic(
  model: Model,
  o: QuantizeStaticOptions,
  calibration: () => AsyncIterable<Feeds>,
  known: Map<string, TensorRange> = new Map(),
): Promise<StaticQuantization> {
  refuseQuantized(model);
  const changes = new Changes();
  if (model.opset < MIN_OPSET)
    throw new Error(
      `${QUANTIZE_STATIC}: the model has ai.onnx opset ${model.opset}; QuantizeLinear/DequantizeLinear need ${MIN_OPSET} ` +
        `(run 'upgrade-opset' with to: 13 first)`,
    );
  let perChannel = o.perChannel ?? true;
  if (perChannel && model.opset < PER_CHANNEL_OPSET) {
    if (o.perChannel)
      throw new Error(
        `${QUANTIZE_STATIC}: per-channel weights need opset ${PER_CHANNEL_OPSET} (DequantizeLinear axis); the model has ` +
          `opset ${model.opset} (run 'upgrade-opset' with to: 13 first, or set perChannel: false)`,
      );
    perChannel = false;
    changes.note(
      `opset ${model.opset} < ${PER_CHANNEL_OPSET}: weights quantized per tensor (per channel needs ${PER_CHANNEL_OPSET})`,
    );
  }
  // Float checks need the element type of every intermediate tensor; inference fills only gaps.
  inferShapes(model, { valueInfo: false });

  const ranges = new Map(known);
  const skipped = new Map<string, string>();
  const exclude = new Set(o.excludeNodes);
  let plan: QdqPlan;
  for (;;) {
    plan = planQdq(model, {
      perChannel,
      opTypes: new Set(o.opTypes),
      excludeNodes: exclude,
      ...(o.includeNodes.length ? { includeNodes: new Set(o.includeNodes) } : {}),
    });
    const missing = tensorsToCalibrate(plan).filter((n) => !ranges.has(n) && !skipped.has(n));
    if (missing.length) {
      const cal = await calibrate(model, missing, calibration, {
        method: o.calibrateMethod,
        percentile: o.percentile,
      });
      for (const [k, v] of cal.ranges) ranges.set(k, v);
      for (const [k, v] of cal.skipped) skipped.set(k, v);
      changes.note(
        `calibrated ${cal.ranges.size} tensors (${o.calibrateMethod}) on ${cal.samples} samples in ${cal.batches} batches`,
      );
    }
    // A tensor onnxruntime did not give as float32 cannot be quantized: its nodes stay float.
    const blocked = plan.nodes.filter((p) => activationNames(p).some((n) => skipped.has(n)));
    if (blocked.length === 0) break;
    for (const p of blocked) {
      const t = activationNames(p).find((n) => skipped.has(n))!;
      changes.note(`${p.node.opType} '${nodeId(p.node)}' left float: tensor '${t}' ${skipped.get(t)}`);
      exclude.add(nodeId(p.node));
    }
  }

  for (const f of plan.leftFloat) changes.note(`${f.node} left float: ${f.reason}`);
  if (plan.subgraphNodes)
    changes.note(
      `${plan.subgraphNodes} nodes inside If/Loop/Scan bodies left float (calibration observes the main graph only)`,
    );
  if (!plan.nodes.some((p) => p.kind === 'unit')) {
    changes.note('nothing to quantize: no node of the chosen op types with float32 inputs in the main graph');
    return { report: changes.report(), quantized: [], ranges };
  }
  const quantized = emitQdq(
    model,
    plan,
    ranges,
    { activationType: o.activationType, weightType: o.weightType, reduceRange: o.reduceRange },
    changes,
  );
  return { report: changes.report(), quantized, ranges };
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

export const quantizeStaticPass: Pass<QuantizeStaticOptions> = {
  name: QUANTIZE_STATIC,
  family: 'quantize',
  description: 'Static int8 quantization (QDQ, calibrated activations) that onnxruntime runs with int8 kernels',
  idempotent: false,
  tolerance: Infinity,
  parseOptions: parseQuantizeStaticOptions,
  async run(model: Model, o: QuantizeStaticOptions, ctx: PassContext): Promise<PassReport> {
    return (await quantizeStatic(model, o, calibrationOf(ctx))).report;
  },
};
