import {
  quantizeModel,
  writeReport,
  QUANTIZE_MODES,
  type CompressResult,
  type QuantizeMode,
  type QuantizeResult,
} from '@edgeforge/forge';
import { UsageError } from '../errors.js';
import { parseInputShapes } from '../load.js';
import { bytes, count, json, pct, table } from '../output.js';
import { fidelityTable, int } from './measure.js';

/** Flags as commander hands them over (strings; validated here or by the pass). */
export interface QuantizeFlags {
  output?: string;
  mode?: string;
  calib?: string;
  calibLimit?: string;
  calibBatch?: string;
  method?: string;
  percentile?: string;
  activationType?: string;
  weightType?: string;
  perChannel?: boolean;
  reduceRange?: boolean;
  bits?: string;
  blockSize?: string;
  symmetric?: boolean;
  format?: string;
  accuracyLevel?: string;
  keepIoTypes?: boolean;
  blockOps?: string;
  opTypes?: string;
  excludeNodes?: string;
  includeNodes?: string;
  optimize?: boolean;
  inputShape?: string[];
  data?: string;
  limit?: string;
  latency?: boolean;
  backend?: string;
  report?: string;
  json?: boolean;
  analyze?: boolean;
  autoExclude?: string;
  autoExcludeMax?: string;
}

export type FlagKind = 'string' | 'number' | 'int' | 'boolean' | 'list';
/** flag → [pass option, value kind, the modes it applies to]. */
export type FlagTable<M extends string> = Record<string, [string, FlagKind, M[]]>;

const FLAG_OPTIONS: FlagTable<QuantizeMode> = {
  method: ['calibrateMethod', 'string', ['static']],
  percentile: ['percentile', 'number', ['static']],
  activationType: ['activationType', 'string', ['static']],
  weightType: ['weightType', 'string', ['dynamic', 'static']],
  perChannel: ['perChannel', 'boolean', ['dynamic', 'static']],
  reduceRange: ['reduceRange', 'boolean', ['dynamic', 'static']],
  bits: ['bits', 'int', ['weight-only']],
  blockSize: ['blockSize', 'int', ['weight-only']],
  symmetric: ['symmetric', 'boolean', ['weight-only']],
  format: ['format', 'string', ['weight-only']],
  accuracyLevel: ['accuracyLevel', 'int', ['weight-only']],
  keepIoTypes: ['keepIoTypes', 'boolean', ['fp16']],
  blockOps: ['blockOps', 'list', ['fp16']],
  opTypes: ['opTypes', 'list', ['dynamic', 'static', 'weight-only']],
  includeNodes: ['includeNodes', 'list', ['dynamic', 'static', 'weight-only']],
  excludeNodes: ['excludeNodes', 'list', ['dynamic', 'static', 'weight-only', 'fp16']],
  autoExclude: ['autoExcludeSnrDb', 'number', ['static']],
  autoExcludeMax: ['autoExcludeMax', 'int', ['static']],
};

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The mode's pass options from the flags; a flag of another mode is a usage error. */
export function passOptionsFrom(mode: QuantizeMode, f: QuantizeFlags): Record<string, unknown> {
  const out = flagOptions(FLAG_OPTIONS, mode, f, '--mode');
  // fp16 calls its node exclusion list blockNodes.
  if (mode === 'fp16' && out.excludeNodes) {
    out.blockNodes = out.excludeNodes;
    delete out.excludeNodes;
  }
  return out;
}

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
    else if (kind === 'number') {
      const n = Number(v);
      if (!Number.isFinite(n)) throw new UsageError(`--${kebab(flag)}: '${String(v)}' is not a number`);
      out[key] = n;
    } else out[key] = v;
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

function human(r: QuantizeResult): string {
  const ratio = r.bytesAfter / r.bytesBefore;
  const lines = [
    `${r.input} → ${r.output} (${r.mode})`,
    `size ${bytes(r.bytesBefore)} → ${bytes(r.bytesAfter)} (${ratio.toFixed(3)}×), nodes ${r.nodesBefore} → ${r.nodesAfter}, parameters ${count(r.paramsBefore)} → ${count(r.paramsAfter)}`,
  ];
  const q = r.steps[r.steps.length - 1];
  const changes = Object.entries(q.counts).map(([k, n]) => `${k} ${n}`);
  lines.push(`${q.pass}: ${changes.join(', ') || 'nothing to quantize'}`);
  if (q.notes?.length) {
    lines.push('notes (left in float, skipped)');
    for (const n of q.notes.slice(0, 20)) lines.push(`  ${n}`);
    if (q.notes.length > 20) lines.push(`  … ${q.notes.length - 20} more (--json)`);
  }
  if (r.layers) {
    const db = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '∞');
    lines.push('', 'per-layer error against the float model (worst first: SNR the layer itself loses)');
    lines.push(
      table(
        [
          ['node', 'op', 'SNR dB', 'input SNR dB', 'loses dB', 'cosine'],
          ...r.layers.slice(0, 20).map((l) => {
            const inSnr = Number.isFinite(l.inputSnrDb) ? l.inputSnrDb : 100;
            return [l.node, l.opType, db(l.snrDb), db(l.inputSnrDb), (inSnr - l.snrDb).toFixed(1), l.cosine.toFixed(5)];
          }),
        ],
        { align: ['l', 'l', 'r', 'r', 'r', 'r'] },
      ),
    );
    if (r.layers.length > 20) lines.push(`  … ${r.layers.length - 20} more (--json)`);
  }
  lines.push(...measuredLines(r, 'quantized'));
  return lines.join('\n');
}

export async function quantizeCommand(input: string, f: QuantizeFlags): Promise<string> {
  if (!f.output) throw new UsageError('quantize needs -o <out.onnx>');
  const modes = Object.keys(QUANTIZE_MODES);
  if (!f.mode || !modes.includes(f.mode)) throw new UsageError(`--mode: choose one of ${modes.join(', ')}`);
  const mode = f.mode as QuantizeMode;
  if (f.backend && f.backend !== 'node' && f.backend !== 'wasm')
    throw new UsageError(`--backend: '${f.backend}' (choose node or wasm)`);
  if (mode === 'static' && !f.calib)
    throw new UsageError('--mode static needs --calib <data spec> (e.g. synthetic:count=100 to calibrate on noise)');
  const inputShapes = parseInputShapes(f.inputShape);
  const calibLimit = int('calib-limit', f.calibLimit);
  const calibBatch = int('calib-batch', f.calibBatch);
  const limit = int('limit', f.limit);
  const r = await quantizeModel(input, f.output, {
    mode,
    passOptions: passOptionsFrom(mode, f),
    optimize: f.optimize ?? true,
    ...(f.calib ? { calib: f.calib } : {}),
    ...(calibLimit ? { calibLimit } : {}),
    ...(calibBatch ? { calibBatch } : {}),
    ...(inputShapes ? { inputShapes } : {}),
    ...(f.data ? { data: f.data } : {}),
    ...(limit ? { limit } : {}),
    latency: !!f.latency,
    ...(f.analyze ? { analyze: true } : {}),
    backend: (f.backend ?? 'node') as 'node' | 'wasm',
  });
  if (f.report && r.comparison) await writeReport(f.report, r.comparison);
  const text = f.json ? json(r) : human(r);
  return f.report && !f.json ? `${text}\n\nreport: ${f.report}` : text;
}
