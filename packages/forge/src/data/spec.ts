/**
 * Data spec strings (`--data <spec>`): `<format>:<path>[,key=value]...`. See README.md beside
 * this file for the formats and their keys.
 *
 * - A value may hold a list: tokens without `=` continue the previous key (`mean=0.485,0.456,0.406`).
 * - `\,` is a literal comma and `\\` a literal backslash (in paths).
 * - The format prefix may be left out when the path tells it: `.npy`, `.npz`, `.json`, `*-ubyte`
 *   and `*-ubyte.gz` (idx), or an existing folder (images). `synthetic` takes no path.
 */
import { existsSync, statSync } from 'node:fs';
import { DataError } from './errors.js';

export const FORMATS = ['idx', 'npy', 'npz', 'json', 'images', 'synthetic'] as const;
export type DataFormat = (typeof FORMATS)[number];

const NORMALIZE = ['scale', 'mean', 'std'];
/** Keys each format accepts (every format also takes `limit`). */
export const FORMAT_KEYS: Record<DataFormat, readonly string[]> = {
  idx: ['labels', 'input', ...NORMALIZE],
  npy: ['labels', 'input', ...NORMALIZE],
  npz: ['labels', 'input', ...NORMALIZE],
  json: ['labels', 'input', ...NORMALIZE],
  images: ['labels', 'input', 'size', 'resize', 'layout', 'color', ...NORMALIZE],
  synthetic: ['seed', 'count', 'low', 'high', 'intmax'],
};
/** Keys that may be given more than once. */
const REPEATABLE = new Set(['input']);
/** Keys whose value may be a comma list. */
const LISTS = new Set(['mean', 'std']);

export interface DataSpec {
  /** The spec as written. */
  readonly text: string;
  readonly format: DataFormat;
  /** The file or folder (absent for synthetic). */
  readonly path?: string;
  /** key → values (a list for `mean`/`std`, one entry per occurrence for `input`). */
  readonly options: ReadonlyMap<string, string[]>;
}

/** Splits on unescaped commas, unescaping `\,` and `\\`. */
function splitTokens(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\' && (s[i + 1] === ',' || s[i + 1] === '\\')) {
      cur += s[++i];
    } else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function inferFormat(path: string): DataFormat | undefined {
  const p = path.toLowerCase();
  if (p.endsWith('.npy')) return 'npy';
  if (p.endsWith('.npz')) return 'npz';
  if (p.endsWith('.json')) return 'json';
  if (/-ubyte(\.gz)?$/.test(p) || /\.idx\d?(\.gz)?$/.test(p)) return 'idx';
  try {
    if (existsSync(path) && statSync(path).isDirectory()) return 'images';
  } catch {
    // fall through
  }
  return undefined;
}

/** Parses a data spec; throws a one-line `DataError` for anything it cannot read. */
export function parseDataSpec(text: string): DataSpec {
  const spec = text.trim();
  if (!spec) throw new DataError('empty data spec');
  let format: DataFormat | undefined;
  let rest = spec;
  const colon = /^([a-z]+)(?::|,|$)/.exec(spec);
  if (colon && (FORMATS as readonly string[]).includes(colon[1])) {
    format = colon[1] as DataFormat;
    rest = spec.slice(colon[0].length);
  }
  const tokens = splitTokens(rest);
  let path: string | undefined;
  if (format !== 'synthetic') {
    path = tokens.shift();
    if (!path) throw new DataError(`data spec '${spec}': no file or folder given`);
    if (!format) {
      format = inferFormat(path);
      if (!format)
        throw new DataError(
          `data spec '${spec}': cannot tell the format of '${path}'; write it as <format>:<path> with format one of ${FORMATS.join(', ')}`,
        );
    }
  } else if (tokens.length === 1 && tokens[0] === '') tokens.length = 0;
  const known = [...FORMAT_KEYS[format], 'limit'];
  const options = new Map<string, string[]>();
  let last: string | undefined;
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq < 0) {
      if (last && LISTS.has(last) && token.trim()) {
        options.get(last)!.push(token.trim());
        continue;
      }
      throw new DataError(`data spec '${spec}': expected key=value, got '${token}'`);
    }
    const key = token.slice(0, eq).trim();
    const value = token.slice(eq + 1).trim();
    if (!known.includes(key))
      throw new DataError(`data spec '${spec}': ${format} takes no option '${key}' (known: ${known.join(', ')})`);
    if (options.has(key) && !REPEATABLE.has(key))
      throw new DataError(`data spec '${spec}': option '${key}' given twice`);
    if (!value) throw new DataError(`data spec '${spec}': option '${key}' has no value`);
    const values = options.get(key) ?? [];
    values.push(value);
    options.set(key, values);
    last = key;
  }
  return { text: spec, format, ...(path !== undefined ? { path } : {}), options };
}

// ---- typed option readers (each error names the spec and the key) ----

export function optString(spec: DataSpec, key: string): string | undefined {
  return spec.options.get(key)?.[0];
}

/** A number, or a fraction such as `1/255`. */
export function parseNumber(spec: DataSpec, key: string, s: string): number {
  const m = /^\s*([-+]?[\d.eE+-]+)\s*(?:\/\s*([-+]?[\d.eE+-]+)\s*)?$/.exec(s);
  const v = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!Number.isFinite(v)) throw new DataError(`data spec '${spec.text}': ${key}=${s} is not a number`);
  return v;
}

export function optNumber(spec: DataSpec, key: string): number | undefined {
  const s = optString(spec, key);
  return s === undefined ? undefined : parseNumber(spec, key, s);
}

export function optInt(spec: DataSpec, key: string, min = 0): number | undefined {
  const v = optNumber(spec, key);
  if (v !== undefined && !(Number.isInteger(v) && v >= min))
    throw new DataError(`data spec '${spec.text}': ${key} must be an integer ≥ ${min}, got ${v}`);
  return v;
}

export function optNumbers(spec: DataSpec, key: string): number[] | undefined {
  const list = spec.options.get(key);
  return list?.map((s) => parseNumber(spec, key, s));
}

export function optChoice<T extends string>(spec: DataSpec, key: string, choices: readonly T[]): T | undefined {
  const s = optString(spec, key);
  if (s !== undefined && !choices.includes(s as T))
    throw new DataError(`data spec '${spec.text}': ${key} must be one of ${choices.join(', ')}, got '${s}'`);
  return s as T | undefined;
}
