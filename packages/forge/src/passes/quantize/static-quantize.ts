/**
 * The core of `quantize-static` (the pass, its options and documentation are in
 * `quantize-static.ts`): refuse quantized models, raise the opset, plan, calibrate, rewrite.
 */
import { inferShapes, type Model } from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/types.js';
import { OpsetUpgradeError, upgradeOpset } from '../optimize/upgrade-opset.js';
import { Changes, type PassReport } from '../pass.js';
import { refuseQuantized } from './already-quantized.js';
import { calibrate, type CalibrationMethod, type TensorRange } from './calibrate.js';
import { emitQdq, type QuantizedNode } from './qdq-emit.js';
import {
  nodeId,
  planQdq,
  tensorsToCalibrate,
  type ActivationType,
  type PlannedNode,
  type QdqPlan,
  type WeightType,
} from './qdq-plan.js';

export const QUANTIZE_STATIC = 'quantize-static';

/** Lowest opset with QuantizeLinear / DequantizeLinear. */
const MIN_OPSET = 10;
/** Where ORT's quantizer takes a model below 10 (`quant_utils.update_opset_version`), per tensor. */
const ORT_UPGRADE_OPSET = 11;
/** DequantizeLinear `axis` (per-channel weights) exists from here. */
const PER_CHANNEL_OPSET = 13;

export interface QuantizeStaticOptions {
  calibrateMethod: CalibrationMethod;
  /** Percentile method: share of values kept (default 99.999). */
  percentile: number;
  activationType: ActivationType;
  weightType: WeightType;
  /**
   * undefined: per channel, raising the opset to 13 when needed (per tensor with a note when that
   * is impossible); true: per channel or refuse; false: per tensor.
   */
  perChannel?: boolean;
  reduceRange: boolean;
  opTypes: string[];
  excludeNodes: string[];
  /** When non-empty, only these nodes are quantized. */
  includeNodes: string[];
}

export interface StaticQuantization {
  report: PassReport;
  /** Nodes that now run between DequantizeLinear inputs and a QuantizeLinear output. */
  quantized: QuantizedNode[];
  /** Calibrated range of every observed tensor (by float-model name). */
  ranges: Map<string, TensorRange>;
}

/**
 * Brings the model to an opset the quantization needs (contract §1): 13 for per-channel weights
 * (DequantizeLinear `axis`; the default), 10 for QuantizeLinear at all. Returns whether weights go
 * per channel. Per channel by default falls back to per tensor, with a note, when the model is
 * already at ≥ 10 and cannot be raised to 13; an explicit `perChannel: true` and a model below 10
 * that cannot be raised are refused.
 */
function raiseOpset(model: Model, requested: boolean | undefined, changes: Changes): boolean {
  const from = model.opset;
  const raise = (to: number): string | undefined => {
    try {
      const r = upgradeOpset(model, to);
      changes.note(
        `ai.onnx opset ${r.from} → ${r.to} (${to === PER_CHANNEL_OPSET ? 'per-channel weights' : 'QuantizeLinear'} need ${to})`,
      );
      for (const [what, k] of Object.entries(r.rewritten)) changes.add(`opset upgrade: ${what}`, k);
      return undefined;
    } catch (e) {
      if (e instanceof OpsetUpgradeError) return e.message;
      throw e;
    }
  };
  if (requested !== false && from < PER_CHANNEL_OPSET) {
    const why = raise(PER_CHANNEL_OPSET);
    if (!why) return true;
    if (requested || from < MIN_OPSET)
      throw new Error(
        `${QUANTIZE_STATIC}: ${requested ? 'per-channel weights need' : 'quantization needs'} opset ` +
          `${requested ? PER_CHANNEL_OPSET : MIN_OPSET} and the model (opset ${from}) cannot be raised: ${why}`,
      );
    changes.note(`opset ${from} kept, weights quantized per tensor (per channel needs ${PER_CHANNEL_OPSET}): ${why}`);
    return false;
  }
  if (from < MIN_OPSET) {
    const why = raise(ORT_UPGRADE_OPSET);
    if (why)
      throw new Error(
        `${QUANTIZE_STATIC}: quantization needs opset ${MIN_OPSET} and the model (opset ${from}) cannot be raised: ${why}`,
      );
  }
  return requested !== false;
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
  refuseQuantized(model, QUANTIZE_STATIC);
  const changes = new Changes();
  const perChannel = raiseOpset(model, o.perChannel, changes);
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
