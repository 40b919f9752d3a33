/**
 * Charts: Chart.js configurations built here (typed), embedded in the page as JSON and instantiated
 * by a small inline script. Chart.js itself (its UMD build) is read from node_modules and inlined,
 * so the page needs no network.
 */
import type { ChartConfiguration } from 'chart.js';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { markup, type SafeHtml } from './html.js';

/** One chart: the canvas it draws on, a unit for tooltips, and a Chart.js configuration (pure JSON). */
export interface ChartSpec {
  canvasId: string;
  /** Appended to values in tooltips (`' ms'`, `'%'`, `' MiB'`). */
  unit?: string;
  config: ChartConfiguration;
}

/** Colours: model A / primary series, model B / secondary series, then more series. */
export const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7'];

/** Collects the charts of one page and hands out canvas ids. */
export class ChartSet {
  readonly specs: ChartSpec[] = [];

  /**
   * Adds a chart and returns its container. `label` describes the chart for screen readers;
   * `height` is the drawing height in CSS pixels.
   */
  add(label: string, config: ChartConfiguration, opts: { unit?: string; height?: number } = {}): SafeHtml {
    const canvasId = `chart-${this.specs.length + 1}`;
    this.specs.push({ canvasId, ...(opts.unit ? { unit: opts.unit } : {}), config });
    const height = opts.height ?? 280;
    return markup`<div class="chart" style="height: ${height}px">
      <canvas id="${canvasId}" role="img" aria-label="${label}"></canvas>
    </div>`;
  }
}

export interface BarSeries {
  label: string;
  data: (number | null)[];
  color?: string;
}

/** A bar chart with one bar per label and series (grouped), or stacked, or horizontal. */
export function barChart(
  labels: string[],
  series: BarSeries[],
  o: { valueTitle?: string; categoryTitle?: string; horizontal?: boolean; stacked?: boolean; max?: number } = {},
): ChartConfiguration {
  const value = o.horizontal ? 'x' : 'y';
  const category = o.horizontal ? 'y' : 'x';
  return {
    type: 'bar',
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        data: s.data,
        backgroundColor: s.color ?? PALETTE[i % PALETTE.length],
        borderRadius: 3,
        maxBarThickness: 48,
      })),
    },
    options: {
      indexAxis: o.horizontal ? 'y' : 'x',
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: series.length > 1, position: 'bottom' } },
      scales: {
        [value]: {
          beginAtZero: true,
          stacked: o.stacked ?? false,
          ...(o.max !== undefined ? { max: o.max } : {}),
          title: { display: Boolean(o.valueTitle), text: o.valueTitle ?? '' },
        },
        [category]: {
          stacked: o.stacked ?? false,
          grid: { display: false },
          title: { display: Boolean(o.categoryTitle), text: o.categoryTitle ?? '' },
        },
      },
    },
  };
}

export interface Histogram {
  /** Bin edges: bin i covers [edges[i], edges[i + 1]); the last bin includes its upper edge. */
  edges: number[];
  /** One count array per input sample set, aligned with the bins. */
  counts: number[][];
  /** Per set, samples above the last edge (slow outliers), shown as one extra bar, not as empty bins. */
  overflow: number[];
}

function quantile(sorted: readonly number[], q: number): number {
  const r = q * (sorted.length - 1);
  const lo = Math.floor(r);
  const hi = Math.ceil(r);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (r - lo);
}

/**
 * Bins one or more sample sets on shared edges, at the Freedman–Diaconis width of the tightest set
 * (so two distributions far apart keep their shape), 5–60 bins. The range ends at each set's far
 * outlier fence, Q3 + 3·IQR (or its maximum, if lower): a few slow runs would otherwise squash the
 * distribution into a couple of bins. Samples beyond are counted in `overflow`.
 */
