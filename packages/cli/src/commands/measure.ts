import {
  runBench,
  runCompare,
  runEval,
  writeReport,
  type BenchResult,
  type CompareResult,
  type EvalResult,
  type FidelityReport,
  type RunOptions,
} from '@edgeforge/forge';
import { UsageError } from '../errors.js';
import { bytes, count, json, ms, pct, progress, table } from '../output.js';

/** Options the three measuring verbs share, as commander hands them over. */
export interface MeasureFlags {
  backend?: string;
  threads?: string;
  data?: string;
  batch?: string;
  limit?: string;
  shape?: string[];
  output?: string;
  report?: string;
  json?: boolean;
  iterations?: string;
  warmup?: string;
  duration?: string;
}

/** A `--flag <n>` integer, at least `min`; usage error otherwise. */
/** `--name <x>` as a finite number (usage error otherwise); undefined when not given. */
export function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name}: '${v}' is not a number`);
  return n;
}

export function int(name: string, v: string | undefined, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name}: '${v}' is not an integer ≥ ${min}`);
  return n;
}

/** `--shape N=1` (a symbolic dim) or `--shape x=1,3,48,320` (a whole input). */
export function parseShapes(specs: string[] | undefined): Record<string, number | number[]> | undefined {
  if (!specs?.length) return undefined;
  const out: Record<string, number | number[]> = {};
  for (const s of specs) {
    const m = /^([^=]+)=([\d,]+)$/.exec(s);
    if (!m) throw new UsageError(`--shape '${s}': expected dim=size or input=d1,d2,… (e.g. N=1 or x=1,3,224,224)`);
    const parts = m[2].split(',').filter((x) => x !== '');
    out[m[1]] = m[2].includes(',') ? parts.map(Number) : Number(parts[0]);
  }
  return out;
}

function runOptions(f: MeasureFlags, label: string): { opts: RunOptions; bar: ReturnType<typeof progress> } {
  if (f.backend && f.backend !== 'node' && f.backend !== 'wasm')
    throw new UsageError(`--backend: '${f.backend}' (choose node or wasm)`);
  const bar = progress(label);
  const threads = int('threads', f.threads);
  const batch = int('batch', f.batch);
  const limit = int('limit', f.limit, 0);
  const shapes = parseShapes(f.shape);
  return {
    bar,
    opts: {
      backend: (f.backend ?? 'node') as 'node' | 'wasm',
      ...(threads ? { threads } : {}),
      ...(f.data ? { data: f.data } : {}),
      ...(batch ? { batch } : {}),
      ...(limit !== undefined ? { limit } : {}),
      ...(shapes ? { shapes } : {}),
      ...(f.output ? { output: f.output } : {}),
      onProgress: bar.update,
    },
  };
}

function benchFlags(f: MeasureFlags) {
  const iterations = int('iterations', f.iterations);
  const warmup = int('warmup', f.warmup, 0);
  const durationMs = f.duration !== undefined ? int('duration', f.duration) : undefined;
  return {
    ...(iterations ? { iterations } : {}),
    ...(warmup !== undefined ? { warmup } : {}),
    ...(durationMs ? { durationMs } : {}),
  };
}

async function finish(
  result: EvalResult | BenchResult | CompareResult,
  f: MeasureFlags,
  human: () => string,
): Promise<string> {
  if (f.report) await writeReport(f.report, result);
  const text = f.json ? json(result) : human();
  return f.report && !f.json ? `${text}\n\nreport: ${f.report}` : text;
}

export function fidelityTable(fr: FidelityReport): string {
  const snr = (x: number | null, mae: number | null) => (x === null ? (mae === 0 ? '∞' : 'n/a') : `${x.toFixed(1)} dB`);
  return table(
    [
      ['output', 'cosine', 'SNR', 'max |err|', 'mean |err|', 'argmax agree'],
      ...fr.perOutput.map((o) => [
        o.name,
        o.cosine === null ? 'n/a' : o.cosine.toFixed(6),
        snr(o.snrDb, o.maxAbsError),
        o.maxAbsError === null ? 'inf' : o.maxAbsError.toExponential(2),
        o.meanAbsError === null ? 'inf' : o.meanAbsError.toExponential(2),
        o.argmaxAgreement === undefined ? '-' : pct(o.argmaxAgreement),
      ]),
    ],
    { align: ['l', 'r', 'r', 'r', 'r', 'r'] },
  );
}

