/**
 * The WebAssembly backend: onnxruntime-web running inside Node (the same engine a browser runs).
 *
 * Threads: onnxruntime-web sizes its thread pool once per process, when the first session is
 * created (`env.wasm.numThreads`); later sessions share it. A session asking for a different
 * count than the pool has gets a clear error (measure other thread counts in another process).
 *
 * External data: a model given as a path may keep tensors in external files; they are found by
 * reading the model (`location` entries, relative to its folder) and handed to onnxruntime-web
 * through its `externalData` session option, which reads each file into wasm memory. Models
 * given as bytes cannot reference external data (no folder to resolve it against).
 */
import {
  baseOrtOptions,
  checkOptions,
  createOrtSession,
  OrtSession,
  readModelIo,
  type OrtModule,
} from './ort-session.js';
import type { Backend, Session, SessionOptions } from './types.js';

type OrtWeb = typeof import('onnxruntime-web');

let ortPromise: Promise<OrtWeb> | undefined;
/** Thread count of onnxruntime-web's pool once initialized (it cannot change afterwards). */
let poolThreads: number | undefined;

function loadOrt(): Promise<OrtWeb> {
  ortPromise ??= import('onnxruntime-web').then((ort) => {
    ort.env.logLevel = 'error';
    return ort;
  });
  return ortPromise;
}

/** Creates sessions one at a time, so that the first one fixes the thread pool before others start. */
let queue: Promise<unknown> = Promise.resolve();

/**
 * onnxruntime-web (WebAssembly, CPU) in Node.
 *
 * @example
 * ```ts
 * const s = await wasmBackend.createSession('model.onnx', { threads: 1 });
 * ```
 */
export const wasmBackend: Backend = {
  name: 'wasm',
  async createSession(model: string | Uint8Array, opts: SessionOptions = {}): Promise<Session> {
    checkOptions('wasm', opts);
    if (opts.optimizedModelPath !== undefined)
      throw new Error('wasm backend: optimizedModelPath is supported by the node backend only');
    const io = readModelIo(model);
    const ort = await loadOrt();
    const options = baseOrtOptions(opts);
    if (io.externalData.length > 0)
      options.externalData = io.externalData.map(({ location, path }) => ({ path: location, data: path }));
    const create = async () => {
      if (poolThreads === undefined) {
        if (opts.threads !== undefined) ort.env.wasm.numThreads = opts.threads;
      } else if (opts.threads !== undefined && opts.threads !== poolThreads) {
        throw new Error(
          `wasm backend: onnxruntime-web already runs ${poolThreads} thread(s) in this process and cannot change it; ` +
            `use another process for threads=${opts.threads}`,
        );
      }
      try {
        return await createOrtSession('wasm', ort as unknown as OrtModule, model, options);
      } finally {
        // onnxruntime-web writes back the count it initialized with (its default when unset).
        poolThreads ??= ort.env.wasm.numThreads;
      }
    };
    const pending = queue.then(create, create);
    queue = pending.catch(() => undefined);
    const session = await pending;
    return new OrtSession('wasm', ort as unknown as OrtModule, session, io, poolThreads);
  },
};
