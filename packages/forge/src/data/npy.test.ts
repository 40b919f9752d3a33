import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HostTensor } from '../runtime/types.js';
import { openDataset, type Batch } from './dataset.js';
import { DataError } from './errors.js';
import { collect, npy, zip } from './testing/files.js';

async function all(spec: string, batchSize = 2): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of await openDataset(spec, { batchSize })) out.push(b);
  return out;
}

function values(t: HostTensor): (number | bigint)[] {
  return Array.from(t.data as ArrayLike<number | bigint>);
}

const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof DataError && !e.message.includes('\n') && re.test(e.message);

describe('npy', () => {
  let dir: string;
  const file = (name: string, bytes: Uint8Array) => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  before(() => (dir = mkdtempSync(join(tmpdir(), 'edgeforge-npy-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every supported dtype, header versions 1, 2 and 3, rows in batches', async () => {
    const cases: [string, ArrayBufferView, string, (number | bigint)[]][] = [
      ['<f4', Float32Array.of(0.5, -1, 2, 3e-3, 4, 5), 'float32', [0.5, -1, 2, Math.fround(3e-3), 4, 5]],
      ['<f8', Float64Array.of(Math.PI, 1, 2, 3, 4, 5), 'float64', [Math.PI, 1, 2, 3, 4, 5]],
      ['<f2', Uint16Array.of(0x3c00, 0xc000, 0, 1, 2, 3), 'float16', [0x3c00, 0xc000, 0, 1, 2, 3]],
      ['|i1', Int8Array.of(-128, 127, 0, 1, 2, 3), 'int8', [-128, 127, 0, 1, 2, 3]],
      ['|u1', Uint8Array.of(0, 255, 1, 2, 3, 4), 'uint8', [0, 255, 1, 2, 3, 4]],
      ['<i2', Int16Array.of(-32768, 32767, 0, 1, 2, 3), 'int16', [-32768, 32767, 0, 1, 2, 3]],
      ['<i4', Int32Array.of(-(2 ** 31), 7, 0, 1, 2, 3), 'int32', [-(2 ** 31), 7, 0, 1, 2, 3]],
      ['<i8', BigInt64Array.of(-(2n ** 63n), 5n, 0n, 1n, 2n, 3n), 'int64', [-(2n ** 63n), 5n, 0n, 1n, 2n, 3n]],
      ['<u8', BigUint64Array.of(2n ** 64n - 1n, 5n, 0n, 1n, 2n, 3n), 'uint64', [2n ** 64n - 1n, 5n, 0n, 1n, 2n, 3n]],
      ['|b1', Uint8Array.of(1, 0, 0, 1, 1, 1), 'bool', [1, 0, 0, 1, 1, 1]],
    ];
    for (const version of [1, 2, 3] as const) {
      for (const [descr, data, type, expected] of cases) {
        const p = file(`a-${descr.slice(1)}-v${version}.npy`, npy(descr, [3, 2], data, { version }));
        const batches = await all(`npy:${p}`);
        assert.deepEqual(
          batches.map((b) => b.inputs.input.dims),
          [
            [2, 2],
            [1, 2],
          ],
        );
        assert.equal(batches[0].inputs.input.type, type, descr);
        assert.deepEqual(
          [...values(batches[0].inputs.input), ...values(batches[1].inputs.input)],
          expected,
          `${descr} v${version}`,
        );
        assert.deepEqual(
          batches.map((b) => b.indices),
          [[0, 1], [2]],
        );
      }
    }
  });

  it('labels from a second npy; scale/mean/std give float32', async () => {
    const x = file('x.npy', npy('|u1', [4, 2], Uint8Array.of(0, 255, 10, 20, 30, 40, 50, 60)));
    const y = file('y.npy', npy('<i8', [4], BigInt64Array.of(3n, 1n, 4n, 1n)));
    const [a, b] = await all(`npy:${x},labels=${y},scale=1/255,mean=0.5,std=0.5`);
    assert.deepEqual(Array.from(a.labels!), [3, 1]);
    assert.deepEqual(Array.from(b.labels!), [4, 1]);
    const got = a.inputs.input.data as Float32Array;
    assert.equal(a.inputs.input.type, 'float32');
    assert.deepEqual(Array.from(got), [-1, 1, 10 / 255 / 0.5 - 1, 20 / 255 / 0.5 - 1].map(Math.fround));
  });

  it('refuses Fortran order, big-endian, odd dtypes, bad magic, truncation, label count: one line each', async () => {
    const f = file('f.npy', npy('<f4', [2, 3], new Float32Array(6), { fortran: true }));
    await assert.rejects(
      openDataset(`npy:${f}`),
      oneLine(/f\.npy: Fortran-order arrays are not supported; save it in C order/),
    );
    const be = file('be.npy', npy('>f4', [2], new Float32Array(2)));
    await assert.rejects(openDataset(`npy:${be}`), oneLine(/be\.npy: big-endian dtype '>f4' is not supported/));
    const u = file('u.npy', npy('<U3', [2], new Uint8Array(24)));
    await assert.rejects(openDataset(`npy:${u}`), oneLine(/u\.npy: dtype '<U3' is not supported/));
    const bad = file('bad.npy', new TextEncoder().encode('PK\x03\x04 not numpy at all'));
    await assert.rejects(
      openDataset(`npy:${bad}`),
      oneLine(/bad\.npy: not a \.npy file \(bad magic; expected \\x93NUMPY\)$/),
    );
    const whole = npy('<f4', [4, 3], new Float32Array(12));
    const cut = file('cut.npy', whole.subarray(0, whole.length - 5));
    await assert.rejects(
      openDataset(`npy:${cut}`),
      oneLine(/cut\.npy: truncated \.npy file: header says <f4 \(4,3\) = \d+ bytes, file has \d+$/),
    );
    const x = file('x3.npy', npy('<f4', [3], new Float32Array(3)));
    const y = file('y2.npy', npy('<i4', [2], new Int32Array(2)));
    await assert.rejects(openDataset(`npy:${x},labels=${y}`), oneLine(/y2\.npy: 2 labels for 3 samples in .*x3\.npy$/));
    const yf = file('yf.npy', npy('<f4', [3], new Float32Array(3)));
    await assert.rejects(
      openDataset(`npy:${x},labels=${yf}`),
      oneLine(/yf\.npy: labels must be integer class ids of shape \[N\], got <f4 \(3\)$/),
    );
    await assert.rejects(openDataset(`npy:${join(dir, 'none.npy')}`), oneLine(/none\.npy: no such file$/));
  });
});

describe('npz', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'edgeforge-npz-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const x = npy('<f4', [3, 2], Float32Array.of(1, 2, 3, 4, 5, 6));
  const ids = npy(
    '<i8',
    [3, 4],
    BigInt64Array.from({ length: 12 }, (_, i) => BigInt(i)),
  );
  const y = npy('|u1', [3], Uint8Array.of(2, 0, 1));

  for (const [kind, method, zip64] of [
    ['stored', 0, false],
    ['deflated', 8, false],
    ['deflated zip64 (as NumPy writes)', 8, true],
  ] as const) {
    it(`${kind}: members map to inputs, labels by member`, async () => {
      const p = join(dir, `${kind.split(' ')[0]}${zip64 ? '64' : ''}.npz`);
      writeFileSync(
        p,
        zip(
          [
            { name: 'x.npy', data: x, method },
            { name: 'ids.npy', data: ids, method },
            { name: 'y.npy', data: y, method },
          ],
          { zip64 },
        ),
      );
      const ds = await openDataset(`npz:${p},input=x:pixels,input=ids:input_ids,labels=y`, {
        inputs: [
          { name: 'pixels', type: 'float32', dims: ['N', 2] },
          { name: 'input_ids', type: 'int64', dims: ['N', 4] },
        ],
        batchSize: 2,
      });
      assert.equal(ds.size, 3);
      assert.match(ds.description, /npz .*: x 3 × \[2\] float32, ids 3 × \[4\] int64, labels y/);
      const batches: Batch[] = [];
      for await (const b of ds) batches.push(b);
      assert.deepEqual(values(batches[0].inputs.pixels), [1, 2, 3, 4]);
      assert.deepEqual(values(batches[1].inputs.pixels), [5, 6]);
      assert.deepEqual(values(batches[1].inputs.input_ids), [8n, 9n, 10n, 11n]);
      assert.deepEqual(
        batches.map((b) => Array.from(b.labels!)),
        [[2, 0], [1]],
      );
      // members named like the model's inputs map by name; a lone member feeds a lone input
      const byName = await openDataset(`npz:${p},labels=y`, {
        inputs: [
          { name: 'x', type: 'float32', dims: ['N', 2] },
          { name: 'ids', type: 'int64', dims: ['N', 4] },
        ],
      });
      assert.deepEqual(
        byName.inputs.map((i) => i.name),
        ['x', 'ids'],
      );
      const lone = await openDataset(`npz:${p},input=x`, {
        inputs: [{ name: 'image', type: 'float64', dims: ['N', 2] }],
      });
      const [first] = await collect(lone.batches());
      assert.equal(first.inputs.image.type, 'float64');
    });
  }

  it('reads only what is asked: a limit stops early, a corrupt member fails naming it', async () => {
    const big = npy(
      '<f4',
      [1000, 16],
      Float32Array.from({ length: 16000 }, (_, i) => i),
    );
    const p = join(dir, 'big.npz');
    writeFileSync(p, zip([{ name: 'x.npy', data: big, method: 8 }]));
    const ds = await openDataset(`npz:${p},limit=3`, { batchSize: 2 });
    const got = (await collect(ds.batches())).flatMap((b) => values(b.inputs.x));
    assert.deepEqual(
      got,
      Array.from({ length: 48 }, (_, i) => i),
    );
    // flip a byte inside the stored data: the CRC check catches it when the member is read through
    const stored = zip([{ name: 'x.npy', data: x, method: 0 }]);
    stored[30 + 'x.npy'.length + x.length - 1] ^= 0xff;
    const q = join(dir, 'corrupt.npz');
    writeFileSync(q, stored);
    await assert.rejects(
      async () => collect((await openDataset(`npz:${q}`)).batches()),
      oneLine(/corrupt\.npz: x\.npy: corrupt: CRC-32 mismatch$/),
    );
  });

  it('refuses a non-zip, a missing member, an ambiguous mapping: one line each', async () => {
    const notZip = join(dir, 'not.npz');
    writeFileSync(notZip, npy('<f4', [1], new Float32Array(1)));
    await assert.rejects(
      openDataset(`npz:${notZip}`),
      oneLine(/not\.npz: not a zip \(\.npz\) file: no end-of-central-directory record$/),
    );
    const p = join(dir, 'two.npz');
    writeFileSync(
      p,
      zip([
        { name: 'a.npy', data: x, method: 0 },
        { name: 'b.npy', data: x, method: 0 },
      ]),
    );
    await assert.rejects(openDataset(`npz:${p},input=c`), oneLine(/two\.npz: no member 'c' \(members: 'a', 'b'\)$/));
    await assert.rejects(
      openDataset(`npz:${p}`),
      oneLine(/two\.npz: cannot tell which members feed the model \(members: 'a', 'b'\)/),
    );
    const trunc = join(dir, 'trunc.npz');
    const whole = zip([{ name: 'a.npy', data: x, method: 0 }]);
    writeFileSync(trunc, whole.subarray(0, 40));
    await assert.rejects(openDataset(`npz:${trunc}`), oneLine(/trunc\.npz: not a zip \(\.npz\) file/));
  });
});
