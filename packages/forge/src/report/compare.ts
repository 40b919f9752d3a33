/** The body of a compare report: model B against model A, side by side. */
import { latencyHistogram, LATENCY_ROWS } from './bench.js';
import { barChart, PALETTE, type ChartSet } from './charts.js';
import { fidelityTable, worstCosine } from './fidelity.js';
import * as f from './format.js';
import { markup, type SafeHtml } from './html.js';
import { card, cards, collapsible, facts, note, path, row, section, table, type Cell } from './parts.js';
import type { CompareResult, ModelProfile } from './types.js';

/** Operators drawn in the chart (the most frequent in either model); the table lists all. */
const TOP_OPS = 15;
const LONG_TABLE = 25;

/** Chart/legend labels: `A · resnet50.onnx`, or just `A` when both files share a name. */
function labels(r: CompareResult): { a: string; b: string } {
  const a = f.baseName(r.a.path);
  const b = f.baseName(r.b.path);
  return a === b ? { a: 'A', b: 'B' } : { a: `A · ${a}`, b: `B · ${b}` };
}

function paramTotals(m: ModelProfile): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const s of Object.values(m.params.byDtype)) {
    count += s.count;
    bytes += s.bytes;
  }
  return { count, bytes };
}

function nodeCount(m: ModelProfile): number {
  return Object.values(m.ops).reduce((x, y) => x + y, 0);
}

/** Tone for a change where smaller is better. */
function smaller(a: number, b: number): 'good' | 'bad' | undefined {
  return b < a ? 'good' : b > a ? 'bad' : undefined;
}

function toned(text: string, tone: 'good' | 'bad' | undefined): SafeHtml {
  return tone ? markup`<span class="${tone}">${text}</span>` : markup`${text}`;
}

function sizeSection(r: CompareResult, charts: ChartSet, L: { a: string; b: string }): SafeHtml {
  const pa = paramTotals(r.a);
  const pb = paramTotals(r.b);
  // Smaller is better for sizes; parameter and node counts are context (Q/DQ adds nodes, not cost).
  const line = (label: string, a: number, b: number, fmt: (x: number) => string, tone = false): Cell[] => [
    label,
    { n: fmt(a) },
    { n: fmt(b) },
    { n: toned(f.change(a, b), tone ? smaller(a, b) : undefined) },
    { n: a ? f.ratio(b / a) : '—' },
  ];
  const summary = table(
    [
      { label: '' },
      { label: 'A', num: true },
      { label: 'B', num: true },
      { label: 'Change', num: true },
      { label: 'B/A', num: true },
    ],
    [
      line('File size', r.a.bytes, r.b.bytes, f.bytes, true),
      line('Parameter bytes', pa.bytes, pb.bytes, f.bytes, true),
      line('Parameters', pa.count, pb.count, f.int),
      line('Nodes', nodeCount(r.a), nodeCount(r.b), f.int),
    ],
  );
  const dtypes = [...new Set([...Object.keys(r.a.params.byDtype), ...Object.keys(r.b.params.byDtype)])].sort(
    (x, y) =>
      Math.max(r.b.params.byDtype[y]?.bytes ?? 0, r.a.params.byDtype[y]?.bytes ?? 0) -
      Math.max(r.b.params.byDtype[x]?.bytes ?? 0, r.a.params.byDtype[x]?.bytes ?? 0),
  );
  const byDtype = table(
    [
      { label: 'Element type' },
      { label: 'A elements', num: true },
      { label: 'A bytes', num: true },
      { label: 'B elements', num: true },
      { label: 'B bytes', num: true },
    ],
    dtypes.map((d) => {
      const a = r.a.params.byDtype[d];
      const b = r.b.params.byDtype[d];
      return [
        markup`<code>${d}</code>`,
        { n: a ? f.int(a.count) : '—' },
        { n: a ? f.bytes(a.bytes) : '—' },
        { n: b ? f.int(b.count) : '—' },
        { n: b ? f.bytes(b.bytes) : '—' },
      ];
    }),
    { caption: 'Parameters (initializers, Constant-node tensors) by element type.' },
  );
  const sizeChart = charts.add(
    'File size and parameter bytes, A vs B',
    barChart(
      ['File size', 'Parameter bytes'],
      [
        { label: L.a, data: [f.toMiB(r.a.bytes), f.toMiB(pa.bytes)], color: PALETTE[0] },
        { label: L.b, data: [f.toMiB(r.b.bytes), f.toMiB(pb.bytes)], color: PALETTE[1] },
      ],
      { valueTitle: 'MiB' },
    ),
    { unit: ' MiB', height: 260 },
  );
  const dtypeChart = charts.add(
    'Parameters by element type, A vs B',
    barChart(
      dtypes,
      [
        { label: L.a, data: dtypes.map((d) => r.a.params.byDtype[d]?.count ?? 0), color: PALETTE[0] },
        { label: L.b, data: dtypes.map((d) => r.b.params.byDtype[d]?.count ?? 0), color: PALETTE[1] },
      ],
      { valueTitle: 'elements' },
    ),
    { height: 260 },
  );
  return section(
    'size',
    'Size and parameters',
    markup`${row(
      summary,
      markup`<h3>Size</h3>
        ${sizeChart}`,
    )}${row(
      byDtype,
      markup`<h3>Parameters by element type</h3>
        ${dtypeChart}`,
    )}`,
  );
}

