/**
 * `fuse-matmul-add-into-gemm`: a 2-D MatMul by a constant matrix followed by the Add of a constant
 * bias becomes one Gemm.
 *
 * ```
 * Before:  A[M,K] ─► MatMul(B[K,N]) ─► y ─► Add(C) ─► Z
 * After:   A[M,K] ─► Gemm(B, C) ─► Z      (alpha = beta = 1, no transposes; Z keeps its name)
 * ```
 *
 * No arithmetic: B and C are the same values as before. C must broadcast to `[N]` without growing
 * the output: `[]`, `[1]`, `[N]`, `[1,1]` or `[1,N]`. Either Add operand order is accepted.
 *
 * Refused (with a note): A not of rank 2 (Gemm is 2-D only; a rank-3 MatMul stays), A's rank
 * unknown even after shape inference, B not a constant 2-D matrix, C not constant or not
 * per-column, the MatMul output with other uses, element types other than float32/float64 (what
 * onnxruntime's CPU Gemm runs), a model below opset 7 (no Gemm broadcasting).
 */
import {
  DataType,
  Node,
  Value,
  elemTypeOf,
  graphAndSubgraphs,
  inferShapes,
  shapeOf,
  type Model,
} from '@edgeforge/onnx';
import { Changes, noOptions, type Pass } from '../pass.js';
import { constantThroughIdentity, isOnnxOp } from './fuse-bn-into-conv.js';

export const FUSE_MATMUL_ADD_INTO_GEMM = 'fuse-matmul-add-into-gemm';

const GEMM_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE]);

interface Match {
  add: Node;
  matmul: Node;
  a: Value;
  c: Value;
}

/** Structural match plus the checks that need no shapes; a string is a refusal. */
function match(add: Node): Match | string | undefined {
  if (add.inputs.length !== 2 || add.attributes.size > 0) return undefined;
  for (const side of [0, 1]) {
    const y = add.inputs[side];
    const c = add.inputs[1 - side];
    const mm = y?.producer;
    if (!y || !c || !mm || !isOnnxOp(mm, 'MatMul')) continue;
    const bias = constantThroughIdentity(c);
    if (!bias) continue;
    const what = `${mm} → ${add}`;
    if (mm.graph !== add.graph) return `${what}: MatMul is in another graph`;
    if (y.uses().length !== 1 || y.isGraphOutput()) return `${what}: '${y.name}' has other uses`;
    const [a, bv] = mm.inputs;
    const b = constantThroughIdentity(bv);
    if (!a || !b) return `${what}: B '${bv?.name}' is not constant`;
    if (b.dims.length !== 2) return `${what}: B has rank ${b.dims.length}, not 2`;
    if (!GEMM_TYPES.has(b.dtype) || bias.dtype !== b.dtype)
      return `${what}: element type ${b.dtype} is not float32/float64`;
    const n = b.dims[1];
    const cd = bias.dims;
    const last = cd.length ? cd[cd.length - 1] : 1;
    if (cd.length > 2 || (cd.length === 2 && cd[0] !== 1) || (last !== 1 && last !== n))
      return `${what}: bias '${c.name}' of shape [${cd.join(',')}] does not broadcast to [${n}]`;
    return { add, matmul: mm, a, c };
  }
  return undefined;
}

function rewrite(m: Match): void {
  const { add, matmul } = m;
  const g = add.graph!;
  const out = add.outputs[0];
  const mid = matmul.outputs[0];
  const gemm = new Node('Gemm', [m.a, matmul.inputs[1], m.c], {
    name: matmul.name || add.name,
    outputs: [],
  });
  g.insertBefore(add, gemm);
  g.remove(add, { safe: false });
  add.setOutput(0, new Value(''));
  g.remove(matmul, { safe: false });
  gemm.addOutput(out);
  const k = g.valueInfo.indexOf(mid);
  if (k >= 0) g.valueInfo.splice(k, 1);
}

/** Rank of A: from its type, after running shape inference once if some A has no rank. */
function rankOf(a: Value, model: Model, state: { inferred: boolean }): number | undefined {
  let shape = shapeOf(a.type);
  if (!shape && !state.inferred) {
    state.inferred = true;
    inferShapes(model, { valueInfo: false });
    shape = shapeOf(a.type);
  }
  return shape?.length;
}

/** MatMul(A 2-D, constant B) + constant bias → Gemm. */
export const fuseMatmulAddIntoGemm: Pass<Record<string, never>> = {
  name: FUSE_MATMUL_ADD_INTO_GEMM,
  family: 'optimize',
  description: 'Fuse a 2-D MatMul by a constant matrix and the Add of a constant bias into Gemm',
  idempotent: true,
  tolerance: 1e-4,
  parseOptions: noOptions(FUSE_MATMUL_ADD_INTO_GEMM),
  run(model) {
    const changes = new Changes();
    if (model.opset < 7) {
      changes.note(`opset ${model.opset} < 7: Gemm has no broadcasting there, nothing fused`);
      return changes.report();
    }
    const state = { inferred: false };
    for (const g of [...graphAndSubgraphs(model.graph)]) {
      for (const n of g) {
        if (n.graph !== g || !isOnnxOp(n, 'Add')) continue;
        const m = match(n);
        if (m === undefined) continue;
        if (typeof m === 'string') {
          changes.note(m);
          continue;
        }
        const rank = rankOf(m.a, model, state);
        const type = elemTypeOf(m.a.type);
        if (rank !== 2) {
          changes.note(`${m.matmul} → ${n}: A '${m.a.name}' has rank ${rank ?? 'unknown'}; Gemm needs 2-D`);
          continue;
        }
        if (type !== undefined && !GEMM_TYPES.has(type)) {
          changes.note(`${m.matmul} → ${n}: A has element type ${type}, not float32/float64`);
          continue;
        }
        rewrite(m);
        changes.add('MatMul+Add fused into Gemm');
      }
    }
    return changes.report();
  },
};
