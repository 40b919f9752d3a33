/**
 * @module
 * Training on ONNX graphs with onnxruntime as the engine: reverse-mode autodiff on the IR builds a
 * training model out of standard ai.onnx operators (loss + one gradient output per trainable
 * initializer), losses are appended in-graph, and a `Trainer` runs steps in onnxruntime-node while an
 * optimizer updates the weights in TypeScript.
 *
 * @example
 * ```ts
 * const model = loadModel('student.onnx');
 * const loss = appendCrossEntropy(model, 'logits'); // adds input `labels`
 * const tg = buildTrainingGraph(model, loss);
 * const trainer = await Trainer.create(tg, new Adam(1e-3));
 * for (const batch of batches) console.log(await trainer.step(batch)); // { input, labels }
 * trainer.writeBack(student); // same structure, names and opset; new weights
 * ```
 */
export {
  buildTrainingGraph,
  differentiableOps,
  GradContext,
  type GradientRule,
  type TrainableParam,
  type TrainingGraph,
  type TrainingGraphOptions,
} from './autodiff.js';
export { appendCrossEntropy, appendDistillationLoss, appendMse, appendWeightedSum } from './losses.js';
export { Adam, Sgd, constantLr, cosineLr, type Optimizer, type Schedule } from './optimizers.js';
export { Trainer } from './trainer.js';
export {
  directionalCheck,
  gradCheck,
  weightedSumLoss,
  type DirectionalResult,
  type GradCheckResult,
} from './gradcheck.js';
