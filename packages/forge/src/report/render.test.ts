import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as f from './format.js';
import { renderReport, writeReport } from './render.js';
import {
  benchFixture,
  compareFixture,
  evalFixture,
  FASHION_CLASSES,
  FASHION_CONFUSION,
  HOSTILE,
  hostileCompareFixture,
  hostileEvalFixture,
  manyClassesEvalFixture,
} from './testing/fixtures.js';
import type { ReportResult } from './types.js';

/** The text of `<script … id="…">` (a raw-text element: no entity decoding, as a browser reads it). */
function scriptText(html: string, id: string): string {
  const m = new RegExp(`<script type="application/json" id="${id}">([\\s\\S]*?)</script>`).exec(html);
  assert.ok(m, `no #${id} script element`);
  return m[1];
}

function chartSpecs(html: string): { canvasId: string; config: { type: string; data: { labels: string[] } } }[] {
  return JSON.parse(scriptText(html, 'edgeforge-charts'));
}

/** Visible text of the page, roughly: tags dropped, entities of interest decoded. */
function text(html: string): string {
  const body = html.slice(html.indexOf('<body>'), html.indexOf('<script'));
  return body
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ');
}

function assertSelfContained(html: string): void {
  assert.doesNotMatch(html, /<(link|img|iframe|object|embed)\b(?![^>]*href="data:)[^>]*\b(src|href)=/i);
  assert.doesNotMatch(html, /<script\b[^>]*\bsrc=/i);
  assert.ok(html.includes(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`), 'CSP');
}

const kinds: [string, () => ReportResult][] = [
  ['eval', evalFixture],
  ['bench', benchFixture],
  ['compare', compareFixture],
];

describe('renderReport', () => {
  for (const [kind, fixture] of kinds) {
    test(`${kind}: embeds the result as JSON that parses back to the input`, () => {
      const result = fixture();
      const html = renderReport(result);
      assert.deepEqual(JSON.parse(scriptText(html, 'edgeforge-data')), result);
      assert.ok(html.startsWith('<!doctype html>'));
      assertSelfContained(html);
      // Chart.js is inlined, with its version in the footer.
      assert.match(html, /Chart\.js v4\.\d+\.\d+/);
      assert.match(html, /charts drawn with Chart\.js 4\.\d+\.\d+/);
      assert.doesNotMatch(html, /sourceMappingURL/);
      // Every chart has its canvas.
      for (const spec of chartSpecs(html)) assert.ok(html.includes(`<canvas id="${spec.canvasId}"`), spec.canvasId);
    });
  }

  test('eval: headline numbers, per-class table, confusion matrix and fidelity', () => {
    const r = evalFixture();
    const html = renderReport(r);
    const t = text(html);
    assert.equal(r.task!.top1, 0.9046);
    assert.ok(t.includes('Top-1 accuracy 90.46%'), 'top-1 card');
    assert.ok(t.includes('Top-5 accuracy 99.81%'));
    assert.ok(t.includes('10,000 samples'));
    assert.ok(t.includes('3.41 s'), 'duration');
    assert.ok(t.includes('421.1 KiB'), 'model size');
    // Per-class: Shirt (index 6) has recall 714/1000 and precision 714/932 (its column sum).
    assert.equal(
      FASHION_CONFUSION.reduce((a, row) => a + row[6], 0),
      932,
    );
    assert.ok(t.includes('6 Shirt 1,000 76.61% 71.40% 73.91%'), 'Shirt row');
    // Confusion matrix: 10 rows with 10 cells each, and the worst confusion (Shirt → T-shirt/top) in red.
    const cm = html.slice(html.indexOf('<table class="confusion">'));
    assert.equal((cm.slice(0, cm.indexOf('</table>')).match(/<td class="cm/g) ?? []).length, 100);
    assert.match(
      cm,
      /style="background: rgba\(220, 38, 38, 0\.415\)" title="true Shirt, predicted T-shirt\/top: 118 \(11\.8% of the class\)">118</,
    );
    // Fidelity row.
    assert.ok(t.includes('logits 10,000 0.999874 38.21 dB 0.08713 0.004125 99.62%'), 'fidelity row');
    const charts = chartSpecs(html);
    assert.equal(charts.length, 1);
    assert.deepEqual(charts[0].config.data.labels, FASHION_CLASSES);
  });

  test('bench: latency statistics, throughput, cold start, memory and three charts', () => {
    const r = benchFixture();
    const html = renderReport(r);
    const t = text(html);
    const l = r.latencyMs;
    for (const v of [l.min, l.p50, l.p90, l.p99, l.mean, l.max]) assert.ok(t.includes(f.ms(v)), f.ms(v));
    assert.ok(t.includes(`p50 latency ${f.ms(l.p50)} median`));
    assert.match(f.ms(l.p50), /^4\.\d{3} ms$/);
    assert.ok(t.includes('61.84 ms'), 'session create');
    assert.ok(t.includes('178.77 MiB'), 'peak RSS');
    assert.ok(t.includes(f.perSec(r.throughputPerSec)));
    assert.ok(t.includes('Threads 4'));
    assert.deepEqual(
      chartSpecs(html).map((c) => c.config.type),
      ['bar', 'bar', 'line'],
    );
    const hist = chartSpecs(html)[1].config as unknown as { data: { datasets: { data: number[] }[] } };
    assert.equal(
      hist.data.datasets[0].data.reduce((a, b) => a + b, 0),
      200,
      'every sample lands in a histogram bin',
    );
  });

  test('bench without raw samples: tables and percentile chart only; threads null is the default', () => {
    const r = benchFixture();
    delete r.samplesMs;
    r.threads = null;
    const html = renderReport(r);
    assert.equal(chartSpecs(html).length, 1);
    assert.ok(text(html).includes('Threads runtime default'));
  });

  test('compare: size, parameters by dtype, operators, accuracy, fidelity, latency', () => {
    const r = compareFixture();
    const html = renderReport(r);
    const t = text(html);
    assert.ok(t.includes('File size 13.32 MiB 3.45 MiB -74.1% 0.26×'), 'size row');
    assert.ok(t.includes('int8 — — 3,470,752 3.31 MiB'), 'int8 row');
    assert.ok(t.includes('float32 3,487,816 13.30 MiB 1,172 4.6 KiB'), 'float32 row');
    assert.ok(t.includes('DequantizeLinear 0 170 +170'), 'op row');
    assert.ok(t.includes('Top-1 accuracy 71.88% 71.02% -0.86 pp'), 'accuracy row');
    assert.ok(t.includes('output 1,000 0.998412 24.87 dB 1.203 0.09174 95.12%'), 'fidelity row');
    const l = r.latency!;
    assert.ok(t.includes(`p50 (median) ${f.ms(l.a.p50)} ${f.ms(l.b.p50)} ${f.ratio(l.ratio)}`), 'latency row');
    assert.ok(t.includes(`p50 latency B/A ${f.ratio(l.ratio)}`), 'latency card');
    const specs = chartSpecs(html);
    assert.equal(specs.length, 5);
    // Operators chart: the most frequent first, both models.
    const ops = specs[2].config as unknown as {
      data: { labels: string[]; datasets: { label: string; data: number[] }[] };
    };
    assert.deepEqual(ops.data.labels.slice(0, 3), ['DequantizeLinear', 'QuantizeLinear', 'Conv']);
    assert.deepEqual(
      ops.data.datasets.map((d) => d.label),
      ['A · mobilenetv2-12.onnx', 'B · mobilenetv2-12.int8.onnx'],
    );
  });

  test('compare with only model profiles says what was not measured', () => {
    const r = compareFixture();
    delete r.accuracy;
    delete r.fidelity;
    delete r.latency;
    const html = renderReport(r);
    assert.ok(text(html).includes('Not measured in this comparison: accuracy, fidelity, latency.'));
    assert.equal(chartSpecs(html).length, 3);
  });

  test('eval with 100 classes lists the top confusions instead of drawing the matrix', () => {
    const r = manyClassesEvalFixture();
    const html = renderReport(r);
    assert.ok(!html.includes('<table class="confusion">'));
    assert.ok(text(html).includes('the full 100×100 matrix is in the embedded JSON'));
    const specs = chartSpecs(html);
    assert.equal(specs[0].config.data.labels.length, 40, 'per-class chart limited to 40 classes');
  });

  test('non-finite fidelity values render as ∞ / NaN / —, not as errors', () => {
    const r = evalFixture();
    r.fidelity!.perOutput = [
      { name: 'same', cosine: 1, snrDb: null, maxAbsError: 0, meanAbsError: 0, samples: 10 },
      { name: 'nan', cosine: null, snrDb: null, maxAbsError: null, meanAbsError: null, samples: 10 },
      { name: 'inf', cosine: 0.5, snrDb: -3, maxAbsError: Infinity, meanAbsError: Infinity, samples: 10 },
    ];
    const t = text(renderReport(r));
    assert.ok(t.includes('same 10 1.000000 ∞ dB 0 0'), 'identical output');
    assert.ok(t.includes('nan 10 — NaN — —'), 'NaN output');
    assert.ok(t.includes('inf 10 0.500000 -3.00 dB ∞ ∞'), 'infinite error');
    assert.ok(t.includes('Lowest cosine —'));
  });

  test('a custom title is used for <title> and the heading', () => {
    const html = renderReport(benchFixture(), { title: 'Pi 5, 4 threads' });
    assert.ok(html.includes('<title>Pi 5, 4 threads</title>'));
    assert.ok(html.includes('<h1>Pi 5, 4 threads</h1>'));
    assert.ok(
      renderReport(compareFixture()).includes(
        '<title>mobilenetv2-12.int8.onnx compared with mobilenetv2-12.onnx</title>',
      ),
    );
  });
});

describe('escaping', () => {
  for (const [kind, fixture] of [
    ['eval', hostileEvalFixture],
    ['compare', hostileCompareFixture],
  ] as const) {
    test(`${kind}: hostile paths and names are escaped everywhere and round-trip through the JSON`, () => {
      const result = fixture();
      const html = renderReport(result, { title: HOSTILE.title });
      for (const s of Object.values(HOSTILE)) assert.ok(!html.includes(s), `raw ${JSON.stringify(s)} in the page`);
      // Only the page's own four script elements, and nothing else that could run code.
      assert.equal((html.match(/<script\b/gi) ?? []).length, 4);
      assert.equal((html.match(/<\/script/gi) ?? []).length, 4);
      assert.doesNotMatch(html, /<(img|svg)\b/i);
      assert.doesNotMatch(html, /<!--/);
      // Text is escaped as text…
      assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;.onnx'));
      assert.ok(html.includes(`<title>&lt;/title&gt;&lt;script&gt;alert(5)&lt;/script&gt;</title>`));
      // …and the data still reads back exactly.
      assert.deepEqual(JSON.parse(scriptText(html, 'edgeforge-data')), result);
      const t = text(html);
      assert.ok(t.includes(HOSTILE.path));
    });
  }
});

describe('writeReport', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeforge-report-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('writes the rendered page and leaves no temporary file', async () => {
    const out = join(dir, 'bench.html');
    await writeFile(out, 'old');
    await writeReport(out, benchFixture());
    assert.equal(await readFile(out, 'utf8'), renderReport(benchFixture()));
    assert.deepEqual(await readdir(dir), ['bench.html']);
  });

  test('a failed write names the path and leaves nothing behind', async () => {
    const out = join(dir, 'missing-dir', 'r.html');
    await assert.rejects(writeReport(out, evalFixture()), (e: Error) =>
      e.message.startsWith(`cannot write report ${out}:`),
    );
    assert.deepEqual(await readdir(dir), ['bench.html']);
  });
});
