/**
 * Einsum: labels take their dims from the operands (a size-1 label broadcasts), `...` dims
 * broadcast across operands. Explicit output (`->`) is taken as written; implicit output is the
 * ellipsis dims, then labels seen exactly once, in ASCII order (numpy's rule).
 */
import type { Dim } from '../../../ir/types.js';
import { rules, type InferContext, type OpRule } from '../../context.js';
import { broadcastDim, broadcastShapes, fail } from '../../dims.js';

function parseTerm(term: string): { labels: string[]; ellipsisAt: number } {
  const labels: string[] = [];
  let ellipsisAt = -1;
  let rest = term;
  while (rest.length) {
    if (rest.startsWith('...')) {
      if (ellipsisAt >= 0) fail('more than one ellipsis in an einsum term');
      ellipsisAt = labels.length;
      rest = rest.slice(3);
    } else {
      const c = rest[0];
      if (!/[A-Za-z]/.test(c)) fail(`bad einsum label '${c}'`);
      labels.push(c);
      rest = rest.slice(1);
    }
  }
  return { labels, ellipsisAt };
}

function einsum(ctx: InferContext): void {
  const eq = ctx.str('equation', '').replace(/\s+/g, '');
  const elem = ctx.elemType(0);
  const [lhs, rhs] = eq.includes('->') ? eq.split('->') : [eq, undefined];
  const terms = lhs.split(',').map(parseTerm);
  if (terms.length !== ctx.inputCount) fail(`einsum has ${terms.length} terms for ${ctx.inputCount} inputs`);
  const dims = new Map<string, Dim>();
  const counts = new Map<string, number>();
  const ellipses: Dim[][] = [];
  let shapesKnown = true;
  for (let i = 0; i < terms.length; i++) {
    const { labels, ellipsisAt } = terms[i];
    for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
    const s = ctx.shape(i);
    if (!s) {
      shapesKnown = false;
      continue;
    }
    const nEll = s.length - labels.length;
    if (nEll < 0 || (nEll > 0 && ellipsisAt < 0)) fail(`einsum term of ${labels.length} labels for rank ${s.length}`);
    if (ellipsisAt >= 0) ellipses.push(s.slice(ellipsisAt, ellipsisAt + nEll));
    labels.forEach((l, k) => {
      const d = s[k < ellipsisAt || ellipsisAt < 0 ? k : k + nEll];
      dims.set(l, dims.has(l) ? broadcastDim(dims.get(l)!, d) : d);
    });
  }
  if (!shapesKnown) {
    ctx.set(0, elem);
    return;
  }
  const ell = broadcastShapes(ellipses);
  let out: Dim[];
  if (rhs !== undefined) {
    const { labels, ellipsisAt } = parseTerm(rhs);
    const ls = labels.map((l) => {
      if (!dims.has(l)) fail(`einsum output label '${l}' not in the inputs`);
      return dims.get(l)!;
    });
    out = ellipsisAt >= 0 ? [...ls.slice(0, ellipsisAt), ...ell, ...ls.slice(ellipsisAt)] : ls;
  } else {
    const once = [...counts].filter(([, c]) => c === 1).map(([l]) => l);
    once.sort();
    out = [...ell, ...once.map((l) => dims.get(l)!)];
  }
  ctx.set(0, elem, out);
}

export const einsumRules: OpRule[] = rules(['Einsum'], einsum);
