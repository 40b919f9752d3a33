/**
 * prune-l1 and prune-global at 50% on the reference models (after the default optimize recipe, so
 * BatchNorm is folded into the Convs): top-1 drop on 2000 test images (the spam set has 1209 mails,
 * all of them), and the gzip size of the pruned file. No fine-tuning: this is the cost before any
 * recovery. Bounds are the measured drops plus ≈ 0.5–1 pt (the same samples give the same
 * numbers run to run).
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadModelFromBytes, serializeModel } from '@edgeforge/onnx';
import { ensureModels } from '../../../../../tools/models.ts';
import { pruneGlobalPass, pruneL1Pass } from './prune-magnitude.js';
import {
  baseline,
  compareToBase,
  describeComparison,
  optimizedReference,
  type ReferenceName,
} from './testing/reference-accuracy.js';

/** Measured drops (pt): mnist 0.90 / 0.00, fashion 3.15 / 1.50, spam 2.48 / 0.83 (l1 / global). */
const cases: { name: ReferenceName; maxDropL1: number; maxDropGlobal: number; maxGzip: number }[] = [
  { name: 'mnist-cnn', maxDropL1: 1.5, maxDropGlobal: 0.5, maxGzip: 0.65 },
  { name: 'fashion-resnet', maxDropL1: 4, maxDropGlobal: 2.5, maxGzip: 0.65 },
  // The 8000×64 embedding (a Gather) is 86% of the parameters and not a prunable layer.
  { name: 'spam-transformer', maxDropL1: 3.5, maxDropGlobal: 1.5, maxGzip: 0.97 },
];

describe('prune-l1 / prune-global 50%: reference models', () => {
  before(() => ensureModels());

  for (const c of cases) {
    it(`${c.name}: top-1 drop ≤ ${c.maxDropL1} pt (l1), ≤ ${c.maxDropGlobal} pt (global); gzip ≤ ${c.maxGzip}×`, async () => {
      const base = await optimizedReference(c.name);
      const b = await baseline(c.name, base, 2000);
      const drops: number[] = [];
      for (const [pass, max] of [
        [pruneL1Pass, c.maxDropL1],
        [pruneGlobalPass, c.maxDropGlobal],
      ] as const) {
        const m = loadModelFromBytes(serializeModel(base));
        const r = await pass.run(m, pass.parseOptions({ amount: 0.5 }), {});
        const cmp = await compareToBase(b, m);
        console.log(describeComparison(`${c.name} ${pass.name} 50%`, cmp));
        console.log(`  ${JSON.stringify(r.counts)}; ${r.notes!.at(-1)}`);
        assert.ok(r.notes!.at(-1)!.includes('now 50.00% zero'));
        const drop = 100 * (cmp.baseTop1 - cmp.top1);
        assert.ok(drop <= max, `${pass.name}: drop ${drop.toFixed(2)} pt`);
        assert.ok(cmp.gzip / cmp.baseGzip < c.maxGzip, `gzip ratio ${cmp.gzip / cmp.baseGzip}`);
        drops.push(drop);
      }
      // One threshold over all layers spares the layers that need their weights: it hurts less here.
      assert.ok(drops[1] <= drops[0], `global ${drops[1]} vs per-layer ${drops[0]}`);
    });
  }
});
