import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DataError } from './errors.js';
import { parseDataSpec } from './spec.js';

const opts = (s: string) => Object.fromEntries(parseDataSpec(s).options);

describe('data spec', () => {
  it('reads format, path and options, with lists and repeated inputs', () => {
    const s = parseDataSpec('images:val/,size=224x224,mean=0.485,0.456,0.406,std=imagenet,layout=nchw');
    assert.equal(s.format, 'images');
    assert.equal(s.path, 'val/');
    assert.deepEqual(opts(s.text), {
      size: ['224x224'],
      mean: ['0.485', '0.456', '0.406'],
      std: ['imagenet'],
      layout: ['nchw'],
    });
    assert.deepEqual(opts('npz:d.npz,input=ids:input_ids,input=mask:attention_mask,labels=y'), {
      input: ['ids:input_ids', 'mask:attention_mask'],
      labels: ['y'],
    });
  });

  it('infers the format from the path, and escapes commas', () => {
    assert.equal(parseDataSpec('x.npy').format, 'npy');
    assert.equal(parseDataSpec('a/b.NPZ,labels=y').format, 'npz');
    assert.equal(parseDataSpec('s.json').format, 'json');
    assert.equal(parseDataSpec('t10k-images-idx3-ubyte.gz,labels=l.gz').format, 'idx');
    assert.equal(parseDataSpec('npy:odd\\,name.npy,limit=3').path, 'odd,name.npy');
    const dir = mkdtempSync(join(tmpdir(), 'edgeforge-spec-'));
    try {
      mkdirSync(join(dir, 'cats'));
      assert.equal(parseDataSpec(dir).format, 'images');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('synthetic takes no path', () => {
    const a = parseDataSpec('synthetic');
    assert.equal(a.format, 'synthetic');
    assert.equal(a.path, undefined);
    assert.equal(a.options.size, 0);
    assert.deepEqual(opts('synthetic:seed=7,count=5'), { seed: ['7'], count: ['5'] });
    assert.deepEqual(opts('synthetic,count=5'), { count: ['5'] });
  });

  it('refuses what it cannot read, in one line', () => {
    const bad: [string, RegExp][] = [
      ['', /^empty data spec$/],
      ['data.bin', /cannot tell the format of 'data\.bin'; write it as <format>:<path>/],
      ['idx:a-ubyte,size=3', /idx takes no option 'size' \(known: labels, input, scale, mean, std, limit\)/],
      ['npy:a.npy,limit=1,limit=2', /option 'limit' given twice/],
      ['npy:a.npy,scale=', /option 'scale' has no value/],
      ['npy:a.npy,oops', /expected key=value, got 'oops'/],
      ['idx:', /no file or folder given/],
    ];
    for (const [spec, re] of bad)
      assert.throws(
        () => parseDataSpec(spec),
        (e: unknown) => e instanceof DataError && !e.message.includes('\n') && re.test(e.message),
        spec,
      );
  });
});
