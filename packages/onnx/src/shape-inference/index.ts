/**
 * @module
 * Type and shape inference for ONNX graphs, and multiply-accumulate counts built on it.
 *
 * @example
 * ```ts
 * import { loadModel, inferShapes, modelMacs } from '@edgeforge/onnx';
 * const model = loadModel('model.onnx');
 * const report = inferShapes(model, { inputShapes: { x: [1, 3, 224, 224] } });
 * console.log(report.inferred, report.noRule, modelMacs(model).total);
 * ```
 */
export { inferShapes, type InferOptions, type InferReport } from './infer.js';
export { supportedOps } from './registry.js';
export { estimateMacs, modelMacs, type MacsOptions, type ModelMacs } from './macs.js';
