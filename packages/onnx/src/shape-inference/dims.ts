/**
 * Arithmetic on dimensions: numbers (static), strings (symbolic `dim_param`) and `null` (unknown).
 *
 * Symbolic products are kept as canonical monomials (`N`, `3*N`, `N*T`) so that a PyTorch
 * `x.reshape(B*T, C)` followed by `reshape(B, T, -1)` still resolves `-1` to `C`. Sums of symbols are
 * not modelled: they become `null`. Nothing here guesses: an answer is either exact or `null`.
 */
import type { Dim } from '../ir/types.js';

/** A rule hit input it cannot make sense of (bad rank, incompatible dims): outputs stay unknown. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export function fail(message: string): never {
  throw new ShapeError(message);
}

export function isStaticShape(shape: readonly Dim[] | undefined): shape is number[] {
  return shape !== undefined && shape.every((d) => typeof d === 'number');
}

/** A product `coef * s1 * s2 * …` of symbols (sorted), or undefined for unknown. */
interface Monomial {
  coef: number;
  syms: string[];
}

const FACTOR = /^[A-Za-z_][\w.:-]*$/;

function toMono(d: Dim): Monomial | undefined {
  if (typeof d === 'number') return { coef: d, syms: [] };
  if (typeof d !== 'string') return undefined;
  const parts = d.split('*');
  if (parts.length > 1 && parts.every((p) => FACTOR.test(p) || /^\d+$/.test(p))) {
    let coef = 1;
    const syms: string[] = [];
    for (const p of parts) {
      if (/^\d+$/.test(p)) coef *= Number(p);
      else syms.push(p);
    }
    return { coef, syms: syms.sort() };
  }
  return { coef: 1, syms: [d] };
}

function fromMono(m: Monomial): Dim {
  if (m.coef === 0 || m.syms.length === 0) return m.coef;
  if (!Number.isSafeInteger(m.coef) || m.coef < 0) return null;
  if (m.coef === 1 && m.syms.length === 1) return m.syms[0];
  return [...(m.coef === 1 ? [] : [String(m.coef)]), ...m.syms].join('*');
}

/** a × b: exact for numbers, symbolic monomials for symbols, null when either is unknown (0 wins). */
export function mulDim(a: Dim, b: Dim): Dim {
  if (a === 0 || b === 0) return 0;
  const ma = toMono(a);
  const mb = toMono(b);
  if (!ma || !mb) return null;
  return fromMono({ coef: ma.coef * mb.coef, syms: [...ma.syms, ...mb.syms].sort() });
}

/** Product of dims (1 for none). */
export function productDims(dims: readonly Dim[]): Dim {
  let p: Dim = 1;
  for (const d of dims) p = mulDim(p, d);
  return p;
}

/** a ÷ b when it divides exactly (numbers, or symbols that cancel); otherwise null. */
export function divDim(a: Dim, b: Dim): Dim {
  if (b === 0) return null;
  if (a === 0) return 0;
  const ma = toMono(a);
  const mb = toMono(b);
  if (!ma || !mb) return null;
  if (ma.coef % mb.coef !== 0) return null;
  const syms = [...ma.syms];
  for (const s of mb.syms) {
    const k = syms.indexOf(s);
    if (k < 0) return null;
    syms.splice(k, 1);
  }
  return fromMono({ coef: ma.coef / mb.coef, syms });
}

/** d + k for an integer k: exact for numbers; a symbol survives only k = 0. */
export function addDim(d: Dim, k: number): Dim {
  if (typeof d === 'number') return d + k;
  return k === 0 ? d : null;
}

/** Sum of dims: exact when all static; a single non-zero symbolic term with zeros survives. */
export function sumDims(dims: readonly Dim[]): Dim {
  let total = 0;
  let sym: Dim | undefined;
  for (const d of dims) {
    if (typeof d === 'number') total += d;
    else if (d === null || sym !== undefined) return null;
    else sym = d;
  }
  return sym === undefined ? total : total === 0 ? sym : null;
}

/** Two dims of one value seen from two sides (e.g. If branches): equal → that, otherwise unknown. */
export function joinDim(a: Dim, b: Dim): Dim {
  return a === b ? a : null;
}

/** Dims known to be equal (e.g. the contracted K of MatMul): keeps the more specific one. */
export function unifyDim(a: Dim, b: Dim): Dim {
  if (a === null) return b;
  if (b === null) return a;
  if (typeof a === 'number') {
    if (typeof b === 'number' && a !== b) fail(`dimension ${a} does not match ${b}`);
    return a;
  }
  return typeof b === 'number' ? b : a;
}

/**
 * ONNX multidirectional broadcasting of one dimension: 1 vs X → X; equal → same; a symbol or an
 * unknown against a number ≠ 1 → the number (the broadcast is only valid that way); two different
 * symbols, or a symbol against an unknown → unknown.
 */
export function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === b) return a;
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === 'number') {
    if (typeof b === 'number') fail(`cannot broadcast ${a} with ${b}`);
    return a;
  }
  if (typeof b === 'number') return b;
  return null;
}

/** Broadcasts shapes (right-aligned). */
export function broadcastShapes(shapes: readonly (readonly Dim[])[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const k = i - (rank - s.length);
      if (k >= 0) d = broadcastDim(d, s[k]);
    }
    out.push(d);
  }
  return out;
}

/** Normalizes a possibly negative axis into [0, rank). */
export function normAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) fail(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** A dim that is a valid non-negative integer, or null (sanitizes what rules compute). */
export function cleanDim(d: Dim): Dim {
  if (typeof d === 'number') return Number.isSafeInteger(d) && d >= 0 ? d : null;
  return typeof d === 'string' && d !== '' ? d : null;
}
