/**
 * Checks that parsed JSON (a `--json` output read back from disk) is a result the report can
 * render, with one error that names the first offending field: `latencyMs.p50: expected a
 * number, got "fast"`. Unknown fields are allowed (producers may add more).
 */
import type { ReportResult } from './types.js';

export class ReportDataError extends Error {
  override name = 'ReportDataError';
}

type Obj = Record<string, unknown>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function fail(at: string, what: string, v: unknown): never {
  throw new ReportDataError(`${at}: expected ${what}, got ${describe(v)}`);
}

function obj(v: unknown, at: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(at, 'an object', v);
  return v as Obj;
}

interface NumOpts {
  /** null allowed (a non-finite value after JSON). */
  nullable?: boolean;
  /** A fraction in [0, 1]. */
  fraction?: boolean;
  /** A non-negative integer (counts). */
  count?: boolean;
  /** >= 0. */
  nonNegative?: boolean;
}

function num(v: unknown, at: string, o: NumOpts = {}): void {
  if (v === null && o.nullable) return;
  if (typeof v !== 'number' || Number.isNaN(v)) fail(at, o.nullable ? 'a number or null' : 'a number', v);
  if (o.fraction && !(v >= 0 && v <= 1)) fail(at, 'a fraction in [0, 1]', v);
  if (o.count && !(Number.isInteger(v) && v >= 0)) fail(at, 'a non-negative integer', v);
  if (o.nonNegative && !(v >= 0)) fail(at, 'a non-negative number', v);
}

function str(v: unknown, at: string): void {
  if (typeof v !== 'string') fail(at, 'a string', v);
}

function arr(v: unknown, at: string, each: (x: unknown, at: string) => void): void {
  if (!Array.isArray(v)) fail(at, 'an array', v);
  v.forEach((x, i) => each(x, `${at}[${i}]`));
}

function opt(o: Obj, key: string, at: string, check: (v: unknown, at: string) => void): void {
  if (o[key] !== undefined) check(o[key], `${at}${key}`);
}

function modelRef(v: unknown, at: string): Obj {
  const m = obj(v, at);
  str(m.path, `${at}.path`);
  num(m.bytes, `${at}.bytes`, { count: true });
  return m;
}

function latency(v: unknown, at: string): void {
  const l = obj(v, at);
  for (const k of ['p50', 'p90', 'p99', 'mean', 'min', 'max']) num(l[k], `${at}.${k}`, { nonNegative: true });
  opt(l, 'stdev', `${at}.`, (x, a) => num(x, a, { nonNegative: true }));
  opt(l, 'count', `${at}.`, (x, a) => num(x, a, { count: true }));
}

const samples = (v: unknown, at: string) => arr(v, at, (x, a) => num(x, a, { nonNegative: true }));

function fidelity(v: unknown, at: string): void {
  const fid = obj(v, at);
  str(fid.against, `${at}.against`);
  arr(fid.perOutput, `${at}.perOutput`, (x, a) => {
    const o = obj(x, a);
    str(o.name, `${a}.name`);
    num(o.cosine, `${a}.cosine`, { nullable: true });
    num(o.snrDb, `${a}.snrDb`, { nullable: true });
    num(o.maxAbsError, `${a}.maxAbsError`, { nullable: true });
    num(o.meanAbsError, `${a}.meanAbsError`, { nullable: true });
    opt(o, 'argmaxAgreement', `${a}.`, (y, b) => num(y, b, { fraction: true }));
    num(o.samples, `${a}.samples`, { count: true });
    opt(o, 'elements', `${a}.`, (y, b) => num(y, b, { count: true }));
  });
}

