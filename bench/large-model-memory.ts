/**
 * Peak memory of loading and re-saving a model past protobuf's 2 GiB limit, against its size on disk.
 *
 *   node --import tsx --conditions=source bench/large-model-memory.ts [--gib 2.1] [--hidden 4096] [--json]
 *
 * The model comes from tools/make-large-model.ts, saved with default options into a temporary folder
 * (deleted at the end). Each phase runs in its own child process, so its peak RSS is its own: the
 * child reads `process.resourceUsage().maxRSS` (the kernel's high-water mark, KiB) once after its
 * imports (baseline) and once after the phase (peak).
 *
 *   generate  makeLargeModel + saveModel (weights generated one tensor at a time)
 *   load      loadModel (external data should stay on disk: peak ≈ baseline)
 *   re-save   loadModel + saveModel to another folder (tensors should stream: peak − baseline ≈ largest tensor)
 *
 * Ratios: peak / model size on disk, and (peak − baseline) / largest tensor.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel, saveModel, storedTensors } from '@edgeforge/onnx';
import { DEFAULT_GIB, DEFAULT_HIDDEN, makeLargeModel } from '../tools/make-large-model.ts';

type Phase = 'generate' | 'load' | 'resave';

interface ChildArgs {
  phase: Phase;
  gib: number;
  hidden: number;
  src: string;
  dst: string;
}

interface PhaseResult {
  phase: Phase;
  /** maxRSS after imports, bytes. */
  baselineRss: number;
  /** maxRSS after loading (re-save phase only), bytes. */
  afterLoadRss?: number;
  /** maxRSS at the end of the phase, bytes. */
  peakRss: number;
  loadMs?: number;
  saveMs?: number;
  nodes: number;
}

const USAGE =
  'usage: node --import tsx --conditions=source bench/large-model-memory.ts [--gib 2.1] [--hidden 4096] [--json]';

const maxRss = (): number => process.resourceUsage().maxRSS * 1024;

/** Child side: one phase, result over IPC. */
function runChild(a: ChildArgs): PhaseResult {
  const baselineRss = maxRss();
  if (a.phase === 'generate') {
    const model = makeLargeModel({ targetBytes: Math.round(a.gib * 2 ** 30), hidden: a.hidden });
    const t0 = performance.now();
    saveModel(model, a.dst);
    return {
      phase: a.phase,
      baselineRss,
      peakRss: maxRss(),
      saveMs: performance.now() - t0,
      nodes: model.graph.nodeCount,
    };
  }
  const t0 = performance.now();
  const model = loadModel(a.src);
  const loadMs = performance.now() - t0;
  if (a.phase === 'load')
    return { phase: a.phase, baselineRss, peakRss: maxRss(), loadMs, nodes: model.graph.nodeCount };
  const afterLoadRss = maxRss();
  const t1 = performance.now();
  saveModel(model, a.dst);
  return {
    phase: a.phase,
    baselineRss,
    afterLoadRss,
    peakRss: maxRss(),
    loadMs,
    saveMs: performance.now() - t1,
    nodes: model.graph.nodeCount,
  };
}

function inChild(a: ChildArgs): Promise<PhaseResult> {
  return new Promise((resolvePhase, reject) => {
    const child = fork(import.meta.filename, ['--child', JSON.stringify(a)], {
      execArgv: process.execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: PhaseResult | undefined;
    child.on('message', (m) => (result = m as PhaseResult));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result && code === 0) resolvePhase(result);
      else reject(new Error(`${a.phase} phase failed (${signal ? `signal ${signal}` : `exit code ${code}`})`));
    });
  });
}

function parseArgs(argv: readonly string[]): { gib: number; hidden: number; json: boolean } {
  let gib = DEFAULT_GIB;
  let hidden = DEFAULT_HIDDEN;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--gib' || a === '--hidden') {
      const v = Number(argv[++i]);
      if (argv[i] === undefined || !Number.isFinite(v) || v <= 0)
        throw new Error(`${a} needs a positive number (${USAGE})`);
      if (a === '--gib') gib = v;
      else hidden = v;
    } else throw new Error(`unknown argument ${a} (${USAGE})`);
  }
  return { gib, hidden, json };
}

