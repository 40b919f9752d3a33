import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { ensureModels, mnistPath } from '../../../../tools/models.ts';
import { openDataset } from './dataset.js';
import { DataError } from './errors.js';
import { collect } from './testing/files.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const fashionMissing = existsSync(join(FASHION, 't10k-images-idx3-ubyte.gz'))
  ? false
  : `${FASHION} is absent (apt-get install dataset-fashion-mnist)`;

const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof DataError && !e.message.includes('\n') && re.test(e.message);

describe('idx', () => {
  let images: string;
  let labels: string;
  let tmp: string;
  before(async () => {
    await ensureModels();
    images = mnistPath('t10k-images-idx3-ubyte');
    labels = mnistPath('t10k-labels-idx1-ubyte');
    tmp = mkdtempSync(join(tmpdir(), 'edgeforge-idx-'));
  });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('MNIST t10k: 10000 images [28,28] with their labels, pixels scaled to [0,1]', async () => {
    const ds = await openDataset(`idx:${images},labels=${labels}`, { batchSize: 1000 });
    assert.equal(ds.size, 10000);
    assert.equal(ds.hasLabels, true);
    assert.deepEqual(ds.inputs, [{ name: 'input', type: 'float32', dims: ['N', 28, 28] }]);
    const raw = readFileSync(images);
    const rawLabels = readFileSync(labels);
    let seen = 0;
    const histogram = new Array(10).fill(0);
    for await (const b of ds) {
      const x = b.inputs.input;
      assert.deepEqual(x.dims, [1000, 28, 28]);
      assert.equal(b.indices[0], seen);
      const px = x.data as Float32Array;
      // spot-check against the file's own bytes (header is 16 bytes)
      for (const i of [0, 157, 783, 784 * 999 + 400]) assert.equal(px[i], Math.fround(raw[16 + seen * 784 + i] / 255));
      for (let i = 0; i < 1000; i++) {
        assert.equal(b.labels![i], rawLabels[8 + seen + i]);
        histogram[b.labels![i]]++;
      }
      seen += 1000;
    }
    assert.equal(seen, 10000);
    // the t10k label counts, as published
    assert.deepEqual(histogram, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('mean/std (MNIST normalization) and limit', async () => {
    const ds = await openDataset(`idx:${images},labels=${labels},mean=0.1307,std=0.3081,limit=5`, { batchSize: 2 });
    assert.equal(ds.size, 5);
    const batches = await collect(ds.batches());
    assert.deepEqual(
      batches.map((b) => b.inputs.input.dims[0]),
      [2, 2, 1],
    );
    assert.deepEqual(
      batches.flatMap((b) => Array.from(b.labels!)),
      [7, 2, 1, 0, 4],
    );
    const raw = readFileSync(images);
    const px = batches[0].inputs.input.data as Float32Array;
    for (const i of [0, 300, 350]) assert.equal(px[i], Math.fround((raw[16 + i] / 255 - 0.1307) / 0.3081));
  });

  it('streams: iterating 10k images holds about one batch, not the 7.8 MB file', async (t) => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // V8 frees array buffer memory after a GC on another thread: collect, yield, collect.
    const retained = async () => {
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
      return process.memoryUsage().arrayBuffers;
    };
    const ds = await openDataset(`idx:${images}`, { batchSize: 100 });
    const base = await retained();
    let peak = 0;
    let n = 0;
    for await (const b of ds) {
      n += b.indices.length;
      if (n % 1000 === 0) peak = Math.max(peak, (await retained()) - base);
    }
    assert.equal(n, 10000);
    t.diagnostic(`peak array buffers held while iterating: ${peak} bytes`);
    // One batch is 100 × 784 float32 (313,600 B) plus its 78,400 source bytes, and the stream buffers
    // 64 kB chunks. GC timing may leave the previous batch alive (seen: 705,600 B), so allow a few
    // batches — still far below the file (7.8 MB) or the decoded set (31 MB).
    assert.ok(peak < 1_600_000, `held ${peak} bytes of array buffers while iterating (the file is 7,840,016)`);
  });

  it('Fashion-MNIST t10k (gzip): 10000 images, 1000 of each class', { skip: fashionMissing }, async () => {
    const ds = await openDataset(`${FASHION}/t10k-images-idx3-ubyte.gz,labels=${FASHION}/t10k-labels-idx1-ubyte.gz`, {
      batchSize: 500,
      inputs: [{ name: 'image', type: 'float32', dims: ['batch', 1, 28, 28] }],
    });
    assert.equal(ds.size, 10000);
    assert.deepEqual(ds.inputs, [{ name: 'image', type: 'float32', dims: ['N', 1, 28, 28] }]);
    const raw = gunzipSync(readFileSync(`${FASHION}/t10k-images-idx3-ubyte.gz`));
    const counts = new Array(10).fill(0);
    let seen = 0;
    for await (const b of ds) {
      assert.deepEqual(b.inputs.image.dims, [500, 1, 28, 28]);
      const px = b.inputs.image.data as Float32Array;
      for (const i of [0, 391, 500 * 784 - 1]) assert.equal(px[i], Math.fround(raw[16 + seen * 784 + i] / 255));
      for (const l of b.labels!) counts[l]++;
      seen += 500;
    }
    assert.deepEqual(counts, new Array(10).fill(1000));
  });

  it('bad files: truncated (plain and gzip), not idx, label count, missing: one line each', async () => {
    const raw = readFileSync(images);
    const cut = join(tmp, 'cut-idx3-ubyte');
    writeFileSync(cut, raw.subarray(0, 16 + 784 * 10 + 5));
    await assert.rejects(
      openDataset(`idx:${cut}`),
      oneLine(
        /cut-idx3-ubyte: truncated idx file: header says 10000 × \[28,28\] ubyte \(7840016 bytes\), file has 7861 bytes$/,
      ),
    );
    const cutGz = join(tmp, 'cut-idx3-ubyte.gz');
    writeFileSync(cutGz, gzipSync(raw.subarray(0, 16 + 784 * 10 + 5)));
    const ds = await openDataset(`idx:${cutGz}`, { batchSize: 4 });
    await assert.rejects(
      collect(ds.batches()),
      oneLine(/cut-idx3-ubyte\.gz: truncated idx file: ended after 10 of 10000 samples$/),
    );
    const broken = join(tmp, 'broken.gz');
    writeFileSync(broken, Buffer.concat([gzipSync(raw.subarray(0, 5000)).subarray(0, 200), Buffer.alloc(50, 7)]));
    await assert.rejects(
      async () => collect((await openDataset(`idx:${broken}`)).batches()),
      oneLine(/broken\.gz: (corrupt compressed data|truncated)/),
    );
    const png = join(tmp, 'not-idx3-ubyte');
    writeFileSync(png, Buffer.from('\x89PNG\r\n\x1a\n0000000000000000', 'latin1'));
    await assert.rejects(
      openDataset(`idx:${png}`),
      oneLine(/not-idx3-ubyte: not an idx file \(header starts 89 50 4e 47, expected 00 00 <type> <ndim>\)$/),
    );
    const fewer = join(tmp, 'fewer-idx1-ubyte');
    const l = readFileSync(labels);
    const header = Buffer.from(l.subarray(0, 8));
    header.writeUInt32BE(9999, 4);
    writeFileSync(fewer, Buffer.concat([header, l.subarray(8, 8 + 9999)]));
    await assert.rejects(
      openDataset(`idx:${images},labels=${fewer}`),
      oneLine(/fewer-idx1-ubyte: 9999 labels for 10000 samples in .*t10k-images-idx3-ubyte$/),
    );
    await assert.rejects(openDataset(`idx:${join(tmp, 'nope-ubyte')}`), oneLine(/nope-ubyte: no such file$/));
    await assert.rejects(
      openDataset(`idx:${images},labels=${images}`),
      oneLine(/labels must be a 1-d integer idx array, got ubyte \[10000,28,28\]$/),
    );
  });
});
