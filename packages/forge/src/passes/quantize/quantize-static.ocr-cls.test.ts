/**
 * quantize-static on PaddleOCR's direction classifier (paddle2onnx, opset 9, weights in Constant
 * nodes): raised to opset 13 for per-channel weights, min/max calibration on rendered text lines
 * (upright and upside down, a different seed from the evaluation lines), valid, every Conv an int8
 * kernel, and onnxruntime-node and onnxruntime-web (wasm) read the direction as the float model does.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadModelFromBytes, serializeModel } from '@edgeforge/onnx';
import { ensureModels } from '../../../../../tools/models.ts';
import { ocrCorpus } from '../../evaluate/ocr/corpus.js';
import { preprocessBatch } from '../../evaluate/ocr/preprocess.js';
import type { Session } from '../../runtime/index.js';
import { parseQuantizeStaticOptions, quantizeStatic } from './quantize-static.js';
import { assertValid, count } from '../testing/fuse-harness.js';
import {
  ocrBatches,
  optimizedFloat,
  optimizedOps,
  withSession,
  renderOcrLine,
  rotate180,
} from './testing/static-testing.js';

/** PaddleOCR's direction classifier input: height 48, width up to and padded to 192. */
const CLS = { maxWidth: 192, minWidth: 192 };

describe('quantize-static: PaddleOCR direction classifier', () => {
  before(() => ensureModels());

  it('ocr-cls: opset 9 → 13, int8 kernels, node and wasm read the direction as the float model does', async () => {
    const model = await optimizedFloat('ocr-cls');
    const floatBytes = serializeModel(model);
    const cal = ocrCorpus(24, 7).map(renderOcrLine);
    const q = loadModelFromBytes(floatBytes);
    const r = await quantizeStatic(
      q,
      parseQuantizeStaticOptions({}),
      ocrBatches([...cal, ...cal.map(rotate180)], 8, CLS),
    );
    assertValid(q);
    assert.equal(q.opset, 13);
    const bytes = serializeModel(q);
    const ops = await optimizedOps(bytes);
    console.log(`ocr-cls: ${JSON.stringify(r.report.counts)}; onnxruntime optimized: ${JSON.stringify(ops)}`);
    assert.equal(ops.QLinearConv, count(model, 'Conv'));
    assert.equal(ops.Conv ?? 0, 0);

    const lines = ocrCorpus(50, 3).map(renderOcrLine);
    const images = [...lines, ...lines.map(rotate180)];
    const truth = images.map((_, i) => (i < lines.length ? 0 : 1));
    const directions = (s: Session) =>
      (async () => {
        const out: number[] = [];
        for (let i = 0; i < images.length; i += 25) {
          const { tensor } = preprocessBatch(images.slice(i, i + 25), CLS);
          const y = Object.values(await s.run({ x: { type: 'float32', dims: tensor.dims, data: tensor.data } }))[0];
          const p = y.data as Float32Array;
          for (let k = 0; k < y.dims[0]; k++) out.push(p[2 * k + 1] > p[2 * k] ? 1 : 0);
        }
        return out;
      })();
    const float = await withSession(floatBytes, 'node', directions);
    const node = await withSession(bytes, 'node', directions);
    const wasm = await withSession(bytes, 'wasm', directions);
    const acc = (p: number[]) => p.filter((x, i) => x === truth[i]).length / p.length;
    const agree = (p: number[]) => p.filter((x, i) => x === float[i]).length / p.length;
    console.log(
      `ocr-cls on ${images.length} lines (half upside down): direction accuracy float ${acc(float)}, int8 node ${acc(node)}, ` +
        `int8 wasm ${acc(wasm)}; agreement with float: node ${agree(node)}, wasm ${agree(wasm)}; ` +
        `bytes ${floatBytes.length} → ${bytes.length}`,
    );
    assert.ok(acc(float) >= 0.98);
    assert.ok(agree(node) >= 0.98 && agree(wasm) >= 0.98, `${agree(node)} ${agree(wasm)}`);
  });
});
