/**
 * The round-trip corpus: every model of ONNX's conformance suite (Debian libonnx-testdata) and the
 * real models. load → save → load loses nothing: the saved bytes equal the original file, a second
 * save equals the first, and onnxruntime-node gives bitwise-identical outputs on the suite's own
 * reference inputs.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureModels, modelPath, type ModelName } from '../../../../tools/models.ts';
import { diffOutputs, ort, ortLoads, readTensorPb, runFile, toOrt } from '../testing/ort.js';
import { loadModel, saveModel, serializeModel } from './io.js';

const SUITE = '/usr/share/libonnx-testdata/data';

function suiteModels(): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const cat of readdirSync(SUITE).sort()) {
    for (const t of readdirSync(join(SUITE, cat)).sort()) {
      if (existsSync(join(SUITE, cat, t, 'model.onnx'))) out.push({ name: `${cat}/${t}`, dir: join(SUITE, cat, t) });
    }
  }
  return out;
}

const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('conformance suite round trip', () => {
  let tmp: string;
  before(() => (tmp = mkdtempSync(join(tmpdir(), 'edgeforge-rt-'))));
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('is installed (apt-get install libonnx-testdata)', () => {
    assert.ok(existsSync(SUITE), `${SUITE} is missing: apt-get install libonnx-testdata`);
    assert.ok(suiteModels().length > 1000);
  });

  it('re-encodes every model byte-identically, and a second save equals the first', () => {
    const models = suiteModels();
    let identicalToOriginal = 0;
    const unstable: string[] = [];
    for (const { name, dir } of models) {
      const original = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
      const first = serializeModel(loadModel(join(dir, 'model.onnx')));
      const p = join(tmp, 'first.onnx');
      writeFileSync(p, first);
      const second = serializeModel(loadModel(p));
      if (!same(first, second)) unstable.push(name);
      if (same(first, original)) identicalToOriginal++;
    }
    console.log(
      `conformance: ${models.length} models, ${identicalToOriginal} saved byte-identical to the original file, ${models.length - unstable.length} second saves identical to the first`,
    );
    assert.deepEqual(unstable, []);
    assert.equal(identicalToOriginal, models.length);
  });

  it('gives bitwise-identical onnxruntime outputs on the reference inputs', async () => {
    const s = { models: 0, ran: 0, rejectedByOrtBoth: 0, nonTensorInputs: 0, runFailsBoth: 0 };
    const problems: string[] = [];
    for (const { name, dir } of suiteModels()) {
      s.models++;
      const src = join(dir, 'model.onnx');
      const model = loadModel(src);
      const out = join(tmp, 'rt.onnx');
      saveModel(model, out);
      const [e1, e2] = [await ortLoads(src), await ortLoads(out)];
      if (e1 || e2) {
        if (!e1 !== !e2) problems.push(`${name}: onnxruntime loads only one of original/round-trip: ${e1 ?? e2}`);
        else s.rejectedByOrtBoth++;
        continue;
      }
      const inputs = model.graph.inputs.filter((v) => !v.isInitializer());
      const feeds: Record<string, ort.Tensor> = {};
      let tensorsOnly = true;
      for (let i = 0; i < inputs.length && tensorsOnly; i++) {
        const t =
          inputs[i].type?.kind === 'tensor' ? readTensorPb(join(dir, 'test_data_set_0', `input_${i}.pb`)) : undefined;
        if (!t) tensorsOnly = false;
        else feeds[inputs[i].name] = toOrt(t);
      }
      if (!tensorsOnly) {
        s.nonTensorInputs++;
        continue;
      }
      let r1, r2;
      try {
        r1 = await runFile(src, feeds);
      } catch {
        r1 = undefined;
      }
      try {
        r2 = await runFile(out, feeds);
      } catch {
        r2 = undefined;
      }
      if (!r1 || !r2) {
        if (!r1 !== !r2) problems.push(`${name}: only one of original/round-trip runs`);
        else s.runFailsBoth++;
        continue;
      }
      const d = diffOutputs(r1, r2);
      if (d) problems.push(`${name}: ${d}`);
      else s.ran++;
    }
    console.log(
      `conformance on onnxruntime-node: ${s.ran}/${s.models} models ran with bitwise-identical outputs; ` +
        `${s.rejectedByOrtBoth} rejected by onnxruntime (original and round trip alike), ${s.nonTensorInputs} with sequence/optional/map inputs (load-checked only), ${s.runFailsBoth} fail to run in both`,
    );
    assert.deepEqual(problems, []);
    assert.ok(s.ran > 950, `only ${s.ran} models ran`);
  });
});

/** Deterministic pseudo-random floats in [lo, hi). */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
function floats(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
}

/** Realistic inputs for each real model: image-like tensors for OCR, audio-like frames for Silero. */
function realFeeds(name: ModelName): Record<string, ort.Tensor> {
  const image = (h: number, w: number) => new ort.Tensor('float32', floats(3 * h * w, 7, -1, 1), [1, 3, h, w]);
  const audio = () => {
    const r = prng(3);
    const a = new Float32Array(512);
    for (let i = 0; i < a.length; i++) a[i] = 0.3 * Math.sin((2 * Math.PI * 220 * i) / 16000) + 0.05 * (r() - 0.5);
    return new ort.Tensor('float32', a, [1, 512]);
  };
  const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), []);
  switch (name) {
    case 'ocr-det':
      return { x: image(320, 320) };
    case 'ocr-rec':
      return { x: image(48, 320) };
    case 'ocr-cls':
      return { x: image(48, 192) };
    case 'silero-legacy':
      return {
        input: audio(),
        sr,
        h: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
        c: new ort.Tensor('float32', new Float32Array(128), [2, 1, 64]),
      };
    case 'silero-v5':
      return { input: audio(), state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]), sr };
  }
}

describe('real models round trip', () => {
  let tmp: string;
  before(async () => {
    await ensureModels();
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-rt-real-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  for (const name of ['ocr-det', 'ocr-rec', 'ocr-cls', 'silero-legacy', 'silero-v5'] as const) {
    it(`${name}: byte-identical save, stable second save, bitwise-identical outputs`, async () => {
      const src = modelPath(name);
      const original = new Uint8Array(readFileSync(src));
      const out1 = join(tmp, `${name}.onnx`);
      saveModel(loadModel(src), out1);
      const first = new Uint8Array(readFileSync(out1));
      assert.ok(same(first, original), 'saved bytes differ from the original file');
      const out2 = join(tmp, `${name}-2.onnx`);
      saveModel(loadModel(out1), out2);
      assert.ok(same(new Uint8Array(readFileSync(out2)), first), 'second save differs from the first');
      const feeds = realFeeds(name);
      const d = diffOutputs(await runFile(src, feeds), await runFile(out1, feeds));
      assert.equal(d, undefined, d);
    });
  }
});
