import type { Model } from '../ir/model.js';
import { CheckContext, nodeLabel } from './context.js';
import { attributes } from './rules/attributes.js';
import { definedInputs } from './rules/defined-inputs.js';
import { graphIo } from './rules/graph-io.js';
import { irVersion } from './rules/ir-version.js';
import { opExists } from './rules/op-exists.js';
import { qdqOpset } from './rules/qdq-opset.js';
import { ssa } from './rules/ssa.js';
import { tensorData } from './rules/tensor-data.js';
import { topologicalOrder } from './rules/topological-order.js';
import type { CheckIssue, CheckOptions, Reporter, Rule, Severity, Where } from './types.js';

/** Every rule, in the order they run (and their issues are listed). */
export const RULES: readonly Rule[] = [
  irVersion,
  graphIo,
  ssa,
  definedInputs,
  topologicalOrder,
  tensorData,
  attributes,
  opExists,
  qdqOpset,
];

/** Rule names and one-line descriptions (for `--help` and docs). */
export const checkRules: readonly { name: string; description: string }[] = RULES.map(({ name, description }) => ({
  name,
  description,
}));

/**
 * Checks a model against what onnxruntime 1.30 enforces at session creation. `error` issues make
 * ORT refuse the model; `warning` issues break the ONNX spec (onnx.checker would refuse them) but
 * ORT loads the model anyway. Never throws: a malformed model gives issues, not exceptions.
 *
 * @example
 * ```ts
 * for (const issue of checkModel(loadModel('model.onnx'))) console.log(issue.severity, issue.message);
 * ```
 */
export function checkModel(model: Model, opts: CheckOptions = {}): CheckIssue[] {
  const unknown = [...(opts.rules ?? []), ...(opts.skip ?? [])].filter((r) => !RULES.some((x) => x.name === r));
  if (unknown.length)
    throw new Error(
      `unknown checker rule ${unknown.map((r) => `'${r}'`).join(', ')} (rules: ${RULES.map((r) => r.name).join(', ')})`,
    );
  const issues: CheckIssue[] = [];
  let ctx: CheckContext;
  try {
    ctx = new CheckContext(model);
  } catch (e) {
    return [
      {
        rule: 'checker',
        severity: 'error',
        message: `the model's structure cannot be walked: ${(e as Error).message}`,
      },
    ];
  }
  for (const rule of RULES) {
    if (opts.rules && !opts.rules.includes(rule.name)) continue;
    if (opts.skip?.includes(rule.name)) continue;
    try {
      rule.check(ctx, reporter(ctx, rule.name, issues));
    } catch (e) {
      // A rule that trips over a malformed model is a checker bug: say so, but do not claim ORT would refuse it.
      issues.push({
        rule: rule.name,
        severity: 'warning',
        message: `rule '${rule.name}' could not finish on this model: ${(e as Error).message}`,
      });
    }
  }
  return issues;
}

function reporter(ctx: CheckContext, rule: string, issues: CheckIssue[]): Reporter {
  const push = (severity: Severity, at: Where, text: string, loadTime = false) => {
    let message = text;
    if (at.node) message = `${nodeLabel(at.graph, at.node)}: ${message}`;
    if (at.graph) message = `${at.graph.path}: ${message}`;
    // ORT does not look inside a model function nobody calls (beyond its opset imports).
    if (severity === 'error' && !loadTime && at.graph?.fn && !ctx.isCalled(at.graph.fn)) {
      severity = 'warning';
      message += ' (the function is never called, so ORT ignores it)';
    }
    const issue: CheckIssue = { rule, severity, message };
    if (at.node) issue.node = String(at.node);
    if (at.graph) issue.graph = at.graph.path;
    issues.push(issue);
  };
  return {
    error: (at, text, opts) => push('error', at, text, opts?.loadTime),
    warning: (at, text) => push('warning', at, text),
  };
}

/** Thrown by `assertValid`: one line naming the first error and how many there are; all issues in `issues`. */
export class CheckError extends Error {
  override name = 'CheckError';
  constructor(readonly issues: readonly CheckIssue[]) {
    const errors = issues.filter((i) => i.severity === 'error');
    const first = errors[0];
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
    super(first ? `invalid model: ${first.message} [${first.rule}]${more}` : 'invalid model');
  }
}

/** Throws `CheckError` when the model has errors; returns the warnings otherwise. */
export function assertValid(model: Model, opts: CheckOptions = {}): CheckIssue[] {
  const issues = checkModel(model, opts);
  if (issues.some((i) => i.severity === 'error')) throw new CheckError(issues);
  return issues;
}
