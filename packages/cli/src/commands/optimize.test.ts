/**
 * `edgeforge optimize` in-process: the default recipe with --verify and --json, the human per-pass
 * table, --passes, YAML recipes with options, and bad input (one line, exit 1 or 2, nothing written).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataType, GraphBuilder, Value, loadModel, saveModel } from '@edgeforge/onnx';
import { DEFAULT_RECIPE } from '@edgeforge/forge';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { ortLoads } from '../../../onnx/src/testing/ort.js';
import { run } from '../testing.js';

interface Step {
  pass: string;
  options: Record<string, unknown>;
  changed: boolean;
  counts: Record<string, number>;
  nodesBefore: number;
  nodesAfter: number;
  verifiedMaxRelError?: number;
}

describe('edgeforge optimize', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-optimize-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('default recipe with --verify --json: every step verified within 1e-4, the result loads', async () => {
    const out = join(tmp, 'cls.onnx');
    const r = await run(
      'optimize',
      modelPath('ocr-cls'),
      '-o',
      out,
      '--verify',
      '--input-shape',
      'x=1,3,48,192',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { steps: Step[]; verified: boolean; nodesBefore: number; nodesAfter: number };
    assert.equal(j.verified, true);
    assert.deepEqual(
      j.steps.map((s) => s.pass),
      DEFAULT_RECIPE.map((s) => s.pass),
    );
    for (const s of j.steps) {
      assert.equal(typeof s.verifiedMaxRelError, 'number', s.pass);
      assert.ok(s.verifiedMaxRelError! <= 1e-4, `${s.pass}: ${s.verifiedMaxRelError}`);
    }
    assert.ok(j.nodesAfter < j.nodesBefore, `${j.nodesBefore} → ${j.nodesAfter}`);
    assert.ok(existsSync(out));
    assert.equal(await ortLoads(out), undefined);
    assert.equal(loadModel(out).graph.nodeCount, j.nodesAfter);
    console.log(
      `optimize ocr-cls: nodes ${j.nodesBefore} → ${j.nodesAfter}, worst verified error ` +
        `${Math.max(...j.steps.map((s) => s.verifiedMaxRelError!)).toExponential(2)}`,
    );
  });

  it('prints the per-pass table', async () => {
    const r = await run('optimize', modelPath('ocr-cls'), '-o', join(tmp, 'cls-human.onnx'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cls_infer\.onnx → .*cls-human\.onnx \(/);
    assert.match(r.stdout, /^nodes \d+ → \d+, parameters .+ → .+$/m);
    assert.match(r.stdout, /^\s+pass\s+nodes\s+parameters\s+changes$/m);
    for (const s of new Set(DEFAULT_RECIPE.map((x) => x.pass)))
      assert.match(r.stdout, new RegExp(`^\\s+${s}\\s+\\d+ → \\d+\\s`, 'm'), s);
    assert.match(r.stdout, /BatchNormalization folded into Conv \d+/);
  });

  it('--passes runs exactly the listed passes', async () => {
    const out = join(tmp, 'cls-passes.onnx');
    const r = await run(
      'optimize',
      modelPath('ocr-cls'),
      '-o',
      out,
      '--passes',
      'fold-constants,eliminate-dead-code',
      '--json',
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { steps: Step[]; verified: boolean };
    assert.deepEqual(
      j.steps.map((s) => s.pass),
      ['fold-constants', 'eliminate-dead-code'],
    );
    assert.equal(j.verified, false);
    assert.ok(existsSync(out));
  });

  it('takes a YAML recipe with options', async () => {
    const recipe = join(tmp, 'recipe.yaml');
    writeFileSync(
      recipe,
      [
        'passes:',
        '  - eliminate-noops',
        '  - constants-to-initializers',
        '  - fold-constants: { maxBytes: 4096 }',
        '  - pass: fuse-bn-into-conv',
        '  - pass: eliminate-dead-code',
        '    options: {}',
        '',
      ].join('\n'),
    );
    const out = join(tmp, 'cls-recipe.onnx');
    const r = await run('optimize', modelPath('ocr-cls'), '-o', out, '--recipe', recipe, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { steps: Step[] };
    assert.deepEqual(
      j.steps.map((s) => [s.pass, s.options]),
      [
        ['eliminate-noops', {}],
        ['constants-to-initializers', {}],
        ['fold-constants', { maxBytes: 4096 }],
        ['fuse-bn-into-conv', {}],
        ['eliminate-dead-code', {}],
      ],
    );
    assert.ok(j.steps.find((s) => s.pass === 'fuse-bn-into-conv')!.changed);
    assert.equal(await ortLoads(out), undefined);
  });

  describe('bad input: one line, nothing written', () => {
    let ghost: string;
    before(() => {
      // Decodes fine, but Relu reads a value nothing defines.
      ghost = join(tmp, 'ghost.onnx');
      const b = new GraphBuilder('g');
      b.input('x', DataType.FLOAT, [1, 4]);
      b.output(b.op('Relu', [new Value('ghost')], {}, { name: 'r' }), 'y', DataType.FLOAT, [1, 4]);
      saveModel(b.model({ opset: 17 }), ghost);
    });

    const cases: { name: string; args: () => string[]; code: number; message: RegExp }[] = [
      {
        name: 'unknown pass name (lists the known passes)',
        args: () => ['--passes', 'fold-constants,fuse-everything'],
        code: 1,
        message: /unknown pass 'fuse-everything' \(passes: .*eliminate-dead-code.*fold-constants.*fuse-bn-into-conv/,
      },
      {
        name: 'bad option',
        args: () => ['--recipe', write('neg.yaml', 'passes:\n  - fold-constants: { maxBytes: -1 }\n')],
        code: 1,
        message: /fold-constants.*maxBytes must be a non-negative integer \(got -1\)/,
      },
      {
        name: 'unknown option',
        args: () => ['--recipe', write('unknown.json', '{"passes": [{"fold-constants": {"maxBites": 10}}]}')],
        code: 1,
        message: /fold-constants.*unknown option\(s\) maxBites/,
      },
      {
        name: 'option on a pass without options',
        args: () => ['--recipe', write('noopt.yaml', '- eliminate-dead-code: { aggressive: true }\n')],
        code: 1,
        message: /eliminate-dead-code.*takes no options.*aggressive/,
      },
      {
        name: 'recipe that does not parse',
        args: () => ['--recipe', write('broken.yaml', 'passes:\n  - fold-constants: { maxBytes: 4\n  - [\n')],
        code: 1,
        message: /broken\.yaml: does not parse/,
      },
      {
        name: 'recipe JSON that does not parse',
        args: () => ['--recipe', write('broken.json', '{"passes": [')],
        code: 1,
        message: /broken\.json: does not parse/,
      },
      {
        name: 'recipe of the wrong shape',
        args: () => ['--recipe', write('shape.yaml', 'passes: fold-constants\n')],
        code: 1,
        message: /shape\.yaml: expected a list of passes/,
      },
      {
        name: 'missing recipe file',
        args: () => ['--recipe', join(tmp, 'nope.yaml')],
        code: 1,
        message: /nope\.yaml: no such file/,
      },
      {
        name: '--passes and --recipe together',
        args: () => ['--passes', 'fold-constants', '--recipe', write('ok.yaml', '- fold-constants\n')],
        code: 2,
        message: /--passes and --recipe exclude each other/,
      },
      {
        name: 'empty --passes',
        args: () => ['--passes', ','],
        code: 1,
        message: /--passes: no pass names given/,
      },
    ];

    function write(name: string, text: string): string {
      const p = join(tmp, name);
      writeFileSync(p, text);
      return p;
    }

    for (const c of cases)
      it(c.name, async () => {
        const out = join(tmp, 'never.onnx');
        const r = await run('optimize', modelPath('ocr-cls'), '-o', out, ...c.args());
        assert.equal(r.code, c.code, r.stderr);
        assert.match(r.stderr, c.message);
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.equal(r.stdout, '');
        assert.ok(!existsSync(out), 'nothing written');
        assert.ok(!readdirSync(tmp).some((f) => f.includes('.tmp')), 'no temporary files left');
      });

    it('a model that fails the checker before any pass', async () => {
      const out = join(tmp, 'ghost-out.onnx');
      const r = await run('optimize', ghost, '-o', out);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /fails the checker before any pass: .*ghost/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out));
    });

    it('missing -o is a usage error', async () => {
      const r = await run('optimize', modelPath('ocr-cls'));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--output/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    });

    it('a missing model file', async () => {
      const out = join(tmp, 'never2.onnx');
      const r = await run('optimize', join(tmp, 'missing.onnx'), '-o', out);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /missing\.onnx/);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out));
    });
  });
});
