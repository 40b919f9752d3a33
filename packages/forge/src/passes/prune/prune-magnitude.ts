/**
 * Unstructured magnitude pruning, as `torch.nn.utils.prune` does it (contract §10): two passes.
 *
 * `prune-l1` (`l1_unstructured`, per layer): in each selected weight of `n` elements the
 * `k = round(amount·n)` smallest |w| become 0 (`round` is Python's: ties to even, so 0.25·130 = 32.5
 * prunes 32).
 *
 * `prune-global` (`global_unstructured` with `L1Unstructured`): one ranking over all selected weights
 * together, `k = round(amount·total)`: layers with many small weights lose more than others.
 *
 * ```
 * Before:  Conv(X, W = [0.3, -0.05, 0.8, 0.01])          amount 0.5
 * After:   Conv(X, W = [0.3,  0,    0.8, 0   ])          (same names, dims and type)
 * ```
 *
 * Options: `amount` (required, a fraction in [0, 1]) and the selection (`opTypes`, `nodes`,
 * `minSize`, see select.ts). A selection that matches no weight is an error.
 *
 * Ties: equal |w| are pruned in element order (row-major; for `prune-global` the weights in graph
 * order), lower index first. torch's `topk` leaves the order of ties unspecified, so the masks agree
 * with torch whenever the k-th smallest |w| is unique (the goldens are chosen that way).
 *
 * Zeros already in a weight: this is a fresh prune of the tensor as it is, like torch on a module
 * pruned for the first time, so existing zeros are simply the smallest |w| and count towards k
 * (torch's `PruningContainer`, which prunes a fraction of the still-unpruned entries, only applies
 * when torch prunes the same module twice through its API, keeping the mask; an ONNX model carries
 * no mask). Hence a second run with the same amount changes nothing, and 0.5 after 0.5 stays at 50%,
 * not 75%. NaN ranks as the largest magnitude (never pruned before a number).
 *
 * Element types: float32, float64, float16, bfloat16 (zeroes the bits; nothing else changes).
 */
import type { Model } from '@edgeforge/onnx';
import { Changes, PassOptionError, type Pass, type PassReport } from '../pass.js';
import { roundHalfEven } from '../quantize/params.js';
import {
  SELECTION_KEYS,
  magnitudes,
  parseSelection,
  selectWeights,
  pruneWeight,
  zeroTest,
  type PrunableWeight,
  type WeightSelection,
} from './select.js';

export const PRUNE_L1 = 'prune-l1';
export const PRUNE_GLOBAL = 'prune-global';

export interface MagnitudeOptions extends WeightSelection {
  /** Fraction of the (per-layer or global) elements to zero, in [0, 1]. */
  amount: number;
}

/** torch's `_compute_nparams_toprune` for a float amount: Python's `round(amount·n)`, ties to even. */
export function pruneCount(amount: number, n: number): number {
  return roundHalfEven(amount * n);
}

/** Validates a fraction option in [0, 1]. */
export function checkFraction(pass: string, key: string, v: unknown, required: boolean): number | undefined {
  if (v === undefined) {
    if (required) throw new PassOptionError(`${pass}: '${key}' is required: a fraction in [0, 1]`);
    return undefined;
  }
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 1)
    throw new PassOptionError(`${pass}: '${key}' must be a number in [0, 1] (got ${JSON.stringify(v)})`);
  return v;
}

/** Refuses option keys the pass does not know. */
export function checkKeys(pass: string, raw: Record<string, unknown>, keys: readonly string[]): void {
  const unknown = Object.keys(raw).filter((k) => !keys.includes(k));
  if (unknown.length)
    throw new PassOptionError(
      `${pass}: unknown option ${unknown.map((k) => `'${k}'`).join(', ')} (options: ${keys.join(', ')})`,
    );
}

function parser(pass: string) {
  return (raw: Record<string, unknown>): MagnitudeOptions => {
    checkKeys(pass, raw, ['amount', ...SELECTION_KEYS]);
    const amount = checkFraction(pass, 'amount', raw.amount, true)!;
    return { amount, ...parseSelection(raw, pass) };
  };
}

/**
 * A keep-mask (1 keep, 0 prune) that prunes the `k` smallest of `m`, ties in index order; NaN ranks
 * above every number.
 */
export function smallestMask(m: Float64Array, k: number): Uint8Array {
  const keep = new Uint8Array(m.length).fill(1);
  if (k <= 0) return keep;
  if (k >= m.length) return keep.fill(0);
  const key = (x: number) => (Number.isNaN(x) ? Infinity : x);
  // The k-th smallest by a native numeric sort (NaN sorts last), then one linear pass.
  const t = key(Float64Array.from(m).sort()[k - 1]);
  let below = 0;
  for (let i = 0; i < m.length; i++) if (key(m[i]) < t) below++;
  let ties = k - below;
  for (let i = 0; i < m.length; i++) {
    const x = key(m[i]);
    if (x < t) keep[i] = 0;
    else if (x === t && ties > 0) {
      keep[i] = 0;
      ties--;
    }
  }
  return keep;
}

/** Applies keep-masks and reports; `masks[i]` belongs to `weights[i]`. */
function write(weights: PrunableWeight[], masks: Uint8Array[], skipped: string[]): PassReport {
  const changes = new Changes();
  let zeros = 0;
  let total = 0;
  weights.forEach((w, i) => {
    const data = pruneWeight(w, masks[i], changes);
    const zero = zeroTest(w.tensor.dtype);
    for (let j = 0; j < data.length; j++) if (zero(data[j])) zeros++;
    total += data.length;
  });
  for (const s of skipped) changes.note(`left alone: ${s}`);
  changes.note(
    `selected weights: ${weights.length} tensors, ${total} elements, now ${((100 * zeros) / total).toFixed(2)}% zero`,
  );
  return changes.report();
}

/** `prune-l1`: the `round(amount·n)` smallest |w| of each selected weight become 0. */
export function pruneL1(model: Model, o: MagnitudeOptions): PassReport {
  const { weights, skipped } = selectWeights(model, o, PRUNE_L1);
  const masks = weights.map((w) => {
    const m = magnitudes(w.tensor);
    return smallestMask(m, pruneCount(o.amount, m.length));
  });
  return write(weights, masks, skipped);
}

/** `prune-global`: the `round(amount·total)` smallest |w| over all selected weights become 0. */
export function pruneGlobal(model: Model, o: MagnitudeOptions): PassReport {
  const { weights, skipped } = selectWeights(model, o, PRUNE_GLOBAL);
  const parts = weights.map((w) => magnitudes(w.tensor));
  const all = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  const mask = smallestMask(all, pruneCount(o.amount, all.length));
  at = 0;
  const masks = parts.map((p) => {
    const m = mask.subarray(at, at + p.length);
    at += p.length;
    return m;
  });
  return write(weights, masks, skipped);
}

export const pruneL1Pass: Pass<MagnitudeOptions> = {
  name: PRUNE_L1,
  family: 'prune',
  description: 'Zeroes the round(amount·n) smallest |w| of each selected weight (torch l1_unstructured)',
  idempotent: true,
  tolerance: Infinity,
  parseOptions: parser(PRUNE_L1),
  run: (model, o) => pruneL1(model, o),
};

export const pruneGlobalPass: Pass<MagnitudeOptions> = {
  name: PRUNE_GLOBAL,
  family: 'prune',
  description: 'Zeroes the round(amount·total) smallest |w| over all selected weights (torch global_unstructured)',
  idempotent: true,
  tolerance: Infinity,
  parseOptions: parser(PRUNE_GLOBAL),
  run: (model, o) => pruneGlobal(model, o),
};
