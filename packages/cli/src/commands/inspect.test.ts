import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { DataType, GraphBuilder, Value, saveModel } from '@edgeforge/onnx';
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
    console.log(
      `ocr-rec: ${j.parameters.float} float parameters, ${j.nodes} nodes, opsets ${JSON.stringify(j.opsets)}`,
    );
    assert.equal(j.parameters.float, 2690296);
    assert.ok(Math.abs(j.parameters.float / 1e6 - 2.69) < 0.005);
    assert.equal(j.parameters.bySource.initializer, 0);
    assert.equal(j.parameters.bySource.constantNode, j.parameters.total);
    assert.equal(j.opsets[''], 9);
    assert.deepEqual(
      j.inputs.map((i: { name: string }) => i.name),
      ['x'],
    );
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
    assert.ok(
      j.largestTensors.some((t: { graph: string }) => t.graph !== 'main'),
      'largest tensors live in subgraphs',
    );
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

  it('estimates MACs once symbolic input dims are fixed', async () => {
    const sym = JSON.parse((await run('inspect', modelPath('ocr-rec'), '--json')).stdout);
    assert.ok(sym.macs.unknownNodes > 0, 'symbolic width leaves Conv/MatMul shapes unknown');
    const r = await run('inspect', modelPath('ocr-rec'), '--json', '--input-shape', 'x=1,3,48,320');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    console.log(`ocr-rec at 1x3x48x320: ${j.macs.total} MACs (${JSON.stringify(j.macs.byOp)})`);
    assert.equal(j.macs.unknownNodes, 0);
    assert.ok(j.macs.byOp.Conv > 0 && j.macs.byOp.MatMul > 0);
    // The classifier head alone: [1,40,120] x [120,6625].
    assert.ok(j.macs.byOp.MatMul >= 40 * 120 * 6625);
    assert.deepEqual(j.inputs[0].shape.slice(1, 3), [3, 48], 'inputs are reported as declared');
    const bad = await run('inspect', modelPath('ocr-rec'), '--input-shape', 'x=1,3,48,3.5');
    assert.equal(bad.code, 2);
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
      [
        'random bytes',
        (d) =>
          write(
            d,
            'random.onnx',
            Uint8Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24),
          ),
        /not a valid ONNX protobuf|not an ONNX model/,
      ],
      [
        'a text file',
        (d) => write(d, 'text.onnx', new TextEncoder().encode('hello, this is not a model\n')),
        /not a valid ONNX protobuf|not an ONNX model/,
      ],
      [
        'a truncated model',
        (d) => write(d, 'trunc.onnx', readFileSync(modelPath('ocr-cls')).subarray(0, 300_000)),
        /not a valid ONNX protobuf/,
      ],
      [
        'a dangling node input',
        (d) => save(d, 'dangling.onnx', 'dangling'),
        /Relu 'r'.*%ghost.*is not defined.*\[defined-inputs\]/,
      ],
      ['an opset onnxruntime refuses', (d) => save(d, 'opset.onnx', 'opset'), /opset.*\[ir-version\]/],
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

/** Small models that decode fine but that onnxruntime refuses. */
function save(dir: string, name: string, kind: 'dangling' | 'opset'): string {
  const b = new GraphBuilder('g');
  const x = b.input('x', DataType.FLOAT, [1, 4]);
  const input = kind === 'dangling' ? new Value('ghost') : x;
  b.output(b.op('Relu', [input], {}, { name: 'r' }), 'y', DataType.FLOAT, [1, 4]);
  const p = join(dir, name);
  saveModel(b.model({ opset: kind === 'opset' ? 99 : 17 }), p);
  return p;
}

function write(dir: string, name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}
function mkdir(p: string): string {
  if (!existsSync(p)) mkdirSync(p);
  return p;
}
