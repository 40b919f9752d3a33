/**
 * prune-nm 2:4 on the reference models (after the default optimize recipe): top-1 on 2000 test
 * images (spam: its 1209 mails) with no fine-tuning, and the gzip size. Layers whose input channels
 * are not a multiple of 4 stay dense (the first Conv of both CNNs: 1 channel). Bounds: the measured
 * drops plus ≈ 1 pt. The Fashion ResNet's narrow 3×3 Convs (16–64 channels) lose 15 pt: 2:4 without
 * retraining is not free on small convolutions (NVIDIA's ASP recipe fine-tunes after masking).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadModelFromBytes, serializeModel } from '@edgeforge/onnx';
import { ensureModels } from '../../../../../tools/models.ts';
import { pruneNmPass } from './prune-nm.js';
import {
  baseline,
  compareToBase,
  describeComparison,
  optimizedReference,
  type ReferenceName,
} from './testing/reference-accuracy.js';

/** Measured drops: mnist 0.55 pt, fashion 15.35 pt, spam 2.23 pt. */
const cases: { name: ReferenceName; maxDrop: number; dense: number }[] = [
  { name: 'mnist-cnn', maxDrop: 1.5, dense: 1 },
  { name: 'fashion-resnet', maxDrop: 17, dense: 1 },
  { name: 'spam-transformer', maxDrop: 3.5, dense: 0 },
];

describe('prune-nm 2:4: reference models', () => {
  before(() => ensureModels());

  for (const c of cases) {
    it(`${c.name}: top-1 drop ≤ ${c.maxDrop} pt, gzip smaller`, async () => {
      const base = await optimizedReference(c.name);
      const b = await baseline(c.name, base, 2000);
      const m = loadModelFromBytes(serializeModel(base));
      const r = await pruneNmPass.run(m, pruneNmPass.parseOptions({ n: 2, m: 4 }), {});
      const cmp = await compareToBase(b, m);
      console.log(describeComparison(`${c.name} prune-nm 2:4`, cmp));
      console.log(`  ${JSON.stringify(r.counts)}; ${(r.notes ?? []).join('; ')}`);
      const dense = (r.notes ?? []).filter((n) => n.includes('left dense')).length;
      assert.equal(dense, c.dense);
      const drop = 100 * (cmp.baseTop1 - cmp.top1);
      assert.ok(drop <= c.maxDrop, `drop ${drop.toFixed(2)} pt`);
      assert.ok(cmp.gzip < cmp.baseGzip);
    });
  }
});
