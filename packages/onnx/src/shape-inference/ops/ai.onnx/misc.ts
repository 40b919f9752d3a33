/**
 * Everything else with a clear shape: random generators, Bernoulli/Multinomial, window functions,
 * DFT/STFT/MelWeightMatrix, detection (NonMaxSuppression, RoiAlign, GridSample), Unique, Det,
 * losses, text ops (TfIdfVectorizer, StringNormalizer).
 */
import { DataType } from '../../../ir/dtype.js';
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { divDim, fail, normAxis, productDims } from '../../dims.js';

function randomFromAttr(ctx: InferContext): void {
  const shape = ctx.intList('shape');
  if (!shape) fail('missing shape attribute');
  ctx.set(0, ctx.int('dtype', DataType.FLOAT), shape);
}

function randomLike(ctx: InferContext): void {
  ctx.set(0, ctx.intOpt('dtype') ?? ctx.elemType(0), ctx.shape(0));
}

function multinomial(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (x && x.length !== 2) fail(`Multinomial input must be 2-D, got rank ${x.length}`);
  ctx.set(0, ctx.int('dtype', DataType.INT32), [x ? x[0] : null, ctx.int('sample_size', 1)]);
}

function windowFn(ctx: InferContext): void {
  const d = ctx.dims(0);
  ctx.set(0, ctx.int('output_datatype', DataType.FLOAT), [d && d.length === 1 ? d[0] : null]);
}

/** DFT: optional `dft_length` input; `axis` attribute (17–19) or input 2 (20+, default −2). */
function dft(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  if (!x) {
    ctx.set(0, elem);
    return;
  }
  if (x.length < 2) fail('DFT input needs rank ≥ 2');
  const axisValue = ctx.opset >= 20 ? (ctx.has(2) ? ctx.scalar(2) : -2) : ctx.int('axis', 1);
  if (axisValue === undefined) {
    ctx.set(0, elem, x.map((_, i) => (i === x.length - 1 ? 2 : null)));
    return;
  }
  const axis = normAxis(axisValue, x.length);
  if (axis === x.length - 1) fail('DFT axis cannot be the complex axis');
  const len = ctx.dims(1);
  let n: Dim = ctx.has(1) ? (len && len.length === 1 ? len[0] : null) : x[axis];
  if (ctx.int('onesided', 0) === 1) n = typeof n === 'number' ? Math.floor(n / 2) + 1 : null;
  const out = [...x];
  out[axis] = n;
  out[x.length - 1] = 2;
  ctx.set(0, elem, out);
}

/** STFT: `[batch, frames, bins, 2]` with frames = ⌊(len − frame) / step⌋ + 1. */
function stft(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const step = ctx.scalar(1);
  const win = ctx.has(2) ? ctx.shape(2) : undefined;
  const frame = ctx.has(3) ? (ctx.scalar(3) ?? null) : win && win.length === 1 ? win[0] : null;
  const len = x && x.length === 3 ? x[1] : null;
  const frames = typeof len === 'number' && typeof frame === 'number' && step ? Math.floor((len - frame) / step) + 1 : null;
  const onesided = ctx.int('onesided', 1) === 1;
  const bins = typeof frame === 'number' ? (onesided ? Math.floor(frame / 2) + 1 : frame) : null;
  ctx.set(0, elem, [x ? x[0] : null, frames, bins, 2]);
}

function melWeightMatrix(ctx: InferContext): void {
  const bins = ctx.scalar(0) ?? null;
  const dftLen = ctx.scalar(1);
  ctx.set(0, ctx.int('output_datatype', DataType.FLOAT), [dftLen !== undefined ? Math.floor(dftLen / 2) + 1 : null, bins]);
}

function nonMaxSuppression(ctx: InferContext): void {
  ctx.set(0, DataType.INT64, [null, 3]);
}

function roiAlign(ctx: InferContext): void {
  const x = ctx.shape(0);
  const rois = ctx.shape(1);
  const idx = ctx.shape(2);
  const n = rois ? rois[0] : idx ? idx[0] : null;
  ctx.set(0, ctx.elemType(0), [n, x ? x[1] : null, ctx.int('output_height', 1), ctx.int('output_width', 1)]);
}

function gridSample(ctx: InferContext): void {
  const x = ctx.shape(0);
  const grid = ctx.shape(1);
  if (!x || !grid) {
    ctx.set(0, ctx.elemType(0));
    return;
  }
  if (grid.length !== x.length) fail(`GridSample grid rank ${grid.length} for input rank ${x.length}`);
  ctx.set(0, ctx.elemType(0), [x[0], x[1], ...grid.slice(1, -1)]);
}

