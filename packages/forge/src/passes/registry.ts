import { constantsToInitializers } from './optimize/constants-to-initializers.js';
import { dedupeInitializers } from './optimize/dedupe-initializers.js';
import { eliminateDeadCode } from './optimize/eliminate-dead-code.js';
import { eliminateNoops } from './optimize/eliminate-noops.js';
import { foldConstants } from './optimize/fold-constants.js';
import { foldLinearLayers } from './optimize/fold-linear-layers.js';
import { fuseBnIntoConv } from './optimize/fuse-bn-into-conv.js';
import { fuseMatmulAddIntoGemm } from './optimize/fuse-matmul-add-into-gemm.js';
import { fuseMulAddIntoConv } from './optimize/fuse-mul-add-into-conv.js';
import { initializersToConstants } from './optimize/initializers-to-constants.js';
import { simplifyShapes } from './optimize/simplify-shapes.js';
import { upgradeOpsetPass } from './optimize/upgrade-opset.js';
import { distillPass } from '../distill/distill-pass.js';
import { convertFp16 } from './fp16/convert-fp16.js';
import type { Pass } from './pass.js';
import { mergeNeuronsPass } from './prune/merge-neurons.js';
import { pruneGlobalPass, pruneL1Pass } from './prune/prune-magnitude.js';
import { pruneChannelsPass } from './prune/prune-channels.js';
import { pruneNmPass } from './prune/prune-nm.js';
import { storeSparsePass } from './prune/storage.js';
import { quantizeDynamic } from './quantize/quantize-dynamic.js';
import { quantizeStaticPass } from './quantize/quantize-static.js';
import { quantizeWeightOnlyPass } from './quantize/quantize-weight-only.js';
import type { RecipeStep } from './recipe.js';

/** Every pass, by name: one explicit list (after onnxoptimizer's pass registry). */
const ALL = [
  constantsToInitializers,
  initializersToConstants,
  foldConstants,
  eliminateNoops,
  eliminateDeadCode,
  dedupeInitializers,
  fuseBnIntoConv,
  fuseMulAddIntoConv,
  fuseMatmulAddIntoGemm,
  simplifyShapes,
  foldLinearLayers,
  upgradeOpsetPass,
  convertFp16,
  quantizeDynamic,
  quantizeStaticPass,
  quantizeWeightOnlyPass,
  pruneL1Pass,
  pruneGlobalPass,
  pruneNmPass,
  pruneChannelsPass,
  mergeNeuronsPass,
  storeSparsePass,
  distillPass,
] as unknown as Pass<never>[];

export const PASSES: ReadonlyMap<string, Pass<never>> = new Map(ALL.map((p) => [p.name, p]));

/**
 * Safe for every model: exact rewrites, folds computed by onnxruntime, and fusions whose algebra
 * is a per-channel scale or a product of two constant weights that never adds parameters (within
 * 1e-4 relative). Dead code goes last so every pass may leave some.
 */
export const DEFAULT_RECIPE: RecipeStep[] = [
  'eliminate-noops',
  'constants-to-initializers',
  'fold-constants',
  'simplify-shapes',
  'fuse-bn-into-conv',
  'fuse-mul-add-into-conv',
  // Again: folding an Add into a ConvTranspose can put a BatchNormalization right after it (PP-OCR det).
  'fuse-bn-into-conv',
  // After the BN/Mul/Add folds: Conv→BN→Conv is then Conv→Conv with real biases.
  'fold-linear-layers',
  'fuse-matmul-add-into-gemm',
  'eliminate-noops',
  'eliminate-dead-code',
  'dedupe-initializers',
].map((pass) => ({ pass, options: {} }));
