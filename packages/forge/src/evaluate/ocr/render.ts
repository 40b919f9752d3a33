/**
 * Renders a line of text to an RGB image (black on white), the input of the OCR accuracy check.
 *
 * Drawing goes through `@napi-rs/canvas` (Skia; its prebuilt binary ships as an npm platform package,
 * so nothing downloads at install or run time). Fonts are TrueType files from Debian's
 * `fonts-dejavu-core`, registered by path under private aliases so that a line is drawn with exactly
 * the face asked for, never with whatever fontconfig would substitute.
 */
import { existsSync } from 'node:fs';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';

/** An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC). */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  /** length = width × height × 3 */
  readonly data: Uint8Array;
}

/** A font face the renderer knows: a file shipped by a Debian package. */
export interface OcrFont {
  /** short name used in options and reports, e.g. `sans` */
  readonly name: string;
  /** TrueType file */
  readonly file: string;
  /** Debian package that ships `file` */
  readonly aptPackage: string;
}

const DEJAVU_DIR = '/usr/share/fonts/truetype/dejavu';

/**
 * The built-in faces (all in `fonts-dejavu-core`): proportional sans and serif, bold, monospace.
 * `mono` is harder for the PP-OCRv4 recogniser (it reads DejaVu Sans Mono's `O` as `0` and `kW` as
 * `kw` now and then, ~96% of lines exact against ~99.7% for the others), so the accuracy check
 * leaves it out by default (`OCR_DEFAULT_FONTS`).
 */
export const OCR_FONTS: readonly OcrFont[] = [
  { name: 'sans', file: `${DEJAVU_DIR}/DejaVuSans.ttf`, aptPackage: 'fonts-dejavu-core' },
  { name: 'serif', file: `${DEJAVU_DIR}/DejaVuSerif.ttf`, aptPackage: 'fonts-dejavu-core' },
  { name: 'sans-bold', file: `${DEJAVU_DIR}/DejaVuSans-Bold.ttf`, aptPackage: 'fonts-dejavu-core' },
  { name: 'mono', file: `${DEJAVU_DIR}/DejaVuSansMono.ttf`, aptPackage: 'fonts-dejavu-core' },
];

/** Fonts the accuracy check cycles through by default: those the fp32 recogniser reads near-perfectly. */
export const OCR_DEFAULT_FONTS: readonly string[] = ['sans', 'serif', 'sans-bold'];

/** Thrown when a font file is missing; the message names the Debian package to install. */
export class OcrFontError extends Error {
  override name = 'OcrFontError';
}

const registered = new Map<string, string>(); // font file → family alias

/** The built-in font called `name`; throws naming the known ones. */
export function ocrFont(name: string): OcrFont {
  const font = OCR_FONTS.find((f) => f.name === name);
  if (!font) {
    throw new OcrFontError(
      `unknown OCR font ${JSON.stringify(name)} (known: ${OCR_FONTS.map((f) => f.name).join(', ')})`,
    );
  }
  return font;
}

/** Registers the font's file with the canvas library once; returns the family alias to draw with. */
function familyOf(font: OcrFont): string {
  const known = registered.get(font.file);
  if (known) return known;
  if (!existsSync(font.file)) {
    throw new OcrFontError(
      `OCR font ${font.name}: ${font.file} not found; install it with: apt-get install -y ${font.aptPackage}`,
    );
  }
  const alias = `edgeforge-ocr-${registered.size}-${font.name}`;
  if (!GlobalFonts.registerFromPath(font.file, alias)) {
    throw new OcrFontError(`OCR font ${font.name}: ${font.file} could not be loaded as a font`);
  }
  registered.set(font.file, alias);
  return alias;
}

/**
 * Checks that every built-in font (or the given ones) is installed, with one error naming the Debian
 * package(s) to install. Cheap; call it before a long run to fail early.
 */
export function ensureOcrFonts(fonts: readonly (string | OcrFont)[] = OCR_FONTS): void {
  const resolved = fonts.map((f) => (typeof f === 'string' ? ocrFont(f) : f));
  const missing = resolved.filter((f) => !existsSync(f.file));
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((f) => f.aptPackage))].join(' ');
    throw new OcrFontError(
      `OCR fonts missing: ${missing.map((f) => f.file).join(', ')}; install them with: apt-get install -y ${pkgs}`,
    );
  }
  for (const f of resolved) familyOf(f);
}

export interface RenderOptions {
  /** one of `OCR_FONTS` by name, or a font of your own (default `sans`) */
  font?: string | OcrFont;
  /** font size in pixels (default 32) */
  size?: number;
  /** blank border around the text, as a fraction of `size` (default 0.15) */
  margin?: number;
}

/**
 * Draws `text` in black on a white canvas as tall as the font's line box (ascent + descent, so every
 * line in one font and size has the same height whatever its letters) plus the margin on each side.
 */
export function renderLine(text: string, options: RenderOptions = {}): RgbImage {
  if (text.length === 0) throw new RangeError('renderLine: empty text');
  const font = typeof options.font === 'object' ? options.font : ocrFont(options.font ?? 'sans');
  const size = options.size ?? 32;
  const marginFrac = options.margin ?? 0.15;
  if (!(size >= 4 && size <= 512)) throw new RangeError(`renderLine: font size ${size} out of range 4..512 px`);
  if (!(marginFrac >= 0 && marginFrac <= 4)) throw new RangeError(`renderLine: margin ${marginFrac} out of range 0..4`);

  const css = `${size}px "${familyOf(font)}"`;
  const probe = createCanvas(1, 1).getContext('2d');
  probe.font = css;
  const m = probe.measureText(text);
  const ascent = Math.ceil(m.fontBoundingBoxAscent);
  const descent = Math.ceil(m.fontBoundingBoxDescent);
  const margin = Math.round(size * marginFrac);
  // Glyphs may overhang their advance (italic, some serifs): take the ink box as well.
  const left = Math.max(0, Math.ceil(m.actualBoundingBoxLeft));
  const inkWidth = Math.max(m.width, left + m.actualBoundingBoxRight);
  const width = Math.ceil(inkWidth) + 2 * margin;
  const height = ascent + descent + 2 * margin;

  const canvas = createCanvas(width, height);
  const g = canvas.getContext('2d');
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, width, height);
  g.fillStyle = '#000000';
  g.font = css;
  g.textBaseline = 'alphabetic';
  g.fillText(text, margin + left, margin + ascent);

  const rgba = g.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return { width, height, data: rgb };
}
