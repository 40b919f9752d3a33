/**
 * @module
 * `@edgeforge/forge`: everything that transforms or measures a model — onnxruntime backends
 * (native and WebAssembly), datasets, evaluation (task metrics and fidelity), benchmarks and reports.
 *
 * @example
 * ```ts
 * import { getBackend, openDataset, evaluateModel } from '@edgeforge/forge';
 * const session = await getBackend('node').createSession('mnist.onnx');
 * const data = await openDataset('idx:t10k-images-idx3-ubyte,labels=t10k-labels-idx1-ubyte', { inputs: session.inputs });
 * const { task } = await evaluateModel({ session, batches: data });
 * console.log(task?.top1);
 * ```
 */
export {
  getBackend,
  nodeBackend,
  wasmBackend,
  BACKEND_NAMES,
  BackendError,
  FeedError,
  validateFeeds,
  feedMismatch,
  allocTensor,
  castTensor,
  canCast,
  elementCount,
  floatToHalf,
  halfToFloat,
  formatDims,
  formatTypeShape,
  hostTensorProblem,
  numericView,
  toNumbers,
  type Backend,
  type BackendName,
  type ElemType,
  type Feeds,
  type HostTensor,
  type IoInfo,
  type Session,
  type SessionOptions,
} from './runtime/index.js';
export {
  openDataset,
  parseDataSpec,
  DataError,
  FORMATS,
  type Batch,
  type Dataset,
  type DatasetInput,
  type DatasetOptions,
  type DataFormat,
  type DataSpec,
} from './data/index.js';
export {
  ClassificationMetrics,
  FidelityMetrics,
  type ClassificationResult,
  type FidelityResult,
} from './evaluate/metrics.js';
export { evaluateModel, type EvalBatch, type EvaluateOptions, type EvalMeasurement } from './evaluate/evaluate.js';
export {
  ocrAccuracy,
  editDistance,
  normalizeOcrText,
  type OcrRunner,
  type OcrAccuracy,
  type OcrAccuracyOptions,
  type OcrLineResult,
} from './evaluate/ocr/check.js';
export { ocrCorpus } from './evaluate/ocr/corpus.js';
export {
  loadOcrKeys,
  parseOcrKeys,
  ctcGreedyDecode,
  ctcDecodeBatch,
  type OcrVocabulary,
  type CtcResult,
} from './evaluate/ocr/ctc.js';
export { preprocessBatch, resizedWidth, type OcrTensor, type PreprocessOptions } from './evaluate/ocr/preprocess.js';
export {
  renderLine,
  ensureOcrFonts,
  ocrFont,
  OCR_FONTS,
  OCR_DEFAULT_FONTS,
  OcrFontError,
  type RgbImage,
  type OcrFont,
  type RenderOptions,
} from './evaluate/ocr/render.js';
export { latencyStats, percentile, type LatencyStats as LatencySummary } from './bench/stats.js';
export {
  benchModel,
  benchPair,
  type BenchOptions,
  type BenchMeasurement,
  type PairMeasurement,
} from './bench/bench.js';
export {
  renderReport,
  writeReport,
  parseReportResult,
  ReportDataError,
  type ReportOptions,
  type ReportResult,
  type EvalResult,
  type BenchResult,
  type CompareResult,
  type ModelRef,
  type TaskMetrics,
  type ClassMetrics,
  type FidelityReport,
  type OutputFidelity,
  type LatencyStats,
  type LatencyComparison,
  type ModelProfile,
  type DtypeParams,
} from './report/index.js';
export { runEval, runBench, runCompare, modelRef, type RunOptions } from './evaluate/run.js';
export {
  Changes,
  PassOptionError,
  noOptions,
  type Pass,
  type PassContext,
  type PassFamily,
  type PassReport,
} from './passes/pass.js';
export {
  runPasses,
  resolveSteps,
  PassFailure,
  type RunReport,
  type StepReport,
  type Verifier,
} from './passes/manager.js';
export { parseRecipe, parsePassList, RecipeError, type RecipeStep } from './passes/recipe.js';
export { PASSES, DEFAULT_RECIPE } from './passes/registry.js';
export { optimizeModel, type OptimizeOptions, type OptimizeResult } from './passes/optimize-model.js';
export {
  quantizeModel,
  quantizeSteps,
  QUANTIZE_MODES,
  type QuantizeMode,
  type QuantizeOptions,
  type QuantizeResult,
} from './passes/quantize-model.js';
export {
  compressModel,
  calibrationSource,
  type CompressOptions,
  type CompressResult,
} from './passes/compress-model.js';
export {
  convertFp16,
  toFloat16Clamped,
  DEFAULT_FP16_BLOCK_OPS,
  type ConvertFp16Options,
} from './passes/fp16/convert-fp16.js';
export {
  upgradeOpset,
  upgradeOpsetPass,
  OpsetUpgradeError,
  MAX_TARGET_OPSET,
  type UpgradeResult,
  type Refusal,
} from './passes/optimize/upgrade-opset.js';
export {
  quantizeDynamic,
  parseQuantizeDynamicOptions,
  DYNAMIC_OP_TYPES,
  DEFAULT_DYNAMIC_OP_TYPES,
  type QuantizeDynamicOptions,
} from './passes/quantize/quantize-dynamic.js';
export {
  quantizeWeightOnlyPass,
  quantizeWeightOnly,
  parseWeightOnlyOptions,
  QUANTIZE_WEIGHT_ONLY,
  type WeightOnlyOptions,
  type WeightOnlyFormat,
  type WeightOnlyOp,
} from './passes/quantize/quantize-weight-only.js';
export {
  quantizeBlocks,
  quantizeMatMulNBits,
  packMatMulNBits,
  quantizeTable,
  dequantizeBlocks,
  type BlockQuantized,
  type BlockwiseOptions,
  type MatMulNBitsTensors,
} from './passes/quantize/blockwise.js';
export {
  pruneModel,
  PRUNE_METHODS,
  type PruneMethod,
  type PruneOptions,
  type PruneResult,
} from './passes/prune-model.js';
export {
  pruneL1Pass,
  pruneGlobalPass,
  pruneL1,
  pruneGlobal,
  pruneCount,
  PRUNE_L1,
  PRUNE_GLOBAL,
  type MagnitudeOptions,
} from './passes/prune/prune-magnitude.js';
export { pruneNmPass, pruneNm, parseNmOptions, PRUNE_NM, type NmOptions } from './passes/prune/prune-nm.js';
export {
  mergeNeuronsPass,
  mergeNeurons,
  parseMergeOptions,
  MERGE_NEURONS,
  type MergeOptions,
} from './passes/prune/merge-neurons.js';
export {
  storeSparsePass,
  storeSparse,
  sparsityReport,
  formatSparsity,
  gzipSize,
  STORE_SPARSE,
  type SparsityReport,
  type WeightSparsity,
  type StoreSparseOptions,
} from './passes/prune/storage.js';
export {
  PRUNABLE_OPS,
  parseSelection,
  findWeights,
  selectWeights,
  type WeightSelection,
  type PrunableWeight,
} from './passes/prune/select.js';
export {
  quantizeStaticPass,
  quantizeStatic,
  parseQuantizeStaticOptions,
  QUANTIZE_STATIC,
  DEFAULT_ACTIVATION_TYPE,
  type QuantizeStaticOptions,
  type QuantizeStaticPassOptions,
  type StaticQuantization,
} from './passes/quantize/quantize-static.js';
export {
  calibrate,
  percentileRange,
  entropyRange,
  CALIBRATION_METHODS,
  type CalibrationMethod,
  type CalibrateOptions,
  type CalibrationResult,
  type TensorRange,
} from './passes/quantize/calibrate.js';
export { layerErrors, outputSnr, type LayerError } from './passes/quantize/layer-errors.js';
export { quantizeStaticAuto, type AutoExcludeOptions, type AutoExcludeResult } from './passes/quantize/auto-exclude.js';
export {
  pruneChannelsPass,
  pruneChannels,
  parsePruneChannelsOptions,
  channelGroups,
  channelsToRemove,
  PRUNE_CHANNELS,
  CHANNEL_CRITERIA,
  type PruneChannelsOptions,
  type ChannelCriterion,
  type ChannelGroupSummary,
} from './passes/prune/prune-channels.js';
export * from './train/index.js';
export * from './distill/index.js';