export async function evalCommand(model: string, f: MeasureFlags & { against?: string }): Promise<string> {
  const { opts, bar } = runOptions(f, 'eval');
  let r: EvalResult;
  try {
    r = await runEval(model, { ...opts, ...(f.against ? { against: f.against } : {}) });
  } finally {
    bar.done();
  }
  return finish(r, f, () => {
    const out = [`${r.model.path} on ${r.backend}: ${r.samples} samples in ${ms(r.durationMs)}`];
    if (r.task) {
      out.push('', `top-1 ${pct(r.task.top1)}${r.task.top5 !== undefined ? `   top-5 ${pct(r.task.top5)}` : ''}`);
      const c = r.task.confusion;
      if (c && c.length <= 12) {
        const names = r.task.classNames ?? c.map((_, i) => String(i));
        out.push('', 'confusion (rows: label, columns: predicted)');
        out.push(
          table([['', ...names], ...c.map((row, i) => [names[i], ...row])], {
            align: ['l', ...c.map(() => 'r' as const)],
          }),
        );
      }
    }
    if (r.fidelity) out.push('', `fidelity against ${r.fidelity.against}`, fidelityTable(r.fidelity));
    return out.join('\n');
  });
}

export async function benchCommand(model: string, f: MeasureFlags): Promise<string> {
  const { opts, bar } = runOptions(f, 'bench');
  let r: BenchResult;
  try {
    r = await runBench(model, { ...opts, ...benchFlags(f) });
  } finally {
    bar.done();
  }
  return finish(r, f, () => {
    const l = r.latencyMs;
    return [
      `${r.model.path} (${bytes(r.model.bytes)}) on ${r.backend}, threads ${r.threads ?? 'default'}, batch ${r.batch ?? 1}`,
      table([
        [
          'latency',
          `p50 ${ms(l.p50)}   p90 ${ms(l.p90)}   p99 ${ms(l.p99)}   mean ${ms(l.mean)}   (${r.iterations} runs after ${r.warmup} warm-up)`,
        ],
        ['throughput', `${r.throughputPerSec.toFixed(1)} samples/s`],
        ['cold start', `${ms(r.sessionCreateMs)} to create a session (median)`],
        [
          'memory',
          `peak RSS ${bytes(r.peakRssBytes)}${r.rssDeltaBytes !== undefined ? `, +${bytes(Math.max(0, r.rssDeltaBytes))} for the session` : ''}`,
        ],
      ]),
    ].join('\n');
  });
}

export async function compareCommand(a: string, b: string, f: MeasureFlags & { latency?: boolean }): Promise<string> {
  const { opts, bar } = runOptions(f, 'compare');
  let r: CompareResult;
  try {
    r = await runCompare(a, b, { ...opts, ...benchFlags(f), latency: f.latency ?? true });
  } finally {
    bar.done();
  }
  return finish(r, f, () => {
    const params = (p: CompareResult['a']) => Object.values(p.params.byDtype).reduce((s, d) => s + d.count, 0);
    const nodes = (p: CompareResult['a']) => Object.values(p.ops).reduce((s, n) => s + n, 0);
    const rows: (string | number)[][] = [
      ['', 'a', 'b', 'b/a'],
      ['file size', bytes(r.a.bytes), bytes(r.b.bytes), (r.b.bytes / r.a.bytes).toFixed(3)],
      ['parameters', count(params(r.a)), count(params(r.b)), (params(r.b) / params(r.a)).toFixed(3)],
      ['nodes', nodes(r.a), nodes(r.b), (nodes(r.b) / nodes(r.a)).toFixed(3)],
    ];
    if (r.accuracy)
      rows.push([
        'top-1',
        pct(r.accuracy.a),
        pct(r.accuracy.b),
        `${((r.accuracy.b - r.accuracy.a) * 100).toFixed(2)} pt`,
      ]);
    if (r.latency)
      rows.push([
        `latency p50 (${r.latency.backend})`,
        ms(r.latency.a.p50),
        ms(r.latency.b.p50),
        r.latency.ratio.toFixed(3),
      ]);
    const out = [`a: ${r.a.path}`, `b: ${r.b.path}`, '', table(rows, { align: ['l', 'r', 'r', 'r'] })];
    const dtypes = [...new Set([...Object.keys(r.a.params.byDtype), ...Object.keys(r.b.params.byDtype)])];
    out.push(
      '',
      'parameters by dtype',
      table(
        [
          ['dtype', 'a', 'b'],
          ...dtypes.map((d) => [d, count(r.a.params.byDtype[d]?.count ?? 0), count(r.b.params.byDtype[d]?.count ?? 0)]),
        ],
        { align: ['l', 'r', 'r'] },
      ),
    );
    const ops = [...new Set([...Object.keys(r.a.ops), ...Object.keys(r.b.ops)])].filter(
      (op) => (r.a.ops[op] ?? 0) !== (r.b.ops[op] ?? 0),
    );
    if (ops.length)
      out.push(
        '',
        'operators that differ',
        table([['op', 'a', 'b'], ...ops.map((op) => [op, r.a.ops[op] ?? 0, r.b.ops[op] ?? 0])], {
          align: ['l', 'r', 'r'],
        }),
      );
    if (r.fidelity)
      out.push('', `fidelity of b against a${f.data ? '' : ' (synthetic inputs)'}`, fidelityTable(r.fidelity));
    return out.join('\n');
  });
}