export function histogram(sets: readonly (readonly number[])[]): Histogram {
  const sorted = sets.map((s) => s.filter((x) => Number.isFinite(x)).sort((a, b) => a - b));
  const present = sorted.filter((s) => s.length > 0);
  if (present.length === 0) return { edges: [], counts: sets.map(() => []), overflow: sets.map(() => 0) };
  const lo = Math.min(...present.map((s) => s[0]));
  let hi = -Infinity;
  let width = Infinity;
  for (const s of present) {
    const iqr = quantile(s, 0.75) - quantile(s, 0.25);
    hi = Math.max(hi, Math.min(s[s.length - 1], quantile(s, 0.75) + 3 * iqr));
    if (iqr > 0) width = Math.min(width, (2 * iqr) / Math.cbrt(s.length));
  }
  const span = hi - lo;
  let bins = span > 0 && Number.isFinite(width) ? Math.ceil(span / width) : Math.ceil(Math.sqrt(present[0].length));
  bins = Math.min(60, Math.max(5, bins));
  const step = span > 0 ? span / bins : 1;
  const edges = Array.from({ length: bins + 1 }, (_, i) => lo + i * step);
  const overflow = sets.map(() => 0);
  const counts = sorted.map((set, i) => {
    const c = new Array<number>(bins).fill(0);
    for (const x of set) {
      if (x > hi) overflow[i]++;
      else c[Math.min(bins - 1, Math.floor((x - lo) / step))]++;
    }
    return c;
  });
  return { edges, counts, overflow };
}

/**
 * Category labels for a histogram's bars: each bin's lower edge, with enough decimals to tell bins
 * apart, then `> upper` for the overflow bar when there is one.
 */
export function binLabels(h: Histogram): string[] {
  if (h.edges.length < 2) return [];
  const width = h.edges[1] - h.edges[0];
  const digits = Math.min(4, Math.max(0, Math.ceil(-Math.log10(width)) + 1));
  const labels = h.edges.slice(0, -1).map((e) => e.toFixed(digits));
  if (h.overflow.some((n) => n > 0)) labels.push(`> ${h.edges[h.edges.length - 1].toFixed(digits)}`);
  return labels;
}

/** Bar heights per set, the overflow bar appended when any set has one (aligned with `binLabels`). */
export function binCounts(h: Histogram): number[][] {
  const withOverflow = h.overflow.some((n) => n > 0);
  return h.counts.map((c, i) => (withOverflow ? [...c, h.overflow[i]] : c));
}

let chartLibrary: { code: string; version: string } | undefined;

/**
 * Chart.js's UMD build, read from node_modules (once per process), without its source-map
 * comment (which would point the browser's devtools at a file that is not there).
 */
export function chartLibrarySource(): { code: string; version: string } {
  if (!chartLibrary) {
    const require = createRequire(import.meta.url);
    // The package's exports map hides dist/chart.umd.js; resolve its main entry (dist/chart.cjs) instead.
    const file = join(dirname(require.resolve('chart.js')), 'chart.umd.js');
    let code: string;
    try {
      code = readFileSync(file, 'utf8');
    } catch (e) {
      throw new Error(`cannot read Chart.js's UMD build at ${file}: ${(e as Error).message}`);
    }
    const version = /Chart\.js v(\d+\.\d+\.\d+)/.exec(code)?.[1] ?? 'unknown';
    chartLibrary = { code: code.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n'), version };
  }
  return chartLibrary;
}

/**
 * The page's bootstrap: reads `#edgeforge-charts`, creates each chart, and exposes them as
 * `window.edgeforgeCharts` (for tests). Plain ES5 so that it needs no transpiling.
 */
export const CHART_BOOTSTRAP = `
(function () {
  'use strict';
  var el = document.getElementById('edgeforge-charts');
  if (!el || typeof Chart === 'undefined') return;
  var specs = JSON.parse(el.textContent);
  var nf = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 5 });
  Chart.defaults.animation = false;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.font.size = 12;
  Chart.defaults.color = '#475569';
  Chart.defaults.borderColor = '#e2e8f0';
  var charts = [];
  specs.forEach(function (s) {
    var canvas = document.getElementById(s.canvasId);
    if (!canvas) return;
    var cfg = s.config;
    var unit = s.unit || '';
    var horizontal = cfg.options && cfg.options.indexAxis === 'y';
    cfg.options = cfg.options || {};
    cfg.options.plugins = cfg.options.plugins || {};
    cfg.options.plugins.tooltip = {
      callbacks: {
        label: function (ctx) {
          var v = horizontal ? ctx.parsed.x : ctx.parsed.y;
          return (ctx.dataset.label ? ctx.dataset.label + ': ' : '') + nf.format(v) + unit;
        }
      }
    };
    charts.push(new Chart(canvas, cfg));
  });
  window.edgeforgeCharts = charts;
})();
`;
