/** The body of an eval report: headline cards, per-class metrics, confusion matrix, fidelity. */
import { barChart, type ChartSet } from './charts.js';
import { fidelityTable, worstCosine } from './fidelity.js';
import * as f from './format.js';
import { markup, type SafeHtml } from './html.js';
import { card, cards, collapsible, facts, note, path, rowFit, section, table, type Cell } from './parts.js';
import type { EvalResult, TaskMetrics } from './types.js';

/** Matrices up to this many classes are drawn in full; larger ones list their top confusions. */
const MAX_MATRIX_CLASSES = 40;
/** Per-class bars shown at most; beyond, the classes with the lowest recall. */
const MAX_CLASS_BARS = 40;
/** Tables longer than this start collapsed. */
const LONG_TABLE = 25;

interface ClassRow {
  index: number;
  name: string;
  support?: number;
  precision?: number;
  recall?: number;
}

function classRows(t: TaskMetrics): ClassRow[] {
  const n = Math.max(t.confusion?.length ?? 0, t.perClass?.length ?? 0, t.classNames?.length ?? 0);
  return Array.from({ length: n }, (_, i) => {
    const pc = t.perClass?.[i];
    const rowSum = t.confusion?.[i]?.reduce((a, b) => a + b, 0);
    return {
      index: i,
      name: t.classNames?.[i] ?? String(i),
      support: pc?.support ?? rowSum,
      precision: pc?.precision,
      recall: pc?.recall,
    };
  });
}

function f1(p: number | undefined, r: number | undefined): number | undefined {
  if (p === undefined || r === undefined) return undefined;
  return p + r === 0 ? 0 : (2 * p * r) / (p + r);
}

function perClassTable(t: TaskMetrics, rows: ClassRow[]): SafeHtml {
  const hasPr = rows.some((r) => r.precision !== undefined);
  const tableHtml = table(
    [
      { label: '#', num: true },
      { label: 'Class' },
      { label: 'Support', num: true, title: 'Samples labelled with this class' },
      ...(hasPr
        ? [
            { label: 'Precision', num: true },
            { label: 'Recall', num: true },
            { label: 'F1', num: true },
          ]
        : []),
    ],
    rows.map((r): Cell[] => [
      { n: r.index },
      r.name,
      { n: r.support === undefined ? '—' : f.int(r.support) },
      ...(hasPr ? [{ n: f.pct(r.precision) }, { n: f.pct(r.recall) }, { n: f.pct(f1(r.precision, r.recall)) }] : []),
    ]),
  );
  const body =
    rows.length > LONG_TABLE ? collapsible(`Per-class table (${rows.length} classes)`, tableHtml) : tableHtml;
  return markup`<h3>Per class</h3>
    ${body}${t.perClass ? '' : note('Per-class precision and recall were not recorded.')}`;
}

function perClassChart(rows: ClassRow[], charts: ChartSet): SafeHtml | string {
  if (!rows.some((r) => r.precision !== undefined)) return '';
  const shown =
    rows.length <= MAX_CLASS_BARS
      ? rows
      : [...rows].sort((a, b) => (a.recall ?? 0) - (b.recall ?? 0)).slice(0, MAX_CLASS_BARS);
  const title =
    shown.length < rows.length
      ? `Precision and recall: the ${shown.length} classes with the lowest recall (of ${rows.length})`
      : 'Precision and recall by class';
  return markup`<h3>${title}</h3>
    ${charts.add(
      title,
      barChart(
        shown.map((r) => r.name),
        [
          { label: 'Precision', data: shown.map((r) => (r.precision ?? 0) * 100) },
          { label: 'Recall', data: shown.map((r) => (r.recall ?? 0) * 100) },
        ],
        { valueTitle: '%', max: 100 },
      ),
      { unit: '%', height: 300 },
    )}`;
}

/** Cell background for a share of the row: blue on the diagonal (right), red off it (errors). */
function cellStyle(share: number, diagonal: boolean): { style: string; dark: boolean } {
  if (share <= 0) return { style: '', dark: false };
  const alpha = diagonal ? 0.08 + 0.82 * share : Math.min(0.9, 0.12 + 2.5 * share);
  const rgb = diagonal ? '37, 99, 235' : '220, 38, 38';
  return { style: `background: rgba(${rgb}, ${alpha.toFixed(3)})`, dark: alpha > 0.55 };
}