function task(v: unknown, at: string): void {
  const t = obj(v, at);
  num(t.top1, `${at}.top1`, { fraction: true });
  opt(t, 'top5', `${at}.`, (x, a) => num(x, a, { fraction: true }));
  let classes: number | undefined;
  opt(t, 'confusion', `${at}.`, (x, a) => {
    arr(x, a, (r, ra) => arr(r, ra, (c, ca) => num(c, ca, { count: true })));
    const m = x as unknown[][];
    classes = m.length;
    m.forEach((r, i) => {
      if (r.length !== m.length) throw new ReportDataError(`${a}[${i}]: expected ${m.length} columns, got ${r.length}`);
    });
  });
  opt(t, 'classNames', `${at}.`, (x, a) => {
    arr(x, a, str);
    if (classes !== undefined && (x as unknown[]).length !== classes) {
      throw new ReportDataError(
        `${a}: expected ${classes} names (one per confusion row), got ${(x as unknown[]).length}`,
      );
    }
  });
  opt(t, 'perClass', `${at}.`, (x, a) =>
    arr(x, a, (c, ca) => {
      const pc = obj(c, ca);
      num(pc.precision, `${ca}.precision`, { fraction: true });
      num(pc.recall, `${ca}.recall`, { fraction: true });
      opt(pc, 'support', `${ca}.`, (y, b) => num(y, b, { count: true }));
    }),
  );
}

function profile(v: unknown, at: string): void {
  const m = modelRef(v, at);
  const params = obj(m.params, `${at}.params`);
  const byDtype = obj(params.byDtype, `${at}.params.byDtype`);
  for (const [k, s] of Object.entries(byDtype)) {
    const d = obj(s, `${at}.params.byDtype.${k}`);
    num(d.count, `${at}.params.byDtype.${k}.count`, { count: true });
    num(d.bytes, `${at}.params.byDtype.${k}.bytes`, { count: true });
  }
  const ops = obj(m.ops, `${at}.ops`);
  for (const [k, n] of Object.entries(ops)) num(n, `${at}.ops.${k}`, { count: true });
}

/** Validates `value` as an eval, bench or compare result and returns it typed. */
export function parseReportResult(value: unknown): ReportResult {
  const r = obj(value, 'result');
  switch (r.kind) {
    case 'eval':
      modelRef(r.model, 'model');
      str(r.backend, 'backend');
      num(r.samples, 'samples', { count: true });
      opt(r, 'task', '', task);
      opt(r, 'fidelity', '', fidelity);
      num(r.durationMs, 'durationMs', { nonNegative: true });
      break;
    case 'bench':
      modelRef(r.model, 'model');
      str(r.backend, 'backend');
      if (r.threads !== null) num(r.threads, 'threads', { count: true });
      num(r.iterations, 'iterations', { count: true });
      num(r.warmup, 'warmup', { count: true });
      opt(r, 'batch', '', (x, a) => num(x, a, { count: true }));
      latency(r.latencyMs, 'latencyMs');
      num(r.throughputPerSec, 'throughputPerSec', { nonNegative: true });
      num(r.sessionCreateMs, 'sessionCreateMs', { nonNegative: true });
      num(r.peakRssBytes, 'peakRssBytes', { count: true });
      opt(r, 'rssDeltaBytes', '', num);
      opt(r, 'samplesMs', '', samples);
      break;
    case 'compare':
      profile(r.a, 'a');
      profile(r.b, 'b');
      opt(r, 'accuracy', '', (x, at) => {
        const acc = obj(x, at);
        num(acc.a, `${at}.a`, { fraction: true });
        num(acc.b, `${at}.b`, { fraction: true });
      });
      opt(r, 'fidelity', '', fidelity);
      opt(r, 'latency', '', (x, at) => {
        const l = obj(x, at);
        latency(l.a, `${at}.a`);
        latency(l.b, `${at}.b`);
        num(l.ratio, `${at}.ratio`, { nonNegative: true });
        opt(l, 'backend', `${at}.`, str);
        opt(l, 'samplesA', `${at}.`, samples);
        opt(l, 'samplesB', `${at}.`, samples);
      });
      break;
    default:
      fail('kind', '"eval", "bench" or "compare"', r.kind);
  }
  return r as unknown as ReportResult;
}
