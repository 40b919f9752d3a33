/**
 * Number formatting for reports: fixed locale (en-US grouping) so output does not depend on the
 * machine, and explicit units. Non-finite input (`null` from JSON, NaN, ±Infinity) prints as `—`,
 * `∞` or `-∞` instead of throwing.
 */

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

function nonFinite(x: number | null | undefined): string | undefined {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (x === Infinity) return '∞';
  if (x === -Infinity) return '-∞';
  return undefined;
}

/** `x` with `digits` decimals and thousands separators: `1,234.5`. */
export function fixed(x: number | null | undefined, digits: number): string {
  return (
    nonFinite(x) ??
    (x as number).toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  );
}

/** An integer count with thousands separators: `25,557,032`. */
export function int(x: number | null | undefined): string {
  return fixed(x, 0);
}

/** Milliseconds with four significant digits (at least three decimals below 10 ms): `4.183 ms`, `41.83 ms`. */
export function ms(x: number | null | undefined): string {
  const bad = nonFinite(x);
  if (bad) return `${bad} ms`;
  const a = Math.abs(x as number);
  return `${fixed(x, a < 10 ? 3 : a < 100 ? 2 : a < 1000 ? 1 : 0)} ms`;
}

/** A duration: `850 ms`, `12.34 s`, `3 min 5.2 s`. */
export function duration(msValue: number | null | undefined): string {
  const bad = nonFinite(msValue);
  if (bad) return bad;
  const v = msValue as number;
  if (v < 1000) return `${fixed(v, 0)} ms`;
  if (v < 60_000) return `${fixed(v / 1000, 2)} s`;
  const min = Math.floor(v / 60_000);
  return `${min} min ${fixed((v - min * 60_000) / 1000, 1)} s`;
}

/** A fraction as a percentage: `0.91234` → `91.23%`. */
export function pct(fraction: number | null | undefined, digits = 2): string {
  const bad = nonFinite(fraction);
  return bad ?? `${fixed((fraction as number) * 100, digits)}%`;
}

/** Change from `a` to `b` relative to `a`: `+12.3%`, `-74.1%`; `—` when `a` is 0. */
export function change(a: number, b: number, digits = 1): string {
  if (a === 0) return b === 0 ? '0.0%' : '—';
  const d = ((b - a) / a) * 100;
  return `${d > 0 ? '+' : ''}${fixed(d, digits)}%`;
}

/** Difference of two fractions in percentage points: `+0.42 pp`. */
export function pp(a: number, b: number, digits = 2): string {
  const d = (b - a) * 100;
  return `${d > 0 ? '+' : ''}${fixed(d, digits)} pp`;
}

/** A ratio: `0.26×`. */
export function ratio(x: number | null | undefined, digits = 2): string {
  const bad = nonFinite(x);
  return bad ?? `${fixed(x, digits)}×`;
}

/** Bytes in binary units: `512 B`, `12.5 KiB`, `97.49 MiB`, `1.20 GiB`. */
export function bytes(n: number | null | undefined): string {
  const bad = nonFinite(n);
  if (bad) return bad;
  const v = n as number;
  const a = Math.abs(v);
  if (a < KIB) return `${fixed(v, 0)} B`;
  if (a < MIB) return `${fixed(v / KIB, 1)} KiB`;
  if (a < GIB) return `${fixed(v / MIB, 2)} MiB`;
  return `${fixed(v / GIB, 2)} GiB`;
}

/** Bytes as MiB, a plain number for charts. */
export function toMiB(n: number): number {
  return n / MIB;
}

/** A small or large real (errors): four significant digits, exponent outside [1e-3, 1e5): `1.234e-5`. */
export function real(x: number | null | undefined): string {
  const bad = nonFinite(x);
  if (bad) return bad;
  const v = x as number;
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e5) return String(Number(v.toPrecision(4)));
  return v.toExponential(3).replace(/\.?0+e/, 'e');
}

/** Cosine similarity: six decimals, since the interesting differences are near 1: `0.999873`. */
export function cosine(x: number | null | undefined): string {
  return fixed(x, 6);
}

/**
 * SNR in dB. JSON carries a non-finite SNR as null; it is +∞ when the outputs are identical
 * (`identical`: max abs error 0), otherwise not a number (NaN in the outputs).
 */
export function snr(db: number | null | undefined, identical: boolean): string {
  if (db === null || db === undefined || Number.isNaN(db)) return identical ? '∞ dB' : 'NaN';
  return `${fixed(db, 2)} dB`;
}

/** Throughput: `239.1 /s`. */
export function perSec(x: number | null | undefined): string {
  const bad = nonFinite(x);
  if (bad) return bad;
  return `${fixed(x, (x as number) < 100 ? 2 : 1)} /s`;
}

/** The last path segment of a model path, for chart labels (`/m/resnet50.int8.onnx` → `resnet50.int8.onnx`). */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/).filter((p) => p !== '');
  return parts[parts.length - 1] ?? path;
}
