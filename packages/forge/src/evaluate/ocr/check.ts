/**
 * The OCR accuracy check: render text lines, run them through a PaddleOCR recogniser in batches of
 * similar width, greedy-decode, and compare with the text that was drawn. The fp32 PP-OCRv4
 * recogniser reads the built-in corpus (`ocrCorpus`) essentially perfectly, so any loss after
 * compression shows directly in `exactMatch` and `charErrorRate`.
 *
 * The comparison follows PaddleOCR's own metric: spaces are ignored and full-width punctuation counts
 * as its ASCII twin (see `ignoreSpace`, `foldWidth`); `strict` gives the raw-string numbers too.
 */
import { ctcDecodeBatch, loadOcrKeys, type OcrVocabulary } from './ctc.js';
import { preprocessBatch, resizedWidth, type OcrTensor, type PreprocessOptions } from './preprocess.js';
import { ensureOcrFonts, OCR_DEFAULT_FONTS, ocrFont, renderLine, type OcrFont, type RgbImage } from './render.js';

/** Runs one [N, 3, 48, W] float32 batch through the recogniser and returns its [N, W/8, C] output. */
export type OcrRunner = (x: OcrTensor) => Promise<OcrTensor>;

export interface OcrAccuracyOptions {
  /** the keys file (path) or a vocabulary from `loadOcrKeys` */
  keys: string | OcrVocabulary;
  /** fonts to cycle through, by name or as `OcrFont` (default `OCR_DEFAULT_FONTS`: sans, serif, sans-bold) */
  fonts?: readonly (string | OcrFont)[];
  /** font sizes in px to cycle through (default [24, 32, 40]) */
  sizes?: readonly number[];
  /** margin around the text, fraction of the font size (default 0.15) */
  margin?: number;
  /** lines per model run (default 16) */
  batchSize?: number;
  preprocess?: PreprocessOptions;
  /**
   * Compare without spaces (default true). PaddleOCR's own metric (`RecMetric`, `ignore_space=True`)
   * does the same: the Chinese recogniser often drops the space after a comma (`6, 2006` → `6,2006`).
   */
  ignoreSpace?: boolean;
  /**
   * Compare after NFKC normalization (default true): the keys file holds full-width twins of ASCII
   * punctuation (`，` `）` `＋`) that look the same as `,` `)` `+` and that the model picks now and then.
   */
  foldWidth?: boolean;
  /** called after each batch with the number of lines done */
  onProgress?: (done: number, total: number) => void;
}

export interface OcrLineResult {
  /** what was drawn */
  readonly text: string;
  /** what the model read */
  readonly read: string;
  /** `read` equals `text` after the comparison's normalization */
  readonly ok: boolean;
  /** mean probability of the characters read */
  readonly confidence: number;
  /** edit distance between the normalized `text` and `read` */
  readonly edits: number;
  readonly font: string;
  readonly size: number;
}

export interface OcrAccuracy {
  /** number of lines */
  readonly lines: number;
  /** fraction of lines read exactly (after the normalization that `ignoreSpace` and `foldWidth` ask for) */
  readonly exactMatch: number;
  /** total edit distance / total characters of the reference lines (both normalized) */
  readonly charErrorRate: number;
  /** the same two numbers comparing raw strings, spaces and full-width forms included */
  readonly strict: { readonly exactMatch: number; readonly charErrorRate: number };
  /** mean of the per-line confidences */
  readonly meanConfidence: number;
  /** in the order of the input lines */
  readonly perLine: OcrLineResult[];
}

/** The comparison's normalization: NFKC (`foldWidth`), then spaces removed (`ignoreSpace`). */
export function normalizeOcrText(text: string, options: { ignoreSpace?: boolean; foldWidth?: boolean } = {}): string {
  let t = (options.foldWidth ?? true) ? text.normalize('NFKC') : text;
  if (options.ignoreSpace ?? true) t = t.replace(/\s+/g, '');
  return t;
}

