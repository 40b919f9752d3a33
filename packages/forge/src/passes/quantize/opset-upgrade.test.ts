/**
 * opset-upgrade: opset-9 and opset-8 models with the operators whose signature changed on the way
 * to 11 (Clip, Slice, Pad, TopK, BatchNormalization's `spatial`, Scatter, an unused Dropout mask)
 * are raised to 11 and give bit-identical onnxruntime outputs; the operators it cannot carry over
 * (Upsample, a used Dropout mask, `spatial = 0`) block with their node named and nothing changed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DataType,
  GraphBuilder,
  MemoryTensor,
  floatTensor,
  int64Tensor,
  loadModelFromBytes,
  serializeModel,
  type Model,
} from '@edgeforge/onnx';
import { maxRelDiff, runNode } from '../testing/exact-harness.js';
import { assertValid, feed, randT } from '../testing/fuse-harness.js';
import { ModelNames } from './model-names.js';
import { opsetUpgradeBlockers, upgradeOpset } from './opset-upgrade.js';

async function upgradeAndCompare(model: Model, feeds: Parameters<typeof runNode>[1]) {
  assertValid(model);
  const up = loadModelFromBytes(serializeModel(model));
  const report = upgradeOpset(up, 11, new ModelNames(up));
  assertValid(up);
  assert.equal(up.opset, 11);
  const diff = maxRelDiff(await runNode(model, feeds), await runNode(up, feeds));
  assert.equal(diff, 0, 'outputs are bit-identical');
  return { up, report };
}

describe('opset-upgrade', () => {
  it('opset 9 → 11: Clip, Slice, Pad, TopK, Scatter, Dropout (mask unused) rewritten; outputs identical', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [2, 3, 6]);
    const r = b.op('Relu', [x]); // untyped: Clip's type comes from inference
    const c1 = b.op('Clip', [r], { min: { float: 0.1 }, max: { float: 0.6 } }, { name: 'clip' });
    const c2 = b.op('Clip', [c1], { max: { float: 0.5 } }, { name: 'clip_max' });
    const c3 = b.op('Clip', [c2], {}, { name: 'clip_none' });
    const s = b.op('Slice', [c3], { starts: [1, 0], ends: [3, 100], axes: [1, 2] }, { name: 'slice' });
    const p = b.op('Pad', [s], { pads: [0, 0, 1, 0, 0, 2], value: { float: 1.5 } }, { name: 'pad' });
    const p0 = b.op('Pad', [p], { pads: [0, 1, 0, 0, 0, 0], mode: 'edge' }, { name: 'pad_edge' });
    const top = b.node('TopK', [p0], { k: 2, axis: -1 }, { name: 'topk', outputs: 2 });
    const d = b.node('Dropout', [top.outputs[0]], { ratio: { float: 0.3 } }, { name: 'drop', outputs: 2 });
    const idx = b.initializer('idx', int64Tensor([1, 1], [0]));
    const upd = b.initializer('upd', floatTensor([1, 1], [9]));
    const sc = b.op('Scatter', [b.initializer('data', randT([2, 2])), idx, upd], { axis: 1 }, { name: 'scatter' });
    b.output(d.outputs[0], 'y');
    b.output(top.outputs[1], 'i');
    b.output(sc, 'z');
    const model = b.model({ opset: 9 });
    const { up, report } = await upgradeAndCompare(model, { x: feed([2, 3, 6]) });
    assert.deepEqual(report, {
      from: 9,
      to: 11,
      rewritten: { Clip: 2, Slice: 1, Pad: 2, TopK: 1, Scatter: 1 },
    });
    const node = (name: string) => up.graph.nodes().find((n) => n.name === name)!;
    assert.deepEqual(
      node('clip').inputs.map((v) => v?.const?.dims),
      [undefined, [], []],
    );
    assert.deepEqual(
      node('clip_max').inputs.map((v) => v?.name ?? null),
      [c1.name, null, 'clip_max_max'],
    );
    assert.equal(node('clip_none').inputs.length, 1);
    assert.equal(node('scatter').opType, 'ScatterElements');
    assert.equal(node('slice').attributes.size, 0);
    assert.equal(node('pad_edge').getString('mode'), 'edge');
    assert.equal(node('pad_edge').inputs.length, 2);
  });

  it('opset 8 → 11: BatchNormalization loses spatial = 1; IR version raised', async () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 3, 3]);
    const params = ['s', 'b', 'm', 'v'].map((k) => b.initializer(k, randT([2], 0.5, 1.5)));
    b.output(b.op('BatchNormalization', [x, ...params], { spatial: 1, epsilon: { float: 1e-3 } }, { name: 'bn' }), 'y');
    const model = b.model({ opset: 8, irVersion: 3 });
    const { up, report } = await upgradeAndCompare(model, { x: feed([1, 2, 3, 3]) });
    assert.deepEqual(report.rewritten, { BatchNormalization: 1 });
    assert.equal(up.irVersion, 6);
    assert.ok(!up.graph.nodes()[0].attributes.has('spatial'));
  });

  it('names what blocks and changes nothing: Upsample, a used Dropout mask, spatial = 0, target 13', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', DataType.FLOAT, [1, 2, 3, 3]);
    const scales = b.initializer('scales', new MemoryTensor(DataType.FLOAT, [4], Float32Array.of(1, 1, 2, 2)));
    b.output(b.op('Upsample', [x, scales], {}, { name: 'up' }), 'u');
    const d = b.node('Dropout', [x], {}, { name: 'drop', outputs: 2 });
    b.output(d.outputs[1], 'mask');
    const params = ['s', 'b', 'm', 'v'].map((k) => b.initializer(k, randT([2], 0.5, 1.5)));
    b.output(b.op('BatchNormalization', [x, ...params], { spatial: 0 }, { name: 'bn' }), 'y');
    const model = b.model({ opset: 8 });
    const blockers = opsetUpgradeBlockers(model, 11);
    assert.deepEqual(blockers, [
      "Upsample 'up' is deprecated from opset 10 (no rewrite to Resize here)",
      "Dropout 'drop' has a used mask output, whose type changed at opset 10",
      "BatchNormalization 'bn' has spatial = 0, which opset 9 removed",
    ]);
    const bytes = serializeModel(model);
    assert.throws(
      () => upgradeOpset(model, 11, new ModelNames(model)),
      /cannot raise ai.onnx opset 8 to 11: Upsample 'up'/,
    );
    assert.deepEqual(serializeModel(model), bytes, 'nothing changed');
    assert.match(opsetUpgradeBlockers(model, 13).join(), /upgrades go up to opset 11/);
  });
});
