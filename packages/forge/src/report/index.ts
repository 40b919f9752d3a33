/**
 * @module
 * Reports: one self-contained HTML page (tables, Chart.js charts inlined, the result embedded as
 * JSON, no network) from the same result objects that `--json` prints.
 *
 * @example
 * import { writeReport } from './report/index.js';
 * await writeReport('bench.html', benchResult);
 */
export { renderReport, writeReport, type ReportOptions } from './render.js';
export { parseReportResult, ReportDataError } from './validate.js';
export type {
  ReportResult,
  EvalResult,
  BenchResult,
  CompareResult,
  ModelRef,
  TaskMetrics,
  ClassMetrics,
  FidelityReport,
  OutputFidelity,
  LatencyStats,
  LatencyComparison,
  ModelProfile,
  DtypeParams,
} from './types.js';
