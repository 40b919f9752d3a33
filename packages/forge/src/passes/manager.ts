import { checkModel, loadModelFromBytes, serializeModel, summarizeModel, type Model } from '@edgeforge/onnx';
import type { Feeds, HostTensor, Session } from '../runtime/types.js';
import { numericView } from '../runtime/tensor.js';
import { PassOptionError, type Pass, type PassContext, type PassReport } from './pass.js';
import { RecipeError, type RecipeStep } from './recipe.js';

export interface StepReport extends PassReport {
  pass: string;
  options: Record<string, unknown>;
  nodesBefore: number;
  nodesAfter: number;
  paramsBefore: number;
  paramsAfter: number;
  durationMs: number;
  /** Largest relative output difference against the original, with --verify. */
  verifiedMaxRelError?: number;
}

export interface RunReport {
  steps: StepReport[];
  nodesBefore: number;
  nodesAfter: number;
  paramsBefore: number;
  paramsAfter: number;
  verified: boolean;
}

/** A failure that names the pass responsible (the model must not be written). */
export class PassFailure extends Error {
  override name = 'PassFailure';
}

export interface Verifier {
  /** Creates a session for serialized model bytes. */
  createSession(bytes: Uint8Array): Promise<Session>;
  /** Sample inputs (synthetic or from --data). */
  feeds: Feeds[];
}

export interface RunOptions {
  registry: ReadonlyMap<string, Pass<never>>;
  ctx?: PassContext;
  verify?: Verifier;
  onStep?: (step: StepReport) => void;
}

function stats(model: Model): { nodes: number; params: number } {
  const s = summarizeModel(model);
  return { nodes: s.nodes, params: s.parameters.total };
}

/** Resolves every step (unknown names, bad options) before any pass runs. */
export function resolveSteps(steps: RecipeStep[], registry: ReadonlyMap<string, Pass<never>>) {
  return steps.map((s) => {
    const pass = registry.get(s.pass);
    if (!pass) throw new RecipeError(`unknown pass '${s.pass}' (passes: ${[...registry.keys()].sort().join(', ')})`);
    try {
      return { pass: pass as Pass<unknown>, options: pass.parseOptions(s.options) as unknown, raw: s.options };
    } catch (e) {
      if (e instanceof PassOptionError) throw e;
      throw new PassOptionError(`pass '${s.pass}': ${(e as Error).message}`);
    }
  });
}

/** Absolute slack of the verify check (onnxoptimizer's and the issue's `atol`). */
export const VERIFY_ATOL = 1e-5;

/**
 * Largest |a−b| / (|a| + atol/rtol) over all outputs: at most `rtol` exactly when every element
 * satisfies |a−b| ≤ rtol·|a| + atol (numpy's `allclose` form, as onnxoptimizer's tests use), so
 * tiny outputs near zero are not judged by their relative error alone.
 */
export function maxRelError(ref: Record<string, HostTensor>, got: Record<string, HostTensor>, rtol: number): number {
  const floor = Number.isFinite(rtol) && rtol > 0 ? VERIFY_ATOL / rtol : 0;
  let worst = 0;
  for (const [name, a] of Object.entries(ref)) {
    const b = got[name];
    if (!b) return Infinity;
    if (a.dims.join() !== b.dims.join()) return Infinity;
    const x = numericView(a);
    const y = numericView(b);
    if (!x || !y) {
      if (JSON.stringify(a.data) !== JSON.stringify(b.data)) return Infinity;
      continue;
    }
    for (let i = 0; i < x.length; i++) {
      if (Number.isNaN(x[i]) && Number.isNaN(y[i])) continue;
      if (x[i] === y[i]) continue;
      const e = Math.abs(x[i] - y[i]) / (Math.abs(x[i]) + floor);
      if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
    }
  }
  return worst;
}

async function outputsOf(v: Verifier, model: Model): Promise<Record<string, HostTensor>[]> {
  const s = await v.createSession(serializeModel(model));
  try {
    const out: Record<string, HostTensor>[] = [];
    for (const f of v.feeds) out.push(await s.run(f));
    return out;
  } finally {
    await s.release();
  }
}

/**
 * Runs passes in order on `model` (in place). The checker runs before the first pass (a model that
 * fails it is refused) and after every pass (a pass that breaks the model is named and the run
 * stops). With a verifier, outputs after each pass are compared with the original's and must stay
 * within the tolerances the passes so far declared.
 */
export async function runPasses(model: Model, steps: RecipeStep[], o: RunOptions): Promise<RunReport> {
  const resolved = resolveSteps(steps, o.registry);
  const firstError = checkModel(model).find((i) => i.severity === 'error');
  if (firstError)
    throw new PassFailure(`the model fails the checker before any pass: ${firstError.message} [${firstError.rule}]`);
  const start = stats(model);
  // Each pass's "before" is the previous pass's "after": summarize once per step.
  let before = start;
  const reference = o.verify ? await outputsOf(o.verify, model) : undefined;
  const ctx: PassContext = { ...o.ctx };
  if (!ctx.original && resolved.some((s) => s.pass.needsOriginal)) {
    const bytes = serializeModel(model);
    ctx.original = () => loadModelFromBytes(bytes, model.baseDir);
  }
  let tolerance = 0;
  const reports: StepReport[] = [];
  for (const { pass, options, raw } of resolved) {
    const t0 = performance.now();
    let r: PassReport;
    try {
      r = await pass.run(model, options, ctx);
    } catch (e) {
      throw new PassFailure(`pass '${pass.name}' failed: ${(e as Error).message.split('\n')[0]}`);
    }
    const durationMs = performance.now() - t0;
    const broken = checkModel(model).find((i) => i.severity === 'error');
    if (broken)
      throw new PassFailure(`pass '${pass.name}' produced an invalid model: ${broken.message} [${broken.rule}]`);
    const after = stats(model);
    const step: StepReport = {
      pass: pass.name,
      options: raw,
      ...r,
      nodesBefore: before.nodes,
      nodesAfter: after.nodes,
      paramsBefore: before.params,
      paramsAfter: after.params,
      durationMs,
    };
    if (o.verify && reference) {
      tolerance = Math.max(tolerance, pass.tolerance);
      // Exact rewrites may still move results by float rounding when kernels change; 1e-4 relative is the floor.
      const allowed = Math.max(tolerance, 1e-4);
      const outs = await outputsOf(o.verify, model);
      const err = Math.max(...outs.map((x, i) => maxRelError(reference[i], x, allowed)));
      step.verifiedMaxRelError = err;
      if (!(err <= allowed)) {
        throw new PassFailure(
          `pass '${pass.name}' changed the model's outputs: relative error ${err.toExponential(2)} exceeds ${allowed.toExponential(0)}`,
        );
      }
    }
    reports.push(step);
    before = after;
    o.onStep?.(step);
  }
  const end = before;
  return {
    steps: reports,
    nodesBefore: start.nodes,
    nodesAfter: end.nodes,
    paramsBefore: start.params,
    paramsAfter: end.params,
    verified: !!o.verify,
  };
}
