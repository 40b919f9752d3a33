/**
 * What onnxruntime 1.30 accepts, measured with onnxruntime-node 1.30.0 (session creation on tiny
 * models built for the purpose; see `check.test.ts`).
 */

/**
 * Highest opset per domain: above it ORT refuses to load ("ONNX Runtime only *guarantees* support
 * for models stamped with official released onnx opset versions … Current official support for
 * domain ai.onnx is till opset 26"). Other domains have no limit.
 */
export const ORT_MAX_OPSET: ReadonlyMap<string, number> = new Map([
  ['', 26],
  ['ai.onnx.ml', 5],
  ['com.microsoft', 1],
  ['ai.onnx.preview.training', 1],
]);

/**
 * Domains ORT registers itself: a node of one of these domains loads even when the model does not
 * import the domain (ORT assumes its latest version, which may not be the one the exporter meant).
 * A node of any other domain without an import is refused: "No opset import for domain 'x'".
 */
export const ORT_BUILTIN_DOMAINS: ReadonlySet<string> = new Set([
  '',
  'ai.onnx.ml',
  'com.microsoft',
  'com.microsoft.nchwc',
  'com.microsoft.experimental',
  'com.ms.internal.nhwc',
  'ai.onnx.training',
  'ai.onnx.preview.training',
  'org.pytorch.aten',
]);
