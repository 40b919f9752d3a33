/**
 * CTC greedy decoding of the PaddleOCR recogniser's output: per time step take the most probable
 * class, merge runs of the same class, drop the blank (class 0), and map classes to characters
 * through the keys file (class k = line k of `ppocr_keys_v1.txt`, 1-based; the last class = space).
 */
import { readFileSync } from 'node:fs';
import type { OcrTensor } from './preprocess.js';

/** Class index → character; index 0 is the CTC blank (empty string). */
export interface OcrVocabulary {
  readonly chars: readonly string[];
  /** character → class index */
  readonly index: ReadonlyMap<string, number>;
}

/**
 * Builds the vocabulary from the keys file's text: blank, one class per line, then space (PaddleOCR's
 * `use_space_char`). A trailing newline at the end of the file does not make an extra class.
 */
export function parseOcrKeys(text: string, options: { spaceChar?: boolean } = {}): OcrVocabulary {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new Error('OCR keys: no characters');
  const chars = ['', ...lines];
  if (options.spaceChar ?? true) chars.push(' ');
  const index = new Map<string, number>();
  chars.forEach((c, i) => {
    if (i > 0 && !index.has(c)) index.set(c, i);
  });
  return { chars, index };
}

/** Reads a PaddleOCR keys file (e.g. `ppocr_keys_v1.txt`) into a vocabulary. */
export function loadOcrKeys(path: string, options: { spaceChar?: boolean } = {}): OcrVocabulary {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`OCR keys: cannot read ${path}: ${(e as Error).message}`);
  }
  return parseOcrKeys(text, options);
}

export interface CtcResult {
  readonly text: string;
  /** mean probability of the emitted characters (PaddleOCR's score); 0 when nothing was read */
  readonly confidence: number;
}

/**
 * Greedy-decodes one sequence: `probs` holds `steps × classes` values (row per time step) starting at
 * `offset`. Values may be probabilities (the model's softmax) or logits; `confidence` is only
 * meaningful for probabilities.
 */
export function ctcGreedyDecode(
  probs: ArrayLike<number>,
  steps: number,
  classes: number,
  vocab: OcrVocabulary,
  offset = 0,
): CtcResult {
  if (classes !== vocab.chars.length) {
    throw new RangeError(`CTC: model has ${classes} classes, the keys file gives ${vocab.chars.length}`);
  }
  let text = '';
  let sum = 0;
  let count = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    const base = offset + t * classes;
    let best = 0;
    let bestP = probs[base];
    for (let k = 1; k < classes; k++) {
      const p = probs[base + k];
      if (p > bestP) {
        bestP = p;
        best = k;
      }
    }
    if (best !== 0 && best !== prev) {
      text += vocab.chars[best];
      sum += bestP;
      count++;
    }
    prev = best;
  }
  return { text, confidence: count > 0 ? sum / count : 0 };
}

/** Decodes a whole [N, T, C] output. */
export function ctcDecodeBatch(output: OcrTensor, vocab: OcrVocabulary): CtcResult[] {
  const { dims, data } = output;
  if (dims.length !== 3) throw new RangeError(`CTC: expected output [N, T, C], got [${dims.join(', ')}]`);
  const [n, steps, classes] = dims;
  if (data.length !== n * steps * classes) {
    throw new RangeError(`CTC: output has ${data.length} values for dims [${dims.join(', ')}]`);
  }
  const out: CtcResult[] = [];
  for (let i = 0; i < n; i++) out.push(ctcGreedyDecode(data, steps, classes, vocab, i * steps * classes));
  return out;
}
