/**
 * The one runtime interface edgeforge measures through: onnxruntime-node (native CPU) and
 * onnxruntime-web (WebAssembly, in Node). Host tensors are plain typed arrays so that callers do
 * not depend on either package's Tensor class.
 */

/** Element types a host tensor can carry (onnxruntime's names). */
export type ElemType =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

/** A tensor in host memory. float16 data is the raw Uint16 bit patterns; bool is Uint8 (0/1). */
export interface HostTensor {
  type: ElemType;
  dims: number[];
  data:
    | Float32Array
    | Float64Array
    | Int8Array
    | Uint8Array
    | Int16Array
    | Uint16Array
    | Int32Array
    | Uint32Array
    | BigInt64Array
    | BigUint64Array
    | string[];
}

export type Feeds = Record<string, HostTensor>;

export type BackendName = 'node' | 'wasm';

export interface SessionOptions {
  /** Intra-op threads (default: runtime's choice; wasm in Node honours it via env.wasm.numThreads). */
  threads?: number;
  /** onnxruntime graph optimization level (default 'all'). */
  graphOptimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Write ORT's optimized model here (node backend only). */
  optimizedModelPath?: string;
}

/** Name, element type and (symbolic) dims of a model input or output, from the model itself. */
export interface IoInfo {
  name: string;
  type: ElemType | 'unknown';
  /** numbers, symbolic names, or null for unknown; undefined = unknown rank. */
  dims?: (number | string | null)[];
}

export interface Session {
  readonly backend: BackendName;
  /**
   * Intra-op threads the session runs with, when known (the `threads` option; for wasm, the
   * process-wide thread count onnxruntime-web was initialized with).
   */
  readonly threads?: number;
  readonly inputs: readonly IoInfo[];
  readonly outputs: readonly IoInfo[];
  /** Runs the model; validates feed names, types and ranks/static dims first with one clear error. */
  run(feeds: Feeds, outputNames?: string[]): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

export interface Backend {
  readonly name: BackendName;
  /** Creates a session from a model file path or the model's bytes. */
  createSession(model: string | Uint8Array, opts?: SessionOptions): Promise<Session>;
}
