import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DataType, GraphBuilder, MemoryTensor, serializeModel } from '@edgeforge/onnx';
import { ensureModels, mnistPath } from '../../../../tools/models.ts';
import { nodeBackend } from '../runtime/node.js';
import type { IoInfo } from '../runtime/types.js';
import { openDataset } from './dataset.js';
import { DataError } from './errors.js';
import { collect, npy } from './testing/files.js';

const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof DataError && !e.message.includes('\n') && re.test(e.message);
const io = (name: string, type: IoInfo['type'], dims: IoInfo['dims']): IoInfo => ({ name, type, dims });

/** Nearest class centroid as a linear layer: argmax x·μc − ½‖μc‖². */
function centroidModel(centroids: Float32Array[]): Uint8Array {
  const w = new Float32Array(784 * 10);
  const bias = new Float32Array(10);
  centroids.forEach((mu, c) => {
    for (let i = 0; i < 784; i++) {
      w[i * 10 + c] = mu[i];
      bias[c] -= 0.5 * mu[i] * mu[i];
    }
  });
  const b = new GraphBuilder('mnist-centroids');
  const x = b.input('image', DataType.FLOAT, ['N', 1, 28, 28]);
  const flat = b.op('Flatten', [x], { axis: 1 });
  const logits = b.op('Add', [
    b.op('MatMul', [flat, b.initializer('w', new MemoryTensor(DataType.FLOAT, [784, 10], w))]),
    b.initializer('b', new MemoryTensor(DataType.FLOAT, [10], bias)),
  ]);
  b.output(logits, 'logits', DataType.FLOAT, ['N', 10]);
  return serializeModel(b.model({ opset: 17 }));
}

