/**
 * Merging what inference proposes into what a value already declares: fill gaps (no type, no
 * shape, unknown element type, unknown or symbolic dims), keep everything that is known. A
 * proposal that contradicts the declared type (element type, rank or a static dim) changes nothing
 * and is reported as a conflict, unless `overwrite` replaces the declared type outright.
 */
import type { Dim, TensorType, TypeInfo } from '../ir/types.js';
import { asTensor } from './context.js';

export type MergeStatus = 'none' | 'inferred' | 'refined';

export interface MergeResult {
  type: TypeInfo;
  status: MergeStatus;
  conflict: boolean;
}

function sameShape(a: readonly Dim[] | undefined, b: readonly Dim[] | undefined): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function mergeType(existing: TypeInfo | undefined, proposed: TypeInfo, overwrite: boolean): MergeResult {
  const ex = existing && existing.kind !== 'none' ? existing : undefined;
  const exT = asTensor(ex);
  if (!ex || (exT && exT.elemType === 0 && !exT.shape)) return { type: proposed, status: 'inferred', conflict: false };
  const p = asTensor(proposed);
  if (!exT || !p) {
    // Sequences, optionals, maps: taken as a whole.
    if (ex.kind !== proposed.kind) return { type: ex, status: 'none', conflict: true };
    const same = JSON.stringify(ex) === JSON.stringify(proposed);
    return overwrite && !same
      ? { type: proposed, status: 'refined', conflict: false }
      : { type: ex, status: 'none', conflict: false };
  }
  let conflict = exT.elemType !== 0 && exT.elemType !== p.elemType;
  if (exT.shape && p.shape) {
    if (exT.shape.length !== p.shape.length) conflict = true;
    else if (exT.shape.some((d, i) => typeof d === 'number' && typeof p.shape![i] === 'number' && d !== p.shape![i]))
      conflict = true;
  }
  if (overwrite) {
    if (exT.elemType === p.elemType && sameShape(exT.shape, p.shape))
      return { type: ex, status: 'none', conflict: false };
    const next: TensorType = { ...exT, elemType: p.elemType };
    if (p.shape) next.shape = [...p.shape];
    else delete next.shape;
    if (next.dimDetails && next.shape?.length !== exT.shape?.length) delete next.dimDetails;
    return { type: next, status: 'refined', conflict };
  }
  if (conflict) return { type: ex, status: 'none', conflict };
  const elemType = exT.elemType !== 0 ? exT.elemType : p.elemType;
  let shape = exT.shape;
  if (!shape) shape = p.shape && [...p.shape];
  else if (p.shape) {
    const q = p.shape;
    shape = shape.map((d, i) => (d === null || (typeof d === 'string' && typeof q[i] === 'number') ? q[i] : d));
  }
  if (elemType === exT.elemType && sameShape(shape, exT.shape)) return { type: ex, status: 'none', conflict: false };
  const next: TensorType = { ...exT, elemType };
  if (shape) next.shape = shape;
  return { type: next, status: 'refined', conflict: false };
}
