/**
 * `graph-io`: graph inputs and outputs.
 *
 * Errors (ORT refuses): a graph output without a name ("Graph output () does not exist"); a
 * main-graph input without a type ("Model input (x) does not have type information") or with
 * element type 0 ("Invalid tensor data type 0"), unless it is also an initializer; a subgraph
 * output that is an outer-scope value returned directly ("Subgraph output (x) is an outer scope
 * value being returned directly. Please … add an Identity node").
 *
 * Warnings (ORT loads it, onnx.checker refuses or it makes no sense): a main graph or function
 * without outputs; an unnamed graph input; a main-graph output without a type.
 */
import type { Value } from '../../ir/value.js';
import { elemTypeOf } from '../../ir/types.js';
import type { CheckContext, GraphInfo } from '../context.js';
import type { Reporter, Rule } from '../types.js';

export const graphIo: Rule = {
  name: 'graph-io',
  description: 'graphs have named outputs; main-graph inputs have types; subgraphs do not return outer values directly',
  check(ctx, report) {
    for (const info of ctx.graphs) checkGraph(ctx, info, report);
  },
};

function checkGraph(ctx: CheckContext, info: GraphInfo, report: Reporter): void {
  const g = info.graph;
  const at = { graph: info };
  if (g.outputs.length === 0 && info.kind !== 'subgraph') {
    report.warning(
      at,
      `the ${info.kind === 'main' ? 'graph' : 'function'} has no outputs, so it computes nothing (ORT loads it anyway)`,
    );
  }
  g.inputs.forEach((v, i) => {
    if (v.name === '')
      report.warning(
        at,
        `graph input #${i} has no name (ORT loads it while nothing reads it; onnx.checker refuses it)`,
      );
  });
  g.outputs.forEach((v, i) => {
    if (v.name === '')
      report.error(at, `graph output #${i} has no name (ORT: "Graph output () does not exist in the graph")`);
  });

  if (info.kind === 'main') {
    for (const v of g.inputs) {
      if (g.initializers.has(v.name)) continue; // an overridable initializer: ORT takes its type from the data
      const problem = typeProblem(v);
      if (problem) report.error(at, `graph input '${v.name}' ${problem}; ORT needs the type of every model input`);
    }
    for (const v of g.outputs) {
      const problem = typeProblem(v);
      if (problem && v.name !== '')
        report.warning(at, `graph output '${v.name}' ${problem} (ORT infers it; onnx.checker requires it)`);
    }
  }

  if (info.kind === 'subgraph') {
    for (const v of g.outputs) {
      if (v.name === '' || ctx.definesValue(info, v)) continue;
      const home = ctx.homeOf(info, v) ?? (ctx.isDangling(v) ? ctx.resolveName(info, v.name)?.home : undefined);
      if (home && home !== info) {
        report.error(
          at,
          `graph output %${v.name} is a value of ${home.path} returned directly; ORT refuses that ("Subgraph output (${v.name}) is an outer scope value being returned directly"): route it through an Identity node`,
        );
      }
    }
  }
}

function typeProblem(v: Value): string | undefined {
  const t = v.type;
  if (!t || t.kind === 'none') return 'has no type';
  if ((t.kind === 'tensor' || t.kind === 'sparse_tensor') && elemTypeOf(t) === undefined)
    return 'has element type 0 (undefined)';
  return undefined;
}