function opsSection(r: CompareResult, charts: ChartSet, L: { a: string; b: string }): SafeHtml {
  const ops = [...new Set([...Object.keys(r.a.ops), ...Object.keys(r.b.ops)])].sort(
    (x, y) =>
      Math.max(r.a.ops[y] ?? 0, r.b.ops[y] ?? 0) - Math.max(r.a.ops[x] ?? 0, r.b.ops[x] ?? 0) || (x < y ? -1 : 1),
  );
  const top = ops.slice(0, TOP_OPS);
  const chart = charts.add(
    'Operator counts, A vs B',
    barChart(
      top,
      [
        { label: L.a, data: top.map((o) => r.a.ops[o] ?? 0), color: PALETTE[0] },
        { label: L.b, data: top.map((o) => r.b.ops[o] ?? 0), color: PALETTE[1] },
      ],
      { horizontal: true, valueTitle: 'nodes' },
    ),
    { unit: ' nodes', height: Math.max(200, 60 + top.length * 28) },
  );
  const tbl = table(
    [{ label: 'Operator' }, { label: 'A', num: true }, { label: 'B', num: true }, { label: 'B − A', num: true }],
    ops.map((o) => {
      const a = r.a.ops[o] ?? 0;
      const b = r.b.ops[o] ?? 0;
      const d = b - a;
      return [
        markup`<code>${o}</code>`,
        { n: f.int(a) },
        { n: f.int(b) },
        { n: d === 0 ? '0' : `${d > 0 ? '+' : ''}${f.int(d)}` },
      ];
    }),
  );
  const title = ops.length > TOP_OPS ? markup`<h3>The ${TOP_OPS} most frequent operators (of ${ops.length})</h3>` : '';
  return section(
    'ops',
    'Operators',
    markup`${title}${chart}${ops.length > LONG_TABLE ? collapsible(`All ${ops.length} operators`, tbl) : tbl}`,
  );
}

