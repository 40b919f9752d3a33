import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { GraphBuilder, floatTensor } from '../ir/builder.js';
import { DataType } from '../ir/dtype.js';
import { toFloat32 } from '../ir/tensor.js';
import { diffOutputs, ort, runFile } from '../testing/ort.js';
import { loadModel, saveModel, storedTensors } from './io.js';

function smallModel() {
  const b = new GraphBuilder('g');
  const x = b.input('x', DataType.FLOAT, [1, 64]);
  const w = b.initializer(
    'w',
    floatTensor(
      [64, 64],
      Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i)),
    ),
  );
  const bias = b.initializer(
    'bias',
    floatTensor(
      [64],
      Float32Array.from({ length: 64 }, (_, i) => i / 64),
    ),
  );
  b.output(b.op('Add', [b.op('MatMul', [x, w]), bias]), 'y', DataType.FLOAT, [1, 64]);
  return b.model({ opset: 13 });
}

describe('external data', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-ext-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('moves tensors over the threshold to a side file and back, outputs bitwise equal', async () => {
    const src = modelPath('ocr-cls');
    const dir = join(tmp, 'cls');
    rmSync(dir, { recursive: true, force: true });
    freshDir(dir);
    // PaddleOCR keeps weights in Constant nodes: attribute tensors move too.
    const ext = join(dir, 'cls.onnx');
    const res = saveModel(loadModel(src), ext, { externalDataThreshold: 1024 });
    assert.ok(res.externalTensors > 20, `${res.externalTensors} tensors external`);
    assert.ok(existsSync(join(dir, 'cls.onnx.data')));
    assert.ok(statSync(ext).size < statSync(src).size / 4, 'weights left the .onnx file');
    const loaded = loadModel(ext);
    const externals = [...storedTensors(loaded)].filter((t) => t.tensor.external);
    assert.equal(externals.length, res.externalTensors);
    assert.ok(externals.every((t) => t.tensor.nbytes >= 1024));
    const back = join(dir, 'inline.onnx');
    saveModel(loaded, back, { inline: true });
    assert.ok([...storedTensors(loadModel(back))].every((t) => !t.tensor.external));
    assert.deepEqual(readFileSync(back), readFileSync(src), 'inlining again restores the original bytes');
    const feeds = {
      x: new ort.Tensor(
        'float32',
        Float32Array.from({ length: 3 * 48 * 192 }, (_, i) => Math.cos(i)),
        [1, 3, 48, 192],
      ),
    };
    const base = await runFile(src, feeds);
    assert.equal(diffOutputs(base, await runFile(ext, feeds)), undefined);
    assert.equal(diffOutputs(base, await runFile(back, feeds)), undefined);
  });

  it('reads external bytes lazily, when asked', () => {
    const dir = join(tmp, 'lazy');
    freshDir(dir);
    const p = join(dir, 'm.onnx');
    saveModel(smallModel(), p, { externalDataThreshold: 0 });
    const m = loadModel(p);
    const w = m.graph.initializers.get('w')!.const!;
    assert.equal(w.kind, 'proto');
    assert.ok(w.external);
    // Rewrite the side file after loading: the tensor sees the new bytes, so nothing was read at load.
    const data = readFileSync(join(dir, 'm.onnx.data'));
    const patched = Buffer.from(data);
    new Float32Array(patched.buffer, patched.byteOffset + w.external!.offset, 1)[0] = 42;
    writeFileSync(join(dir, 'm.onnx.data'), patched);
    assert.equal(toFloat32(w)[0], 42);
  });

  it('re-saving an external-data model keeps tensors external beside the new file', () => {
    const dir = join(tmp, 'resave');
    freshDir(dir);
    const p = join(dir, 'a.onnx');
    saveModel(smallModel(), p, { externalDataThreshold: 1024 });
    const out = join(dir, 'b.onnx');
    const r = saveModel(loadModel(p), out);
    assert.equal(r.externalTensors, 1, 'only w (16 KiB) is over 1 KiB');
    assert.ok(existsSync(join(dir, 'b.onnx.data')));
    assert.deepEqual(
      toFloat32(loadModel(out).graph.initializers.get('w')!.const!),
      toFloat32(smallModel().graph.initializers.get('w')!.const!),
    );
  });

  it('saving over the loaded file keeps every tensor readable', () => {
    const dir = join(tmp, 'inplace');
    freshDir(dir);
    const p = join(dir, 'm.onnx');
    const expected = [...storedTensors(loadModel(modelPath('ocr-cls')))].map((x) => Buffer.from(x.tensor.bytes()));
    saveModel(loadModel(modelPath('ocr-cls')), p, { externalDataThreshold: 0 });
    const m = loadModel(p);
    // A different layout in the same side file: offsets move, small tensors come back inline.
    saveModel(m, p, { externalDataThreshold: 1024 });
    const inMemory = [...storedTensors(m)].map((x) => Buffer.from(x.tensor.bytes()));
    assert.deepEqual(inMemory, expected);
    const reloaded = [...storedTensors(loadModel(p))].map((x) => Buffer.from(x.tensor.bytes()));
    assert.deepEqual(reloaded, expected);
  });

  it('names the problem when the side file is missing or short', () => {
    const dir = join(tmp, 'broken');
    freshDir(dir);
    const p = join(dir, 'm.onnx');
    saveModel(smallModel(), p, { externalDataThreshold: 0 });
    const data = join(dir, 'm.onnx.data');
    truncateSync(data, 100);
    assert.throws(
      () => loadModel(p),
      (e: Error) =>
        /m\.onnx: external data file 'm\.onnx\.data' is 100 bytes, tensor '\w+' needs bytes/.test(e.message),
    );
    rmSync(data);
    assert.throws(() => loadModel(p), /external data file 'm\.onnx\.data' of tensor '\w+' is missing/);
  });

  it('refuses external data paths that leave the model folder', () => {
    const dir = join(tmp, 'escape');
    freshDir(dir);
    const p = join(dir, 'm.onnx');
    saveModel(smallModel(), p, { externalDataThreshold: 0, externalDataLocation: 'm.bin' });
    // A same-length substitution keeps the protobuf valid.
    const evil = Buffer.from(readFileSync(p).toString('latin1').replaceAll('m.bin', '../mb'), 'latin1');
    writeFileSync(p, evil);
    assert.throws(() => loadModel(p), /must be a relative path inside the model's folder/);
  });

  it('an atomic save leaves nothing behind when it fails', () => {
    const dir = join(tmp, 'atomic');
    freshDir(dir);
    const src = join(dir, 'src.onnx');
    saveModel(smallModel(), src, { externalDataThreshold: 0 });
    const loaded = loadModel(src);
    // The side file vanishes between load and save: the save fails midway and cleans up.
    rmSync(join(dir, 'src.onnx.data'));
    assert.throws(() => saveModel(loaded, join(dir, 'out.onnx')), /ENOENT|no such file/);
    assert.deepEqual(readdirSync(dir).sort(), ['src.onnx']);
  });
});

function freshDir(d: string) {
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
}

describe('inline tensors', () => {
  before(ensureModels);
  it('are views into the file buffer, not copies', () => {
    const model = loadModel(modelPath('ocr-cls'));
    const raw = [...storedTensors(model)].map((x) => x.tensor.bytes()).filter((b) => b.byteLength > 0);
    assert.ok(raw.length > 50);
    const buffer = raw[0].buffer;
    assert.ok(
      raw.every((b) => b.buffer === buffer),
      'every tensor shares one buffer',
    );
    assert.ok(buffer.byteLength >= statSync(modelPath('ocr-cls')).size);
  });
});
