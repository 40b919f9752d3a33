/**
 * Bilinear resampling of 8-bit interleaved pixels into normalized float32 tensors.
 *
 * Half-pixel centres, edge-clamped, no antialiasing: source x = (x + 0.5) · (w / outW) − 0.5,
 * clamped at 0 — the same formula as OpenCV's `INTER_LINEAR` and PyTorch's
 * `interpolate(mode='bilinear', align_corners=False, antialias=False)` (OpenCV rounds through
 * fixed point, so it may differ by one level in 255).
 */

export interface ResizePlan {
  /** Source image size. */
  readonly width: number;
  readonly height: number;
  readonly channels: number;
  /** Output (crop) size. */
  readonly outWidth: number;
  readonly outHeight: number;
  /** Size of the resized image the output is cut from (centre crop); equal to out* for a plain resize. */
  readonly resizedWidth: number;
  readonly resizedHeight: number;
}

/**
 * Resize so the shorter side is `shorter`, then centre-crop `outWidth × outHeight`, with
 * torchvision's arithmetic for `Resize(shorter)` + `CenterCrop((outHeight, outWidth))`.
 */
export function planResizeCrop(
  width: number,
  height: number,
  channels: number,
  shorter: number,
  outWidth: number,
  outHeight: number,
): ResizePlan {
  // torchvision: the long side is int(S · long / short), truncated
  const resizedWidth = width <= height ? shorter : Math.floor((shorter * width) / height);
  const resizedHeight = height < width ? shorter : Math.floor((shorter * height) / width);
  return { width, height, channels, outWidth, outHeight, resizedWidth, resizedHeight };
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
}

export interface WriteOptions {
  /** Channel order of the output: source channel index for each output channel (BGR = [2, 1, 0]). */
  readonly order: readonly number[];
  /** `nchw` writes planes, `nhwc` interleaves. */
  readonly layout: 'nchw' | 'nhwc';
  /** Per output channel: value = (pixel · scale − mean[c]) / std[c]. */
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

/**
 * Samples `src` (interleaved, `plan.channels` per pixel) into `out` at `offset` (one sample of
 * `order.length × outHeight × outWidth` floats).
 */
export function resampleInto(
  src: Uint8Array,
  plan: ResizePlan,
  opts: WriteOptions,
  out: Float32Array,
  offset: number,
): void {
  const { width: w, height: h, channels: c, outWidth: ow, outHeight: oh, resizedWidth: rw, resizedHeight: rh } = plan;
  const sx = w / rw;
  const sy = h / rh;
  // torchvision's CenterCrop offset: int(round((size - crop) / 2)), Python rounding (half to even)
  const x0 = roundHalfEven((rw - ow) / 2);
  const y0 = roundHalfEven((rh - oh) / 2);
  const oc = opts.order.length;
  // Column taps, computed once per output column.
  const xa = new Int32Array(ow);
  const xb = new Int32Array(ow);
  const xf = new Float32Array(ow);
  for (let x = 0; x < ow; x++) {
    const fx = Math.max(0, (x + x0 + 0.5) * sx - 0.5);
    const i = Math.min(Math.floor(fx), w - 1);
    xa[x] = i * c;
    xb[x] = Math.min(i + 1, w - 1) * c;
    xf[x] = fx - i;
  }
  const mul = opts.order.map((_, k) => opts.scale / opts.std[k]);
  const add = opts.order.map((_, k) => -opts.mean[k] / opts.std[k]);
  const plane = oh * ow;
  for (let y = 0; y < oh; y++) {
    const fy = Math.max(0, (y + y0 + 0.5) * sy - 0.5);
    const j = Math.min(Math.floor(fy), h - 1);
    const row0 = j * w * c;
    const row1 = Math.min(j + 1, h - 1) * w * c;
    const dy = fy - j;
    for (let x = 0; x < ow; x++) {
      const a = row0 + xa[x];
      const b = row0 + xb[x];
      const d = row1 + xa[x];
      const e = row1 + xb[x];
      const dx = xf[x];
      for (let k = 0; k < oc; k++) {
        const s = opts.order[k];
        const top = src[a + s] + (src[b + s] - src[a + s]) * dx;
        const bottom = src[d + s] + (src[e + s] - src[d + s]) * dx;
        const v = (top + (bottom - top) * dy) * mul[k] + add[k];
        out[offset + (opts.layout === 'nchw' ? k * plane + y * ow + x : (y * ow + x) * oc + k)] = v;
      }
    }
  }
}
