/**
 * A folder of images (PNG, JPEG, WebP, GIF, TIFF), decoded with sharp (libvips) a batch at a
 * time, resized bilinearly (see resize.ts), normalized and laid out for the model.
 *
 * - Labels: with `labels=subfolders` (the default when the folder holds only folders) each
 *   subfolder is a class, ids by sorted name; `labels=none` reads every image under the folder.
 * - `size=WxH` (or `size=S` for S×S): the model's input size; defaults to the input's static
 *   height and width. `resize=S` first scales the shorter side to S, then centre-crops to size
 *   (torchvision's `Resize(S)` + `CenterCrop`); without it images are stretched to size.
 * - `layout=nchw|nhwc` (default: from the model input's dims, else nchw), `color=rgb|bgr|gray`
 *   (default gray for a one-channel input, else rgb). Alpha is dropped.
 * - `scale` (default 1/255), `mean`, `std`: one value or one per channel in the model's channel
 *   order, or `imagenet` (RGB 0.485,0.456,0.406 / 0.229,0.224,0.225, reversed for bgr).
 *   value = (pixel · scale − mean) / std.
 */
import { readdirSync, statSync, type Dirent } from 'node:fs';
import { basename, extname, join } from 'node:path';
import type { IoInfo } from '../runtime/types.js';
import { DataError, fileError } from './errors.js';
import { planResizeCrop, resampleInto, type WriteOptions } from './resize.js';
import { optChoice, optInt, optNumber, optString, parseNumber, type DataSpec } from './spec.js';
import type { Chunk, Source, SourceContext } from './source.js';

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff']);
const DECODE_CONCURRENCY = 8;
const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

type Sharp = typeof import('sharp');
let sharpModule: Promise<Sharp> | undefined;

/** sharp, loaded on first use (only image datasets need the native library). */
function loadSharp(): Promise<Sharp> {
  sharpModule ??= import('sharp').then((m) => {
    const sharp = (m as unknown as { default: Sharp }).default ?? m;
    sharp.cache(false);
    return sharp;
  });
  return sharpModule;
}

function byName(a: Dirent, b: Dirent): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function list(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => !e.name.startsWith('.'))
      .sort(byName);
  } catch (e) {
    throw fileError(dir, e);
  }
}

const isImage = (e: Dirent) => e.isFile() && EXTENSIONS.has(extname(e.name).toLowerCase());

/** Every image under `dir`, depth first, in sorted order. */
function walk(dir: string, out: string[] = []): string[] {
  for (const e of list(dir)) {
    if (e.isDirectory()) walk(join(dir, e.name), out);
    else if (isImage(e)) out.push(join(dir, e.name));
  }
  return out;
}

/** The model input the images feed: `input=`, else the model's only input. */
function targetInput(spec: DataSpec, ctx: SourceContext): IoInfo | undefined {
  const name = optString(spec, 'input');
  if (name !== undefined) return ctx.inputs?.find((i) => i.name === name);
  return ctx.inputs?.length === 1 ? ctx.inputs[0] : undefined;
}

/** mean/std per output channel (in the model's channel order; the imagenet preset follows `color`). */
function channelsList(spec: DataSpec, key: 'mean' | 'std', channels: number, fallback: number, bgr: boolean): number[] {
  const values = spec.options.get(key);
  if (!values) return Array.from({ length: channels }, () => fallback);
  if (values.length === 1 && values[0] === 'imagenet') {
    if (channels !== 3) throw new DataError(`data spec '${spec.text}': ${key}=imagenet needs 3 channels`);
    return bgr ? [...IMAGENET[key]].reverse() : IMAGENET[key];
  }
  const nums = values.map((v) => parseNumber(spec, key, v));
  if (nums.length === 1) return Array.from({ length: channels }, () => nums[0]);
  if (nums.length !== channels)
    throw new DataError(`data spec '${spec.text}': ${key} has ${nums.length} values for ${channels} channels`);
  if (key === 'std' && nums.includes(0)) throw new DataError(`data spec '${spec.text}': std must not be 0`);
  return nums;
}

