/**
 * `edgeforge quantize` in-process: each mode end to end on a real model (size, accuracy or
 * fidelity measured against the original), --json, and bad input (one line, exit 1 or 2,
 * nothing written).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, mnistPath, REPO_ROOT } from '../../../../tools/models.ts';
import { ortLoads } from '../../../onnx/src/testing/ort.js';
import { run } from '../testing.js';

const MNIST = join(REPO_ROOT, 'models/reference/mnist-cnn.onnx');
const SPAM = join(REPO_ROOT, 'models/reference/spam-transformer.onnx');
const SPAM_TEST = `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`;
const mnistTrain = () => `idx:${mnistPath('train-images-idx3-ubyte')},mean=0.1307,std=0.3081`;
const mnistTest = () =>
  `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`;

interface QuantizeJson {
  mode: string;
  bytesBefore: number;
  bytesAfter: number;
  steps: { pass: string; counts: Record<string, number>; notes?: string[] }[];
  comparison?: {
    accuracy?: { a: number; b: number };
    fidelity?: { perOutput: { cosine: number; argmaxAgreement?: number }[] };
  };
}

describe('edgeforge quantize', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-quantize-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('--mode fp16 --json: half the size, accuracy unchanged on 1000 MNIST test digits', async () => {
    const out = join(tmp, 'mnist-fp16.onnx');
    const r = await run(
      'quantize',
      MNIST,
      '-o',
      out,
      '--mode',
      'fp16',
      '--data',
      mnistTest(),
      '--limit',
      '1000',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as QuantizeJson;
    const ratio = j.bytesAfter / j.bytesBefore;
    const acc = j.comparison!.accuracy!;
    console.log(`mnist fp16: size ratio ${ratio.toFixed(3)}, top-1 ${acc.a} → ${acc.b}`);
    assert.equal(j.mode, 'fp16');
    assert.equal(j.steps.at(-1)!.pass, 'convert-fp16');
    assert.ok(ratio < 0.52, `size ratio ${ratio}`);
    assert.ok(acc.a - acc.b <= 0.002, `top-1 ${acc.a} → ${acc.b}`);
    assert.ok(j.comparison!.fidelity!.perOutput[0].cosine >= 0.999);
    assert.equal(await ortLoads(out), undefined);
  });

  it('prints size, what the pass did, accuracy and fidelity', async () => {
    const out = join(tmp, 'mnist-fp16-human.onnx');
    const r = await run('quantize', MNIST, '-o', out, '--mode', 'fp16', '--data', mnistTest(), '--limit', '200');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /size 1\.\d+ MiB → \d+ KiB \(0\.5\d\d×\)/);
    assert.match(r.stdout, /convert-fp16: initializers → float16 \d+/);
    assert.match(r.stdout, /top-1 \d+\.\d+% → \d+\.\d+%/);
    assert.match(r.stdout, /cosine/);
  });

  it('--mode static: calibrated on 128 training digits, ≤ 0.3× the size, top-1 within 1 pt, int8 kernels', async () => {
    const out = join(tmp, 'mnist-int8.onnx');
    const r = await run(
      'quantize',
      MNIST,
      '-o',
      out,
      '--mode',
      'static',
      '--calib',
      mnistTrain(),
      '--calib-limit',
      '128',
      '--data',
      mnistTest(),
      '--limit',
      '2000',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as QuantizeJson;
    const ratio = j.bytesAfter / j.bytesBefore;
    const acc = j.comparison!.accuracy!;
    console.log(`mnist static int8: size ratio ${ratio.toFixed(3)}, top-1 ${acc.a} → ${acc.b} (2000 test digits)`);
    assert.ok(ratio <= 0.3, `size ratio ${ratio}`);
    assert.ok(acc.a - acc.b <= 0.01, `top-1 ${acc.a} → ${acc.b}`);
    assert.ok(j.steps.at(-1)!.counts['Conv quantized'] >= 2);
  });

  it('--analyze prints the per-layer error table; --auto-exclude leaves the worst layers in float', async () => {
    const out = join(tmp, 'mnist-int8-mixed.onnx');
    const r = await run(
      'quantize',
      MNIST,
      '-o',
      out,
      '--mode',
      'static',
      '--calib',
      mnistTrain(),
      '--calib-limit',
      '64',
      '--analyze',
      '--auto-exclude',
      '80',
      '--auto-exclude-max',
      '2',
      '--data',
      mnistTest(),
      '--limit',
      '300',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as QuantizeJson & { layers: { node: string; snrDb: number; inputSnrDb: number }[] };
    const loses = (l: { snrDb: number; inputSnrDb: number }) =>
      (Number.isFinite(l.inputSnrDb) ? l.inputSnrDb : 100) - l.snrDb;
    console.log(`mnist --analyze: ${j.layers.map((l) => `${l.node} ${loses(l).toFixed(1)} dB`).join(', ')}`);
    // 80 dB is out of reach for int8: the cap of two float layers is what stops it.
    const notes = j.steps.at(-1)!.notes!.join('\n');
    assert.match(notes, /auto-exclude: 2 layer\(s\) in float/);
    assert.ok(j.layers.length >= 2, 'a row per quantized layer');
    for (let i = 1; i < j.layers.length; i++) assert.ok(loses(j.layers[i - 1]) >= loses(j.layers[i]), 'worst first');
    const bad = await run('quantize', MNIST, '-o', join(tmp, 'x.onnx'), '--mode', 'dynamic', '--analyze');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /needs --mode static/);
  });

  it('--mode dynamic and weight-only on the text classifier: smaller, top-1 within 1 pt', async () => {
    for (const [mode, extra, maxRatio] of [
      ['dynamic', [], 0.35],
      ['weight-only', ['--bits', '4', '--block-size', '32', '--op-types', 'MatMul,Gemm,Gather'], 0.25],
    ] as [string, string[], number][]) {
      const out = join(tmp, `spam-${mode}.onnx`);
      const r = await run(
        'quantize',
        SPAM,
        '-o',
        out,
        '--mode',
        mode,
        ...extra,
        '--data',
        SPAM_TEST,
        '--limit',
        '600',
        '--json',
      );
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as QuantizeJson;
      const ratio = j.bytesAfter / j.bytesBefore;
      const acc = j.comparison!.accuracy!;
      const agree = j.comparison!.fidelity!.perOutput[0].argmaxAgreement!;
      console.log(`spam ${mode}: size ratio ${ratio.toFixed(3)}, top-1 ${acc.a} → ${acc.b}, argmax agreement ${agree}`);
      assert.ok(ratio <= maxRatio, `${mode}: size ratio ${ratio}`);
      assert.ok(acc.a - acc.b <= 0.01, `${mode}: top-1 ${acc.a} → ${acc.b}`);
      assert.ok(agree >= 0.98, `${mode}: agreement ${agree}`);
    }
  });

  it('refuses an already quantized model and calibration data of the wrong shape', async () => {
    const once = join(tmp, 'spam-once.onnx');
    assert.equal((await run('quantize', SPAM, '-o', once, '--mode', 'dynamic', '--limit', '4')).code, 0);
    const out = join(tmp, 'twice.onnx');
    const cases: [string[], RegExp][] = [
      [['quantize', once, '-o', out, '--mode', 'dynamic'], /already quantized/],
      [['quantize', once, '-o', out, '--mode', 'weight-only'], /already quantized/],
      [['quantize', MNIST, '-o', out, '--mode', 'static', '--calib', SPAM_TEST], /--calib/],
    ];
    for (const [argv, message] of cases) {
      const r = await run(...argv);
      assert.equal(r.code, 1, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), `${argv.join(' ')} wrote ${out}`);
    }
  });

  it('bad input: one line, exit code, nothing written', async () => {
    const out = join(tmp, 'bad', 'x.onnx');
    const notOnnx = join(tmp, 'not.onnx');
    writeFileSync(notOnnx, 'hello, this is not a model');
    const cases: [string[], number, RegExp][] = [
      [['quantize', MNIST, '-o', out], 2, /--mode/],
      [['quantize', MNIST, '-o', out, '--mode', 'int3'], 2, /--mode: choose one of dynamic, static, weight-only, fp16/],
      [['quantize', MNIST, '-o', out, '--mode', 'fp16', '--bits', '4'], 2, /--bits applies to --mode weight-only/],
      [['quantize', MNIST, '-o', out, '--mode', 'static'], 2, /needs --calib/],
      [['quantize', MNIST, '-o', out, '--mode', 'fp16', '--backend', 'gpu'], 2, /--backend/],
      [['quantize', notOnnx, '-o', out, '--mode', 'fp16'], 1, /not\.onnx/],
      [['quantize', MNIST, '-o', out, '--mode', 'fp16', '--data', 'idx:/nonexistent/images'], 1, /nonexistent/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await run(...argv);
      assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), `${argv.join(' ')} wrote ${out}`);
    }
    assert.deepEqual(
      readdirSync(tmp).filter((f) => f.startsWith('.') || f.includes('tmp')),
      [],
    );
  });
});
