/**
 * The reports in a real browser: Debian's Chromium (headless), driven by playwright-core. Each
 * page is served from a loopback HTTP server (and once from a file:// URL); every request other
 * than the page itself is blocked and recorded, and must not happen. The charts must draw, the
 * console must stay clean, and the key numbers must be on screen. Full-page screenshots are taken;
 * set EDGEFORGE_SCREENSHOTS=<dir> to keep them for a human to look at.
 *
 * Needs /usr/bin/chromium: `apt-get install -y chromium` (CI installs it). Without it the tests
 * fail, they are not skipped.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test, type TestContext } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import * as f from './format.js';
import { renderReport } from './render.js';
import {
  benchFixture,
  compareFixture,
  evalFixture,
  HOSTILE,
  hostileEvalFixture,
  manyClassesEvalFixture,
} from './testing/fixtures.js';

// The page's globals, typed just enough for the code these tests run inside it through
// page.evaluate (the project compiles without the DOM library). Module-scoped: nothing leaks.
interface PageElement {
  id: string;
  textContent: string | null;
  width: number;
  height: number;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
}
interface ChartInstance {
  data: { datasets: { data: number[] }[] };
}
declare const document: {
  title: string;
  scripts: ArrayLike<unknown>;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
  getElementById(id: string): PageElement | null;
};
declare const window: {
  Chart: { getChart(canvasOrId: PageElement | string): ChartInstance | undefined };
  edgeforgeCharts?: ChartInstance[];
};
declare function getComputedStyle(e: PageElement): { backgroundColor: string };

const CHROMIUM = process.env.EDGEFORGE_CHROMIUM ?? '/usr/bin/chromium';
/** Where to keep the screenshots; without it they go to a temporary directory that is removed. */
const keepShots = process.env.EDGEFORGE_SCREENSHOTS;
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

interface Visit {
  page: Page;
  url: string;
  /** Every request the page made (the document itself included). */
  requests: string[];
  /** Requests refused because they were not for the page itself. */
  blocked: string[];
  /** Console errors and warnings, uncaught exceptions, dialogs. */
  problems: string[];
}

interface CanvasInfo {
  id: string;
  width: number;
  height: number;
  /** Share of pixels with any paint (alpha > 0). */
  painted: number;
  hasChart: boolean;
}

const MISSING = `Chromium not found at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (CI installs it in .ci/run)`;

// Its own test, so that a missing browser counts as a failure (the suite's tests are then cancelled).
test('Chromium is installed', () => {
  assert.ok(existsSync(CHROMIUM), MISSING);
});

