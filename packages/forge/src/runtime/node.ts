/**
 * The native CPU backend: onnxruntime-node. Loaded on first use, so that a process that only
 * uses the wasm backend never loads the native addon.
 */
import { resolve } from 'node:path';
import {
  baseOrtOptions,
  checkOptions,
  createOrtSession,
  OrtSession,
  readModelIo,
  type OrtModule,
} from './ort-session.js';
import type { Backend, Session, SessionOptions } from './types.js';

let ortPromise: Promise<OrtModule> | undefined;

function loadOrt(): Promise<OrtModule> {
  ortPromise ??= import('onnxruntime-node').then((ort) => {
    ort.env.logLevel = 'error';
    return ort;
  });
  return ortPromise;
}

/**
 * onnxruntime-node on the CPU. A model given as a path may use external data (resolved beside
 * the model); `optimizedModelPath` writes onnxruntime's optimized graph.
 *
 * @example
 * ```ts
 * const s = await nodeBackend.createSession('model.onnx', { threads: 1, graphOptimization: 'basic' });
 * const out = await s.run({ x: { type: 'float32', dims: [1, 4], data: new Float32Array(4) } });
 * await s.release();
 * ```
 */
export const nodeBackend: Backend = {
  name: 'node',
  async createSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    checkOptions('node', opts);
    const io = readModelIo(model);
    const ort = await loadOrt();
    const options = baseOrtOptions(opts);
    if (opts.threads !== undefined) options.intraOpNumThreads = opts.threads;
    if (opts.optimizedModelPath !== undefined) options.optimizedModelFilePath = resolve(opts.optimizedModelPath);
    const session = await createOrtSession('node', ort, model, options);
    return new OrtSession('node', ort, session, io, opts.threads);
  },
};
