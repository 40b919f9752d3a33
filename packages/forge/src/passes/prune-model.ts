import { readFileSync } from 'node:fs';
import { loadModel } from '@edgeforge/onnx';
import { compressModel, type CompressOptions, type CompressResult } from './compress-model.js';
import { gzipSize, sparsityReport, STORE_SPARSE, type SparsityReport } from './prune/storage.js';
import type { RecipeStep } from './recipe.js';

/** `edgeforge prune --method` → the pass that does it. */
export const PRUNE_METHODS = {
  l1: 'prune-l1',
  global: 'prune-global',
  nm: 'prune-nm',
  channels: 'prune-channels',
  merge: 'merge-neurons',
} as const;
export type PruneMethod = keyof typeof PRUNE_METHODS;

export interface PruneOptions extends Omit<CompressOptions, 'steps'> {
  method: PruneMethod;
  /** Options of the method's pass (validated by the pass). */
  passOptions?: Record<string, unknown>;
  /** Store pruned weights as sparse_initializer where that is smaller (`store-sparse`, last). */
  storeSparse?: boolean | { minSparsity: number };
}

export interface PruneResult extends CompressResult {
  method: PruneMethod;
  /** What a compressed download costs: gzip of the model file, before and after. */
  gzipBefore: number;
  gzipAfter: number;
  /** Zeros per prunable weight of the result. */
  sparsity: SparsityReport;
}

/**
 * `edgeforge prune`: the default optimize recipe, the method's pass, optionally sparse storage;
 * saved atomically and measured against the original (see `compressModel`), plus the per-layer
 * sparsity and the gzip sizes (what a bundle download costs).
 */
export async function pruneModel(input: string, output: string, o: PruneOptions): Promise<PruneResult> {
  const { method, passOptions, storeSparse, ...rest } = o;
  const pass = PRUNE_METHODS[method];
  if (!pass) throw new Error(`unknown method '${String(method)}' (methods: ${Object.keys(PRUNE_METHODS).join(', ')})`);
  const steps: RecipeStep[] = [{ pass, options: passOptions ?? {} }];
  if (storeSparse)
    steps.push({ pass: STORE_SPARSE, options: typeof storeSparse === 'object' ? { ...storeSparse } : {} });
  const r = await compressModel(input, output, { ...rest, steps });
  return {
    method,
    ...r,
    gzipBefore: gzipSize(readFileSync(input)),
    gzipAfter: gzipSize(readFileSync(output)),
    sparsity: sparsityReport(loadModel(output)),
  };
}
