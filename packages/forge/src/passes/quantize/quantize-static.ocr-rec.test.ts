/**
 * quantize-static on the PP-OCRv4 recogniser (paddle2onnx, opset 9, weights in Constant nodes):
 * raised to opset 13 for per-channel weights, percentile calibration (99.999) on 16 rendered text
 * lines (a different seed from the evaluation lines), valid, every Conv and MatMul an int8 kernel;
 * exact match and CER (ocrAccuracy) in onnxruntime-node and onnxruntime-web (wasm) against the
 * float model. (Min/max calibration, measured on 100 lines: 98% exact after 16 calibration lines,
 * 94% after 32 — more data, wider ranges from rare activation outliers; percentile: 99–100%.)
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadModelFromBytes, serializeModel } from '@edgeforge/onnx';
import { ensureModels, ocrKeysPath } from '../../../../../tools/models.ts';
import { ocrAccuracy, type OcrRunner } from '../../evaluate/ocr/check.js';
import { ocrCorpus } from '../../evaluate/ocr/corpus.js';
import { loadOcrKeys } from '../../evaluate/ocr/ctc.js';
import type { Session } from '../../runtime/index.js';
import { parseQuantizeStaticOptions, quantizeStatic } from './quantize-static.js';
import { assertValid, count } from '../testing/fuse-harness.js';
import { ocrBatches, optimizedFloat, optimizedOps, withSession, renderOcrLine } from './testing/static-testing.js';

describe('quantize-static: PaddleOCR recogniser', () => {
  before(() => ensureModels());

  it('ocr-rec: percentile calibration on 16 rendered lines, exact match within a few points of float', async () => {
    const model = await optimizedFloat('ocr-rec');
    const floatBytes = serializeModel(model);
    const q = loadModelFromBytes(floatBytes);
    const r = await quantizeStatic(
      q,
      parseQuantizeStaticOptions({ calibrateMethod: 'percentile' }),
      ocrBatches(ocrCorpus(16, 7).map(renderOcrLine), 8),
    );
    assertValid(q);
    assert.equal(q.opset, 13);
    const bytes = serializeModel(q);
    const ops = await optimizedOps(bytes);
    console.log(`ocr-rec: ${JSON.stringify(r.report.counts)}; onnxruntime optimized: ${JSON.stringify(ops)}`);
    assert.equal(ops.QLinearConv, count(model, 'Conv'));
    assert.equal(ops.QLinearMatMul, count(model, 'MatMul'));

    const vocab = loadOcrKeys(ocrKeysPath());
    const read = (lines: string[]) => async (s: Session) => {
      const runner: OcrRunner = async (x) => {
        const y = Object.values(await s.run({ x: { type: 'float32', dims: x.dims, data: x.data } }))[0];
        return { data: y.data as Float32Array, dims: y.dims };
      };
      return ocrAccuracy(runner, lines, { keys: vocab });
    };
    const lines = ocrCorpus(40);
    const float = await withSession(floatBytes, 'node', read(lines));
    const node = await withSession(bytes, 'node', read(lines));
    const wasm = await withSession(bytes, 'wasm', read(lines.slice(0, 20)));
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log(
      `ocr-rec exact match: float ${pct(float.exactMatch)} (CER ${pct(float.charErrorRate)}), int8 node ` +
        `${pct(node.exactMatch)} (CER ${pct(node.charErrorRate)}) on ${lines.length} lines; int8 wasm ` +
        `${pct(wasm.exactMatch)} (CER ${pct(wasm.charErrorRate)}) on 20; bytes ${floatBytes.length} → ${bytes.length}`,
    );
    for (const l of node.perLine)
      if (!l.ok) console.log(`  int8 misread ${JSON.stringify(l.text)} → ${JSON.stringify(l.read)}`);
    assert.ok(float.exactMatch >= 0.98);
    assert.ok(node.exactMatch >= float.exactMatch - 0.05, `int8 node ${node.exactMatch}`);
    assert.ok(wasm.exactMatch >= float.exactMatch - 0.1, `int8 wasm ${wasm.exactMatch}`);
    assert.ok(node.charErrorRate <= 0.01 && wasm.charErrorRate <= 0.02);
    assert.ok(bytes.length < 0.3 * floatBytes.length);
  });
});