const mib = (n: number): string => (n / 2 ** 20).toFixed(0);

async function main(argv: readonly string[]): Promise<void> {
  const { gib, hidden, json } = parseArgs(argv);
  // Shapes only: no weight is generated in this process.
  const shape = makeLargeModel({ targetBytes: Math.round(gib * 2 ** 30), hidden });
  const largestTensorBytes = Math.max(...[...storedTensors(shape)].map((x) => x.tensor.nbytes));
  const dir = mkdtempSync(join(tmpdir(), 'edgeforge-bench-large-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  const onSignal = () => {
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    mkdirSync(join(dir, 'a'));
    mkdirSync(join(dir, 'b'));
    const src = join(dir, 'a', 'model.onnx');
    const dst = join(dir, 'b', 'model.onnx');
    const base = { gib, hidden, src, dst };
    process.stderr.write(`bench: generating a ${gib} GiB model (hidden ${hidden}) in ${dir}\n`);
    const generate = await inChild({ ...base, phase: 'generate', dst: src });
    const onnxBytes = statSync(src).size;
    let dataBytes = 0;
    try {
      dataBytes = statSync(`${src}.data`).size;
    } catch {
      // no side file
    }
    const modelBytes = onnxBytes + dataBytes;
    process.stderr.write('bench: load\n');
    const load = await inChild({ ...base, phase: 'load' });
    process.stderr.write('bench: re-save\n');
    const resave = await inChild({ ...base, phase: 'resave' });

    const rows = [generate, load, resave].map((r) => ({
      ...r,
      peakOverModel: r.peakRss / modelBytes,
      growthOverLargest: (r.peakRss - r.baselineRss) / largestTensorBytes,
    }));
    const out: string[] = [];
    out.push(
      `model on disk: ${mib(modelBytes)} MiB (.onnx ${mib(onnxBytes)} MiB + .data ${mib(dataBytes)} MiB); largest tensor ${mib(largestTensorBytes)} MiB; ${generate.nodes} nodes`,
    );
    out.push('');
    const header = [
      'phase',
      'load ms',
      'save ms',
      'baseline MiB',
      'peak MiB',
      'peak−base MiB',
      'peak/model',
      '(peak−base)/largest',
    ];
    const table = rows.map((r) => [
      r.phase === 'resave' ? 're-save' : r.phase,
      r.loadMs === undefined ? '' : r.loadMs.toFixed(0),
      r.saveMs === undefined ? '' : r.saveMs.toFixed(0),
      mib(r.baselineRss),
      mib(r.peakRss),
      mib(r.peakRss - r.baselineRss),
      r.peakOverModel.toFixed(2),
      r.growthOverLargest.toFixed(2),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const fmt = (row: string[]) =>
      row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
    out.push(fmt(header), ...table.map(fmt));
    if (resave.afterLoadRss !== undefined)
      out.push(
        '',
        `re-save: maxRSS after its load ${mib(resave.afterLoadRss)} MiB, after its save ${mib(resave.peakRss)} MiB`,
      );
    process.stdout.write(out.join('\n') + '\n');
    if (json) {
      const phases = Object.fromEntries(rows.map((r) => [r.phase, r]));
      process.stdout.write(
        JSON.stringify({
          bench: 'large-model-memory',
          gib,
          hidden,
          modelBytes,
          onnxBytes,
          dataBytes,
          largestTensorBytes,
          phases,
        }) + '\n',
      );
    }
  } finally {
    cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (process.argv[2] === '--child') {
  const result = runChild(JSON.parse(process.argv[3]) as ChildArgs);
  process.send!(result, () => process.disconnect());
} else {
  try {
    await main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`bench: error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  }
}
