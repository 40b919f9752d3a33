/**
 * `edgeforge prune` in-process: methods end to end on the MNIST CNN (sparsity, gzip size and
 * accuracy measured against the original), --json, and bad input (one line, exit code, nothing
 * written).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadModel } from '@edgeforge/onnx';
import { ensureModels, mnistPath, REPO_ROOT } from '../../../../tools/models.ts';
import { ortLoads } from '../../../onnx/src/testing/ort.js';
import { run } from '../testing.js';

const MNIST = join(REPO_ROOT, 'models/reference/mnist-cnn.onnx');
const mnistTest = () =>
  `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`;

interface PruneJson {
  method: string;
  gzipBefore: number;
  gzipAfter: number;
  sparsity: { sparsity: number; weights: { name: string; zeros: number; total: number }[] };
  comparison?: { accuracy?: { a: number; b: number } };
}

describe('edgeforge prune', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-prune-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('--method global and nm --json: half the weights zero, gzip smaller, top-1 within an honest bound', async () => {
    for (const [method, extra, maxDrop] of [
      ['global', ['--amount', '0.5'], 0.005],
      ['nm', ['--pattern', '2:4'], 0.015],
    ] as [string, string[], number][]) {
      const out = join(tmp, `mnist-${method}.onnx`);
      const r = await run(
        'prune',
        MNIST,
        '-o',
        out,
        '--method',
        method,
        ...extra,
        '--data',
        mnistTest(),
        '--limit',
        '1000',
        '--json',
      );
      assert.equal(r.code, 0, r.stderr);
      const j = JSON.parse(r.stdout) as PruneJson;
      const acc = j.comparison!.accuracy!;
      const gz = j.gzipAfter / j.gzipBefore;
      console.log(
        `mnist prune ${method}: sparsity ${j.sparsity.sparsity.toFixed(3)}, gzip ratio ${gz.toFixed(3)}, top-1 ${acc.a} → ${acc.b}`,
      );
      assert.ok(j.sparsity.sparsity >= 0.45, `${method}: sparsity ${j.sparsity.sparsity}`);
      assert.ok(gz < 0.65, `${method}: gzip ratio ${gz}`);
      assert.ok(acc.a - acc.b <= maxDrop, `${method}: top-1 ${acc.a} → ${acc.b}`);
      assert.equal(await ortLoads(out), undefined);
    }
  });

  it('prints sparsity by weight, gzip and accuracy', async () => {
    const out = join(tmp, 'mnist-l1.onnx');
    const r = await run(
      'prune',
      MNIST,
      '-o',
      out,
      '--method',
      'l1',
      '--amount',
      '0.3',
      '--data',
      mnistTest(),
      '--limit',
      '200',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /gzip [\d.]+ (MiB|KiB) → [\d.]+ (MiB|KiB) \(0\.\d+×\)/);
    assert.match(r.stdout, /fc1\.weight\s+30\.00%/);
    assert.match(r.stdout, /top-1 \d+\.\d+% → \d+\.\d+%/);
  });

  it('--method channels --multiple-of 8: a smaller dense model whose kept channel counts are multiples of 8', async () => {
    const out = join(tmp, 'mnist-channels.onnx');
    const r = await run(
      'prune',
      MNIST,
      '-o',
      out,
      '--method',
      'channels',
      '--amount',
      '0.25',
      '--multiple-of',
      '8',
      '--data',
      mnistTest(),
      '--limit',
      '300',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as PruneJson & { paramsBefore: number; paramsAfter: number };
    const m = loadModel(out);
    const convs = [...m.graph].filter((n) => n.opType === 'Conv');
    const kept = convs.map((n) => m.graph.initializers.get(n.inputs[1]!.name)!.const!.dims[0]);
    console.log(
      `mnist channels 25% multiple-of 8: parameters ${j.paramsBefore} → ${j.paramsAfter}, Conv outputs ${kept.join(', ')}`,
    );
    assert.ok(j.paramsAfter < j.paramsBefore * 0.9, `${j.paramsBefore} → ${j.paramsAfter}`);
    for (const k of kept) assert.equal(k % 8, 0, `kept ${k}`);
    assert.equal(await ortLoads(out), undefined);
  });

  it('combines with optimize and quantize passes in one recipe', async () => {
    const recipe = join(tmp, 'prune-quantize.yaml');
    writeFileSync(
      recipe,
      'passes:\n  - fuse-bn-into-conv\n  - prune-global: { amount: 0.5 }\n  - quantize-dynamic: { opTypes: [MatMul, Gemm] }\n',
    );
    const out = join(tmp, 'mnist-pq.onnx');
    const r = await run('optimize', MNIST, '-o', out, '--recipe', recipe, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { steps: { pass: string; counts: Record<string, number> }[] };
    assert.deepEqual(
      j.steps.map((s) => s.pass),
      ['fuse-bn-into-conv', 'prune-global', 'quantize-dynamic'],
    );
    assert.equal(j.steps[2].counts['weights quantized'], 2);
    const e = await run('eval', out, '--data', mnistTest(), '--limit', '500', '--json');
    assert.equal(e.code, 0, e.stderr);
    const top1 = (JSON.parse(e.stdout) as { task: { top1: number } }).task.top1;
    console.log(`mnist prune-global 50% + dynamic int8 (recipe): top-1 ${top1} on 500 test digits`);
    assert.ok(top1 >= 0.97, `top-1 ${top1}`);
  });

  it('bad input: one line, exit code, nothing written', async () => {
    const out = join(tmp, 'bad.onnx');
    const cases: [string[], number, RegExp][] = [
      [['prune', MNIST, '-o', out, '--method', 'magic'], 2, /--method: choose one of/],
      [['prune', MNIST, '-o', out, '--method', 'l1'], 2, /needs --amount/],
      [['prune', MNIST, '-o', out, '--method', 'l1', '--amount', '1.5'], 1, /amount/],
      [
        ['prune', MNIST, '-o', out, '--method', 'l1', '--amount', '0.5', '--pattern', '2:4'],
        2,
        /--pattern applies to --method nm/,
      ],
      [['prune', MNIST, '-o', out, '--method', 'nm', '--pattern', '4:2'], 1, /n/],
      [['prune', MNIST, '-o', out, '--method', 'global', '--amount', '0.5', '--nodes', 'nothing*'], 1, /nothing/],
      [['prune', MNIST, '-o', out, '--method', 'merge', '--amount', '0.5'], 2, /--amount applies to --method/],
    ];
    for (const [argv, code, message] of cases) {
      const r = await run(...argv);
      assert.equal(r.code, code, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, argv.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out), `${argv.join(' ')} wrote ${out}`);
    }
  });
});
