/** The body of a bench report: headline latencies, the latency table, histogram and run-by-run chart. */
import type { ChartConfiguration } from 'chart.js';
import { barChart, binCounts, binLabels, histogram, PALETTE, type ChartSet } from './charts.js';
import * as f from './format.js';
import { markup, type SafeHtml } from './html.js';
import { card, cards, facts, path, row, section, table } from './parts.js';
import type { BenchResult, LatencyStats } from './types.js';

/** The statistics in display order. */
export const LATENCY_ROWS: [keyof LatencyStats, string][] = [
  ['min', 'min'],
  ['p50', 'p50 (median)'],
  ['p90', 'p90'],
  ['p99', 'p99'],
  ['mean', 'mean'],
  ['max', 'max'],
];

/** Histogram of one or more latency sample sets on shared bins. */
export function latencyHistogram(
  sets: { label: string; samples: readonly number[] }[],
  overlay: boolean,
): ChartConfiguration {
  const h = histogram(sets.map((s) => s.samples));
  const counts = binCounts(h);
  const config = barChart(
    binLabels(h),
    sets.map((s, i) => ({
      label: s.label,
      data: counts[i],
      color: overlay ? `${PALETTE[i % PALETTE.length]}99` : PALETTE[i % PALETTE.length],
    })),
    { valueTitle: 'runs', categoryTitle: 'latency (ms, bin start)' },
  );
  // Bins touch each other; overlaid sets share a bin rather than standing side by side.
  for (const ds of config.data.datasets)
    Object.assign(ds, {
      barPercentage: 1,
      categoryPercentage: overlay ? 1 : 0.95,
      borderRadius: 0,
      ...(overlay ? { grouped: false } : {}),
    });
  return config;
}

function runsChart(samples: readonly number[]): ChartConfiguration {
  return {
    type: 'line',
    data: {
      labels: samples.map((_, i) => String(i + 1)),
      datasets: [
        {
          label: 'latency',
          data: [...samples],
          borderColor: PALETTE[0],
          backgroundColor: PALETTE[0],
          borderWidth: 1.5,
          pointRadius: samples.length > 200 ? 0 : 2,
          tension: 0,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: {
        x: { title: { display: true, text: 'run' }, ticks: { maxTicksLimit: 12 }, grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: 'ms' } },
      },
    },
  };
}

function threadsText(threads: number | null): string {
  return threads === null || threads === 0 ? 'runtime default' : String(threads);
}

export function renderBench(r: BenchResult, charts: ChartSet): SafeHtml {
  const l = r.latencyMs;
  const head = cards([
    card('p50 latency', f.ms(l.p50), 'median'),
    card('p90 latency', f.ms(l.p90)),
    card('p99 latency', f.ms(l.p99)),
    card(
      'Throughput',
      f.perSec(r.throughputPerSec),
      `inferences/s at the mean${r.batch && r.batch > 1 ? `, batch ${r.batch}` : ''}`,
    ),
    card('Session create', f.ms(r.sessionCreateMs), 'cold start (median)'),
    card('Peak RSS', f.bytes(r.peakRssBytes), 'measuring process'),
  ]);
  const model = section(
    'model',
    'Setup',
    facts(
      [
        ['Model', path(r.model.path)],
        ['Size', markup`${f.bytes(r.model.bytes)} <span class="muted">(${f.int(r.model.bytes)} bytes)</span>`],
        ['Backend', r.backend],
        ['Threads', threadsText(r.threads)],
        ['Timed runs', f.int(r.iterations)],
        ['Warm-up runs', f.int(r.warmup)],
        ...(r.batch !== undefined ? ([['Batch', f.int(r.batch)]] as [string, string][]) : []),
        ...(r.rssDeltaBytes !== undefined ? ([['RSS growth', f.bytes(r.rssDeltaBytes)]] as [string, string][]) : []),
      ],
      true,
    ),
  );
  const stats = table(
    [{ label: 'Statistic' }, { label: 'Latency', num: true }],
    [
      ...LATENCY_ROWS.map(([k, label]) => [label, { n: f.ms(l[k]) }]),
      ...(l.stdev !== undefined ? [['std. deviation', { n: f.ms(l.stdev) }]] : []),
      ['throughput', { n: f.perSec(r.throughputPerSec) }],
      ['session create', { n: f.ms(r.sessionCreateMs) }],
    ],
    { caption: `Over ${f.int(l.count ?? r.iterations)} timed runs after ${f.int(r.warmup)} warm-up runs.` },
  );
  const percentiles = charts.add(
    'Latency percentiles',
    barChart(
      LATENCY_ROWS.map(([, label]) => label.replace(' (median)', '')),
      [{ label: 'latency', data: LATENCY_ROWS.map(([k]) => l[k] ?? null) }],
      { valueTitle: 'ms' },
    ),
    { unit: ' ms', height: 260 },
  );
  const samples = r.samplesMs ?? [];
  const distribution =
    samples.length >= 2
      ? markup`<div class="row">
          <div>
            <h3>Latency histogram</h3>
            ${charts.add('Latency histogram', latencyHistogram([{ label: 'runs', samples }], false))}
          </div>
          <div>
            <h3>Latency by run</h3>
            ${charts.add('Latency by run', runsChart(samples), { unit: ' ms' })}
          </div>
        </div>`
      : '';
  return markup`${head}${model}${section(
    'latency',
    'Latency',
    markup`${row(
      stats,
      markup`<h3>Percentiles</h3>
        ${percentiles}`,
    )}${distribution}`,
  )}`;
}
