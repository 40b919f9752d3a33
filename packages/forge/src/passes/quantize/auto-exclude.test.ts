/**
 * auto-exclude: on a net whose one layer quantizes badly (an outlier weight under a per-tensor
 * scale), the loop leaves exactly that layer in float and reaches the target output SNR; through
 * the pass (autoExcludeSnrDb), the model is rewritten in place and the report lists the steps.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  checkModel,
  floatTensor,
  loadModelFromBytes,
  serializeModel,
  type Model,
} from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/index.js';
import { runPasses } from '../manager.js';
import type { Pass } from '../pass.js';
import { quantizeStaticAuto } from './auto-exclude.js';
import { outputSnr } from './layer-errors.js';
import { parseQuantizeStaticOptions, quantizeStaticPass } from './quantize-static.js';
import { batchesOf, rng, uniform } from './testing/static-testing.js';

const rand = rng(11);
const randT = (dims: number[], lo = -1, hi = 1) => floatTensor(dims, uniform(rand, dims, lo, hi).data as Float32Array);

/** conv1 → Relu → conv2 (outlier weight on an always-zero channel) → Relu → conv3 → GAP. */
function net(): Model {
  const b = new GraphBuilder('net');
  const x = b.input('x', DataType.FLOAT, ['N', 3, 8, 8]);
  const b1 = floatTensor([8], [-100, 0, 0, 0, 0, 0, 0, 0]);
  const c1 = b.op('Relu', [
    b.op(
      'Conv',
      [x, b.initializer('w1', randT([8, 3, 3, 3])), b.initializer('b1', b1)],
      { pads: [1, 1, 1, 1] },
      { name: 'conv1' },
    ),
  ]);
  const w2 = randT([8, 8, 3, 3]);
  (w2.bytes() as Uint8Array).set(new Uint8Array(Float32Array.of(60).buffer), 0);
  const c2 = b.op('Relu', [b.op('Conv', [c1, b.initializer('w2', w2)], { pads: [1, 1, 1, 1] }, { name: 'conv2' })]);
  const c3 = b.op('Conv', [c2, b.initializer('w3', randT([4, 8, 3, 3]))], { pads: [1, 1, 1, 1] }, { name: 'conv3' });
  b.output(b.op('GlobalAveragePool', [c3], {}, { name: 'gap' }), 'y', DataType.FLOAT, ['N', 4, 1, 1]);
  return b.model({ opset: 13 });
}

const calib: Feeds[] = Array.from({ length: 4 }, () => ({ x: uniform(rand, [4, 3, 8, 8]) }));

describe('auto-exclude', () => {
  it('leaves the harmful layer in float and reaches the target', async () => {
    const float = net();
    const model = loadModelFromBytes(serializeModel(float));
    const r = await quantizeStaticAuto(model, parseQuantizeStaticOptions({ perChannel: false }), batchesOf(calib), {
      targetSnrDb: 25,
    });
    for (const s of r.steps)
      console.log(`float layers [${s.excluded.join(', ')}]: output SNR ${s.outputSnrDb.toFixed(1)} dB`);
    assert.deepEqual(r.excluded, ['conv2']);
    assert.equal(r.steps.length, 2);
    assert.ok(r.steps[0].outputSnrDb < 25 && r.met && r.outputSnrDb >= 25);
    // The model was rewritten in place with that configuration.
    assert.deepEqual(
      checkModel(model).filter((i) => i.severity === 'error'),
      [],
    );
    const readsDq = (name: string) =>
      model.graph
        .nodes()
        .find((n) => n.name === name)!
        .inputs.some((v) => v?.producer?.opType === 'DequantizeLinear');
    assert.deepEqual(['conv1', 'conv2', 'conv3'].map(readsDq), [true, false, true]);
    const snr = await outputSnr(float, model, batchesOf(calib));
    assert.ok(Math.abs(snr.y - r.outputSnrDb) < 1e-9);
  });

  it('through the pass: autoExcludeSnrDb, a cap on float layers, the steps in the report', async () => {
    const model = net();
    const registry = new Map([['quantize-static', quantizeStaticPass as unknown as Pass<never>]]);
    const report = await runPasses(
      model,
      [{ pass: 'quantize-static', options: { perChannel: false, autoExcludeSnrDb: 60, autoExcludeMax: 2 } }],
      { registry, ctx: { calibration: batchesOf(calib) } },
    );
    const notes = report.steps[0].notes ?? [];
    console.log(notes.filter((n) => n.startsWith('auto-exclude')).join('\n'));
    const steps = notes.filter((n) => n.startsWith('auto-exclude'));
    assert.equal(steps.length, 3, 'no float layer, one, two (the cap)');
    assert.match(steps[1], /1 layer\(s\) in float .* \(conv2\)/);
    // The step kept is the best by output SNR.
    const snrs = steps.map((n) => Number(/SNR (-?[\d.]+) dB/.exec(n)![1]));
    assert.match(steps[snrs.indexOf(Math.max(...snrs))], /— kept$/);
    assert.throws(() => parseQuantizeStaticOptions({ autoExcludeMax: 2 }), /autoExcludeMax needs autoExcludeSnrDb/);
    assert.throws(() => parseQuantizeStaticOptions({ autoExcludeSnrDb: 'high' }), /autoExcludeSnrDb must be a number/);
  });
});
