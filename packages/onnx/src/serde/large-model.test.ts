/**
 * A model past protobuf's 2 GiB limit (tools/make-large-model.ts: ~2.25 GiB of float32 weights)
 * through saveModel → loadModel → saveModel and onnxruntime. Writes ~4.5 GB under the OS temp
 * folder and removes it afterwards; onnxruntime sessions are created one at a time.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { DEFAULT_TARGET_BYTES, makeLargeModel, tensorSeed, uniformBytes } from '../../../../tools/make-large-model.ts';
import type { Model } from '../ir/model.js';
import { loadModel, saveModel, storedTensors, type SaveResult } from './io.js';

const SEED = 7;
const FILE = 'model.onnx';
const TWO_GIB = 2 ** 31;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 8 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

function ms(t0: number): string {
  return `${(performance.now() - t0).toFixed(0)} ms`;
}

/** Runs the model at `path` once (seq = 2) and returns `y`; the session is released before returning. */
async function runOrt(
  path: string,
  x: Float32Array,
  hidden: number,
  label: string,
): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 2, interOpNumThreads: 1 });
  console.log(`  ort session create (${label}): ${ms(t0)}`);
  try {
    const t1 = performance.now();
    const out = await session.run({ x: new ort.Tensor('float32', x, [1, 2, hidden]) });
    console.log(`  ort run seq=2 (${label}): ${ms(t1)}`);
    const y = out.y;
    return { dims: y.dims, data: y.data as Float32Array };
  } finally {
    await session.release();
  }
}

