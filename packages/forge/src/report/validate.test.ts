import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchFixture, compareFixture, evalFixture } from './testing/fixtures.js';
import { parseReportResult, ReportDataError } from './validate.js';

/** What `--json` writes and a later `edgeforge report` reads back. */
const viaJson = (x: unknown): unknown => JSON.parse(JSON.stringify(x));

test('accepts each kind after a JSON round trip, extra fields included', () => {
  for (const r of [evalFixture(), benchFixture(), compareFixture()]) {
    const back = viaJson({ ...r, producedBy: 'edgeforge 0.1.0' });
    assert.equal(parseReportResult(back), back);
  }
});

test('accepts non-finite fidelity values, which JSON turns into null', () => {
  const r = evalFixture();
  r.fidelity!.perOutput[0] = { ...r.fidelity!.perOutput[0], snrDb: Infinity, maxAbsError: NaN, cosine: NaN };
  assert.doesNotThrow(() => parseReportResult(viaJson(r)));
});

test('names the first bad field', () => {
  const cases: [unknown, RegExp][] = [
    [null, /^result: expected an object, got null$/],
    [{ kind: 'train' }, /^kind: expected "eval", "bench" or "compare", got "train"$/],
    [
      { ...benchFixture(), latencyMs: { ...benchFixture().latencyMs, p50: 'fast' } },
      /^latencyMs\.p50: expected a number, got "fast"$/,
    ],
    [{ ...evalFixture(), task: { top1: 90.46 } }, /^task\.top1: expected a fraction in \[0, 1\], got 90\.46$/],
    [{ ...evalFixture(), model: { path: 'm.onnx' } }, /^model\.bytes: expected a number, got undefined$/],
    [{ ...benchFixture(), samplesMs: [1, 2, 'x'] }, /^samplesMs\[2\]: expected a number, got "x"$/],
    [
      { ...evalFixture(), task: { top1: 0.5, confusion: [[1, 2], [3]] } },
      /^task\.confusion\[1\]: expected 2 columns, got 1$/,
    ],
    [
      {
        ...evalFixture(),
        task: {
          top1: 0.5,
          confusion: [
            [1, 0],
            [0, 1],
          ],
          classNames: ['a'],
        },
      },
      /^task\.classNames: expected 2 names/,
    ],
    [
      { ...compareFixture(), b: { ...compareFixture().b, ops: { Conv: -1 } } },
      /^b\.ops\.Conv: expected a non-negative integer, got -1$/,
    ],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => parseReportResult(viaJson(value)),
      (e: Error) => e instanceof ReportDataError && message.test(e.message),
    );
  }
});
