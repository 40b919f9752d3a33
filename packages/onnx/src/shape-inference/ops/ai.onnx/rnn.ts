/**
 * Recurrent layers: RNN, GRU, LSTM. With X `[seq, batch, input]` (layout 0) or `[batch, seq,
 * input]` (layout 1, opset 14+) and D directions: Y `[seq, D, batch, hidden]` (layout 1:
 * `[batch, seq, D, hidden]`), Y_h and Y_c `[D, batch, hidden]` (layout 1: `[batch, D, hidden]`).
 * `hidden_size` comes from the attribute or from R (`[D, gates·hidden, hidden]`).
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { fail, unifyDim } from '../../dims.js';

function recurrent(ctx: InferContext): void {
  const elem = ctx.elemType(0);
  const x = ctx.shape(0);
  const r = ctx.shape(2);
  if (x && x.length !== 3) fail(`${ctx.node.opType} X must be 3-D, got rank ${x.length}`);
  const direction = ctx.str('direction', 'forward');
  const dirs = direction === 'bidirectional' ? 2 : 1;
  let hidden: Dim = ctx.intOpt('hidden_size') ?? null;
  if (r && r.length === 3) hidden = unifyDim(hidden, r[2]);
  const layout = ctx.opset >= 14 ? ctx.int('layout', 0) : 0;
  const [seq, batch] = x ? (layout === 0 ? [x[0], x[1]] : [x[1], x[0]]) : [null, null];
  const outs = ctx.node.opType === 'LSTM' ? 3 : 2;
  if (ctx.wants(0)) ctx.set(0, elem, layout === 0 ? [seq, dirs, batch, hidden] : [batch, seq, dirs, hidden]);
  for (let i = 1; i < outs; i++) {
    if (ctx.wants(i)) ctx.set(i, elem, layout === 0 ? [dirs, batch, hidden] : [batch, dirs, hidden]);
  }
}

export const rnnRules: OpRule[] = rules(['RNN', 'GRU', 'LSTM'], recurrent);