function confusionSection(confusion: number[][], rows: ClassRow[]): SafeHtml {
  const n = confusion.length;
  const name = (i: number) => rows[i]?.name ?? String(i);
  if (n > MAX_MATRIX_CLASSES) {
    const pairs: { t: number; p: number; count: number; share: number }[] = [];
    confusion.forEach((r, t) => {
      const total = r.reduce((a, b) => a + b, 0);
      r.forEach((count, p) => {
        if (p !== t && count > 0) pairs.push({ t, p, count, share: total ? count / total : 0 });
      });
    });
    pairs.sort((x, y) => y.count - x.count || y.share - x.share);
    return markup`${note(
      `${n} classes are too many to draw; the full ${n}×${n} matrix is in the embedded JSON (#edgeforge-data). The most frequent confusions:`,
    )}${table(
      [
        { label: 'True class' },
        { label: 'Predicted as' },
        { label: 'Samples', num: true },
        { label: 'Share of true class', num: true },
      ],
      pairs.slice(0, 25).map((x) => [name(x.t), name(x.p), { n: f.int(x.count) }, { n: f.pct(x.share, 1) }]),
    )}`;
  }
  const columns = confusion.map((_, j) => markup`<th scope="col" class="num" title="${name(j)}">${j}</th>`);
  const head = markup`<tr><th scope="col" class="corner">true ↓ predicted →</th>${columns}<th scope="col" class="num">Total</th></tr>`;
  const body = confusion.map((r, i) => {
    const total = r.reduce((a, b) => a + b, 0);
    const cells = r.map((count, j) => {
      const share = total ? count / total : 0;
      const { style, dark } = cellStyle(share, i === j);
      const title = `true ${name(i)}, predicted ${name(j)}: ${f.int(count)} (${f.pct(share, 1)} of the class)`;
      const styleAttr = style ? markup` style="${style}"` : '';
      return markup`<td class="${dark ? 'cm dark' : 'cm'}"${styleAttr} title="${title}">${count}</td>`;
    });
    return markup`<tr><th scope="row">${i} ${name(i)}</th>${cells}<td class="num total">${f.int(total)}</td></tr>`;
  });
  const caption =
    'Rows: true class; columns: predicted class (by index). Colour: share of the row, blue on the diagonal (correct), red off it (errors).';
  return markup`<div class="table-wrap"><table class="confusion"><caption>${caption}</caption><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

export function renderEval(r: EvalResult, charts: ChartSet): SafeHtml {
  const t = r.task;
  const fid = r.fidelity;
  const worst = fid ? worstCosine(fid) : undefined;
  const minAgreement = fid?.perOutput
    .map((o) => o.argmaxAgreement)
    .filter((x): x is number => x !== undefined)
    .reduce<number | undefined>((a, b) => (a === undefined ? b : Math.min(a, b)), undefined);
  const head = cards([
    t && card('Top-1 accuracy', f.pct(t.top1), `${f.int(r.samples)} samples`),
    t?.top5 !== undefined && card('Top-5 accuracy', f.pct(t.top5)),
    fid &&
      worst !== undefined &&
      card('Lowest cosine', f.cosine(worst), 'over outputs, vs reference', worst === null ? 'bad' : undefined),
    minAgreement !== undefined && card('Argmax agreement', f.pct(minAgreement), 'lowest over outputs'),
    card('Samples', f.int(r.samples)),
    card(
      'Duration',
      f.duration(r.durationMs),
      r.durationMs > 0 ? `${f.fixed((r.samples * 1000) / r.durationMs, 1)} samples/s` : undefined,
    ),
  ]);
  const model = section(
    'model',
    'Model',
    facts(
      [
        ['Path', path(r.model.path)],
        ['Size', markup`${f.bytes(r.model.bytes)} <span class="muted">(${f.int(r.model.bytes)} bytes)</span>`],
        ['Backend', r.backend],
        ['Samples', f.int(r.samples)],
        ['Duration', f.duration(r.durationMs)],
      ],
      true,
    ),
  );
  let task: SafeHtml | string = '';
  if (t) {
    const rows = classRows(t);
    const accuracy = table(
      [{ label: 'Metric' }, { label: 'Value', num: true }],
      [
        ['Top-1 accuracy', { n: f.pct(t.top1) }],
        ...(t.top5 !== undefined ? [['Top-5 accuracy', { n: f.pct(t.top5) }]] : []),
        ['Samples', { n: f.int(r.samples) }],
        ...(rows.length ? [['Classes', { n: f.int(rows.length) }]] : []),
      ],
    );
    const matrix = t.confusion?.length
      ? markup`<h3>Confusion matrix</h3>
          ${confusionSection(t.confusion, rows)}`
      : '';
    const left = markup`<h3>Accuracy</h3>
      ${accuracy}${rows.length ? perClassTable(t, rows) : ''}`;
    task = section(
      'task',
      'Task metrics',
      markup`${matrix ? rowFit(left, matrix) : left}${perClassChart(rows, charts)}`,
    );
  }
  const fidelity = fid ? section('fidelity', 'Fidelity against the reference', fidelityTable(fid)) : '';
  return markup`${head}${model}${task}${fidelity}`;
}
