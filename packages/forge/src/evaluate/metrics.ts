/**
 * Streaming metrics: accumulate batch by batch, never holding all outputs. Classification
 * (top-1/top-5, confusion matrix, per-class precision/recall) and fidelity of one model's outputs
 * against a reference model's (cosine similarity, SNR, max/mean abs error, argmax agreement).
 */

export interface ClassificationResult {
  samples: number;
  /** Fraction in [0,1]. */
  top1: number;
  /** Fraction in [0,1]; absent when there are fewer than 5 classes. */
  top5?: number;
  /** confusion[label][predicted] counts. */
  confusion: number[][];
  perClass: { precision: number; recall: number; support: number }[];
}

/** Accumulates top-k accuracy and the confusion matrix from logits or probabilities [N, C]. */
export class ClassificationMetrics {
  #samples = 0;
  #top1 = 0;
  #top5 = 0;
  #classes = 0;
  #confusion: number[][] = [];

  /** `scores` is row-major [N, C]; `labels` has N class ids. */
  add(scores: ArrayLike<number>, classes: number, labels: ArrayLike<number | bigint>): void {
    const n = labels.length;
    if (classes <= 0 || scores.length !== n * classes) {
      throw new Error(`scores hold ${scores.length} values, expected ${n} samples × ${classes} classes`);
    }
    if (this.#classes === 0) {
      this.#classes = classes;
      this.#confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    } else if (classes !== this.#classes) throw new Error(`class count changed from ${this.#classes} to ${classes}`);
    for (let i = 0; i < n; i++) {
      const label = Number(labels[i]);
      if (!Number.isInteger(label) || label < 0 || label >= classes) {
        throw new Error(`label ${label} of sample ${this.#samples + i} is outside the model's ${classes} classes`);
      }
      const row = i * classes;
      const target = scores[row + label];
      let best = 0;
      let higher = 0;
      for (let c = 0; c < classes; c++) {
        const v = scores[row + c];
        if (v > scores[row + best]) best = c;
        // Ties count against the label (no credit for an undecided model), as torch's topk would not.
        if (v > target || (v === target && c < label)) higher++;
      }
      if (best === label) this.#top1++;
      if (higher < 5) this.#top5++;
      this.#confusion[label][best]++;
    }
    this.#samples += n;
  }

  result(): ClassificationResult {
    const k = this.#classes;
    const perClass = this.#confusion.map((row, c) => {
      const tp = row[c];
      const support = row.reduce((a, b) => a + b, 0);
      const predicted = this.#confusion.reduce((a, r) => a + r[c], 0);
      return { precision: predicted ? tp / predicted : 0, recall: support ? tp / support : 0, support };
    });
    return {
      samples: this.#samples,
      top1: this.#samples ? this.#top1 / this.#samples : 0,
      ...(k >= 5 ? { top5: this.#samples ? this.#top5 / this.#samples : 0 } : {}),
      confusion: this.#confusion.map((r) => [...r]),
      perClass,
    };
  }
}

export interface FidelityResult {
  name: string;
  /** Values compared (all elements of all samples). */
  elements: number;
  samples: number;
  /** Cosine similarity of the flattened outputs (1 = same direction). */
  cosine: number;
  /** Signal-to-noise ratio in dB: 10·log10(Σref² / Σ(ref−test)²); null when identical (infinite). */
  snrDb: number | null;
  maxAbsError: number;
  meanAbsError: number;
  /** Fraction of samples whose argmax over the last axis agrees (classifier-like outputs). */
  argmaxAgreement?: number;
  /** Samples whose argmax differs (indices, first 100). */
  argmaxDiffers?: number[];
}

/** Accumulates fidelity of `test` against `reference` for one output. */
export class FidelityMetrics {
  #dot = 0;
  #refSq = 0;
  #testSq = 0;
  #errSq = 0;
  #absSum = 0;
  #maxAbs = 0;
  #elements = 0;
  #samples = 0;
  #agree = 0;
  #rows = 0;
  #differs: number[] = [];
  constructor(readonly name: string) {}

  /**
   * Adds a batch. `rowSize` is the size of the last axis (for argmax agreement); pass 0 to skip.
   * NaN in either output counts as an infinite error.
   */
  add(reference: ArrayLike<number>, test: ArrayLike<number>, samples: number, rowSize = 0): void {
    if (reference.length !== test.length) {
      throw new Error(`output '${this.name}': reference has ${reference.length} values, the model ${test.length}`);
    }
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i];
      const t = test[i];
      const e = Math.abs(r - t);
      this.#dot += r * t;
      this.#refSq += r * r;
      this.#testSq += t * t;
      this.#errSq += (r - t) * (r - t);
      this.#absSum += e;
      if (!(e <= this.#maxAbs)) this.#maxAbs = Number.isNaN(e) ? Infinity : e;
    }
    this.#elements += reference.length;
    if (rowSize > 1 && reference.length % rowSize === 0) {
      const rows = reference.length / rowSize;
      for (let row = 0; row < rows; row++) {
        const o = row * rowSize;
        let br = 0;
        let bt = 0;
        for (let c = 1; c < rowSize; c++) {
          if (reference[o + c] > reference[o + br]) br = c;
          if (test[o + c] > test[o + bt]) bt = c;
        }
        if (br === bt) this.#agree++;
        else if (this.#differs.length < 100) this.#differs.push(this.#rows + row);
      }
      this.#rows += rows;
    }
    this.#samples += samples;
  }

  result(): FidelityResult {
    // One square root: sqrt(s·s) is exactly s, so identical outputs give exactly 1 on every CPU.
    const denom = Math.sqrt(this.#refSq * this.#testSq);
    const cosine = denom === 0 ? (this.#refSq === this.#testSq ? 1 : 0) : this.#dot / denom;
    return {
      name: this.name,
      elements: this.#elements,
      samples: this.#samples,
      cosine,
      snrDb: this.#errSq === 0 ? null : 10 * Math.log10(this.#refSq / this.#errSq),
      maxAbsError: this.#maxAbs,
      meanAbsError: this.#elements ? this.#absSum / this.#elements : 0,
      ...(this.#rows ? { argmaxAgreement: this.#agree / this.#rows, argmaxDiffers: [...this.#differs] } : {}),
    };
  }
}