function latencySection(r: CompareResult, charts: ChartSet, L: { a: string; b: string }): SafeHtml {
  const l = r.latency!;
  const tbl = table(
    [{ label: 'Statistic' }, { label: 'A', num: true }, { label: 'B', num: true }, { label: 'B/A', num: true }],
    LATENCY_ROWS.map(([k, label]) => [
      label,
      { n: f.ms(l.a[k]) },
      { n: f.ms(l.b[k]) },
      {
        n: l.a[k]
          ? toned(f.ratio((l.b[k] ?? NaN) / (l.a[k] as number)), smaller(l.a[k] as number, l.b[k] ?? NaN))
          : '—',
      },
    ]),
    {
      caption: `Both models measured in the same run, interleaved${l.backend ? ` (backend ${l.backend})` : ''}. B/A below 1: B is faster.`,
    },
  );
  const keys = LATENCY_ROWS.filter(([k]) => k !== 'min' && k !== 'max');
  const bars = charts.add(
    'Latency percentiles, A vs B',
    barChart(
      keys.map(([, label]) => label.replace(' (median)', '')),
      [
        { label: L.a, data: keys.map(([k]) => l.a[k] ?? null), color: PALETTE[0] },
        { label: L.b, data: keys.map(([k]) => l.b[k] ?? null), color: PALETTE[1] },
      ],
      { valueTitle: 'ms' },
    ),
    { unit: ' ms', height: 260 },
  );
  const sa = l.samplesA ?? [];
  const sb = l.samplesB ?? [];
  const hist =
    sa.length >= 2 && sb.length >= 2
      ? markup`<h3>Latency distribution</h3>
          ${charts.add(
            'Latency histogram, A vs B',
            latencyHistogram(
              [
                { label: L.a, samples: sa },
                { label: L.b, samples: sb },
              ],
              true,
            ),
            { height: 260 },
          )}`
      : '';
  return section(
    'latency',
    'Latency',
    markup`${row(
      tbl,
      markup`<h3>Percentiles</h3>
        ${bars}`,
    )}${hist}`,
  );
}

export function renderCompare(r: CompareResult, charts: ChartSet): SafeHtml {
  const L = labels(r);
  const pa = paramTotals(r.a);
  const pb = paramTotals(r.b);
  const worst = r.fidelity ? worstCosine(r.fidelity) : undefined;
  const head = cards([
    card(
      'File size (B)',
      f.bytes(r.b.bytes),
      markup`${toned(f.change(r.a.bytes, r.b.bytes), smaller(r.a.bytes, r.b.bytes))} vs A (${f.bytes(r.a.bytes)})`,
    ),
    card(
      'Param bytes (B)',
      f.bytes(pb.bytes),
      markup`${toned(f.change(pa.bytes, pb.bytes), smaller(pa.bytes, pb.bytes))} vs A`,
    ),
    r.latency &&
      card(
        'p50 latency B/A',
        f.ratio(r.latency.ratio),
        `${f.ms(r.latency.b.p50)} vs ${f.ms(r.latency.a.p50)}`,
        r.latency.ratio < 1 ? 'good' : r.latency.ratio > 1 ? 'bad' : undefined,
      ),
    r.accuracy &&
      card(
        'Top-1 accuracy (B)',
        f.pct(r.accuracy.b),
        `${f.pp(r.accuracy.a, r.accuracy.b)} vs A (${f.pct(r.accuracy.a)})`,
        r.accuracy.b < r.accuracy.a ? 'bad' : undefined,
      ),
    worst !== undefined &&
      card('Lowest cosine', f.cosine(worst), 'B vs A, over outputs', worst === null ? 'bad' : undefined),
  ]);
  const models = section(
    'models',
    'Models',
    facts([
      ['A', markup`${path(r.a.path)} <span class="muted">${f.bytes(r.a.bytes)}</span>`],
      ['B', markup`${path(r.b.path)} <span class="muted">${f.bytes(r.b.bytes)}</span>`],
    ]),
  );
  const accuracy = r.accuracy
    ? section(
        'accuracy',
        'Accuracy',
        table(
          [{ label: '' }, { label: 'A', num: true }, { label: 'B', num: true }, { label: 'B − A', num: true }],
          [
            [
              'Top-1 accuracy',
              { n: f.pct(r.accuracy.a) },
              { n: f.pct(r.accuracy.b) },
              { n: toned(f.pp(r.accuracy.a, r.accuracy.b), r.accuracy.b < r.accuracy.a ? 'bad' : undefined) },
            ],
          ],
          { caption: 'Both models on the same labelled samples.' },
        ),
      )
    : '';
  const fidelity = r.fidelity ? section('fidelity', 'Fidelity of B against A', fidelityTable(r.fidelity)) : '';
  const missing = [!r.accuracy && 'accuracy', !r.fidelity && 'fidelity', !r.latency && 'latency'].filter(Boolean);
  return markup`${head}${models}${sizeSection(r, charts, L)}${opsSection(r, charts, L)}${accuracy}${fidelity}${
    r.latency ? latencySection(r, charts, L) : ''
  }${missing.length ? note(`Not measured in this comparison: ${missing.join(', ')}.`) : ''}`;
}
