/**
 * @module
 * Runtime backends: one `Backend` interface over onnxruntime-node (native CPU) and onnxruntime-web
 * (WebAssembly in Node). Sessions read their signature from the model, check feeds before
 * onnxruntime sees them and turn onnxruntime's failures into one-line errors.
 *
 * @example
 * ```ts
 * import { getBackend } from './runtime/index.js';
 * const session = await getBackend('wasm').createSession('model.onnx', { threads: 1 });
 * console.log(session.inputs); // [{ name: 'x', type: 'float32', dims: ['N', 3, 48, null] }]
 * const out = await session.run({ x: { type: 'float32', dims: [1, 3, 48, 320], data } });
 * await session.release();
 * ```
 */
import { nodeBackend } from './node.js';
import type { Backend, BackendName } from './types.js';
import { wasmBackend } from './wasm.js';

export type { Backend, BackendName, ElemType, Feeds, HostTensor, IoInfo, Session, SessionOptions } from './types.js';
export { nodeBackend } from './node.js';
export { wasmBackend } from './wasm.js';
export { BackendError, FeedError } from './errors.js';
export {
  allocTensor,
  castTensor,
  canCast,
  elementCount,
  floatToHalf,
  formatDims,
  formatTypeShape,
  hostTensorProblem,
  numericView,
  toNumbers,
} from './tensor.js';
// One float16 decoder for the project: the model layer's.
export { halfToFloat } from '@edgeforge/onnx';
export { validateFeeds, mismatch as feedMismatch } from './validate.js';

export const BACKEND_NAMES: readonly BackendName[] = ['node', 'wasm'];

/** The backend called `name`; throws one line naming the choices for anything else. */
export function getBackend(name: string): Backend {
  if (name === 'node') return nodeBackend;
  if (name === 'wasm') return wasmBackend;
  throw new Error(`unknown backend '${name}' (choose ${BACKEND_NAMES.join(' or ')})`);
}
