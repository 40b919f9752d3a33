import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { getBackend } from '../runtime/index.js';
import type { HostTensor, IoInfo } from '../runtime/types.js';
import { openDataset } from './dataset.js';
import { DataError } from './errors.js';
import { collect } from './testing/files.js';

const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof DataError && !e.message.includes('\n') && re.test(e.message);

async function inputsOf(model: 'ocr-rec' | 'silero-legacy' | 'silero-v5'): Promise<readonly IoInfo[]> {
  const s = await getBackend('wasm').createSession(modelPath(model), { threads: 1 });
  await s.release();
  return s.inputs;
}

describe('synthetic', () => {
  before(() => ensureModels());

  it('Silero legacy: the batch symbol follows into h and c; runs on both backends', async () => {
    const inputs = await inputsOf('silero-legacy');
    const ds = await openDataset('synthetic:count=5,seed=3', { inputs, shapes: { sequence: 512 }, batchSize: 2 });
    assert.equal(ds.size, 5);
    assert.deepEqual(
      ds.inputs.map((i) => [i.name, i.type, i.dims]),
      [
        ['input', 'float32', ['N', 512]],
        ['sr', 'int64', []],
        ['h', 'float32', [2, 'N', 64]],
        ['c', 'float32', [2, 'N', 64]],
      ],
    );
    const batches = await collect(ds.batches());
    assert.deepEqual(
      batches.map((b) => b.indices),
      [[0, 1], [2, 3], [4]],
    );
    assert.deepEqual(batches[2].inputs.h.dims, [2, 1, 64]);
    const x = batches[0].inputs.input.data as Float32Array;
    assert.ok(x.every((v) => v >= 0 && v < 1));
    assert.ok(new Set(x).size > 1000, 'values vary');
    const sr = batches[0].inputs.sr.data as BigInt64Array;
    assert.ok(sr[0] >= 0n && sr[0] < 10n);
    for (const name of ['node', 'wasm']) {
      const s = await getBackend(name).createSession(modelPath('silero-legacy'), { threads: 1 });
      try {
        for (const b of batches) {
          const out = await s.run(b.inputs);
          assert.deepEqual(out.output.dims, [b.indices.length, 1]);
        }
      } finally {
        await s.release();
      }
    }
  });

  it('deterministic: same seed same numbers whatever the batch size; another seed differs', async () => {
    const inputs = await inputsOf('ocr-rec');
    const shapes = { 'p2o.DynamicDimension.1': 64 };
    const flat = async (spec: string, batchSize: number) =>
      (await collect((await openDataset(spec, { inputs, shapes, batchSize })).batches())).flatMap((b) =>
        Array.from(b.inputs.x.data as Float32Array),
      );
    const a = await flat('synthetic:count=4,low=-1,high=1', 4);
    const b = await flat('synthetic:count=4,low=-1,high=1', 1);
    assert.equal(a.length, 4 * 3 * 48 * 64);
    assert.deepEqual(a, b);
    assert.ok(a.every((v) => v >= -1 && v < 1) && a.some((v) => v < 0));
    const c = await flat('synthetic:count=4,low=-1,high=1,seed=2', 4);
    assert.notDeepEqual(a, c);
  });

  it('whole input shapes, integer ranges, and what it cannot make: one line each', async () => {
    const v5 = await inputsOf('silero-v5');
    // Silero v5 declares [?,?] and [2,?,128]: unknown dims need whole shapes
    await assert.rejects(
      openDataset('synthetic', { inputs: v5 }),
      oneLine(/^synthetic data: input 'input' dim 1 is unknown; set it with --shape input=<dims>$/),
    );
    const ds = await openDataset('synthetic:count=2,intmax=3', {
      inputs: v5,
      shapes: { input: [1, 512], state: [2, 1, 128] },
    });
    assert.equal(ds.batchSize, 1);
    const [b] = await collect(ds.batches());
    assert.deepEqual(b.inputs.state.dims, [2, 1, 128]);
    assert.ok((b.inputs.sr as HostTensor & { data: BigInt64Array }).data[0] < 3n);
    await assert.rejects(
      openDataset('synthetic', { inputs: v5, shapes: { input: [1, 512, 3], state: [2, 1, 128] } }),
      oneLine(/^synthetic data: shape \[1,512,3\] for input 'input' does not fit its declared \[\?,\?\]$/),
    );
    const rec = await inputsOf('ocr-rec');
    await assert.rejects(
      openDataset('synthetic', { inputs: rec }),
      oneLine(
        /input 'x' dim 3 \('p2o\.DynamicDimension\.1'\) is symbolic; set it with --shape p2o\.DynamicDimension\.1=<n> or --shape x=<dims>$/,
      ),
    );
    await assert.rejects(
      openDataset('synthetic'),
      oneLine(/synthetic data is made from the model's inputs; none were given$/),
    );
    await assert.rejects(
      openDataset('synthetic', { inputs: [{ name: 's', type: 'string', dims: ['N'] }] }),
      oneLine(/cannot make values for input 's' of type string$/),
    );
  });
});
