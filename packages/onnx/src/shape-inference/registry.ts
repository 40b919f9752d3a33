/**
 * The rule registry: one explicit list, keyed `domain::opType`, each op with the opset versions
 * where its rule changes (the rule for a node is the newest one whose `since` is ≤ the node's
 * opset). Many rules also read `ctx.opset` for attribute→input moves (Reshape 5, Slice 10, Pad 11,
 * Squeeze/Unsqueeze/Split/ReduceSum 13, Reduce* 18, …).
 */
import type { OpRule, Rule } from './context.js';
import { concatSplitRules } from './ops/ai.onnx/concat-split.js';
import { convRules } from './ops/ai.onnx/conv.js';
import { einsumRules } from './ops/ai.onnx/einsum.js';
import { elementwiseRules } from './ops/ai.onnx/elementwise.js';
import { matmulRules } from './ops/ai.onnx/matmul.js';
import { miscRules } from './ops/ai.onnx/misc.js';
import { normalizationRules } from './ops/ai.onnx/normalization.js';
import { padRules } from './ops/ai.onnx/pad.js';
import { poolRules } from './ops/ai.onnx/pool.js';
import { quantizeRules } from './ops/ai.onnx/quantize.js';
import { reduceRules } from './ops/ai.onnx/reduce.js';
import { reshapeRules } from './ops/ai.onnx/reshape.js';
import { resizeRules } from './ops/ai.onnx/resize.js';
import { rnnRules } from './ops/ai.onnx/rnn.js';
import { sequenceRules } from './ops/ai.onnx/sequence.js';
import { shapeRules } from './ops/ai.onnx/shape.js';
import { sliceRules } from './ops/ai.onnx/slice.js';
import { unaryRules } from './ops/ai.onnx/unary.js';
import { contribRules } from './ops/com.microsoft/contrib.js';

const ALL: readonly OpRule[] = [
  ...elementwiseRules,
  ...unaryRules,
  ...convRules,
  ...poolRules,
  ...matmulRules,
  ...einsumRules,
  ...normalizationRules,
  ...reshapeRules,
  ...concatSplitRules,
  ...sliceRules,
  ...padRules,
  ...shapeRules,
  ...reduceRules,
  ...resizeRules,
  ...quantizeRules,
  ...rnnRules,
  ...miscRules,
  ...sequenceRules,
  ...contribRules,
];

/** The default domain has two spellings. */
export function normDomain(domain: string): string {
  return domain === 'ai.onnx' ? '' : domain;
}

const byKey = new Map<string, OpRule[]>();
for (const r of ALL) {
  const key = `${normDomain(r.domain)}::${r.opType}`;
  const list = byKey.get(key) ?? [];
  list.push(r);
  list.sort((a, b) => b.since - a.since);
  byKey.set(key, list);
}

/** The rule for `opType` of `domain` at `opset`, or undefined when there is none. */
export function findRule(domain: string, opType: string, opset: number): Rule | undefined {
  const list = byKey.get(`${normDomain(domain)}::${opType}`);
  return list?.find((r) => r.since <= opset)?.infer;
}

/** Every op with a rule, as `domain::opType` (default domain written as `opType`); If/Loop/Scan are the driver's. */
export function supportedOps(): string[] {
  return [...[...byKey.keys()].map((k) => (k.startsWith('::') ? k.slice(2) : k)), 'If', 'Loop', 'Scan'].sort();
}
