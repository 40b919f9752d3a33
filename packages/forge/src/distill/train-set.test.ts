/**
 * Training batches from a data spec: held-out samples never appear, each epoch is a fresh order of the
 * rest, and a dataset larger than the memory budget streams in shuffled windows with the same labels.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ensureModels, mnistPath } from '../../../../tools/models.ts';
import type { IoInfo } from '../runtime/types.js';
import { openTrainSet, readSamples, sampleIndices } from './train-set.js';

const SPEC = () =>
  `idx:${mnistPath('t10k-images-idx3-ubyte')},labels=${mnistPath('t10k-labels-idx1-ubyte')},mean=0.1307,std=0.3081`;
const INPUTS: IoInfo[] = [{ name: 'input', type: 'float32', dims: ['N', 1, 28, 28] }];

async function epochIndices(set: Awaited<ReturnType<typeof openTrainSet>>) {
  const seen: number[] = [];
  const labelOf = new Map<number, number>();
  let batches = 0;
  for await (const b of set.epoch()) {
    batches++;
    assert.deepEqual(b.feeds.input.dims, [32, 1, 28, 28]);
    b.indices.forEach((i, j) => {
      seen.push(i);
      labelOf.set(i, b.labels![j]);
    });
  }
  return { seen, labelOf, batches };
}

describe('training set', () => {
  it('holds out, shuffles per epoch, and streams in windows with the same samples and labels', async () => {
    await ensureModels();
    const heldOut = sampleIndices(1000, 100, 7);
    assert.equal(heldOut.size, 100);
    const resident = await openTrainSet(SPEC(), { inputs: INPUTS, batchSize: 32, limit: 1000, heldOut });
    assert.equal(resident.trainSize, 900);
    assert.ok(resident.resident);
    assert.equal(resident.batchesPerEpoch, 28);
    const e1 = await epochIndices(resident);
    const e2 = await epochIndices(resident);
    assert.equal(e1.batches, 28);
    assert.equal(new Set(e1.seen).size, 28 * 32, 'no sample twice in an epoch');
    assert.ok(
      e1.seen.every((i) => !heldOut.has(i) && i < 1000),
      'held-out samples never train',
    );
    assert.notDeepEqual(e1.seen, e2.seen, 'a fresh order every epoch');

    // 300 samples' worth of memory: windows of 300, each shuffled, the partial batch of each dropped.
    const perSample = 784 * 4 + 8;
    const streamed = await openTrainSet(SPEC(), {
      inputs: INPUTS,
      batchSize: 32,
      limit: 1000,
      heldOut,
      memoryBudget: 300 * perSample,
    });
    assert.equal(streamed.resident, false);
    assert.equal(streamed.batchesPerEpoch, 3 * 9 + 0);
    const s1 = await epochIndices(streamed);
    assert.equal(s1.batches, streamed.batchesPerEpoch);
    assert.equal(new Set(s1.seen).size, s1.seen.length);
    assert.ok(s1.seen.every((i) => !heldOut.has(i)));
    // Same labels for the same sample, whichever way it was read.
    for (const [i, l] of s1.labelOf) if (e1.labelOf.has(i)) assert.equal(l, e1.labelOf.get(i));

    const val = await readSamples(SPEC(), { inputs: INPUTS, batchSize: 64, indices: heldOut });
    assert.equal(val.size, 100);
    assert.deepEqual(
      val.batches.map((b) => b.indices.length),
      [64, 36],
    );
    assert.ok(val.batches.every((b) => [...b.indices].every((i) => heldOut.has(i))));
  });
});
