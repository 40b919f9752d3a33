/** Building blocks of a report page: summary cards, sections, tables, key–value lists. */
import { markup, type HtmlValue, type SafeHtml } from './html.js';

/** A headline number: `label` above, `value` large, an optional `note` below. */
export function card(label: string, value: string, note?: HtmlValue, tone?: 'good' | 'bad'): SafeHtml {
  return markup`<div class="card"><div class="label">${label}</div><div class="value${tone ? ` ${tone}` : ''}">${value}</div>${
    note ? markup`<div class="note">${note}</div>` : ''
  }</div>`;
}

export function cards(items: HtmlValue[]): SafeHtml {
  return markup`<div class="cards">${items}</div>`;
}

export function section(id: string, title: string, body: HtmlValue): SafeHtml {
  return markup`<section id="${id}"><h2>${title}</h2>${body}</section>`;
}

/** A table cell: plain text (left-aligned) or `{ n: text }` for a right-aligned number. */
export type Cell = HtmlValue | { n: HtmlValue; title?: string } | { th: HtmlValue };

export interface Column {
  label: string;
  /** Right-align (numbers). */
  num?: boolean;
  title?: string;
}

function cellHtml(c: Cell, col: Column | undefined): SafeHtml {
  if (c !== null && typeof c === 'object' && !Array.isArray(c) && 'th' in c)
    return markup`<th scope="row">${c.th}</th>`;
  if (c !== null && typeof c === 'object' && !Array.isArray(c) && 'n' in c) {
    return markup`<td class="num"${c.title ? markup` title="${c.title}"` : ''}>${c.n}</td>`;
  }
  return col?.num ? markup`<td class="num">${c as HtmlValue}</td>` : markup`<td>${c as HtmlValue}</td>`;
}

/** A data table; `caption` says what the numbers are (units, what a column means). */
export function table(columns: Column[], rows: Cell[][], o: { caption?: string; className?: string } = {}): SafeHtml {
  const caption = o.caption ? markup`<caption>${o.caption}</caption>` : '';
  const head = columns.map(
    (c) =>
      markup`<th scope="col"${c.num ? markup` class="num"` : ''}${c.title ? markup` title="${c.title}"` : ''}>${c.label}</th>`,
  );
  const body = rows.map((r) => markup`<tr>${r.map((c, i) => cellHtml(c, columns[i]))}</tr>`);
  const cls = o.className ? markup` class="${o.className}"` : '';
  return markup`<div class="table-wrap"><table${cls}>${caption}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

/** Key–value pairs (model path, backend, …); `twoColumns` lays pairs out two per line on wide screens. */
export function facts(items: [string, HtmlValue][], twoColumns = false): SafeHtml {
  const pairs = items.map(([k, v]) => markup`<dt>${k}</dt><dd>${v}</dd>`);
  return markup`<dl class="${twoColumns ? 'facts two' : 'facts'}">${pairs}</dl>`;
}

/** A model path in monospace (escaped like any string). */
export function path(p: string): SafeHtml {
  return markup`<code class="path">${p}</code>`;
}

/** Collapses long content (big tables) behind a summary line. */
export function collapsible(summary: string, body: HtmlValue, open = false): SafeHtml {
  return markup`<details${open ? markup` open` : ''}><summary>${summary}</summary>${body}</details>`;
}

/** Two or more blocks side by side on wide screens, stacked on narrow ones. */
export function row(...blocks: HtmlValue[]): SafeHtml {
  return markup`<div class="row">${blocks.map((b) => markup`<div>${b}</div>`)}</div>`;
}

/** Two blocks side by side, the second at its natural width (a wide table), the first taking the rest. */
export function rowFit(flexible: HtmlValue, natural: HtmlValue): SafeHtml {
  return markup`<div class="row-fit"><div>${flexible}</div><div>${natural}</div></div>`;
}

export function note(text: HtmlValue): SafeHtml {
  return markup`<p class="hint">${text}</p>`;
}