export async function openImages(spec: DataSpec, ctx: SourceContext): Promise<Source> {
  const root = spec.path!;
  try {
    if (!statSync(root).isDirectory()) throw new DataError(`${root}: not a folder (images: takes a folder of images)`);
  } catch (e) {
    throw fileError(root, e);
  }
  const entries = list(root);
  const labelsMode =
    optChoice(spec, 'labels', ['subfolders', 'none'] as const) ??
    (entries.length > 0 && entries.every((e) => e.isDirectory()) ? 'subfolders' : 'none');
  let files: string[];
  let labels: Int32Array | undefined;
  let classes: string[] | undefined;
  if (labelsMode === 'subfolders') {
    const dirs = entries.filter((e) => e.isDirectory());
    if (dirs.length === 0) throw new DataError(`${root}: labels=subfolders but the folder has no subfolders`);
    classes = dirs.map((d) => d.name);
    files = [];
    const ids: number[] = [];
    classes.forEach((c, id) => {
      for (const f of walk(join(root, c))) {
        files.push(f);
        ids.push(id);
      }
    });
    labels = Int32Array.from(ids);
  } else files = walk(root);
  if (files.length === 0) throw new DataError(`${root}: no images (${[...EXTENSIONS].join(' ')}) in this folder`);

  // What the model wants, where the spec does not say.
  const io = targetInput(spec, ctx);
  const d = io?.dims?.length === 4 ? io.dims : undefined;
  const layout =
    optChoice(spec, 'layout', ['nchw', 'nhwc'] as const) ??
    (d && (d[1] === 1 || d[1] === 3) ? 'nchw' : d && (d[3] === 1 || d[3] === 3) ? 'nhwc' : 'nchw');
  const modelChannels = d ? d[layout === 'nchw' ? 1 : 3] : undefined;
  const color = optChoice(spec, 'color', ['rgb', 'bgr', 'gray'] as const) ?? (modelChannels === 1 ? 'gray' : 'rgb');
  const channels = color === 'gray' ? 1 : 3;
  let width: number;
  let height: number;
  const sizeText = optString(spec, 'size');
  if (sizeText !== undefined) {
    const m = /^(\d+)(?:x(\d+))?$/.exec(sizeText);
    if (!m || Number(m[1]) === 0 || Number(m[2] ?? m[1]) === 0)
      throw new DataError(`data spec '${spec.text}': size must be WxH or S (pixels), got '${sizeText}'`);
    width = Number(m[1]);
    height = Number(m[2] ?? m[1]);
  } else {
    const [h, w] = d ? (layout === 'nchw' ? [d[2], d[3]] : [d[1], d[2]]) : [undefined, undefined];
    if (typeof h !== 'number' || typeof w !== 'number')
      throw new DataError(
        io
          ? `data spec '${spec.text}': input '${io.name}' has no static height and width ([${(io.dims ?? []).map((x) => x ?? '?').join(',')}]); give size=WxH`
          : `data spec '${spec.text}': give size=WxH (no model input to take it from)`,
      );
    width = w;
    height = h;
  }
  const resize = optInt(spec, 'resize', 1);
  if (resize !== undefined && resize < Math.min(width, height))
    throw new DataError(`data spec '${spec.text}': resize=${resize} is smaller than size ${width}x${height}`);
  const write: WriteOptions = {
    order: color === 'bgr' ? [2, 1, 0] : color === 'gray' ? [0] : [0, 1, 2],
    layout,
    scale: optNumber(spec, 'scale') ?? 1 / 255,
    mean: channelsList(spec, 'mean', channels, 0, color === 'bgr'),
    std: channelsList(spec, 'std', channels, 1, color === 'bgr'),
  };
  const sampleDims = layout === 'nchw' ? [channels, height, width] : [height, width, channels];
  const sampleSize = channels * height * width;
  const sharp = await loadSharp();

  async function decodeInto(file: string, out: Float32Array, offset: number): Promise<void> {
    let raw: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      let img = sharp(file).removeAlpha();
      img = color === 'gray' ? img.grayscale() : img.toColourspace('srgb');
      raw = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    } catch (e) {
      const msg = String((e as Error).message ?? e).split('\n')[0];
      throw new DataError(`${file}: cannot decode image (${msg})`);
    }
    const { width: w, height: h, channels: c } = raw.info;
    if (c !== channels) throw new DataError(`${file}: decoded to ${c} channels, expected ${channels}`);
    const plan =
      resize !== undefined
        ? planResizeCrop(w, h, c, resize, width, height)
        : {
            width: w,
            height: h,
            channels: c,
            outWidth: width,
            outHeight: height,
            resizedWidth: width,
            resizedHeight: height,
          };
    resampleInto(new Uint8Array(raw.data.buffer, raw.data.byteOffset, raw.data.byteLength), plan, write, out, offset);
  }

  async function* read(chunk: number, end: number): AsyncGenerator<Chunk> {
    for (let start = 0; start < end; start += chunk) {
      const n = Math.min(chunk, end - start);
      const data = new Float32Array(n * sampleSize);
      // A few decodes in flight (sharp runs them on libuv's pool), not the whole batch: decoded
      // photos can be large, and only the resized result is kept.
      let next = 0;
      const worker = async () => {
        while (next < n) {
          const i = next++;
          await decodeInto(files[start + i], data, i * sampleSize);
        }
      };
      await Promise.all(Array.from({ length: Math.min(n, DECODE_CONCURRENCY) }, worker));
      yield {
        columns: [{ type: 'float32', dims: [n, ...sampleDims], data }],
        ...(labels ? { labels: labels.slice(start, start + n) } : {}),
      };
    }
  }

  const shown = classes && classes.length > 4 ? [...classes.slice(0, 4), '…'] : classes;
  return {
    description:
      `images ${basename(root)}: ${files.length} files` +
      (classes ? `, ${classes.length} classes (${shown!.join(', ')})` : '') +
      ` → [${sampleDims.join(',')}] ${color} ${layout}${resize ? `, resize ${resize} + centre crop` : ''}`,
    count: files.length,
    columns: [
      {
        ...(optString(spec, 'input') !== undefined ? { input: optString(spec, 'input')! } : {}),
        type: 'float32',
        sampleDims,
      },
    ],
    hasLabels: labels !== undefined,
    ...(classes ? { classes } : {}),
    read,
  };
}
