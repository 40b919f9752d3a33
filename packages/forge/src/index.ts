/**
 * @module
 * `@edgeforge/forge`: everything that transforms or measures a model — onnxruntime backends
 * (native and WebAssembly), datasets, evaluation (task metrics and fidelity), benchmarks and reports.
 */
export {};
