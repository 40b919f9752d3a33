/**
 * JSON samples, read whole (JSON cannot be streamed without a streaming parser; use it for small
 * sample sets, npy/npz for large ones). Three shapes:
 *
 * - `[[...], [...]]`: an array of samples (nested number arrays, or numbers), one array of data;
 * - `[{"x": [...], "label": 3}, ...]`: one object per sample, keys are model inputs;
 * - `{"x": [[...], ...], "label": [...]}`: one array per input, columnar.
 *
 * The label key is `label` (or `labels=<key>`). Numbers that are all integers become int64 (cast
 * to whatever the model needs), others float32; booleans become bool.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ElemType, HostTensor } from '../runtime/types.js';
import { allocTensor } from '../runtime/tensor.js';
import { DataError, fileError } from './errors.js';
import { optString, type DataSpec } from './spec.js';
import { inputOf, normalizeInto, scalarNormalize, type Chunk, type Column, type Source } from './source.js';

interface Parsed {
  readonly count: number;
  readonly type: ElemType;
  readonly sampleDims: number[];
  readonly values: (number | boolean)[];
}

function shapeOf(v: unknown): number[] {
  const dims: number[] = [];
  while (Array.isArray(v)) {
    dims.push(v.length);
    v = v[0];
  }
  return dims;
}

/** Flattens samples that must all share the first one's shape. */
function parseSamples(samples: unknown[], what: string): Parsed {
  if (samples.length === 0) throw new DataError(`${what}: no samples`);
  const sampleDims = shapeOf(samples[0]);
  const values: (number | boolean)[] = [];
  samples.forEach((s, i) => {
    const before = values.length;
    const walk = (v: unknown, depth: number): boolean => {
      if (depth === sampleDims.length) {
        if (typeof v !== 'number' && typeof v !== 'boolean') return false;
        values.push(v);
        return true;
      }
      if (!Array.isArray(v) || v.length !== sampleDims[depth]) return false;
      return v.every((x) => walk(x, depth + 1));
    };
    if (!walk(s, 0)) {
      values.length = before;
      const got = shapeOf(s);
      const same = got.length === sampleDims.length && got.every((d, j) => d === sampleDims[j]);
      const leaf = same ? 'values that are not all numbers or booleans, or ragged rows' : `shape [${got.join(',')}]`;
      throw new DataError(`${what}: sample ${i} has ${leaf}, sample 0 has shape [${sampleDims.join(',')}]`);
    }
  });
  const bools = values.every((v) => typeof v === 'boolean');
  if (!bools && values.some((v) => typeof v === 'boolean')) throw new DataError(`${what}: mixes booleans and numbers`);
  const type: ElemType = bools ? 'bool' : values.every((v) => Number.isInteger(v)) ? 'int64' : 'float32';
  return { count: samples.length, type, sampleDims, values };
}

function toTensor(p: Parsed, start: number, n: number): HostTensor {
  const per = p.sampleDims.reduce((a, b) => a * b, 1);
  const t = allocTensor(p.type, [n, ...p.sampleDims]);
  const d = t.data as Exclude<HostTensor['data'], string[]>;
  for (let i = 0; i < n * per; i++) {
    const v = p.values[start * per + i];
    if (p.type === 'int64') (d as BigInt64Array)[i] = BigInt(v as number);
    else d[i] = Number(v);
  }
  return t;
}

function toLabels(values: unknown[], what: string): Int32Array {
  return Int32Array.from(values, (v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw new DataError(`${what}: label ${i} is not an integer class id`);
    return v;
  });
}

export async function openJson(spec: DataSpec): Promise<Source> {
  const path = spec.path!;
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if (e instanceof SyntaxError) throw new DataError(`${path}: not valid JSON (${e.message})`);
    throw fileError(path, e);
  }
  const labelKey = optString(spec, 'labels') ?? 'label';
  const columns: { column: Column; parsed: Parsed }[] = [];
  let labels: Int32Array | undefined;
  const add = (label: string | undefined, samples: unknown[]) => {
    const parsed = parseSamples(samples, label === undefined ? path : `${path}: '${label}'`);
    columns.push({
      column: {
        ...(label !== undefined ? { label } : inputOf(spec)),
        type: parsed.type,
        sampleDims: parsed.sampleDims,
      },
      parsed,
    });
  };
  if (
    Array.isArray(doc) &&
    doc.length > 0 &&
    doc.every((s) => s !== null && typeof s === 'object' && !Array.isArray(s))
  ) {
    const objs = doc as Record<string, unknown>[];
    const keys = Object.keys(objs[0]);
    for (const [i, o] of objs.entries()) {
      const k = Object.keys(o);
      if (k.length !== keys.length || !keys.every((x) => x in o))
        throw new DataError(`${path}: sample ${i} has keys ${k.join(', ')}, sample 0 has ${keys.join(', ')}`);
    }
    for (const k of keys) {
      if (k === labelKey)
        labels = toLabels(
          objs.map((o) => o[k]),
          `${path}: '${k}'`,
        );
      else
        add(
          k,
          objs.map((o) => o[k]),
        );
    }
  } else if (Array.isArray(doc)) {
    add(undefined, doc);
  } else if (doc !== null && typeof doc === 'object') {
    for (const [k, v] of Object.entries(doc)) {
      if (!Array.isArray(v)) throw new DataError(`${path}: '${k}' is not an array of samples`);
      if (k === labelKey) labels = toLabels(v, `${path}: '${k}'`);
      else add(k, v);
    }
  } else throw new DataError(`${path}: expected an array of samples or an object of arrays`);
  if (columns.length === 0) throw new DataError(`${path}: no input data (only '${labelKey}')`);
  const count = columns[0].parsed.count;
  for (const c of columns) {
    const n = c.parsed.count;
    if (n !== count)
      throw new DataError(`${path}: '${c.column.label}' has ${n} samples, '${columns[0].column.label}' has ${count}`);
  }
  if (labels && labels.length !== count) throw new DataError(`${path}: ${labels.length} labels for ${count} samples`);
  if (spec.options.has('input') && columns.length > 1)
    throw new DataError(
      `data spec '${spec.text}': input= is for a plain array of samples; object keys name the inputs`,
    );
  const norm = scalarNormalize(spec);

  async function* read(chunk: number, end: number): AsyncGenerator<Chunk> {
    for (let start = 0; start < end; start += chunk) {
      const n = Math.min(chunk, end - start);
      yield {
        columns: columns.map(({ parsed }) => {
          const t = toTensor(parsed, start, n);
          if (!norm) return t;
          const src = t.data as ArrayLike<number | bigint>;
          return {
            type: 'float32' as const,
            dims: t.dims,
            data: normalizeInto(src.length, (i) => Number(src[i]), norm),
          };
        }),
        ...(labels ? { labels: labels.slice(start, start + n) } : {}),
      };
    }
  }
  return {
    description: `json ${basename(path)}: ${count} samples of ${columns
      .map(({ column: c }) => `${c.label ?? 'data'} [${c.sampleDims.join(',')}] ${c.type}`)
      .join(', ')}${labels ? `, labels '${labelKey}'` : ''}`,
    count,
    columns: columns.map(({ column }) => (norm ? { ...column, type: 'float32' } : column)),
    hasLabels: labels !== undefined,
    read,
  };
}