describe('report in headless Chromium', { timeout: 120_000 }, () => {
  let context: BrowserContext;
  let userDataDir: string;
  let shots: string;
  let server: Server;
  let origin: string;
  const pages = new Map<string, string>();

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(MISSING);
    userDataDir = await mkdtemp(join(tmpdir(), 'edgeforge-chromium-'));
    shots = keepShots ?? (await mkdtemp(join(tmpdir(), 'edgeforge-report-shots-')));
    await mkdir(shots, { recursive: true });
    server = createServer((req, res) => {
      const body = pages.get(req.url ?? '');
      if (body === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 800 },
      deviceScaleFactor: 1,
      offline: false,
    });
  });

  after(async () => {
    await context?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
    if (shots && !keepShots) await rm(shots, { recursive: true, force: true });
  });

  /** Opens `url`, allowing only that exact URL to load, and waits for the charts. */
  async function visit(url: string): Promise<Visit> {
    const page = await context.newPage();
    const v: Visit = { page, url, requests: [], blocked: [], problems: [] };
    page.on('request', (r) => v.requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') v.problems.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => v.problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => {
      v.problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.route('**', (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      v.blocked.push(u);
      return route.abort('blockedbyclient');
    });
    await page.goto(url, { waitUntil: 'load' });
    // Chart.js draws synchronously (animation is off), so after `load` the charts exist.
    await page.waitForFunction(
      () => document.querySelectorAll('canvas').length === (window.edgeforgeCharts ?? []).length,
      undefined,
      { timeout: 10_000 },
    );
    return v;
  }

  async function serve(name: string, html: string): Promise<Visit> {
    pages.set(`/${name}.markup`, html);
    return visit(`${origin}/${name}.markup`);
  }

  async function canvases(page: Page): Promise<CanvasInfo[]> {
    return page.evaluate(() => {
      return [...document.querySelectorAll('canvas')].map((c) => {
        const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return {
          id: c.id,
          width: c.width,
          height: c.height,
          painted: painted / Math.max(1, c.width * c.height),
          hasChart: Boolean(window.Chart.getChart(c)),
        };
      });
    });
  }

  /** Self-contained, quiet, and every chart drawn. */
  async function assertHealthy(v: Visit, expectedCharts: number): Promise<void> {
    assert.deepEqual(v.blocked, [], 'the page tried to load something besides itself');
    assert.deepEqual(v.requests, [v.url], 'requests other than the page itself');
    assert.deepEqual(v.problems, [], 'console errors, page errors or dialogs');
    const info = await canvases(v.page);
    assert.equal(info.length, expectedCharts, 'canvas count');
    for (const c of info) {
      assert.ok(c.hasChart, `${c.id}: no Chart.js instance`);
      assert.ok(c.width >= 300 && c.height >= 150, `${c.id}: drawn at ${c.width}×${c.height}`);
      assert.ok(c.painted > 0.01, `${c.id}: only ${(c.painted * 100).toFixed(2)}% of the pixels are painted`);
    }
  }

  async function screenshot(t: TestContext, v: Visit, name: string): Promise<void> {
    const file = join(shots, `${name}.png`);
    await v.page.screenshot({ path: file, fullPage: true });
    t.diagnostic(keepShots ? `screenshot: ${file}` : 'screenshot taken (set EDGEFORGE_SCREENSHOTS=<dir> to keep it)');
  }

  test('eval: confusion matrix, per-class chart, top-1 on screen', async (t) => {
    const r = evalFixture();
    const v = await serve('eval', renderReport(r));
    await assertHealthy(v, 1);
    const text = await v.page.innerText('main');
    assert.ok(text.includes(f.pct(r.task!.top1)), 'top-1');
    assert.ok(text.includes('90.46%'));
    assert.ok(text.includes('0.999874'), 'cosine');
    // The heatmap's cells are coloured: the diagonal blue, the largest confusion red.
    // (No named functions inside page.evaluate: tsx's keepNames would wrap them in a `__name` helper
    // that does not exist in the page.)
    const [diagonal, shirtAsTshirt, empty] = await v.page.evaluate(() =>
      [
        [0, 0],
        [6, 0],
        [0, 1],
      ].map(
        ([row, col]) =>
          getComputedStyle(document.querySelectorAll('table.confusion tbody tr')[row].querySelectorAll('td.cm')[col])
            .backgroundColor,
      ),
    );
    assert.match(diagonal, /^rgba\(37, 99, 235, 0\.7/);
    assert.match(shirtAsTshirt, /^rgba\(220, 38, 38, 0\.4/);
    assert.equal(empty, 'rgba(0, 0, 0, 0)');
    await screenshot(t, v, 'eval');
    await v.page.close();
  });

  test('bench: histogram, percentiles and run chart; p50 and throughput on screen', async (t) => {
    const r = benchFixture();
    const v = await serve('bench', renderReport(r));
    await assertHealthy(v, 3);
    const text = await v.page.innerText('main');
    assert.ok(text.includes(f.ms(r.latencyMs.p50)), `p50 ${f.ms(r.latencyMs.p50)}`);
    assert.ok(text.includes(f.ms(r.latencyMs.p99)), 'p99');
    assert.ok(text.includes(f.perSec(r.throughputPerSec)), 'throughput');
    // The percentile chart holds the numbers of the table.
    const p50 = await v.page.evaluate(() => {
      return window.Chart.getChart('chart-1')!.data.datasets[0].data[1];
    });
    assert.equal(p50, r.latencyMs.p50);
    await screenshot(t, v, 'bench');
    await v.page.close();
  });

  test('compare: five charts; ratio, accuracy and sizes on screen', async (t) => {
    const r = compareFixture();
    const v = await serve('compare', renderReport(r));
    await assertHealthy(v, 5);
    const text = await v.page.innerText('main');
    for (const s of [f.ratio(r.latency!.ratio), '71.02%', '-0.86 pp', '13.32 MiB', '3.45 MiB', '-74.1%', '0.998412']) {
      assert.ok(text.includes(s), s);
    }
    await screenshot(t, v, 'compare');
    await v.page.close();
  });

  test('100-class eval renders its charts and confusion list', async (t) => {
    const v = await serve('many-classes', renderReport(manyClassesEvalFixture()));
    await assertHealthy(v, 1);
    await screenshot(t, v, 'many-classes');
    await v.page.close();
  });

  test('hostile strings stay text: no script runs, no element is injected', async () => {
    const r = hostileEvalFixture();
    const v = await serve('hostile', renderReport(r, { title: HOSTILE.title }));
    await assertHealthy(v, 1);
    const dom = await v.page.evaluate(() => ({
      title: document.title,
      h1: document.querySelector('h1')!.textContent,
      scripts: document.scripts.length,
      injected: document.querySelectorAll('img, svg, iframe, object, embed').length,
      path: document.querySelector('code.path')!.textContent,
      data: JSON.parse(document.getElementById('edgeforge-data')!.textContent!),
    }));
    assert.equal(dom.title, HOSTILE.title);
    assert.equal(dom.h1, HOSTILE.title);
    assert.equal(dom.scripts, 4);
    assert.equal(dom.injected, 0);
    assert.equal(dom.path, HOSTILE.path);
    assert.deepEqual(dom.data, r);
    const text = await v.page.innerText('main');
    for (const s of [HOSTILE.className, HOSTILE.quotes, HOSTILE.output, HOSTILE.against])
      assert.ok(text.includes(s), s);
    await v.page.close();
  });

  test('from a file:// URL too', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edgeforge-report-file-'));
    try {
      const file = join(dir, 'bench.html');
      await writeFile(file, renderReport(benchFixture()));
      const v = await visit(pathToFileURL(file).href);
      await assertHealthy(v, 3);
      await v.page.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("the page's Content-Security-Policy refuses requests before they reach the network", async () => {
    const v = await serve('csp', renderReport(benchFixture()));
    const outcome = await v.page.evaluate(async (target) => {
      try {
        await fetch(target);
        return 'fetched';
      } catch (e) {
        return `refused: ${(e as Error).message}`;
      }
    }, `${origin}/csp.html?probe`);
    assert.match(outcome, /^refused/);
    assert.deepEqual(v.blocked, [], 'the request reached the network layer');
    assert.ok(
      v.problems.some((p) => p.includes('Content Security Policy')),
      v.problems.join('\n'),
    );
    await v.page.close();
  });
});
