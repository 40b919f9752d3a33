/**
 * `fuse-mul-add-into-conv`: folds a Mul or Add by a per-channel constant into the Conv,
 * ConvTranspose or Gemm that feeds it.
 *
 * ```
 * Before:  X ─► Conv(W, b) ─► y ─► Mul(c) ─► Z          X ─► Conv(W, b) ─► y ─► Add(d) ─► Z
 * After:   X ─► Conv(W·c, b·c) ─► Z                     X ─► Conv(W, b + d) ─► Z
 * ```
 *
 * `c` and `d` broadcast over the output without growing it and vary at most along the channel axis
 * (axis 1): a scalar, `[1]`, `[C,1,1]`, `[1,C,1,1]` (Gemm: `[N]`, `[1,N]`). The scale applies along the
 * output-channel axis of the weight exactly as in `fuse-bn-into-conv`, whose helpers (and float64
 * arithmetic, rounded once to the weight's type) this pass shares. A Conv followed by Mul then Add
 * folds both in one run. Either operand order is accepted.
 *
 * Refused (with a note) when the constant is not per-channel, when the producer's output has other
 * uses, or when the weights are not constant float32/float16. A Mul or Add whose other operand is
 * not constant (a residual Add) is not a candidate and is passed over silently.
 */
import { graphAndSubgraphs, toFloat32, type Node } from '@edgeforge/onnx';
import { Changes, noOptions, type Pass } from '../pass.js';
import { constantThroughIdentity, foldChannelAffine, isOnnxOp, linearProducer } from './fuse-bn-into-conv.js';

export const FUSE_MUL_ADD_INTO_CONV = 'fuse-mul-add-into-conv';

/**
 * The constant as one value per channel, or a reason it is not per-channel: it may not add
 * dimensions to the output, and only axis 1 of the output may be other than 1.
 */
export function perChannel(
  dims: readonly number[],
  values: Float32Array,
  channels: number,
  outputRank: number,
): Float64Array | string {
  if (dims.length > outputRank) return `rank ${dims.length} > output rank ${outputRank}`;
  let stride = 0;
  for (let i = 0; i < dims.length; i++) {
    const axis = outputRank - dims.length + i;
    if (dims[i] === 1) continue;
    if (axis !== 1 || dims[i] !== channels)
      return `shape [${dims.join(',')}] is not per-channel (${channels} channels)`;
    stride = 1;
  }
  const out = new Float64Array(channels);
  for (let o = 0; o < channels; o++) out[o] = values[o * stride];
  return out;
}

function foldMulOrAdd(n: Node, changes: Changes): void {
  if (n.inputs.length !== 2 || n.attributes.size > 0) return; // legacy broadcast/axis semantics
  for (const side of [0, 1]) {
    const y = n.inputs[side];
    const c = n.inputs[1 - side];
    if (!y || !c) continue;
    const constant = constantThroughIdentity(c);
    if (!constant) continue;
    const lin = linearProducer(y, n);
    if (lin === undefined) continue;
    if (typeof lin === 'string') return changes.note(lin);
    if (constant.dtype !== lin.weight.dtype) return changes.note(`${n}: constant and weight types differ`);
    const values = perChannel(constant.dims, toFloat32(constant), lin.channels, lin.outputRank);
    if (typeof values === 'string') return changes.note(`${n}: constant '${c.name}' ${values}`);
    const isMul = n.opType === 'Mul';
    const scale = isMul ? values : new Float64Array(lin.channels).fill(1);
    const shift = isMul ? new Float64Array(lin.channels) : values;
    foldChannelAffine(lin, n, { scale, shift }, isMul ? 'mul' : 'add');
    changes.add(`${n.opType} folded into ${lin.node.opType}`);
    return;
  }
}

/** Folds Mul/Add by per-channel constants into the preceding Conv / ConvTranspose / Gemm. */
export const fuseMulAddIntoConv: Pass<Record<string, never>> = {
  name: FUSE_MUL_ADD_INTO_CONV,
  family: 'optimize',
  description: 'Fold Mul/Add by a per-channel constant into the preceding Conv, ConvTranspose or Gemm',
  idempotent: true,
  tolerance: 1e-4,
  parseOptions: noOptions(FUSE_MUL_ADD_INTO_CONV),
  run(model) {
    const changes = new Changes();
    // Function bodies cannot hold initializers: only the main graph and its subgraphs are visited.
    for (const g of [...graphAndSubgraphs(model.graph)]) {
      for (const n of g) {
        if (n.graph === g && (isOnnxOp(n, 'Mul') || isOnnxOp(n, 'Add'))) foldMulOrAdd(n, changes);
      }
    }
    return changes.report();
  },
};
