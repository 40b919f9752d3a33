import { writeReport, type BackendName, type CompressOptions, type CompressResult } from '@edgeforge/forge';
import { UsageError } from '../errors.js';
import { parseInputShapes } from '../load.js';
import { json, pct } from '../output.js';
import { fidelityTable, int, num } from './measure.js';

/** What `quantize` and `prune` share: the flags of the compress runner, as commander hands them over. */
export interface CompressFlags {
  output?: string;
  optimize?: boolean;
  inputShape?: string[];
  data?: string;
  limit?: string;
  latency?: boolean;
  backend?: string;
  report?: string;
  json?: boolean;
}

/** The runner's options from the shared flags (usage errors for a bad backend, shape or limit). */
export function compressOptions(f: CompressFlags): Omit<CompressOptions, 'steps'> {
  if (f.backend && f.backend !== 'node' && f.backend !== 'wasm')
    throw new UsageError(`--backend: '${f.backend}' (choose node or wasm)`);
  const inputShapes = parseInputShapes(f.inputShape);
  const limit = int('limit', f.limit);
  return {
    optimize: f.optimize ?? true,
    ...(inputShapes ? { inputShapes } : {}),
    ...(f.data ? { data: f.data } : {}),
    ...(limit ? { limit } : {}),
    latency: !!f.latency,
    backend: (f.backend ?? 'node') as BackendName,
  };
}

/** Writes the report (when asked) and returns the JSON or the human text. */
export async function finishCompress<R extends CompressResult>(
  r: R,
  f: CompressFlags,
  human: (r: R) => string,
): Promise<string> {
  if (f.report && r.comparison) await writeReport(f.report, r.comparison);
  const text = f.json ? json(r) : human(r);
  return f.report && !f.json ? `${text}\n\nreport: ${f.report}` : text;
}

export type FlagKind = 'string' | 'number' | 'int' | 'boolean' | 'list';
/** flag → [pass option, value kind, the modes it applies to]. */
export type FlagTable<M extends string> = Record<string, [string, FlagKind, M[]]>;

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Pass options from flags after `table`; a flag that does not apply to `mode` is a usage error. */
export function flagOptions<M extends string>(
  table: FlagTable<M>,
  mode: M,
  f: object,
  selector: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [flag, [key, kind, modes]] of Object.entries(table)) {
    const v = (f as Record<string, unknown>)[flag];
    if (v === undefined) continue;
    if (!modes.includes(mode))
      throw new UsageError(`--${kebab(flag)} applies to ${selector} ${modes.join('|')}, not ${mode}`);
    if (kind === 'list')
      out[key] = String(v)
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (kind === 'int') out[key] = int(kebab(flag), String(v), 0);
    else if (kind === 'number') out[key] = num(kebab(flag), String(v));
    else out[key] = v;
  }
  return out;
}

/** Accuracy, fidelity and latency of a compressed model against its original, for people. */
export function measuredLines(r: CompressResult, what: string): string[] {
  const lines: string[] = [];
  if (r.unmeasured) lines.push('', `fidelity not measured: ${r.unmeasured}`);
  const c = r.comparison;
  if (c) {
    if (c.accuracy) {
      const drop = (c.accuracy.a - c.accuracy.b) * 100;
      lines.push(
        '',
        `top-1 ${pct(c.accuracy.a)} → ${pct(c.accuracy.b)} (${drop >= 0 ? '−' : '+'}${Math.abs(drop).toFixed(2)} pt) on ${r.measuredOn}`,
      );
    }
    if (c.fidelity) lines.push('', `fidelity against the original on ${r.measuredOn}`, fidelityTable(c.fidelity));
    if (c.latency)
      lines.push('', `latency p50 ${c.latency.backend}: ratio ${what}/original ${c.latency.ratio.toFixed(3)}`);
  }
  return lines;
}
