import assert from 'node:assert/strict';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { run } from '../testing.js';

describe('edgeforge convert', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-convert-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('moves tensors to external data and back to the original bytes', async () => {
    const src = modelPath('ocr-rec');
    const ext = join(tmp, 'rec.onnx');
    const r = await run('convert', src, '-o', ext, '--external-data', '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.ok(j.externalTensors > 50, `${j.externalTensors} tensors external`);
    assert.ok(existsSync(`${ext}.data`));
    assert.ok(statSync(ext).size < 1_000_000, `${statSync(ext).size} bytes left in the .onnx`);
    const insp = JSON.parse((await run('inspect', ext, '--json')).stdout);
    assert.equal(insp.parameters.float, 2690296, 'inspect counts external tensors too');
    assert.equal(insp.externalData[0].location, 'rec.onnx.data');
    const back = join(tmp, 'rec-inline.onnx');
    const r2 = await run('convert', ext, '-o', back, '--inline');
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /all tensors inline/);
    assert.deepEqual(readFileSync(back), readFileSync(src));
  });

  it('takes a size threshold', async () => {
    const out = join(tmp, 'cls-big-only.onnx');
    const all = JSON.parse(
      (await run('convert', modelPath('ocr-cls'), '-o', join(tmp, 'cls-all.onnx'), '--external-data=0', '--json'))
        .stdout,
    );
    const big = JSON.parse(
      (await run('convert', modelPath('ocr-cls'), '-o', out, '--external-data=16384', '--json')).stdout,
    );
    assert.ok(
      big.externalTensors > 0 && big.externalTensors < all.externalTensors,
      `${big.externalTensors} < ${all.externalTensors}`,
    );
  });

  it('fails cleanly and writes nothing on bad input', async () => {
    const dir = join(tmp, 'bad');
    const src = join(tmp, 'ext-src.onnx');
    await run('convert', modelPath('ocr-cls'), '-o', src, '--external-data');
    truncateSync(`${src}.data`, 1000);
    const out = join(tmp, 'never.onnx');
    const r = await run('convert', src, '-o', out);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ext-src\.onnx: external data file 'ext-src\.onnx\.data' is 1000 bytes/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.ok(!existsSync(out) && !existsSync(`${out}.data`));
    assert.ok(!readdirSync(tmp).some((f) => f.includes('.tmp-')), 'no temporary files left');
    assert.ok(!existsSync(dir));
  });

  it('rejects bad arguments with exit 2', async () => {
    const src = join(tmp, 'copy.onnx');
    copyFileSync(modelPath('ocr-cls'), src);
    assert.equal((await run('convert', src)).code, 2, 'needs -o');
    assert.equal((await run('convert', src, '-o', join(tmp, 'x.onnx'), '--inline', '--external-data')).code, 2);
    const r = await run('convert', src, '-o', join(tmp, 'x.onnx'), '--external-data=lots');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a byte count/);
    assert.ok(!existsSync(join(tmp, 'x.onnx')));
  });
});
