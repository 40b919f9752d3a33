/**
 * @module
 * The model checker: what onnxruntime 1.30 enforces when it creates a session, checked on the IR
 * (no runtime needed). `error` means ORT refuses the model; `warning` means the ONNX spec forbids
 * it but ORT loads it anyway. One rule per file under `rules/`, listed in `check.ts`.
 *
 * @example
 * ```ts
 * import { checkModel, assertValid } from '@edgeforge/onnx';
 * for (const i of checkModel(model)) console.log(`${i.severity} [${i.rule}] ${i.message}`);
 * assertValid(model); // throws CheckError on the first error
 * ```
 */
export { checkModel, assertValid, CheckError, checkRules } from './check.js';
export type { CheckIssue, CheckOptions, Severity } from './types.js';
