/** The fidelity table, shared by eval and compare reports. */
import * as f from './format.js';
import { markup, type SafeHtml } from './html.js';
import { facts, note, path, table } from './parts.js';
import type { FidelityReport, OutputFidelity } from './types.js';

/** True when the output is bit-for-bit the reference's (then a null SNR means +∞, not NaN). */
export function identical(o: OutputFidelity): boolean {
  return o.maxAbsError === 0;
}

/** The lowest cosine over the outputs (null if any is NaN, undefined if there are no outputs). */
export function worstCosine(fid: FidelityReport): number | null | undefined {
  if (fid.perOutput.length === 0) return undefined;
  let worst = Infinity;
  for (const o of fid.perOutput) {
    if (o.cosine === null || Number.isNaN(o.cosine)) return null;
    worst = Math.min(worst, o.cosine);
  }
  return worst;
}

export function fidelityTable(fid: FidelityReport): SafeHtml {
  const anyArgmax = fid.perOutput.some((o) => o.argmaxAgreement !== undefined);
  const rows = fid.perOutput.map((o) => [
    markup`<code>${o.name}</code>`,
    { n: f.int(o.samples) },
    { n: f.cosine(o.cosine) },
    { n: f.snr(o.snrDb, identical(o)) },
    { n: f.real(o.maxAbsError) },
    { n: f.real(o.meanAbsError) },
    ...(anyArgmax ? [{ n: o.argmaxAgreement === undefined ? '—' : f.pct(o.argmaxAgreement) }] : []),
  ]);
  return markup`${facts([['Reference', path(fid.against)]])}${table(
    [
      { label: 'Output' },
      { label: 'Samples', num: true },
      { label: 'Cosine', num: true, title: 'Cosine similarity of the flattened outputs (1 = same direction)' },
      { label: 'SNR', num: true, title: '10·log10(Σref² / Σ(ref − test)²)' },
      { label: 'Max |error|', num: true },
      { label: 'Mean |error|', num: true },
      ...(anyArgmax ? [{ label: 'Argmax agreement', num: true }] : []),
    ],
    rows,
    { caption: 'Outputs compared element by element against the reference model on the same inputs.' },
  )}${fid.perOutput.length === 0 ? note('No numeric outputs were compared.') : ''}`;
}
