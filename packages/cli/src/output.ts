/** Human output helpers: aligned tables and number formatting. Machines get `--json`. */

export function table(rows: (string | number)[][], opts: { align?: ('l' | 'r')[]; indent?: number } = {}): string {
  if (rows.length === 0) return '';
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const pad = ' '.repeat(opts.indent ?? 2);
  return cells
    .map((r) =>
      (
        pad +
        r.map((c, i) => ((opts.align?.[i] ?? 'l') === 'r' ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ')
      ).trimEnd(),
    )
    .join('\n');
}

/** 1234567 → "1.23 M" (SI, for counts). */
export function count(n: number): string {
  if (n < 1000) return String(n);
  const units = ['K', 'M', 'G', 'T'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

/** 1234567 → "1.18 MiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[u]}`;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** A one-line progress indicator on stderr, only when stderr is a terminal. */
export function progress(label: string): { update: (done: number, total: number) => void; done: () => void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  return {
    update(done, total) {
      if (!tty) return;
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
      process.stderr.write(`\r${label} ${bar} ${done}/${total}`);
    },
    done() {
      if (tty) process.stderr.write('\r\x1b[K');
    },
  };
}

export const pct = (x: number | undefined, digits = 2) => (x === undefined ? '-' : `${(100 * x).toFixed(digits)}%`);
export const ms = (x: number) =>
  x >= 100 ? `${x.toFixed(0)} ms` : x >= 10 ? `${x.toFixed(1)} ms` : `${x.toFixed(2)} ms`;
