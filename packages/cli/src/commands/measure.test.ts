import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, ensureModels, mnistPath, modelPath } from '../../../../tools/models.ts';
import { run } from '../testing.js';

const MNIST = join(REPO_ROOT, 'models/reference/mnist-cnn.onnx');
const mnistData = (extra = '') =>
  `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081${extra}`;

/** An idx file: big-endian magic (type 0x08 = ubyte, rank) and dims, then the bytes. */
function idx(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head.writeUInt32BE(0x0800 + dims.length, 0);
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, data]);
}

describe('edgeforge eval / bench / compare', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-measure-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('eval: accuracy and confusion matrix, JSON and HTML report', async () => {
    const report = join(tmp, 'eval.html');
    const r = await run(
      'eval',
      MNIST,
      '--data',
      mnistData(),
      '--limit',
      '2000',
      '--batch',
      '100',
      '--json',
      '--report',
      report,
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.kind, 'eval');
    assert.equal(j.samples, 2000);
    assert.ok(j.task.top1 > 0.98, `top-1 ${j.task.top1}`);
    assert.equal(
      j.task.confusion.flat().reduce((a: number, b: number) => a + b, 0),
      2000,
    );
    const html = readFileSync(report, 'utf8');
    assert.ok(html.includes((j.task.top1 * 100).toFixed(2)), 'the report shows the accuracy');
    const human = await run('eval', MNIST, '--data', mnistData(), '--limit', '500');
    assert.match(human.stdout, /top-1 \d+\.\d\d%/);
    assert.match(human.stdout, /confusion/);
  });

  it('eval --against: fidelity of a model against itself is perfect', async () => {
    const r = await run('eval', MNIST, '--data', mnistData(), '--limit', '300', '--against', MNIST, '--json');
    assert.equal(r.code, 0, r.stderr);
    const f = JSON.parse(r.stdout).fidelity.perOutput[0];
    assert.equal(f.cosine, 1);
    assert.equal(f.snrDb, null, 'identical outputs: infinite SNR');
    assert.equal(f.maxAbsError, 0);
    assert.equal(f.argmaxAgreement, 1);
  });

  it('compare a model with itself: same size, perfect fidelity, latency ratio near 1', async () => {
    const m = modelPath('ocr-cls');
    const report = join(tmp, 'compare.html');
    const r = await run('compare', m, m, '--shape', 'x=1,3,48,192', '--iterations', '40', '--json', '--report', report);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    console.log(
      `compare ocr-cls with itself: latency ratio b/a ${j.latency.ratio.toFixed(3)} (p50 ${j.latency.a.p50.toFixed(3)} vs ${j.latency.b.p50.toFixed(3)} ms)`,
    );
    assert.equal(j.a.bytes, j.b.bytes);
    assert.deepEqual(j.a.ops, j.b.ops);
    assert.equal(j.fidelity.perOutput[0].cosine, 1);
    assert.equal(j.fidelity.perOutput[0].maxAbsError, 0);
    // Interleaved runs of the same model: a ratio far from 1 would mean the method is broken. The
    // bound is loose because a shared machine can stall one side of a short run (2.7 was seen under load).
    assert.ok(j.latency.ratio > 0.2 && j.latency.ratio < 5, `ratio ${j.latency.ratio}`);
    assert.ok(existsSync(report));
  });

  it('compare with labelled data reports both accuracies', async () => {
    const r = await run('compare', MNIST, MNIST, '--data', mnistData(), '--limit', '500', '--no-latency', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.accuracy.a, j.accuracy.b);
    assert.equal(j.latency, undefined);
  });

  it('bench: percentiles, throughput, cold start, memory', async () => {
    const r = await run('bench', MNIST, '--iterations', '20', '--shape', 'N=1', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.kind, 'bench');
    assert.equal(j.iterations, 20);
    assert.equal(j.samplesMs.length, 20);
    assert.ok(j.latencyMs.p50 > 0 && j.latencyMs.p50 <= j.latencyMs.p99);
    assert.ok(j.sessionCreateMs > 0 && j.peakRssBytes > 0 && j.throughputPerSec > 0);
    const wasm = await run('bench', MNIST, '--iterations', '5', '--backend', 'wasm', '--shape', 'N=1');
    assert.equal(wasm.code, 0, wasm.stderr);
    assert.match(wasm.stdout, /on wasm/);
  });

  describe('bad input: one line, exit 1', () => {
    const one = (r: { code: number; stderr: string }, re: RegExp) => {
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    };

    it('labels missing and no reference', async () => {
      one(
        await run('eval', MNIST, '--data', `idx:${mnistPath('t10k-images-idx3-ubyte')}`),
        /no labels.*nothing to measure/,
      );
    });

    it('labels count differs from samples', async () => {
      const images = join(tmp, 'img-idx');
      const labels = join(tmp, 'lab-idx');
      writeFileSync(images, idx([10, 28, 28], new Uint8Array(7840)));
      writeFileSync(labels, idx([7], new Uint8Array(7)));
      one(await run('eval', MNIST, '--data', `idx:${images},labels=${labels}`), /10.*7|7.*10/);
    });

    it('data whose shape does not match the input', async () => {
      const f = join(tmp, 'wrong.json');
      writeFileSync(f, JSON.stringify([{ input: [1, 2, 3], label: 0 }]));
      one(await run('eval', MNIST, '--data', `json:${f}`), /input/);
    });

    it('a wrong input name', async () => {
      one(await run('eval', MNIST, '--data', mnistData(',input=pixels')), /pixels/);
    });

    it('an image that does not decode', async () => {
      const dir = join(tmp, 'images', 'seven');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'broken.png'), Buffer.from('definitely not a png'));
      one(await run('eval', MNIST, '--data', `images:${join(tmp, 'images')},size=28x28,color=gray`), /broken\.png/);
    });

    it('a model file that is not ONNX', async () => {
      const f = join(tmp, 'junk.onnx');
      writeFileSync(f, 'junk');
      one(await run('bench', f), /junk\.onnx/);
    });

    it('usage errors exit 2', async () => {
      assert.equal((await run('eval', MNIST)).code, 2, 'eval needs --data');
      assert.equal((await run('bench', MNIST, '--backend', 'gpu')).code, 2);
      assert.equal((await run('bench', MNIST, '--iterations', 'many')).code, 2);
      assert.equal((await run('bench', MNIST, '--shape', 'N')).code, 2);
    });
  });
});
