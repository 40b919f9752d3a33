/** Prints benchmark rows as an aligned table: the first `textColumns` columns left-aligned, numbers right. */
export function printTable(rows: Record<string, unknown>[], textColumns: number): void {
  const cols = Object.keys(rows[0] ?? {});
  const cells = [cols, ...rows.map((r) => cols.map((k) => String(r[k])))];
  const w = cols.map((_, i) => Math.max(...cells.map((r) => r[i].length)));
  for (const r of cells) console.log(r.map((x, i) => (i < textColumns ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  '));
}