/** Levenshtein distance over UTF-16 code units (unit costs). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1] + (ca === b.charCodeAt(j - 1) ? 0 : 1);
      cur[j] = Math.min(sub, prev[j] + 1, cur[j - 1] + 1);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

interface Rendered {
  readonly index: number;
  readonly text: string;
  readonly image: RgbImage;
  readonly font: string;
  readonly size: number;
  readonly width: number;
}

/**
 * Measures how well `runner`'s model reads `lines`. Line i is drawn in font `fonts[i % F]` at size
 * `sizes[⌊i / F⌋ % S]`, so every font meets every size. Characters the keys file lacks make the line
 * unreadable by construction: they are rejected up front.
 */
export async function ocrAccuracy(
  runner: OcrRunner,
  lines: readonly string[],
  options: OcrAccuracyOptions,
): Promise<OcrAccuracy> {
  if (lines.length === 0) throw new RangeError('ocrAccuracy: no lines');
  const vocab = typeof options.keys === 'string' ? loadOcrKeys(options.keys) : options.keys;
  const fonts = (options.fonts ?? OCR_DEFAULT_FONTS).map((f) => (typeof f === 'string' ? ocrFont(f) : f));
  if (fonts.length === 0) throw new RangeError('ocrAccuracy: no fonts');
  ensureOcrFonts(fonts);
  const sizes = options.sizes ?? [24, 32, 40];
  const batchSize = options.batchSize ?? 16;
  if (sizes.length === 0) throw new RangeError('ocrAccuracy: no font sizes');
  if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new RangeError(`ocrAccuracy: bad batchSize ${batchSize}`);

  lines.forEach((text, i) => {
    const bad = [...new Set([...text].filter((c) => !vocab.index.has(c)))];
    if (bad.length > 0) {
      throw new RangeError(
        `ocrAccuracy: line ${i} ${JSON.stringify(text)} has characters not in the keys: ${JSON.stringify(bad.join(''))}`,
      );
    }
    if (text.trim() !== text || text.length === 0 || /\s\s|[^\S ]/.test(text)) {
      throw new RangeError(
        `ocrAccuracy: line ${i} ${JSON.stringify(text)} is empty or has leading, trailing, repeated or non-space whitespace`,
      );
    }
  });

  const rendered: Rendered[] = lines.map((text, index) => {
    const font = fonts[index % fonts.length];
    const size = sizes[Math.floor(index / fonts.length) % sizes.length];
    const image = renderLine(text, { font, size, margin: options.margin });
    return { index, text, image, font: font.name, size, width: resizedWidth(image, options.preprocess) };
  });

  // Batches of similar width waste little compute on padding.
  const order = [...rendered].sort((a, b) => a.width - b.width || a.index - b.index);
  const perLine = new Array<OcrLineResult>(lines.length);
  const strictEdits = new Array<number>(lines.length);
  const norm = (t: string): string => normalizeOcrText(t, options);
  const refChars = lines.reduce((n, l) => n + norm(l).length, 0);
  if (refChars === 0) throw new RangeError('ocrAccuracy: the lines have no characters to compare');
  for (let start = 0; start < order.length; start += batchSize) {
    const batch = order.slice(start, start + batchSize);
    const { tensor } = preprocessBatch(
      batch.map((r) => r.image),
      options.preprocess,
    );
    const output = await runner(tensor);
    if (output.dims[0] !== batch.length) {
      throw new RangeError(
        `ocrAccuracy: runner returned dims [${output.dims.join(', ')}] for a batch of ${batch.length}`,
      );
    }
    ctcDecodeBatch(output, vocab).forEach((res, k) => {
      const r = batch[k];
      const edits = editDistance(norm(r.text), norm(res.text));
      strictEdits[r.index] = editDistance(r.text, res.text);
      perLine[r.index] = {
        text: r.text,
        read: res.text,
        ok: edits === 0,
        confidence: res.confidence,
        edits,
        font: r.font,
        size: r.size,
      };
    });
    options.onProgress?.(Math.min(start + batchSize, order.length), order.length);
  }

  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  return {
    lines: lines.length,
    exactMatch: perLine.filter((l) => l.ok).length / lines.length,
    charErrorRate: sum(perLine.map((l) => l.edits)) / refChars,
    strict: {
      exactMatch: strictEdits.filter((e) => e === 0).length / lines.length,
      charErrorRate: sum(strictEdits) / sum(lines.map((l) => l.length)),
    },
    meanConfidence: perLine.reduce((s, l) => s + l.confidence, 0) / lines.length,
    perLine,
  };
}
