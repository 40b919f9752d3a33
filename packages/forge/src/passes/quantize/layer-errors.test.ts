/**
 * layerErrors: one row per quantized node with SNR against the float model; a layer made hard to
 * quantize on purpose (one outlier weight, per-tensor scale) shows the largest SNR drop, and leaving
 * it in float (excludeNodes) raises the model's output SNR.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, GraphBuilder, floatTensor, loadModelFromBytes, serializeModel, type Model } from '@edgeforge/onnx';
import type { Feeds } from '../../runtime/index.js';
import { layerErrors } from './layer-errors.js';
import { parseQuantizeStaticOptions, quantizeStatic } from './quantize-static.js';
import { batchesOf, rng, uniform } from './testing/static-testing.js';

const rand = rng(11);
const randT = (dims: number[], lo = -1, hi = 1) => floatTensor(dims, uniform(rand, dims, lo, hi).data as Float32Array);

/**
 * x → conv1 → Relu → conv2 → Relu → conv3 → GAP → y; nodes unnamed except conv2. conv1's channel 0
 * is always 0 after its Relu (bias −100) and conv2 reads it with one huge weight: harmless in float,
 * but a per-tensor int8 scale sized for that weight crushes all of conv2's other weights.
 */
function net(): Model {
  const b = new GraphBuilder('net');
  const x = b.input('x', DataType.FLOAT, ['N', 3, 8, 8]);
  const b1 = floatTensor([8], [-100, 0, 0, 0, 0, 0, 0, 0]);
  const conv1 = b.op('Conv', [x, b.initializer('w1', randT([8, 3, 3, 3])), b.initializer('b1', b1)], {
    pads: [1, 1, 1, 1],
  });
  const c1 = b.op('Relu', [conv1]);
  const w2 = randT([8, 8, 3, 3]);
  (w2.bytes() as Uint8Array).set(new Uint8Array(Float32Array.of(60).buffer), 0);
  const c2 = b.op('Relu', [b.op('Conv', [c1, b.initializer('w2', w2)], { pads: [1, 1, 1, 1] }, { name: 'conv2' })]);
  const c3 = b.op('Conv', [c2, b.initializer('w3', randT([4, 8, 3, 3]))], { pads: [1, 1, 1, 1] });
  b.output(b.op('GlobalAveragePool', [c3]), 'y', DataType.FLOAT, ['N', 4, 1, 1]);
  return b.model({ opset: 13 });
}

const calib: Feeds[] = Array.from({ length: 4 }, () => ({ x: uniform(rand, [4, 3, 8, 8]) }));

async function quantized(model: Model, raw: Record<string, unknown>) {
  const q = loadModelFromBytes(serializeModel(model));
  await quantizeStatic(q, parseQuantizeStaticOptions(raw), batchesOf(calib));
  return q;
}

describe('layerErrors', () => {
  it('rows per quantized node; the outlier layer adds the most error; excluding it helps', async () => {
    const model = net();
    const q = await quantized(model, { perChannel: false });
    const table = await layerErrors(model, q, batchesOf(calib));
    for (const r of table)
      console.log(
        `${r.opType.padEnd(18)} ${r.node.padEnd(14)} SNR ${r.snrDb.toFixed(1).padStart(5)} dB (inputs ${r.inputSnrDb.toFixed(1)} dB), rel ${r.relError.toExponential(2)}, cos ${r.cosine.toFixed(5)}`,
      );
    assert.deepEqual(
      table.map((r) => r.opType),
      ['Conv', 'Conv', 'Conv', 'GlobalAveragePool'],
    );
    // An unnamed node is named by its first float output, as excludeNodes knows it; the tensor
    // compared is the absorbed Relu's output.
    assert.deepEqual([table[0].node, table[0].output], ['conv_out', 'relu_out']);
    assert.equal(table[1].node, 'conv2');
    assert.equal(table[3].output, 'y');
    assert.equal(table[0].elements, 4 * 4 * 8 * 8 * 8);
    for (const r of table) assert.ok(r.snrDb > 5 && r.snrDb < 60 && r.cosine > 0.9, JSON.stringify(r));
    const drop = table.map((r) => r.inputSnrDb - r.snrDb);
    const worst = table[drop.indexOf(Math.max(...drop))];
    assert.equal(worst.node, 'conv2');

    const excluded = await quantized(model, { perChannel: false, excludeNodes: [worst.node] });
    const after = await layerErrors(model, excluded, batchesOf(calib));
    const y = (t: typeof table) => t.find((r) => r.output === 'y')!.snrDb;
    console.log(`output SNR ${y(table).toFixed(1)} dB → ${y(after).toFixed(1)} dB with '${worst.node}' in float`);
    assert.ok(!after.some((r) => r.node === 'conv2'));
    assert.ok(y(after) > y(table) + 3, `${y(after)} vs ${y(table)}`);
  });
});
