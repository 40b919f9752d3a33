import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { run } from '../testing.js';

describe('edgeforge inspect', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-inspect-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('counts PaddleOCR rec parameters, all held in Constant nodes', async () => {
    const r = await run('inspect', modelPath('ocr-rec'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    console.log(`ocr-rec: ${j.parameters.float} float parameters, ${j.nodes} nodes, opsets ${JSON.stringify(j.opsets)}`);
    assert.equal(j.parameters.float, 2690296);
    assert.ok(Math.abs(j.parameters.float / 1e6 - 2.69) < 0.005);
    assert.equal(j.parameters.bySource.initializer, 0);
    assert.equal(j.parameters.bySource.constantNode, j.parameters.total);
    assert.equal(j.opsets[''], 9);
    assert.deepEqual(j.inputs.map((i: { name: string }) => i.name), ['x']);
    assert.equal(j.inputs[0].shape.length, 4);
    assert.equal(j.inputs[0].shape[2], 48);
    assert.equal(j.largestTensors.length, 10);
    assert.deepEqual(j.largestTensors[0].shape, [120, 6625]);
    assert.equal(j.operators.Constant, 325);
  });

  it('finds the weights of Silero v5 inside If subgraphs', async () => {
    const r = await run('inspect', modelPath('silero-v5'), '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    console.log(`silero-v5: ${j.parameters.float} float parameters in ${j.graphs} graphs, ${j.nodes} nodes`);
    assert.ok(j.graphs > 1);
    assert.ok(j.parameters.float > 300_000, `${j.parameters.float}`);
    assert.ok(j.largestTensors.some((t: { graph: string }) => t.graph !== 'main'), 'largest tensors live in subgraphs');
    assert.ok(j.operators.If >= 1);
  });

  it('prints a human table with the same numbers', async () => {
    const r = await run('inspect', modelPath('ocr-cls'));
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse((await run('inspect', modelPath('ocr-cls'), '--json')).stdout);
    assert.match(r.stdout, /IR version\s+\d+/);
    assert.ok(r.stdout.includes(`(${j.parameters.total})`));
    assert.match(r.stdout, /operators/);
    assert.match(r.stdout, /largest tensors/);
  });

  it('JSON output is stable across runs', async () => {
    const a = await run('inspect', modelPath('silero-legacy'), '--json');
    const b = await run('inspect', modelPath('silero-legacy'), '--json');
    assert.equal(a.stdout, b.stdout);
  });

  describe('bad input: one line naming the file, exit 1, no stack', () => {
    const cases: [string, (dir: string) => string, RegExp][] = [
      ['missing file', (d) => join(d, 'nope.onnx'), /no such file/],
      ['empty file', (d) => write(d, 'empty.onnx', new Uint8Array(0)), /is empty/],
      ['a directory', (d) => mkdir(join(d, 'dir.onnx')), /is a directory/],
      ['random bytes', (d) => write(d, 'random.onnx', Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)), /not a valid ONNX protobuf|not an ONNX model/],
      ['a text file', (d) => write(d, 'text.onnx', new TextEncoder().encode('hello, this is not a model\n')), /not a valid ONNX protobuf|not an ONNX model/],
      ['a truncated model', (d) => write(d, 'trunc.onnx', readFileSync(modelPath('ocr-cls')).subarray(0, 300_000)), /not a valid ONNX protobuf/],
    ];
    for (const [what, make, re] of cases) {
      it(what, async () => {
        const p = make(tmp);
        const r = await run('inspect', p);
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '');
        assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.ok(r.stderr.includes(p), `names the file: ${r.stderr}`);
        assert.match(r.stderr, re);
        assert.doesNotMatch(r.stderr, /\n\s+at /);
      });
    }
  });

  it('usage errors exit 2', async () => {
    assert.equal((await run('inspect')).code, 2);
    assert.equal((await run('frobnicate', 'x')).code, 2);
    const r = await run('inspect', modelPath('ocr-cls'), '--top', 'many');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--top/);
  });
});

function write(dir: string, name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
function mkdir(p: string): string {
  if (!existsSync(p)) mkdirSync(p);
  return p;
}