describe('a model over 2 GiB (external data)', () => {
  const hidden = 4096;
  let dirA = '';
  let dirB = '';
  let model: Model;
  let loaded: Model;
  let first: SaveResult;
  let second: SaveResult;

  before(() => {
    dirA = mkdtempSync(join(tmpdir(), 'edgeforge-large-a-'));
    dirB = mkdtempSync(join(tmpdir(), 'edgeforge-large-b-'));
    model = makeLargeModel({ targetBytes: DEFAULT_TARGET_BYTES, seed: SEED, hidden });
    let t0 = performance.now();
    first = saveModel(model, join(dirA, FILE));
    console.log(`  save (generated weights): ${ms(t0)}`);
    t0 = performance.now();
    loaded = loadModel(join(dirA, FILE));
    console.log(`  load: ${ms(t0)}`);
    t0 = performance.now();
    second = saveModel(loaded, join(dirB, FILE));
    console.log(`  re-save (loaded model): ${ms(t0)}`);
  });

  after(() => {
    for (const d of [dirA, dirB]) if (d) rmSync(d, { recursive: true, force: true });
  });

  test('saveModel with default options moves the weights to a side file and keeps the .onnx small', () => {
    const weights = [...storedTensors(model)].reduce((s, x) => s + x.tensor.nbytes, 0);
    assert.ok(weights > TWO_GIB, `generated model has ${weights} bytes of weights, want > 2^31`);
    const files = readdirSync(dirA).sort();
    assert.deepEqual(files, [FILE, `${FILE}.data`], 'exactly the model and its side file, no temporary files');
    const onnxSize = statSync(join(dirA, FILE)).size;
    const dataSize = statSync(join(dirA, `${FILE}.data`)).size;
    console.log(`  .onnx ${onnxSize} bytes, .onnx.data ${dataSize} bytes, ${first.externalTensors} external tensors`);
    assert.equal(first.bytes, onnxSize);
    assert.equal(first.externalFile, join(dirA, `${FILE}.data`));
    assert.ok(onnxSize + dataSize > TWO_GIB, `model + side file are ${onnxSize + dataSize} bytes, want > 2^31`);
    assert.ok(
      onnxSize < 1 << 20,
      `the .onnx is ${onnxSize} bytes: with the weights in the side file it should be < 1 MB`,
    );
  });

  test('loadModel gives the same graph and initializers, and the weights read back as generated', () => {
    assert.equal(loaded.graph.nodeCount, model.graph.nodeCount);
    assert.deepEqual(
      loaded.graph.nodes().map((n) => n.opType),
      model.graph.nodes().map((n) => n.opType),
    );
    const sig = (m: Model) =>
      [...m.graph.initializers.values()].map((v) => ({ name: v.name, dtype: v.const?.dtype, dims: v.const?.dims }));
    assert.deepEqual(sig(loaded), sig(model));
    const names = [
      'layers.0.attn_norm.weight',
      'layers.0.attn.q_proj.weight',
      'layers.1.attn.v_proj.weight',
      'layers.2.mlp.down_proj.weight',
      'final_norm.bias',
    ];
    for (const name of names) {
      const want = model.graph.initializers.get(name)!.const!;
      const got = loaded.graph.initializers.get(name)!.const!;
      assert.ok(
        Buffer.from(got.bytes()).equals(Buffer.from(want.bytes())),
        `bytes of '${name}' differ from the generator's`,
      );
    }
    // …and the generator is what it claims: the first tensor is 1 ± 0.02 from the first tensor seed.
    const gamma = loaded.graph.initializers.get('layers.0.attn_norm.weight')!.const!;
    assert.ok(Buffer.from(gamma.bytes()).equals(Buffer.from(uniformBytes(hidden, tensorSeed(SEED, 0), 0.02, 1))));
  });

  test('loadModel leaves the weights in the side file (file ranges, nothing read)', () => {
    const data = join(dirA, `${FILE}.data`);
    const inline = [...loaded.graph.initializers.values()].filter(
      (v) => v.const!.nbytes >= 1 << 20 && v.const!.external?.path !== data,
    );
    assert.deepEqual(
      inline.map((v) => v.name),
      [],
      `${inline.length} weights of 1 MiB or more were loaded inline from the .onnx instead of staying external data`,
    );
  });

  test('re-saving the loaded model is byte-identical (.onnx and side file)', async () => {
    assert.equal(second.externalTensors, first.externalTensors);
    assert.equal(second.externalBytes, first.externalBytes);
    assert.deepEqual(readdirSync(dirB).sort(), readdirSync(dirA).sort());
    assert.ok(readFileSync(join(dirB, FILE)).equals(readFileSync(join(dirA, FILE))), '.onnx files differ');
    const dataA = join(dirA, `${FILE}.data`);
    const dataB = join(dirB, `${FILE}.data`);
    assert.equal(statSync(dataB).size, statSync(dataA).size);
    const t0 = performance.now();
    const [a, b] = await Promise.all([sha256(dataA), sha256(dataB)]);
    console.log(`  sha256 of both side files: ${ms(t0)}`);
    assert.equal(b, a, 'side files differ');
  });

  test('onnxruntime runs the saved and the re-saved model with bitwise-identical, finite outputs', async () => {
    const x = new Float32Array(uniformBytes(2 * hidden, 12345, 1).buffer);
    const yA = await runOrt(join(dirA, FILE), x, hidden, 'saved');
    const yB = await runOrt(join(dirB, FILE), x, hidden, 're-saved');
    assert.deepEqual(yA.dims, [1, 2, hidden]);
    assert.ok(yA.data.every(Number.isFinite), 'y has non-finite values');
    assert.ok(
      yA.data.some((v) => v !== 0),
      'y is all zeros',
    );
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    assert.ok(bytes(yB.data).equals(bytes(yA.data)), 'outputs differ between the saved and re-saved model');
  });

  test('saveModel with inline: true refuses with a clear error and writes nothing', () => {
    const before = readdirSync(dirA).sort();
    const stamp = statSync(join(dirA, FILE)).mtimeMs;
    assert.throws(() => saveModel(model, join(dirA, FILE), { inline: true }), /2 GiB/);
    assert.throws(() => saveModel(model, join(dirA, 'other.onnx'), { inline: true }), /2 GiB/);
    assert.deepEqual(readdirSync(dirA).sort(), before, 'no new or temporary files');
    assert.equal(statSync(join(dirA, FILE)).mtimeMs, stamp, 'the existing model was not touched');
  });
});
