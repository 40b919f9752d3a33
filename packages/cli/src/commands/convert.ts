import { saveModel, type SaveResult } from '@edgeforge/onnx';
import { loadChecked } from '../load.js';
import { UsageError } from '../errors.js';
import { bytes, json } from '../output.js';

export interface ConvertOptions {
  output?: string;
  /** true: default threshold; string: minimum bytes for a tensor to go external. */
  externalData?: boolean | string;
  inline?: boolean;
  json?: boolean;
  /** Refuse models that fail the checker (default true). */
  check?: boolean;
}

/** Default size from which tensors move to external data (the same as onnx's `size_threshold`). */
export const DEFAULT_EXTERNAL_THRESHOLD = 1024;

export function convert(input: string, opts: ConvertOptions): string {
  if (!opts.output) throw new UsageError('convert needs -o <out.onnx>');
  if (opts.inline && opts.externalData) throw new UsageError('--inline and --external-data exclude each other');
  let threshold: number | undefined;
  if (opts.externalData !== undefined && opts.externalData !== false) {
    threshold = opts.externalData === true ? DEFAULT_EXTERNAL_THRESHOLD : Number(opts.externalData);
    if (!Number.isInteger(threshold) || threshold < 0)
      throw new UsageError(`--external-data: '${opts.externalData}' is not a byte count`);
  }
  const { model } = loadChecked(input, opts.check ?? true);
  const res: SaveResult = saveModel(model, opts.output, {
    ...(threshold !== undefined ? { externalDataThreshold: threshold } : {}),
    inline: !!opts.inline,
  });
  const result = { input, output: opts.output, ...res };
  if (opts.json) return json(result);
  return (
    `wrote ${opts.output} (${bytes(res.bytes)})` +
    (res.externalTensors
      ? `, ${res.externalTensors} tensors (${bytes(res.externalBytes)}) in ${res.externalFile}`
      : ', all tensors inline')
  );
}
