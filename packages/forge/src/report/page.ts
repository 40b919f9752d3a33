/** The page shell: head (CSP, styles), header, body, embedded data, Chart.js and its bootstrap. */
import { CHART_BOOTSTRAP, chartLibrarySource, type ChartSpec } from './charts.js';
import { markup, inlineScript, jsonForScript, raw, type SafeHtml } from './html.js';

/**
 * Nothing may leave the page: no fetches, fonts, images or frames; only the inline scripts and
 * styles the page itself carries (and the `data:` favicon, which stops the browser asking for one).
 */
const CSP =
  "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'";

const CSS = `
:root {
  --fg: #1e293b; --muted: #64748b; --border: #e2e8f0; --bg: #f6f8fb; --panel: #fff; --head: #f1f5f9;
  --accent: #2563eb; --good: #15803d; --bad: #b91c1c;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--fg); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif;
}
header { background: var(--panel); border-bottom: 1px solid var(--border); }
header .inner, main, footer { max-width: 1200px; margin: 0 auto; padding-left: 28px; padding-right: 28px; }
header .inner { padding-top: 18px; padding-bottom: 16px; }
h1 { font-size: 21px; font-weight: 650; margin: 0; overflow-wrap: anywhere; }
.kind { display: inline-block; font-size: 11px; font-weight: 600; letter-spacing: .06em; text-transform: uppercase;
  color: var(--accent); background: #eff6ff; border: 1px solid #bfdbfe; border-radius: 999px; padding: 1px 9px; margin-bottom: 6px; }
main { padding-top: 22px; padding-bottom: 28px; }
h2 { font-size: 16px; font-weight: 650; margin: 0 0 12px; }
h3 { font-size: 13px; font-weight: 600; color: var(--muted); margin: 18px 0 8px; }
.row > div > h3:first-child, .row-fit > div > h3:first-child, section > h3:first-of-type { margin-top: 4px; }
section { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 16px 20px 18px; margin: 0 0 18px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(175px, 1fr)); gap: 12px; margin: 0 0 18px; }
.card { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; padding: 11px 14px; }
.card .label { color: var(--muted); font-size: 11.5px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; margin-top: 2px; white-space: nowrap; }
.card .note { color: var(--muted); font-size: 12px; }
.good { color: var(--good); } .bad { color: var(--bad); } .muted { color: var(--muted); }
.row { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 8px 28px; align-items: start; }
.row > div { min-width: 0; }
.row-fit { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
.row-fit > div:first-child { flex: 1 1 380px; min-width: 0; }
.row-fit > div:last-child { flex: 0 1 auto; min-width: 0; max-width: 100%; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px; padding-top: 6px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--border); text-align: left; vertical-align: top; }
thead th { background: var(--head); color: var(--muted); font-size: 12px; font-weight: 600; white-space: nowrap; }
tbody th { font-weight: 500; }
tbody tr:hover { background: #f8fafc; }
.num { text-align: right; white-space: nowrap; }
code, .path { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12.5px; }
.path { overflow-wrap: anywhere; background: var(--head); border-radius: 4px; padding: 1px 5px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0 0 8px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; min-width: 0; }
@media (min-width: 900px) { .facts.two { grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr); } }
.chart { position: relative; width: 100%; }
.hint { color: var(--muted); font-size: 12.5px; margin: 8px 0; }
details { margin: 8px 0; }
details > summary { cursor: pointer; color: var(--accent); margin-bottom: 6px; }
table.confusion { width: auto; }
table.confusion th, table.confusion td { padding: 3px 6px; border: 1px solid #fff; }
table.confusion tbody th { white-space: nowrap; background: var(--head); font-size: 12.5px; }
table.confusion th.corner { font-size: 11px; }
table.confusion td.cm { text-align: right; min-width: 34px; }
table.confusion td.dark { color: #fff; }
table.confusion td.total { color: var(--muted); background: var(--head); }
footer { color: var(--muted); font-size: 12px; padding-bottom: 28px; }
@media print { body { background: #fff; } section, .card { break-inside: avoid; } }
`;

export interface PageParts {
  title: string;
  /** Short label of the result kind (`Evaluation`, `Benchmark`, `Comparison`). */
  kind: string;
  body: SafeHtml;
  /** The result, embedded verbatim as JSON. */
  data: unknown;
  charts: ChartSpec[];
}

export function page(p: PageParts): string {
  const lib = p.charts.length ? chartLibrarySource() : undefined;
  const charts = lib
    ? markup`<script type="application/json" id="edgeforge-charts">${jsonForScript(p.charts)}</script>
${inlineScript(lib.code)}
${inlineScript(CHART_BOOTSTRAP)}
`
    : '';
  const credits = lib ? `; charts drawn with Chart.js ${lib.version}` : '';
  const doc = markup`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${raw(CSP)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="edgeforge">
<link rel="icon" href="data:,">
<title>${p.title}</title>
<style>${raw(CSS)}</style>
</head>
<body>
<header><div class="inner"><div class="kind">${p.kind}</div><h1>${p.title}</h1></div></header>
<main>
${p.body}
</main>
<footer>Generated by edgeforge. The complete result is embedded in this file as JSON (script element <code>#edgeforge-data</code>)${credits}.</footer>
<script type="application/json" id="edgeforge-data">${jsonForScript(p.data)}</script>
${charts}</body>
</html>
`;
  return doc.value;
}
