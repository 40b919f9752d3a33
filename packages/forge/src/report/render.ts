import { randomBytes } from 'node:crypto';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { renderBench } from './bench.js';
import { ChartSet } from './charts.js';
import { renderCompare } from './compare.js';
import { renderEval } from './eval.js';
import { baseName } from './format.js';
import { page } from './page.js';
import type { ReportResult } from './types.js';

export interface ReportOptions {
  /** Page title and heading; default names the kind and the model(s). */
  title?: string;
}

function defaultTitle(r: ReportResult): string {
  switch (r.kind) {
    case 'eval':
      return `Evaluation of ${baseName(r.model.path)}`;
    case 'bench':
      return `Benchmark of ${baseName(r.model.path)}`;
    case 'compare':
      return `${baseName(r.b.path)} compared with ${baseName(r.a.path)}`;
  }
}

const KIND_LABEL = { eval: 'Evaluation', bench: 'Benchmark', compare: 'Comparison' } as const;

/**
 * Renders a result as one self-contained HTML page: tables for every number, Chart.js charts
 * (the library is inlined), a Content-Security-Policy that forbids any request, and the result
 * itself embedded as JSON in `<script type="application/json" id="edgeforge-data">`.
 *
 * @example
 * const html = renderReport({ kind: 'bench', model: { path: 'm.onnx', bytes: 1024 }, ... });
 */
export function renderReport(result: ReportResult, opts: ReportOptions = {}): string {
  const charts = new ChartSet();
  let body;
  switch (result.kind) {
    case 'eval':
      body = renderEval(result, charts);
      break;
    case 'bench':
      body = renderBench(result, charts);
      break;
    case 'compare':
      body = renderCompare(result, charts);
      break;
    default:
      throw new Error(`unknown result kind ${JSON.stringify((result as { kind?: unknown }).kind)}`);
  }
  return page({
    title: opts.title ?? defaultTitle(result),
    kind: KIND_LABEL[result.kind],
    body,
    data: result,
    charts: charts.specs,
  });
}

/**
 * Renders `result` and writes it to `path` atomically: a temporary file beside it, then a rename,
 * so a failure never leaves a half-written report (nor replaces an existing one).
 */
export async function writeReport(path: string, result: ReportResult, opts: ReportOptions = {}): Promise<void> {
  const content = renderReport(result, opts);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, content, { encoding: 'utf8', flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw new Error(`cannot write report ${path}: ${(e as Error).message}`, { cause: e });
  }
}
