/**
 * The last word on a pruned model before it replaces the original: the checker, shape inference
 * (no declared shape may disagree with what inference finds, and no op may reject its inputs that
 * accepted them before), and onnxruntime, which must load and run it on the inputs the original
 * runs on and give outputs of the same shapes. Any failure throws: the caller keeps the original.
 */
import { checkModel, inferShapes, loadModelFromBytes, serializeModel, type Dim, type Model } from '@edgeforge/onnx';
import { allocTensor, getBackend, type Feeds, type IoInfo, type Session } from '../../runtime/index.js';

/** Sizes tried, in order, for symbolic dims other than the batch when no input shape is given. */
const SIZES = [64, 32, 128, 224, 512, 1024, 16];

function inferenceFailures(m: Model): Set<string> {
  return new Set(inferShapes(m, { valueInfo: false }).failed.map((f) => `${f.opType} '${f.node}'`));
}

/**
 * Made-up inputs: given shapes win; a leading dim, and any symbol that leads some input, is the
 * batch (1); other symbols and a trailing unknown dim take `size`; an unknown dim in the middle
 * takes `size` or, with `middle` 1, is taken to be a batch too (Silero's state `[2, ?, 128]`).
 */
function feedsFor(
  inputs: readonly IoInfo[],
  shapes: Record<string, Dim[]> | undefined,
  size: number,
  middle: number,
): Feeds {
  const batch = new Set(inputs.map((io) => io.dims?.[0]).filter((d): d is string => typeof d === 'string'));
  const feeds: Feeds = {};
  for (const io of inputs) {
    const given = shapes?.[io.name];
    const rank = io.dims?.length ?? 0;
    const dims = (io.dims ?? []).map((d, i) => {
      const g = given?.[i];
      if (typeof g === 'number') return g;
      if (typeof d === 'number') return d;
      if (i === 0 || (typeof d === 'string' && batch.has(d))) return 1;
      return typeof d === 'string' || i === rank - 1 ? size : middle;
    });
    if (io.type === 'unknown' || io.type === 'string') throw new Error(`input '${io.name}' has type ${io.type}`);
    const t = allocTensor(io.type, dims);
    if (t.data instanceof Float32Array || t.data instanceof Float64Array)
      for (let i = 0; i < t.data.length; i++) t.data[i] = ((i * 7919) % 1000) / 1000;
    feeds[io.name] = t;
  }
  return feeds;
}

async function withSession<T>(bytes: Uint8Array, f: (s: Session) => Promise<T>): Promise<T> {
  const s = await getBackend('node').createSession(bytes, { threads: 1 });
  try {
    return await f(s);
  } finally {
    await s.release();
  }
}

const first = (e: unknown) => (e as Error).message.split('\n')[0];

/** Throws (one line) unless `pruned` is valid, shape-consistent and runs in onnxruntime like `original`. */
export async function verifyPruned(
  pruned: Model,
  original: Uint8Array,
  inputShapes?: Record<string, Dim[]>,
): Promise<void> {
  const error = checkModel(pruned).find((i) => i.severity === 'error');
  if (error) throw new Error(`the pruned model fails the checker: ${error.message} [${error.rule}]`);
  const bytes = serializeModel(pruned);
  const fresh = loadModelFromBytes(bytes);
  const report = inferShapes(fresh, { valueInfo: false });
  const c = report.conflicts[0];
  if (c)
    throw new Error(`shapes disagree after pruning: '${c.value}' is declared ${c.existing}, inferred ${c.inferred}`);
  const before = inferenceFailures(loadModelFromBytes(original));
  const failed = report.failed.find((f) => !before.has(`${f.opType} '${f.node}'`));
  if (failed) throw new Error(`shapes disagree after pruning: ${failed.opType} '${failed.node}': ${failed.reason}`);

  await withSession(original, async (ref) => {
    let feeds: Feeds | undefined;
    let expected: Record<string, number[]> | undefined;
    let firstError = '';
    for (const [size, middle] of SIZES.flatMap((s) => [
      [s, s],
      [s, 1],
    ])) {
      try {
        feeds = feedsFor(ref.inputs, inputShapes, size, middle);
        const out = await ref.run(feeds);
        expected = Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.dims]));
        break;
      } catch (e) {
        firstError ||= first(e);
      }
    }
    if (!expected || !feeds)
      throw new Error(
        `cannot check the pruned model: the original does not run on made-up inputs (${firstError}); give input shapes`,
      );
    const got = await withSession(bytes, (s) => s.run(feeds!)).catch((e: unknown) => {
      throw new Error(`onnxruntime rejects the pruned model: ${first(e)}`);
    });
    for (const [name, dims] of Object.entries(expected)) {
      const d = got[name]?.dims;
      if (!d || d.join() !== dims.join())
        throw new Error(
          `output '${name}' has shape [${d?.join(',') ?? '?'}] after pruning, [${dims.join(',')}] before`,
        );
    }
  });
}
