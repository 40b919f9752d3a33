/**
 * `prune-nm`: N:M semi-structured sparsity (2:4, 4:8): in every group of M consecutive weights along
 * the input-channel axis, the N largest |w| are kept and the other M − N become 0. The pattern that
 * sparse tensor cores (and NVIDIA's ASP, `apex.contrib.sparsity`) use; onnxruntime's CPU kernels run
 * it as dense, so here it is a smaller gzip and a model ready for such hardware, not a speed-up.
 *
 * ```
 * Before:  Gemm(X, B[out=1, in=8] = [.9 -.1 .3 .2 | .05 -.7 .6 .01], transB=1)       n=2, m=4
 * After:   Gemm(X, B[out=1, in=8] = [.9  0  .3  0 |  0  -.7 .6  0  ], transB=1)
 * ```
 *
 * Input-channel axis (groups run along it, one set of groups per position on every other axis):
 * - Conv `W[O, I/g, kh, kw]`: axis 1, per output channel and kernel position (as ASP does);
 * - ConvTranspose `W[C, M/g, kh, kw]`: axis 0, the groups of M staying inside one conv group;
 * - Gemm `B`: axis 1 with `transB = 1` (`[N, K]`), axis 0 otherwise (`[K, N]`);
 * - MatMul `B[…, K, N]`: axis −2.
 *
 * Options: `n` (default 2), `m` (default 4), integers with 1 ≤ n ≤ m; the selection (`opTypes`,
 * `nodes`, `minSize`, see select.ts). Refused, left dense with a note: a layer whose input-channel
 * count (per conv group) is not a multiple of M (MNIST's first Conv has 1 input channel), a weight
 * that readers use along different axes. Ties keep the lower index; NaN counts as largest.
 * A second run changes nothing (each group already has its N largest kept and the rest 0).
 */
import type { Model, Node } from '@edgeforge/onnx';
import { Changes, PassOptionError, type Pass, type PassReport } from '../pass.js';
import { checkKeys } from './prune-magnitude.js';
import {
  SELECTION_KEYS,
  magnitudes,
  nodeLabel,
  parseSelection,
  selectWeights,
  pruneWeight,
  type WeightSelection,
} from './select.js';

export const PRUNE_NM = 'prune-nm';

export interface NmOptions extends WeightSelection {
  n: number;
  m: number;
}

export function parseNmOptions(raw: Record<string, unknown>): NmOptions {
  checkKeys(PRUNE_NM, raw, ['n', 'm', ...SELECTION_KEYS]);
  const int = (k: 'n' | 'm', def: number): number => {
    const v = raw[k] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
      throw new PassOptionError(`${PRUNE_NM}: '${k}' must be a positive integer (got ${JSON.stringify(raw[k])})`);
    return v;
  };
  const n = int('n', 2);
  const m = int('m', 4);
  if (n > m) throw new PassOptionError(`${PRUNE_NM}: 'n' (${n}) must not exceed 'm' (${m}): keep n of every m weights`);
  return { n, m, ...parseSelection(raw, PRUNE_NM) };
}

/** The input-channel axis of `node`'s weight of dims `dims`, or why N:M cannot apply. */
export function inputChannelAxis(node: Node, dims: readonly number[], m: number): number | string {
  let axis: number;
  let channels: number;
  switch (node.opType) {
    case 'Conv':
      axis = 1;
      channels = dims[1];
      break;
    case 'ConvTranspose': {
      axis = 0;
      const group = node.getInt('group', 1);
      channels = dims[0] / group;
      if (!Number.isInteger(channels)) return `group ${group} does not divide ${dims[0]} input channels`;
      break;
    }
    case 'Gemm':
      if (dims.length !== 2) return `Gemm B is ${dims.length}-D`;
      axis = node.getInt('transB', 0) ? 1 : 0;
      channels = dims[axis];
      break;
    default:
      axis = dims.length - 2;
      channels = dims[axis];
  }
  if (channels % m !== 0)
    return `${channels} input channels${node.opType.startsWith('Conv') ? ' per group' : ''} is not a multiple of M = ${m}`;
  return axis;
}

/** Keep-mask keeping the `n` largest |w| of every `m` consecutive elements along `axis`. */
export function nmMask(mag: Float64Array, dims: readonly number[], axis: number, n: number, m: number): Uint8Array {
  const keep = new Uint8Array(mag.length);
  const len = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = mag.length / (len * inner);
  const key = (x: number) => (Number.isNaN(x) ? Infinity : x);
  const idx = new Array<number>(m);
  for (let o = 0; o < outer; o++)
    for (let g = 0; g < len; g += m)
      for (let i = 0; i < inner; i++) {
        const base = (o * len + g) * inner + i;
        for (let t = 0; t < m; t++) idx[t] = base + t * inner;
        // Largest first; equal magnitudes keep the lower index (a stable order on a tiny array).
        idx.sort((a, b) => key(mag[b]) - key(mag[a]) || a - b);
        for (let t = 0; t < n; t++) keep[idx[t]] = 1;
      }
  return keep;
}

export function pruneNm(model: Model, o: NmOptions): PassReport {
  const { weights, skipped } = selectWeights(model, o, PRUNE_NM);
  const changes = new Changes();
  for (const w of weights) {
    const axes = w.readers.map((r) => inputChannelAxis(r.node, w.tensor.dims, o.m));
    const refusal = axes.find((a) => typeof a === 'string');
    if (refusal !== undefined) {
      const who = w.readers[axes.indexOf(refusal)].node;
      changes.note(`${nodeLabel(who)}: weight '${w.root.name}' left dense: ${refusal}`);
      continue;
    }
    if (new Set(axes).size > 1) {
      changes.note(`weight '${w.root.name}' left dense: its readers group it along different axes`);
      continue;
    }
    const keep = nmMask(magnitudes(w.tensor), w.tensor.dims, axes[0] as number, o.n, o.m);
    pruneWeight(w, keep, changes);
  }
  for (const s of skipped) changes.note(`left alone: ${s}`);
  return changes.report();
}

export const pruneNmPass: Pass<NmOptions> = {
  name: PRUNE_NM,
  family: 'prune',
  description: 'N:M semi-structured sparsity (2:4, 4:8): keeps the n largest |w| of every m along the input channels',
  idempotent: true,
  tolerance: Infinity,
  parseOptions: parseNmOptions,
  run: (model, o) => pruneNm(model, o),
};
