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
const mnistTest = () =>
  `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`;

interface QuantizeJson {
  mode: string;
  bytesBefore: number;
  bytesAfter: number;
  steps: { pass: string; counts: Record<string, number> }[];
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
