/**
 * `edgeforge distill` and `edgeforge finetune` in-process on the MNIST CNN: short runs end to end
 * (result saved, measured against the teacher, no checkpoint left behind), prune → finetune recovery,
 * and bad input (one line, exit code, nothing written).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, mnistPath, REPO_ROOT } from '../../../../tools/models.ts';
import { ortLoads } from '../../../onnx/src/testing/ort.js';
import { run } from '../testing.js';

const MNIST = join(REPO_ROOT, 'models/reference/mnist-cnn.onnx');
const mnist = (split: 'train' | 't10k', labels = true) =>
  `idx:${mnistPath(`${split}-images-idx3-ubyte`)},${labels ? `labels=${mnistPath(`${split}-labels-idx1-ubyte`)},` : ''}mean=0.1307,std=0.3081`;
/** A short run: 3,000 training samples, 30 steps. */
const SHORT = ['--limit', '3000', '--val-limit', '300', '--max-steps', '30', '--threads', '2'];

interface DistillJson {
  mode: string;
  steps: number;
  paramsBefore: number;
  paramsAfter: number;
  best: { step: number; accuracy: number };
  history: { step: number; accuracy: number }[];
  comparison: { accuracy: { a: number; b: number }; latency?: { ratio: number } };
}

describe('edgeforge distill / finetune', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-distill-cli-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('distill --shrink-width 0.5 --json: a quarter of the parameters, measured on the test set, no checkpoint left', async () => {
    const out = join(tmp, 'student.onnx');
    const r = await run(
      'distill',
      '--teacher',
      MNIST,
      '--shrink-width',
      '0.5',
      '--data',
      mnist('train'),
      ...SHORT,
      '--test',
      mnist('t10k'),
      '--test-limit',
      '1000',
      '--report',
      join(tmp, 'report.html'),
      '-o',
      out,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as DistillJson;
    const { a, b } = j.comparison.accuracy;
    console.log(
      `distill CLI: params ${j.paramsBefore} → ${j.paramsAfter}, held-out ${j.history.map((h) => h.accuracy.toFixed(4)).join(' → ')}, test (1000) teacher ${a} student ${b}`,
    );
    assert.equal(j.mode, 'distill');
    assert.equal(j.steps, 30);
    assert.ok(j.paramsAfter / j.paramsBefore < 0.3);
    assert.ok(b > 0.95 && b <= a + 0.01, `student test accuracy ${b} (teacher ${a})`);
    assert.equal(await ortLoads(out), undefined);
    assert.ok(!existsSync(join(tmp, 'student.checkpoint.onnx')), 'default checkpoint removed after success');
    assert.match(readFileSync(join(tmp, 'report.html'), 'utf8'), /student\.onnx/);
  });

  it('prune --method channels, then finetune: the human report shows the held-out table and recovery', async () => {
    const pruned = join(tmp, 'pruned.onnx');
    const p = await run('prune', MNIST, '--method', 'channels', '--amount', '0.5', '-o', pruned, '--data', 'synthetic');
    assert.equal(p.code, 0, p.stderr);
    const out = join(tmp, 'recovered.onnx');
    const keep = join(tmp, 'keep.checkpoint.onnx');
    const r = await run(
      'finetune',
      pruned,
      '--data',
      mnist('train'),
      ...SHORT,
      '--eval-every',
      '15',
      '--checkpoint',
      keep,
      '-o',
      out,
    );
    assert.equal(r.code, 0, r.stderr);
    console.log(r.stdout);
    assert.match(r.stdout, /fine-tuned on labels/);
    assert.match(r.stdout, /step\s+epoch\s+train loss\s+held-out loss\s+held-out acc\s+agreement/);
    assert.match(r.stdout, /kept the weights of step (15|30)/);
    assert.ok(existsSync(keep), '--checkpoint is kept');
    assert.equal(await ortLoads(out), undefined);
  });

  it('one recipe runs prune → distill → quantize-static (optimize --recipe --calib); the result is int8 and accurate', async () => {
    const recipe = join(tmp, 'pipeline.yaml');
    writeFileSync(
      recipe,
      [
        'passes:',
        '  - prune-channels: { amount: 0.5 }',
        `  - distill: { data: "${mnist('train')}", limit: 3000, maxSteps: 30, valLimit: 300, threads: 2 }`,
        '  - quantize-static: {}',
      ].join('\n'),
    );
    const out = join(tmp, 'pipeline.onnx');
    const r = await run(
      'optimize',
      MNIST,
      '--recipe',
      recipe,
      '--calib',
      mnist('train', false),
      '--calib-limit',
      '128',
      '-o',
      out,
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as {
      steps: { pass: string; counts: Record<string, number>; notes?: string[] }[];
      paramsAfter: number;
    };
    assert.deepEqual(
      j.steps.map((s) => s.pass),
      ['prune-channels', 'distill', 'quantize-static'],
    );
    assert.equal(j.steps[1].counts['training steps'], 30);
    console.log(`pipeline: ${j.steps[1].notes?.[0]}`);
    assert.match(j.steps[1].notes?.[0] ?? '', /held-out accuracy [\d.]+ % → [\d.]+ %.*teacher/);
    const e = await run('eval', out, '--data', mnist('t10k'), '--limit', '1000', '--json');
    assert.equal(e.code, 0, e.stderr);
    const top1 = (JSON.parse(e.stdout) as { task: { top1: number } }).task.top1;
    console.log(`pipeline result: top-1 ${top1} on 1000 MNIST test samples`);
    assert.ok(top1 > 0.95);

    const badRecipe = join(tmp, 'bad.yaml');
    writeFileSync(badRecipe, 'passes:\n  - distill: { epochs: 2 }\n');
    const b = await run('optimize', MNIST, '--recipe', badRecipe, '-o', join(tmp, 'never-recipe.onnx'));
    assert.notEqual(b.code, 0);
    assert.match(b.stderr, /distill: needs data/);
    assert.ok(!existsSync(join(tmp, 'never-recipe.onnx')));
  });

  it('bad input: one line, exit 2 for usage and 1 for failures, nothing written', async () => {
    const bad = join(tmp, 'truncated.onnx');
    writeFileSync(bad, new Uint8Array(100).fill(7));
    const out = join(tmp, 'never.onnx');
    const cases: [string, string[], number, RegExp][] = [
      ['no teacher', ['distill', '--shrink-width', '0.5', '--data', mnist('train'), '-o', out], 2, /--teacher/],
      [
        'student and shrink',
        [
          'distill',
          '--teacher',
          MNIST,
          '--student',
          MNIST,
          '--shrink-width',
          '0.5',
          '--data',
          mnist('train'),
          '-o',
          out,
        ],
        2,
        /one of --student/,
      ],
      [
        'shrink out of range',
        ['distill', '--teacher', MNIST, '--shrink-width', '1.5', '--data', mnist('train'), '-o', out],
        2,
        /must be in \(0, 1\)/,
      ],
      [
        'unknown optimizer',
        ['finetune', MNIST, '--optimizer', 'lion', '--data', mnist('train'), '-o', out],
        2,
        /--optimizer: choose one of adam, adamw, sgd/,
      ],
      [
        'not a number',
        ['finetune', MNIST, '--lr', 'fast', '--data', mnist('train'), '-o', out],
        2,
        /--lr: 'fast' is not a number/,
      ],
      [
        'truncated student',
        ['distill', '--teacher', MNIST, '--student', bad, '--data', mnist('train'), '-o', out],
        1,
        /truncated\.onnx/,
      ],
      [
        'labels missing with alpha',
        [
          'distill',
          '--teacher',
          MNIST,
          '--shrink-width',
          '0.5',
          '--alpha',
          '0.5',
          '--data',
          mnist('train', false),
          ...SHORT,
          '-o',
          out,
        ],
        1,
        /has no labels, but alpha is 0\.5/,
      ],
      [
        'bad test spec',
        ['finetune', MNIST, '--data', mnist('train'), ...SHORT, '--test', 'idx:/nope/t10k', '-o', out],
        1,
        /--test: /,
      ],
      [
        'student of another model',
        [
          'distill',
          '--teacher',
          MNIST,
          '--student',
          join(REPO_ROOT, 'models/reference/spam-transformer.onnx'),
          '--data',
          mnist('train'),
          '-o',
          out,
        ],
        1,
        /student and teacher inputs differ/,
      ],
    ];
    for (const [name, args, code, msg] of cases) {
      const r = await run(...args);
      assert.equal(r.code, code, `${name}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `${name}: one line (${r.stderr})`);
      assert.match(r.stderr, msg, name);
      assert.ok(!existsSync(out), `${name}: nothing written`);
      assert.ok(!existsSync(join(tmp, 'never.checkpoint.onnx')), `${name}: no checkpoint left`);
    }

    // Divergence: exit 1, the message names the checkpoint holding the last good weights.
    const r = await run(
      'finetune',
      MNIST,
      '--data',
      mnist('train'),
      ...SHORT,
      '--optimizer',
      'sgd',
      '--lr',
      '1e12',
      '-o',
      out,
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /diverged at step \d+.*last good weights \(step 0.*saved in .*never\.checkpoint\.onnx; nothing written/,
    );
    assert.ok(!existsSync(out));
    assert.equal(await ortLoads(join(tmp, 'never.checkpoint.onnx')), undefined);
  });
});
