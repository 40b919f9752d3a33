/**
 * A narrower student from the teacher itself (`--shrink-width f`): the default optimize recipe
 * (BatchNormalization folded), then structured channel pruning keeping the fraction `f` of every
 * prunable channel group, ranked by L1 norm. The student starts from the teacher's strongest channels
 * rather than from random weights, which is what makes short distillation runs recover.
 */
import type { Model } from '@edgeforge/onnx';
import { runPasses } from '../passes/manager.js';
import { PRUNE_CHANNELS } from '../passes/prune/prune-channels.js';
import { DEFAULT_RECIPE, PASSES } from '../passes/registry.js';

export interface ShrinkResult {
  /** Channels removed, by what the pruning pass counts. */
  counts: Record<string, number>;
  notes: string[];
}

/** Shrinks `model` in place to `factor` (0 < factor < 1) of its width. */
export async function shrinkWidth(
  model: Model,
  factor: number,
  opts: { multipleOf?: number } = {},
): Promise<ShrinkResult> {
  if (!(factor > 0 && factor < 1)) throw new Error(`shrink-width must be in (0, 1), got ${factor}`);
  const r = await runPasses(
    model,
    [
      ...DEFAULT_RECIPE,
      {
        pass: PRUNE_CHANNELS,
        options: { amount: 1 - factor, ...(opts.multipleOf ? { multipleOf: opts.multipleOf } : {}) },
      },
    ],
    { registry: PASSES },
  );
  const prune = r.steps.at(-1)!;
  if (!prune.changed)
    throw new Error(
      `shrink-width: no channel of this model can be removed consistently (${(prune.notes ?? ['no prunable Conv/Gemm/MatMul channel groups']).join('; ')})`,
    );
  return { counts: prune.counts, notes: prune.notes ?? [] };
}
