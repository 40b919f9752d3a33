/**
 * `defined-inputs`: every node input and every graph output is defined in scope: a node output,
 * graph input, initializer or sparse initializer of this graph or of an enclosing graph (a
 * subgraph may capture outer values). ORT: "Node input 'x' is not a graph input, initializer, or
 * output of a previous node", "Graph output (x) does not exist in the graph".
 *
 * Values decoded from a name nothing defines have neither producer nor owner; such a name is
 * still fine when it resolves through the scope chain (a subgraph capturing an outer value that
 * a later node produces: `topological-order` judges that). A captured value whose name an inner
 * scope redefines would be read as the inner value once saved, so that is an error too.
 */
import type { Value } from '../../ir/value.js';
import type { CheckContext, GraphInfo } from '../context.js';
import { nodeLabel } from '../context.js';
import type { Reporter, Rule, Where } from '../types.js';

export const definedInputs: Rule = {
  name: 'defined-inputs',
  description: 'every node input and graph output is defined in this graph or an enclosing one',
  check(ctx, report) {
    for (const info of ctx.graphs) {
      for (const n of info.nodes) {
        n.inputs.forEach((v, i) => {
          if (v)
            checkUse(ctx, info, v, { graph: info, node: n }, v.name ? `input ${i} (%${v.name})` : `input ${i}`, report);
        });
      }
      info.graph.outputs.forEach((v, i) => {
        if (v.name)
          checkUse(ctx, info, v, { graph: info }, `graph output %${v.name}`, report); // graph-io reports unnamed outputs
        else if (v.producer === null && v.owner === null)
          report.error({ graph: info }, `graph output #${i} is an unnamed value nothing defines`);
      });
    }
  },
};

function checkUse(ctx: CheckContext, info: GraphInfo, v: Value, at: Where, what: string, report: Reporter): void {
  if (v.name === '') {
    report.error(at, `${what} is a value without a name; saved, it would read as an omitted optional input`);
    return;
  }
  const home = ctx.homeOf(info, v);
  if (home) {
    for (const g of ctx.chain(info)) {
      if (g === home) break;
      const inner = g.local.get(v.name);
      if (inner && inner !== v) {
        report.error(
          at,
          `${what} is captured from ${home.path}, but ${g.path} defines its own '${v.name}', which a saved model would read instead`,
        );
        break;
      }
    }
    return;
  }
  const p = v.producer;
  if (p) {
    if (!p.graph) report.error(at, `${what} is produced by ${p}, which is no longer in any graph`);
    else
      report.error(
        at,
        `${what} is produced by ${nodeLabel(ctx.infoOf(p.graph), p)} in ${ctx.infoOf(p.graph)?.path ?? `graph '${p.graph.name}'`}, which is not visible from here`,
      );
    return;
  }
  if (v.owner) {
    const where = ctx.infoOf(v.owner)?.path ?? `graph '${v.owner.name}'`;
    report.error(at, `${what} belongs to ${where} but is not an input or initializer visible from here`);
    return;
  }
  if (ctx.resolveName(info, v.name)) return; // a name that resolves once saved (order: see topological-order)
  report.error(
    at,
    `${what} is not defined: no node output, graph input or initializer of this graph or an enclosing one has that name`,
  );
}
