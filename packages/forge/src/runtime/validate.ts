/**
 * Feed validation before onnxruntime: one line per problem, naming the input, in the form
 * `input 'x': expected float32 [N,3,48,?], got int64 [1,3,48]`.
 */
import { FeedError } from './errors.js';
import { formatDims, formatTypeShape, hostTensorProblem } from './tensor.js';
import type { Feeds, HostTensor, IoInfo } from './types.js';

function listInputs(inputs: readonly IoInfo[]): string {
  if (inputs.length === 0) return 'the model has no inputs';
  return `the model's inputs are ${inputs.map((i) => `'${i.name}' ${formatTypeShape(i.type, i.dims)}`).join(', ')}`;
}

/** Why `t` does not fit `io` (type, rank, static dims), or undefined when it fits. */
export function mismatch(io: IoInfo, t: HostTensor): string | undefined {
  const problem = hostTensorProblem(t);
  if (problem) return problem;
  const expected = `expected ${formatTypeShape(io.type, io.dims)}, got ${formatTypeShape(t.type, t.dims)}`;
  if (io.type !== 'unknown' && io.type !== t.type) return expected;
  if (!io.dims) return undefined;
  if (io.dims.length !== t.dims.length) return `${expected} (rank ${t.dims.length}, expected ${io.dims.length})`;
  for (let i = 0; i < io.dims.length; i++) {
    const d = io.dims[i];
    if (typeof d === 'number' && d !== t.dims[i]) return `${expected} (dim ${i} is ${t.dims[i]}, expected ${d})`;
  }
  return undefined;
}

/**
 * Checks feed names (unknown, missing) and each feed's type, rank and static dims against the
 * model's inputs. `overridable` are initializer-backed graph inputs: optional, but checked when fed.
 */
export function validateFeeds(inputs: readonly IoInfo[], feeds: Feeds, overridable: readonly IoInfo[] = []): void {
  if (feeds === null || typeof feeds !== 'object') throw new FeedError(undefined, 'feeds must be an object of tensors');
  const byName = new Map<string, IoInfo>();
  for (const io of [...inputs, ...overridable]) byName.set(io.name, io);
  for (const name of Object.keys(feeds)) {
    if (!byName.has(name)) throw new FeedError(name, `unknown input '${name}'; ${listInputs(inputs)}`);
  }
  for (const io of inputs) {
    if (!(io.name in feeds)) throw new FeedError(io.name, `missing input '${io.name}'; ${listInputs(inputs)}`);
  }
  for (const [name, t] of Object.entries(feeds)) {
    const problem = mismatch(byName.get(name)!, t);
    if (problem) throw new FeedError(name, `input '${name}': ${problem}`);
  }
}

/** Checks requested output names against the model's outputs. */
export function validateOutputNames(outputs: readonly IoInfo[], names: readonly string[]): void {
  const known = new Set(outputs.map((o) => o.name));
  for (const n of names) {
    if (!known.has(n))
      throw new FeedError(
        undefined,
        `unknown output '${n}'; the model's outputs are ${outputs.map((o) => `'${o.name}' ${formatDims(o.dims)}`).join(', ')}`,
      );
  }
}
