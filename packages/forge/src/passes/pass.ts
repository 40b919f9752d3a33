import type { Dim, Graph, Model } from '@edgeforge/onnx';
import type { Feeds } from '../runtime/types.js';

/**
 * A pass: a named, documented, option-validated function from IR to IR that says what it changed.
 * One pass per file; the file name, `name` and the user-facing string are the same
 * (`passes/optimize/fuse-bn-into-conv.ts` → `fuse-bn-into-conv`).
 */
export interface PassReport {
  /** Whether the model changed at all. */
  changed: boolean;
  /** What changed, by kind (e.g. `{ 'BatchNormalization folded': 15 }`). */
  counts: Record<string, number>;
  /** Human notes: refusals, skipped cases, with node names. */
  notes?: string[];
}

export type PassFamily = 'optimize' | 'prune' | 'quantize' | 'fp16' | 'distill';

export interface PassContext {
  /** Fixed input shapes (`--input-shape`), when given. */
  inputShapes?: Record<string, Dim[]>;
  /**
   * Calibration inputs for static quantization (`--calib`). Each call starts a fresh pass over the
   * data, batch by batch, so calibration streams instead of holding every sample.
   */
  calibration?: () => AsyncIterable<Feeds>;
  /**
   * The model as it was before the recipe's first step (a fresh copy per call), kept only when a step
   * asks for it (`needsOriginal`): `distill`'s teacher.
   */
  original?: () => Model;
}

export interface Pass<O = Record<string, unknown>> {
  readonly name: string;
  readonly family: PassFamily;
  /** One line for `--help` and reports. */
  readonly description: string;
  /** Running it twice changes nothing the second time. */
  readonly idempotent: boolean;
  /**
   * Largest relative difference of outputs it may cause (0 for exact rewrites). `--verify` compares
   * against this.
   */
  readonly tolerance: number;
  /** Needs `ctx.original` (the runner then keeps a serialized copy of the model it started from). */
  readonly needsOriginal?: boolean;
  /** Validates and fills defaults; throws `PassOptionError` naming the bad option. */
  parseOptions(raw: Record<string, unknown>): O;
  /** Rewrites `model` in place (async: some passes run onnxruntime). */
  run(model: Model, options: O, ctx: PassContext): PassReport | Promise<PassReport>;
}

export class PassOptionError extends Error {
  override name = 'PassOptionError';
}

/** Counts changes for a report. */
export class Changes {
  readonly counts: Record<string, number> = {};
  readonly notes: string[] = [];
  add(what: string, n = 1): void {
    if (n) this.counts[what] = (this.counts[what] ?? 0) + n;
  }
  note(s: string): void {
    this.notes.push(s);
  }
  report(): PassReport {
    const changed = Object.values(this.counts).some((n) => n > 0);
    return { changed, counts: { ...this.counts }, ...(this.notes.length ? { notes: [...this.notes] } : {}) };
  }
}

/** For passes without options: refuses any option. */
export function noOptions(name: string) {
  return (raw: Record<string, unknown>): Record<string, never> => {
    const keys = Object.keys(raw);
    if (keys.length) throw new PassOptionError(`pass '${name}' takes no options (got ${keys.join(', ')})`);
    return {};
  };
}

/** Every graph of the model a pass should visit: main graph, subgraphs (depth first), function bodies. */
export { allGraphs } from '@edgeforge/onnx';
export type { Graph, Model };
