/**
 * quantize-dynamic on the reference text classifier (models/reference/spam-transformer.onnx, a
 * 2-layer torch TransformerEncoder, opset 17): every projection MatMul and Gemm gets int8 weights,
 * the two attention-score MatMuls per layer (activation × activation) stay float, and top-1 on the
 * whole SpamAssassin test split (1,209 mails) drops by at most 1 pt. Per tensor with MatMul/Gemm
 * only, the file shrinks little: most of it is the 8002×64 embedding table, a Gather. The default
 * options (per channel, Gather included, as ORT's `quantize_dynamic` includes it) store the table
 * in int8 too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkModel, loadModel, serializeModel } from '@edgeforge/onnx';
import { REPO_ROOT } from '../../../../../tools/models.ts';
import { runEval } from '../../evaluate/run.js';
import { quantizeDynamic } from './quantize-dynamic.js';

const tmp = mkdtempSync(join(tmpdir(), 'quantize-dynamic-spam-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('quantize-dynamic: spam-transformer', () => {
  it(
    'top-1 on the test split drops ≤ 1 pt, with and without the embedding table; size ratio printed',
    { timeout: 180_000 },
    async () => {
      const src = join(REPO_ROOT, 'models/reference/spam-transformer.onnx');
      const data = `npz:${join(REPO_ROOT, 'models/reference/spam-test.npz')},input=input_ids,labels=labels`;
      const base = await runEval(src, { data, batch: 128 });
      const lines = [
        `spam-transformer float32: top-1 ${(base.task!.top1 * 100).toFixed(2)}% (${base.samples} mails), ${base.model.bytes} bytes`,
      ];
      for (const { label, raw, table } of [
        { label: 'MatMul/Gemm per tensor', raw: { opTypes: ['MatMul', 'Gemm'], perChannel: false }, table: false },
        { label: 'defaults: per channel + Gather', raw: {}, table: true },
      ]) {
        const model = loadModel(src);
        const report = await quantizeDynamic.run(model, quantizeDynamic.parseOptions(raw), {});
        assert.deepEqual(
          checkModel(model).filter((i) => i.severity === 'error'),
          [],
        );
        assert.equal(report.counts['MatMul → MatMulInteger'], 6);
        assert.equal(report.counts['Gemm → MatMulInteger'], 3);
        assert.equal(report.counts['Gather → Gather(int8) + DequantizeLinear'], table ? 1 : undefined);
        // The attention score MatMuls multiply two activations: left in float.
        assert.equal(report.notes!.filter((s) => /is not constant/.test(s)).length, 4);
        const bytes = serializeModel(model);
        const out = join(tmp, 'spam.dynamic.onnx');
        writeFileSync(out, bytes);
        const q = await runEval(out, { data, batch: 128, against: src });
        const f = q.fidelity!.perOutput[0];
        const drop = base.task!.top1 - q.task!.top1;
        lines.push(
          `spam-transformer dynamic int8 (${label}): top-1 ${(q.task!.top1 * 100).toFixed(2)}% (drop ${(drop * 100).toFixed(2)} pt), ` +
            `argmax agreement ${(f.argmaxAgreement! * 100).toFixed(2)}%, logit cosine ${f.cosine!.toFixed(5)}; ` +
            `${bytes.length} bytes (×${(bytes.length / base.model.bytes).toFixed(3)})`,
        );
        assert.equal(q.samples, 1209);
        assert.ok(drop <= 0.01, `${label}: top-1 drop ${drop}`);
        assert.ok(f.cosine! > 0.999, `${label}: cosine ${f.cosine}`);
        if (table) assert.ok(bytes.length < base.model.bytes * 0.35, `${bytes.length} bytes`);
      }
      console.log(lines.join('\n'));
    },
  );
});
