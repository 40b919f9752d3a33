import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { ensureModels, modelPath } from '../../../../tools/models.ts';
import { nodeBackend } from '../runtime/node.js';
import type { IoInfo } from '../runtime/types.js';
import { openDataset } from './dataset.js';
import { DataError } from './errors.js';
import { collect } from './testing/files.js';

const oneLine = (re: RegExp) => (e: unknown) =>
  e instanceof DataError && !e.message.includes('\n') && re.test(e.message);

/** Encodes interleaved 8-bit pixels as PNG or JPEG with sharp. */
async function encode(
  pixels: number[],
  width: number,
  height: number,
  channels: 1 | 3 | 4,
  format: 'png' | 'jpeg',
): Promise<Buffer> {
  const img = sharp(Buffer.from(pixels), { raw: { width, height, channels } });
  return format === 'png' ? img.png().toBuffer() : img.jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer();
}

/** A w×h RGB image whose pixel (x, y) is [r, g, b] = [10x + y, 100 + y, 200 − x]. */
function rgb(w: number, h: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.push(10 * x + y, 100 + y, 200 - x);
  return out;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('images folder', () => {
  let root: string;
  let classes: string;
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'edgeforge-images-'));
    classes = join(root, 'classes');
    for (const c of ['dog', 'cat', 'bird']) mkdirSync(join(classes, c), { recursive: true });
    writeFileSync(join(classes, 'cat', 'b.png'), await encode(rgb(4, 3), 4, 3, 3, 'png'));
    writeFileSync(
      join(classes, 'cat', 'a.png'),
      await encode(
        rgb(4, 3).map((v) => 255 - v),
        4,
        3,
        3,
        'png',
      ),
    );
    writeFileSync(join(classes, 'dog', 'x.jpg'), await encode(rgb(4, 3), 4, 3, 3, 'jpeg'));
    writeFileSync(
      join(classes, 'bird', 'g.png'),
      await encode([0, 64, 128, 255, 32, 16, 8, 4, 2, 1, 0, 200], 4, 3, 1, 'png'),
    );
    writeFileSync(join(classes, 'bird', 'notes.txt'), 'not an image, ignored');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('class subfolders: sorted names are label ids; PNG pixels exact at native size, nchw rgb, /255', async () => {
    const ds = await openDataset(`images:${classes},size=4x3`, { batchSize: 8 });
    assert.deepEqual(ds.classes, ['bird', 'cat', 'dog']);
    assert.equal(ds.size, 4);
    assert.deepEqual(ds.inputs, [{ name: 'input', type: 'float32', dims: ['N', 3, 3, 4] }]);
    const [b] = await collect(ds.batches());
    assert.deepEqual(Array.from(b.labels!), [0, 1, 1, 2]);
    const x = b.inputs.input.data as Float32Array;
    const per = 3 * 3 * 4;
    // sample 2 is cat/b.png: plane r then g then b
    const expected: number[] = [];
    for (let ch = 0; ch < 3; ch++)
      for (let y = 0; y < 3; y++) for (let xx = 0; xx < 4; xx++) expected.push(rgb(4, 3)[(y * 4 + xx) * 3 + ch] / 255);
    close(x.subarray(2 * per, 3 * per), expected, 1e-7, 'cat/b.png');
    // sample 1 is cat/a.png (the inverted one), sorted before b.png
    close(
      x.subarray(per, 2 * per),
      expected.map((v) => 1 - v),
      1e-6,
      'cat/a.png',
    );
    // a grayscale PNG becomes three equal planes
    const g = x.subarray(0, per);
    close(g.subarray(0, 12), g.subarray(12, 24), 0, 'gray r=g');
    close(
      g.subarray(0, 12),
      [0, 64, 128, 255, 32, 16, 8, 4, 2, 1, 0, 200].map((v) => v / 255),
      1e-7,
      'gray values',
    );
    // the JPEG (quality 100, no chroma subsampling) decodes close to its source
    close(x.subarray(3 * per), expected, 4 / 255, 'dog/x.jpg');
  });

  it('bilinear with half-pixel centres: 2× down is 2×2 averaging, 2× up interpolates [0,10,20,30] to 0,2.5,7.5,…,30', async () => {
    const dir = join(root, 'resize');
    mkdirSync(dir);
    const ramp = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150];
    writeFileSync(join(dir, 'ramp.png'), await encode(ramp, 4, 4, 1, 'png'));
    const down = await collect((await openDataset(`images:${dir},size=2x2,color=gray,scale=1`)).batches());
    assert.deepEqual(Array.from(down[0].inputs.input.data as Float32Array), [25, 45, 105, 125]);
    const up = await collect((await openDataset(`images:${dir},size=8x4,color=gray,scale=1`)).batches());
    assert.deepEqual(
      Array.from((up[0].inputs.input.data as Float32Array).subarray(0, 8)),
      [0, 2.5, 7.5, 12.5, 17.5, 22.5, 27.5, 30],
    );
    // resize=2 scales the shorter side to 2 (4×4 → 2×2), then a 2×1 centre crop starts at row
    // round(0.5) = 0 (Python rounding, as torchvision's CenterCrop)
    const crop = await collect((await openDataset(`images:${dir},size=2x1,resize=2,color=gray,scale=1`)).batches());
    assert.deepEqual(crop[0].inputs.input.dims, [1, 1, 1, 2]);
    assert.deepEqual(Array.from(crop[0].inputs.input.data as Float32Array), [25, 45]);
    // 4×4 resized to 3 is 3×3 (src = (x + 0.5)·4/3 − 0.5); a 1×1 centre crop is its middle pixel, src (1.5, 1.5)
    const mid = await collect((await openDataset(`images:${dir},size=1x1,resize=3,color=gray,scale=1`)).batches());
    assert.deepEqual(Array.from(mid[0].inputs.input.data as Float32Array), [75]);
  });

  it('nhwc, bgr, gray and per-channel mean/std, from the spec or the model input', async () => {
    const spec = `images:${join(classes, 'cat')},labels=none,size=4x3`;
    const nhwc = await collect(
      (await openDataset(`${spec},layout=nhwc,color=bgr,mean=imagenet,std=imagenet`, { batchSize: 2 })).batches(),
    );
    const px = (nhwc[0].inputs.input.data as Float32Array).subarray(3 * 12); // b.png
    const [r, g, b] = rgb(4, 3).slice(0, 3);
    close(
      px.subarray(0, 3),
      [(b / 255 - 0.406) / 0.225, (g / 255 - 0.456) / 0.224, (r / 255 - 0.485) / 0.229],
      1e-6,
      'first pixel, bgr',
    );
    // the model input says: 6×8, one channel last → gray, nhwc, size 8x6
    const ds = await openDataset(`images:${join(classes, 'cat')}`, {
      inputs: [{ name: 'img', type: 'float32', dims: ['N', 6, 8, 1] }],
    });
    assert.deepEqual(ds.inputs, [{ name: 'img', type: 'float32', dims: ['N', 6, 8, 1] }]);
    assert.match(ds.description, /→ \[6,8,1\] gray nhwc/);
    const mono = await openDataset(`${spec},color=gray,mean=0.5,std=0.25`);
    assert.deepEqual(mono.inputs[0].dims, ['N', 1, 3, 4]);
  });

  it('feeds a real model: PaddleOCR direction classifier on BGR images normalized to [-1,1]', async () => {
    await ensureModels();
    const session = await nodeBackend.createSession(modelPath('ocr-cls'), { threads: 1 });
    try {
      const ds = await openDataset(`images:${classes},size=192x48,color=bgr,mean=0.5,std=0.5`, {
        inputs: session.inputs,
        batchSize: 4,
      });
      const [b] = await collect(ds.batches());
      assert.deepEqual(b.inputs.x.dims, [4, 3, 48, 192]);
      const y = (await session.run(b.inputs))['softmax_0.tmp_0'];
      assert.deepEqual(y.dims, [4, 2]);
      const p = y.data as Float32Array;
      for (let i = 0; i < 4; i++) assert.ok(Math.abs(p[2 * i] + p[2 * i + 1] - 1) < 1e-5);
    } finally {
      await session.release();
    }
  });

  it('errors: undecodable image names the file; empty folder; no size; symbolic model size; channels mismatch', async () => {
    const bad = join(root, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'ok.png'), await encode(rgb(4, 3), 4, 3, 3, 'png'));
    const png = await encode(rgb(4, 3), 4, 3, 3, 'png');
    writeFileSync(join(bad, 'truncated.png'), png.subarray(0, png.length - 30));
    const ds = await openDataset(`images:${bad},size=4x3`, { batchSize: 1 });
    await assert.rejects(collect(ds.batches()), oneLine(/bad\/truncated\.png: cannot decode image \(.+\)$/));
    const empty = join(root, 'empty');
    mkdirSync(empty);
    await assert.rejects(
      openDataset(`images:${empty},size=4x3`),
      oneLine(/empty: no images \(\.png \.jpg .*\) in this folder$/),
    );
    await assert.rejects(openDataset(`images:${bad}`), oneLine(/give size=WxH \(no model input to take it from\)$/));
    const rec: IoInfo = { name: 'x', type: 'float32', dims: ['N', 3, 48, 'W'] };
    await assert.rejects(
      openDataset(`images:${bad}`, { inputs: [rec] }),
      oneLine(/input 'x' has no static height and width \(\[N,3,48,W\]\); give size=WxH$/),
    );
    await assert.rejects(
      openDataset(`images:${bad},size=4x3,color=gray`, {
        inputs: [{ name: 'x', type: 'float32', dims: ['N', 3, 3, 4] }],
      }),
      oneLine(/^input 'x': expected float32 \[N,3,3,4\], the data gives float32 \[N,1,3,4\]/),
    );
    await assert.rejects(openDataset(`images:${join(bad, 'ok.png')}`), oneLine(/ok\.png: not a folder/));
  });
});