function unique(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const axisAttr = ctx.intOpt('axis');
  if (axisAttr === undefined) {
    ctx.set(0, elem, [null]);
    if (ctx.wants(2)) ctx.set(2, DataType.INT64, [x ? productDims(x) : null]);
  } else if (x) {
    const axis = normAxis(axisAttr, x.length);
    ctx.set(0, elem, x.map((d, i) => (i === axis ? null : d)));
    if (ctx.wants(2)) ctx.set(2, DataType.INT64, [x[axis]]);
  } else {
    ctx.set(0, elem);
    if (ctx.wants(2)) ctx.set(2, DataType.INT64, [null]);
  }
  for (const i of [1, 3]) if (ctx.wants(i)) ctx.set(i, DataType.INT64, [null]);
}

function det(ctx: InferContext): void {
  const x = ctx.shape(0);
  if (x && x.length < 2) fail('Det needs rank ≥ 2');
  ctx.set(0, ctx.elemType(0), x ? x.slice(0, -2) : undefined);
}

/** NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss: `[]` unless reduction is 'none' (target's shape). */
function loss(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const reduction = ctx.str('reduction', 'mean');
  ctx.set(0, elem, reduction === 'none' ? ctx.shape(1) : []);
  if (ctx.node.opType === 'SoftmaxCrossEntropyLoss' && ctx.wants(1)) ctx.set(1, elem, ctx.shape(0));
}

function tfIdf(ctx: InferContext): void {
  const x = ctx.shape(0);
  const idx = ctx.intList('ngram_indexes');
  const c = idx && idx.length ? Math.max(...idx) + 1 : null;
  if (!x) {
    ctx.set(0, DataType.FLOAT);
    return;
  }
  if (x.length === 1) ctx.set(0, DataType.FLOAT, [c]);
  else if (x.length === 2) ctx.set(0, DataType.FLOAT, [x[0], c]);
  else fail(`TfIdfVectorizer input must be 1-D or 2-D, got rank ${x.length}`);
}

function stringNormalizer(ctx: InferContext): void {
  const x = ctx.shape(0);
  const stop = ctx.node.attributes.get('stopwords');
  const mayDrop = stop !== undefined && 'value' in stop && Array.isArray(stop.value) && stop.value.length > 0;
  if (!x) {
    ctx.set(0, DataType.STRING);
    return;
  }
  // Every word can be a stopword: the output keeps at least one (empty) string.
  const last = mayDrop ? null : x[x.length - 1];
  ctx.set(0, DataType.STRING, [...x.slice(0, -1), last]);
}

/** CenterCropPad: the listed axes take the target sizes. */
function centerCropPad(ctx: InferContext): void {
  const x = ctx.shape(0);
  const target = ctx.dims(1);
  if (!x || !target) {
    ctx.set(0, ctx.elemType(0), x?.map(() => null));
    return;
  }
  const axes = (ctx.intList('axes') ?? x.map((_, i) => i)).map((a) => normAxis(a, x.length));
  const out = [...x];
  axes.forEach((a, k) => (out[a] = target[k] ?? null));
  ctx.set(0, ctx.elemType(0), out);
}

function col2im(ctx: InferContext): void {
  const x = ctx.shape(0);
  const image = ctx.dims(1);
  const block = ctx.ints(2);
  if (!x || !image || !block) {
    ctx.set(0, ctx.elemType(0));
    return;
  }
  const blockSize = block.reduce((a, b) => a * b, 1);
  ctx.set(0, ctx.elemType(0), [x[0], divDim(x[1], blockSize), ...image]);
}

function affineGrid(ctx: InferContext): void {
  const size = ctx.ints(1);
  if (!size) {
    ctx.set(0, ctx.elemType(0));
    return;
  }
  const [n, , ...spatial] = size;
  ctx.set(0, ctx.elemType(0), [n, ...spatial, spatial.length]);
}

export const miscRules: OpRule[] = [
  ...rules(['RandomNormal', 'RandomUniform'], randomFromAttr),
  ...rules(['RandomNormalLike', 'RandomUniformLike', 'Bernoulli'], randomLike),
  ...rules(['Multinomial'], multinomial),
  ...rules(['HannWindow', 'HammingWindow', 'BlackmanWindow'], windowFn),
  ...rules(['DFT'], dft, { since: 17 }),
  ...rules(['STFT'], stft, { since: 17 }),
  ...rules(['MelWeightMatrix'], melWeightMatrix, { since: 17 }),
  ...rules(['NonMaxSuppression'], nonMaxSuppression),
  ...rules(['RoiAlign'], roiAlign),
  ...rules(['GridSample'], gridSample),
  ...rules(['Unique'], unique),
  ...rules(['Det'], det),
  ...rules(['NegativeLogLikelihoodLoss', 'SoftmaxCrossEntropyLoss'], loss),
  ...rules(['TfIdfVectorizer'], tfIdf),
  ...rules(['StringNormalizer'], stringNormalizer),
  ...rules(['CenterCropPad'], centerCropPad),
  ...rules(['Col2Im'], col2im),
  ...rules(['AffineGrid'], affineGrid),
];