describe('dataset against a model', () => {
  let images: string;
  let labels: string;
  let tmp: string;
  before(async () => {
    await ensureModels();
    images = mnistPath('t10k-images-idx3-ubyte');
    labels = mnistPath('t10k-labels-idx1-ubyte');
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-dataset-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('MNIST through onnxruntime: a centroid classifier fit on 5000 images scores the other 5000', async (t) => {
    const sums = Array.from({ length: 10 }, () => new Float64Array(784));
    const counts = new Array(10).fill(0);
    const fit = await openDataset(`idx:${images},labels=${labels},limit=5000`, { batchSize: 500 });
    for await (const { inputs, labels: y } of fit) {
      const px = inputs.input.data as Float32Array;
      y!.forEach((c, k) => {
        counts[c]++;
        for (let i = 0; i < 784; i++) sums[c][i] += px[k * 784 + i];
      });
    }
    const session = await nodeBackend.createSession(
      centroidModel(sums.map((s, c) => Float32Array.from(s, (v) => v / counts[c]))),
      {
        threads: 1,
      },
    );
    try {
      // [28,28] samples reshape to the model's [N,1,28,28]
      const test = await openDataset(`idx:${images},labels=${labels}`, { inputs: session.inputs, batchSize: 250 });
      assert.deepEqual(test.inputs, [{ name: 'image', type: 'float32', dims: ['N', 1, 28, 28] }]);
      let right = 0;
      let total = 0;
      for await (const { inputs, labels: y, indices } of test) {
        if (indices[0] < 5000) continue;
        assert.deepEqual(inputs.image.dims, [250, 1, 28, 28]);
        const logits = (await session.run(inputs)).logits.data as Float32Array;
        for (let k = 0; k < y!.length; k++) {
          const row = logits.subarray(k * 10, k * 10 + 10);
          if (row.indexOf(Math.max(...row)) === y![k]) right++;
          total++;
        }
      }
      t.diagnostic(`nearest-centroid top-1 on MNIST t10k[5000:]: ${((100 * right) / total).toFixed(2)}%`);
      assert.equal(total, 5000);
      assert.ok(right / total > 0.75, `accuracy ${right / total}`);
    } finally {
      await session.release();
    }
  });

  it('reshapes samples to static per-sample dims of the same size, or feeds an input without batch dim', async () => {
    const flat = await openDataset(`idx:${images},limit=4`, { inputs: [io('x', 'float32', ['N', 784])], batchSize: 3 });
    assert.deepEqual(
      (await collect(flat.batches())).map((b) => b.inputs.x.dims),
      [
        [3, 784],
        [1, 784],
      ],
    );
    const whole = await openDataset(`idx:${images},limit=2`, { inputs: [io('x', 'float32', [28, 28])] });
    assert.equal(whole.batchSize, 1);
    assert.deepEqual(
      (await collect(whole.batches())).map((b) => b.inputs.x.dims),
      [
        [28, 28],
        [28, 28],
      ],
    );
    await assert.rejects(
      openDataset(`idx:${images}`, { inputs: [io('x', 'float32', [28, 28])], batchSize: 8 }),
      oneLine(/^input 'x' \(no batch dim\) fixes the batch at 1; batch size 8 does not fit$/),
    );
  });

  it('a static batch dim fixes the batch size', async () => {
    const ds = await openDataset(`idx:${images},limit=6`, { inputs: [io('x', 'float32', [3, 1, 28, 28])] });
    assert.equal(ds.batchSize, 3);
    assert.deepEqual(
      (await collect(ds.batches())).map((b) => b.inputs.x.dims),
      [
        [3, 1, 28, 28],
        [3, 1, 28, 28],
      ],
    );
    await assert.rejects(
      openDataset(`idx:${images},limit=7`, { inputs: [io('x', 'float32', [3, 1, 28, 28])] }),
      oneLine(/^input 'x' \(batch dim 3\) fixes the batch at 3, and 7 samples do not divide into such batches/),
    );
  });

  it('shape and type mismatches fail at open, naming the input, expected vs got', async () => {
    await assert.rejects(
      openDataset(`idx:${images}`, { inputs: [io('x', 'float32', ['N', 3, 32, 32])] }),
      oneLine(
        /^input 'x': expected float32 \[N,3,32,32\], the data gives float32 \[N,28,28\] \(idx t10k-images-idx3-ubyte: 10000 × \[28,28\] ubyte\)$/,
      ),
    );
    await assert.rejects(
      openDataset(`idx:${images}`, { inputs: [io('x', 'int64', ['N', 28, 28])] }),
      oneLine(
        /^input 'x': expected int64 \[N,28,28\], the data gives float32 \[N,28,28\]; float32 does not convert to int64 \(idx /,
      ),
    );
    await assert.rejects(
      openDataset(`idx:${images}`, { inputs: [io('x', 'float32', ['N', 28, 28]), io('y', 'float32', ['N'])] }),
      oneLine(
        /^idx t10k-images-idx3-ubyte: .*: cannot tell which model input the data feeds \(inputs: 'x', 'y'\); name it with input=$/,
      ),
    );
    await assert.rejects(
      openDataset(`idx:${images},input=x`, { inputs: [io('x', 'float32', ['N', 28, 28]), io('y', 'float32', ['N'])] }),
      oneLine(/^model input 'y' gets no data from idx t10k-images-idx3-ubyte: .* \(the data feeds 'x'\)$/),
    );
    await assert.rejects(
      openDataset(`idx:${images},input=z`, { inputs: [io('x', 'float32', ['N', 28, 28])] }),
      oneLine(/'z' is not an input of the model \(inputs: 'x'\)$/),
    );
  });

  it('casts what converts: float64 npy to float32, json integers to int64 and float32', async () => {
    const p = join(tmp, 'f64.npy');
    writeFileSync(p, npy('<f8', [2, 3], Float64Array.of(0.1, 0.2, 0.3, 1, 2, 3)));
    const [b] = await collect(
      (await openDataset(p, { inputs: [io('x', 'float32', ['N', 3])], batchSize: 2 })).batches(),
    );
    assert.equal(b.inputs.x.type, 'float32');
    assert.deepEqual(Array.from(b.inputs.x.data as Float32Array), [0.1, 0.2, 0.3, 1, 2, 3].map(Math.fround));
    const j = join(tmp, 'ids.json');
    writeFileSync(
      j,
      JSON.stringify([
        { input_ids: [101, 7, 102], label: 1 },
        { input_ids: [101, 9, 102], label: 0 },
      ]),
    );
    const [c] = await collect(
      (await openDataset(j, { inputs: [io('input_ids', 'int64', ['batch', 3])], batchSize: 2 })).batches(),
    );
    assert.deepEqual(c.inputs.input_ids, {
      type: 'int64',
      dims: [2, 3],
      data: BigInt64Array.of(101n, 7n, 102n, 101n, 9n, 102n),
    });
    assert.deepEqual(Array.from(c.labels!), [1, 0]);
    const [d] = await collect((await openDataset(j, { inputs: [io('input_ids', 'float32', ['N', 3])] })).batches());
    assert.deepEqual(d.inputs.input_ids.data, Float32Array.of(101, 7, 102));
  });
});
