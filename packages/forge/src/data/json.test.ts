import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openDataset } from './dataset.js';
import { DataError } from './errors.js';
import { collect } from './testing/files.js';

const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof DataError && !e.message.includes('\n') && re.test(e.message);

describe('json', () => {
  let dir: string;
  const file = (name: string, doc: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof doc === 'string' ? doc : JSON.stringify(doc));
    return p;
  };
  before(() => (dir = mkdtempSync(join(tmpdir(), 'edgeforge-json-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('an array of samples: one input, float32 unless all integers', async () => {
    const ds = await openDataset(
      file('a.json', [
        [
          [0.5, 1],
          [2, 3],
        ],
        [
          [4, 5],
          [6, 7.25],
        ],
        [
          [8, 9],
          [10, 11],
        ],
      ]),
      { batchSize: 2 },
    );
    assert.deepEqual(ds.inputs, [{ name: 'input', type: 'float32', dims: ['N', 2, 2] }]);
    const [a, b] = await collect(ds.batches());
    assert.deepEqual(a.inputs.input, {
      type: 'float32',
      dims: [2, 2, 2],
      data: Float32Array.of(0.5, 1, 2, 3, 4, 5, 6, 7.25),
    });
    assert.deepEqual(b.indices, [2]);
    const ints = await openDataset(`json:${file('i.json', [1, 2, 3])},input=n`);
    assert.deepEqual(ints.inputs, [{ name: 'n', type: 'int64', dims: ['N'] }]);
    const bools = await openDataset(
      file('b.json', [
        [true, false],
        [false, false],
      ]),
    );
    assert.equal(bools.inputs[0].type, 'bool');
  });

  it('objects per sample and columns: keys are inputs, label is the class id', async () => {
    const rows = await openDataset(
      file('rows.json', [
        { x: [1, 2], mask: [1, 1], label: 0 },
        { x: [3, 4], mask: [1, 0], label: 2 },
      ]),
      { batchSize: 2 },
    );
    assert.deepEqual(
      rows.inputs.map((i) => i.name),
      ['x', 'mask'],
    );
    const [r] = await collect(rows.batches());
    assert.deepEqual(Array.from(r.labels!), [0, 2]);
    assert.deepEqual(r.inputs.mask.data, BigInt64Array.of(1n, 1n, 1n, 0n));
    const cols = await openDataset(
      `json:${file('cols.json', { x: [[1.5], [2.5], [3.5]], y: [1, 0, 1] })},labels=y,scale=2`,
      {
        batchSize: 3,
      },
    );
    const [c] = await collect(cols.batches());
    assert.deepEqual(c.inputs.x.data, Float32Array.of(3, 5, 7));
    assert.deepEqual(Array.from(c.labels!), [1, 0, 1]);
  });

  it('refuses ragged samples, strings, bad JSON, label counts: one line each', async () => {
    await assert.rejects(
      openDataset(file('r.json', [[1, 2], [3]])),
      oneLine(/r\.json: sample 1 has shape \[1\], sample 0 has shape \[2\]$/),
    );
    await assert.rejects(
      openDataset(file('s.json', [['a'], ['b']])),
      oneLine(/s\.json: sample 0 has values that are not all numbers or booleans/),
    );
    await assert.rejects(openDataset(file('bad.json', '[1, 2,')), oneLine(/bad\.json: not valid JSON \(/));
    await assert.rejects(
      openDataset(file('l.json', { x: [[1], [2]], label: [1] })),
      oneLine(/l\.json: 1 labels for 2 samples$/),
    );
    await assert.rejects(
      openDataset(
        file('k.json', [
          { x: [1], label: 0 },
          { y: [1], label: 0 },
        ]),
      ),
      oneLine(/k\.json: sample 1 has keys y, label, sample 0 has x, label$/),
    );
  });
});
