/**
 * @module
 * Knowledge distillation and fine-tuning of ONNX students, trained in onnxruntime (see `train/`).
 */
export {
  checkDistillOptions,
  distill,
  OPTIMIZERS,
  TrainingDiverged,
  type DistillOptions,
  type DistillProgress,
  type DistillResult,
  type EvalRecord,
  type OptimizerName,
} from './distill.js';
export { shrinkWidth, type ShrinkResult } from './shrink-width.js';
export { openTrainSet, readSamples, type TrainBatch, type TrainSet, type TrainSetOptions } from './train-set.js';
export { distillModel, type DistillModelOptions, type DistillModelResult } from './distill-model.js';
export { DISTILL, distillPass, parseDistillPassOptions, type DistillPassOptions } from './distill-pass.js';
