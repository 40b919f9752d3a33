import type { Node } from '../ir/node.js';
import type { CheckContext, GraphInfo } from './context.js';

export type Severity = 'error' | 'warning';

/**
 * One finding. `message` is a single line that says where (graph path, node) and what, e.g.
 * `main/If 'cond'/then_branch: Neg 'neg': input %a is not defined …`.
 */
export interface CheckIssue {
  /** The rule that found it (`ssa`, `defined-inputs`, …): the file name under `checker/rules/`. */
  rule: string;
  /** `error`: onnxruntime 1.30 refuses the model. `warning`: the ONNX spec forbids it, but ORT loads it. */
  severity: Severity;
  message: string;
  /** The node, as `String(node)` (`OpType 'name'`), when the issue is about one node. */
  node?: string;
  /** Path of the graph: `main`, `main/If 'cond'/then_branch`, `function local::MyFn`. */
  graph?: string;
}

export interface CheckOptions {
  /** Run only these rules (by name). */
  rules?: readonly string[];
  /** Skip these rules (by name). */
  skip?: readonly string[];
}

/** Where an issue is: a graph, optionally a node in it (neither: the model itself). */
export interface Where {
  graph?: GraphInfo;
  node?: Node;
}

export interface Reporter {
  /**
   * An issue ORT refuses. Inside a model function nobody calls it becomes a warning (ORT does not
   * look into such a body), unless `loadTime`: ORT checks that for every function at load.
   */
  error(at: Where, text: string, opts?: { loadTime?: boolean }): void;
  warning(at: Where, text: string): void;
}

/** A checker rule: `name` is its file name under `checker/rules/` and the `rule` of its issues. */
export interface Rule {
  readonly name: string;
  /** One line: what the rule enforces. */
  readonly description: string;
  check(ctx: CheckContext, report: Reporter): void;
}
