import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureModels, modelPath, ocrKeysPath } from '../../../../../tools/models.ts';
import { editDistance, normalizeOcrText, ocrAccuracy, type OcrRunner } from './check.js';
import { OCR_CORPUS_MAX_CHARS, OCR_CORPUS_MIN_CHARS, ocrCorpus } from './corpus.js';
import { ctcDecodeBatch, ctcGreedyDecode, loadOcrKeys, parseOcrKeys, type OcrVocabulary } from './ctc.js';
import { preprocessBatch, resizedWidth } from './preprocess.js';
import { OcrFontError, renderLine, type RgbImage } from './render.js';

/** A `classes`-wide one-hot-ish row per step: `p` on the chosen class, the rest spread evenly. */
function probs(path: readonly number[], classes: number, p = 0.9): Float32Array {
  const out = new Float32Array(path.length * classes).fill((1 - p) / (classes - 1));
  path.forEach((k, t) => (out[t * classes + k] = p));
  return out;
}

function solid(width: number, height: number, rgb: readonly [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

describe('ocr: CTC greedy decoding', () => {
  // classes: 0 blank, 1 'a', 2 'b', 3 'c', 4 ' '
  const vocab = parseOcrKeys('a\nb\nc\n');

  it('builds blank + one class per line + space, ignoring the final newline', () => {
    assert.deepEqual(vocab.chars, ['', 'a', 'b', 'c', ' ']);
    assert.equal(vocab.index.get('a'), 1);
    assert.equal(vocab.index.get(' '), 4);
    assert.deepEqual(parseOcrKeys('a\r\nb').chars, ['', 'a', 'b', ' ']);
    assert.deepEqual(parseOcrKeys('a\nb', { spaceChar: false }).chars, ['', 'a', 'b']);
  });

  it('collapses repeats, keeps repeats separated by a blank, drops blanks, maps the space class', () => {
    const path = [0, 1, 1, 0, 1, 2, 2, 4, 4, 3, 0, 0];
    const r = ctcGreedyDecode(probs(path, 5), path.length, 5, vocab);
    assert.equal(r.text, 'aab c');
    assert.ok(Math.abs(r.confidence - 0.9) < 1e-6, `confidence ${r.confidence}`);
    assert.equal(ctcGreedyDecode(probs([0, 0, 0], 5), 3, 5, vocab).text, '');
    assert.equal(ctcGreedyDecode(probs([0, 0, 0], 5), 3, 5, vocab).confidence, 0);
  });

  it('confidence is the mean of the first step of each emitted run', () => {
    const p = probs([1, 1, 2], 5);
    p[0 * 5 + 1] = 0.6; // first 'a' step
    p[1 * 5 + 1] = 0.99; // repeat: not counted
    p[2 * 5 + 2] = 0.8;
    const r = ctcGreedyDecode(p, 3, 5, vocab);
    assert.equal(r.text, 'ab');
    assert.ok(Math.abs(r.confidence - 0.7) < 1e-6, `confidence ${r.confidence}`);
  });

  it('decodes an [N, T, C] batch and rejects a class count that does not match the keys', () => {
    const a = probs([1, 0, 2, 2], 5);
    const b = probs([3, 4, 3, 0], 5);
    const data = new Float32Array([...a, ...b]);
    const out = ctcDecodeBatch({ data, dims: [2, 4, 5] }, vocab);
    assert.deepEqual(
      out.map((r) => r.text),
      ['ab', 'c c'],
    );
    assert.throws(() => ctcDecodeBatch({ data, dims: [2, 5, 4] }, vocab), /4 classes, the keys file gives 5/);
    assert.throws(() => ctcDecodeBatch({ data, dims: [8, 5] }, vocab), /expected output \[N, T, C\]/);
  });
});

describe('ocr: preprocessing', () => {
  it('resizes to height 48 keeping the aspect ratio, pads right with 0 to a multiple of 8', () => {
    const white = solid(20, 10, [255, 255, 255]);
    const black = solid(41, 10, [0, 0, 0]);
    const { tensor, widths } = preprocessBatch([white, black], { minWidth: 0 });
    assert.deepEqual(widths, [96, 197]); // ceil(48 * 41 / 10) = 197
    assert.deepEqual(tensor.dims, [2, 3, 48, 200]);
    assert.equal(tensor.data.length, 2 * 3 * 48 * 200);
    const at = (n: number, c: number, y: number, x: number): number => tensor.data[((n * 3 + c) * 48 + y) * 200 + x];
    for (let c = 0; c < 3; c++) {
      for (const y of [0, 23, 47]) {
        assert.equal(at(0, c, y, 0), 1); // white → (1 - 0.5) / 0.5
        assert.equal(at(0, c, y, 95), 1);
        assert.equal(at(0, c, y, 96), 0); // padding
        assert.equal(at(0, c, y, 199), 0);
        assert.equal(at(1, c, y, 196), -1); // black
        assert.equal(at(1, c, y, 197), 0);
      }
    }
    let min = Infinity;
    let max = -Infinity;
    for (const v of tensor.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    assert.deepEqual([min, max], [-1, 1]);
  });

  it('pads to at least 320 by default (PaddleOCR) and caps the width at maxWidth', () => {
    assert.deepEqual(preprocessBatch([solid(20, 10, [255, 255, 255])]).tensor.dims, [1, 3, 48, 320]);
    const long = solid(1000, 10, [255, 255, 255]);
    assert.equal(resizedWidth(long), 1280);
    assert.equal(resizedWidth(long, { maxWidth: 320 }), 320);
    assert.deepEqual(preprocessBatch([long], { maxWidth: 500 }).tensor.dims, [1, 3, 48, 504]);
  });

  it('interpolates bilinearly, values stay in [-1, 1], and orders channels BGR by default', () => {
    // left half red, right half blue: a horizontal ramp appears at the border only
    const im = solid(8, 4, [255, 0, 0]);
    for (let y = 0; y < 4; y++) for (let x = 4; x < 8; x++) im.data.set([0, 0, 255], (y * 8 + x) * 3);
    const bgr = preprocessBatch([im], { height: 8, minWidth: 0 }).tensor; // 16 wide
    const rgb = preprocessBatch([im], { height: 8, minWidth: 0, channelOrder: 'rgb' }).tensor;
    assert.deepEqual(bgr.dims, [1, 3, 8, 16]);
    const px = (t: typeof bgr, c: number, x: number): number => t.data[c * 8 * 16 + 3 * 16 + x];
    assert.equal(px(bgr, 2, 0), 1); // R is channel 2 in BGR
    assert.equal(px(bgr, 0, 0), -1);
    assert.equal(px(rgb, 0, 0), 1);
    assert.equal(px(rgb, 2, 15), 1);
    const ramp = [6, 7, 8, 9].map((x) => px(rgb, 0, x));
    assert.ok(ramp[0] > ramp[1] && ramp[1] > ramp[2] && ramp[2] > ramp[3], `ramp ${ramp.join(' ')}`);
    for (const v of rgb.data) assert.ok(v >= -1 && v <= 1);
  });

  it('rejects a malformed image', () => {
    assert.throws(() => preprocessBatch([{ width: 4, height: 4, data: new Uint8Array(10) }]), /10 bytes for 4×4 RGB/);
    assert.throws(() => preprocessBatch([]), /no images/);
  });
});

describe('ocr: rendering and corpus', () => {
  it('renders black text on white, deterministically, with one line height per font and size', () => {
    const a = renderLine('Invoice 42', { font: 'serif', size: 32 });
    const b = renderLine('Invoice 42', { font: 'serif', size: 32 });
    assert.deepEqual(a, b);
    assert.equal(a.data.length, a.width * a.height * 3);
    assert.equal(
      renderLine('ace', { font: 'serif', size: 32 }).height,
      renderLine('gjy|', { font: 'serif', size: 32 }).height,
    );
    assert.ok(a.height >= 32 && a.height < 64, `height ${a.height}`);
    let dark = 0;
    for (let i = 0; i < a.data.length; i++) if (a.data[i] < 64) dark++;
    assert.ok(dark > 100, `dark ${dark}`);
    // the margin is white
    for (let y = 0; y < a.height; y++)
      for (const x of [0, 1, a.width - 2, a.width - 1]) assert.equal(a.data[(y * a.width + x) * 3], 255);
    assert.ok(renderLine('Invoice 42', { font: 'serif', size: 40 }).width > a.width);
  });

  it('names the Debian package when a font file is missing', () => {
    assert.throws(
      () => renderLine('x', { font: { name: 'gone', file: '/nonexistent/Gone.ttf', aptPackage: 'fonts-gone' } }),
      (e: Error) => e instanceof OcrFontError && /apt-get install -y fonts-gone/.test(e.message),
    );
    assert.throws(() => renderLine('x', { font: 'comic' }), /unknown OCR font "comic"/);
  });

  it('the corpus is deterministic, distinct, 5–30 characters, and every character is in the keys file', async () => {
    await ensureModels();
    const keys = loadOcrKeys(ocrKeysPath());
    const lines = ocrCorpus(300);
    assert.deepEqual(ocrCorpus(300), lines);
    assert.notDeepEqual(ocrCorpus(300, 7), lines);
    assert.equal(new Set(lines).size, 300);
    for (const l of lines) {
      assert.ok(l.length >= OCR_CORPUS_MIN_CHARS && l.length <= OCR_CORPUS_MAX_CHARS, JSON.stringify(l));
      for (const c of l) assert.ok(keys.index.has(c), `${JSON.stringify(c)} of ${JSON.stringify(l)} not in keys`);
    }
    const all = lines.join('');
    for (const re of [/[a-z]/, /[A-Z]/, /[0-9]/, /[$%@#&]/, /[.,:;!?]/, /[()[\]"]/]) assert.match(all, re);
  });

  it('edit distance and the comparison normalization', () => {
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('abc', 'abc'), 0);
    assert.equal(normalizeOcrText('Sep 2，2014 （x）＋'), 'Sep2,2014(x)+');
    assert.equal(normalizeOcrText('a b', { ignoreSpace: false }), 'a b');
    assert.equal(normalizeOcrText('（', { foldWidth: false }), '（');
  });
});

describe('ocr: PP-OCRv4 recogniser reads rendered lines', () => {
  let session: ort.InferenceSession;
  let vocab: OcrVocabulary;
  let runner: OcrRunner;
  before(async () => {
    await ensureModels();
    vocab = loadOcrKeys(ocrKeysPath());
    session = await ort.InferenceSession.create(modelPath('ocr-rec'), { intraOpNumThreads: 2 });
    runner = async (x) => {
      const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.dims) });
      const y = out[session.outputNames[0]];
      return { data: y.data as Float32Array, dims: [...y.dims] };
    };
  });

  it('the keys file matches the model: 6625 classes', () => {
    assert.equal(vocab.chars.length, 6625);
    assert.equal(vocab.chars[0], '');
    assert.equal(vocab.chars[6624], ' ');
  });

  it('reads ≥ 98% of 200 clean lines exactly', async () => {
    const lines = ocrCorpus(200);
    const started = performance.now();
    const r = await ocrAccuracy(runner, lines, { keys: vocab });
    const ms = performance.now() - started;
    console.log(
      `ocr-rec fp32: ${r.lines} lines, exact match ${(r.exactMatch * 100).toFixed(2)}%, CER ${(r.charErrorRate * 100).toFixed(3)}%` +
        ` (strict, spaces and full-width forms counted: ${(r.strict.exactMatch * 100).toFixed(2)}%, CER ${(r.strict.charErrorRate * 100).toFixed(3)}%)` +
        `, mean confidence ${r.meanConfidence.toFixed(4)}, ${ms.toFixed(0)} ms`,
    );
    for (const l of r.perLine) {
      if (l.text !== l.read)
        console.log(
          `  ${l.ok ? 'ok after normalization' : 'MISREAD'} [${l.font} ${l.size}px] ${JSON.stringify(l.text)} → ${JSON.stringify(l.read)} (${l.confidence.toFixed(3)})`,
        );
    }
    assert.equal(r.lines, 200);
    assert.equal(r.perLine.length, 200);
    assert.deepEqual(
      r.perLine.map((l) => l.text),
      lines,
    );
    assert.ok(r.exactMatch >= 0.98, `exact match ${r.exactMatch}`);
    assert.ok(r.strict.exactMatch >= 0.95, `strict exact match ${r.strict.exactMatch}`);
    assert.ok(r.charErrorRate <= 0.005, `CER ${r.charErrorRate}`);
    assert.ok(r.meanConfidence > 0.95, `mean confidence ${r.meanConfidence}`);
  });

  it('shows damage: the same lines through a noisy input path read far worse', async () => {
    // Deterministic uniform noise on the normalized input, a stand-in for a badly compressed model.
    let s = 12345;
    const noise = (): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s / 4294967296 - 0.5;
    };
    const noisy: OcrRunner = (x) => {
      const data = x.data.map((v) => v + 2.4 * noise());
      return runner({ data, dims: x.dims });
    };
    const lines = ocrCorpus(48, 99);
    const clean = await ocrAccuracy(runner, lines, { keys: vocab });
    const bad = await ocrAccuracy(noisy, lines, { keys: vocab });
    console.log(
      `ocr-rec with input noise: exact match ${(bad.exactMatch * 100).toFixed(1)}% (clean ${(clean.exactMatch * 100).toFixed(1)}%), CER ${(bad.charErrorRate * 100).toFixed(2)}% (clean ${(clean.charErrorRate * 100).toFixed(2)}%)`,
    );
    assert.ok(clean.exactMatch >= 0.95, `clean ${clean.exactMatch}`);
    assert.ok(bad.exactMatch < clean.exactMatch - 0.2, `noisy ${bad.exactMatch} vs clean ${clean.exactMatch}`);
    assert.ok(bad.charErrorRate > clean.charErrorRate + 0.02, `noisy CER ${bad.charErrorRate}`);
  });

  it('rejects lines the keys cannot spell and a runner that returns the wrong batch', async () => {
    await assert.rejects(ocrAccuracy(runner, ['check ✓'], { keys: vocab }), /not in the keys: "✓"/);
    await assert.rejects(ocrAccuracy(runner, [' padded'], { keys: vocab }), /leading, trailing/);
    const short: OcrRunner = async (x) => {
      const y = await runner(x);
      const per = y.dims[1] * y.dims[2];
      return { data: y.data.subarray(0, per), dims: [1, y.dims[1], y.dims[2]] };
    };
    await assert.rejects(ocrAccuracy(short, ['one line', 'two lines'], { keys: vocab }), /for a batch of 2/);
  });
});
