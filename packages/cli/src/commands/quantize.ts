import { quantizeModel, QUANTIZE_MODES, type QuantizeMode, type QuantizeResult } from '@edgeforge/forge';
import { UsageError } from '../errors.js';
import { bytes, count, table } from '../output.js';
import {
  compressOptions,
  finishCompress,
  flagOptions,
  measuredLines,
  type CompressFlags,
  type FlagTable,
} from './compress.js';
import { int } from './measure.js';

/** Flags as commander hands them over (strings; validated here or by the pass). */
export interface QuantizeFlags extends CompressFlags {
  mode?: string;
  calib?: string;
  calibLimit?: string;
  calibBatch?: string;
  method?: string;
  percentile?: string;
  activationType?: string;
  weightType?: string;
  perChannel?: boolean;
  reduceRange?: boolean;
  bits?: string;
  blockSize?: string;
  symmetric?: boolean;
  format?: string;
  accuracyLevel?: string;
  keepIoTypes?: boolean;
  blockOps?: string;
  opTypes?: string;
  excludeNodes?: string;
  includeNodes?: string;
  analyze?: boolean;
  autoExclude?: string;
  autoExcludeMax?: string;
}

const FLAG_OPTIONS: FlagTable<QuantizeMode> = {
  method: ['calibrateMethod', 'string', ['static']],
  percentile: ['percentile', 'number', ['static']],
  activationType: ['activationType', 'string', ['static']],
  weightType: ['weightType', 'string', ['dynamic', 'static']],
  perChannel: ['perChannel', 'boolean', ['dynamic', 'static']],
  reduceRange: ['reduceRange', 'boolean', ['dynamic', 'static']],
  bits: ['bits', 'int', ['weight-only']],
  blockSize: ['blockSize', 'int', ['weight-only']],
  symmetric: ['symmetric', 'boolean', ['weight-only']],
  format: ['format', 'string', ['weight-only']],
  accuracyLevel: ['accuracyLevel', 'int', ['weight-only']],
  keepIoTypes: ['keepIoTypes', 'boolean', ['fp16']],
  blockOps: ['blockOps', 'list', ['fp16']],
  opTypes: ['opTypes', 'list', ['dynamic', 'static', 'weight-only']],
  includeNodes: ['includeNodes', 'list', ['dynamic', 'static', 'weight-only']],
  excludeNodes: ['excludeNodes', 'list', ['dynamic', 'static', 'weight-only', 'fp16']],
  autoExclude: ['autoExcludeSnrDb', 'number', ['static']],
  autoExcludeMax: ['autoExcludeMax', 'int', ['static']],
};

/** The mode's pass options from the flags; a flag of another mode is a usage error. */
export function passOptionsFrom(mode: QuantizeMode, f: QuantizeFlags): Record<string, unknown> {
  const out = flagOptions(FLAG_OPTIONS, mode, f, '--mode');
  // fp16 calls its node exclusion list blockNodes.
  if (mode === 'fp16' && out.excludeNodes) {
    out.blockNodes = out.excludeNodes;
    delete out.excludeNodes;
  }
  return out;
}

function human(r: QuantizeResult): string {
  const ratio = r.bytesAfter / r.bytesBefore;
  const lines = [
    `${r.input} → ${r.output} (${r.mode})`,
    `size ${bytes(r.bytesBefore)} → ${bytes(r.bytesAfter)} (${ratio.toFixed(3)}×), nodes ${r.nodesBefore} → ${r.nodesAfter}, parameters ${count(r.paramsBefore)} → ${count(r.paramsAfter)}`,
  ];
  const q = r.steps[r.steps.length - 1];
  const changes = Object.entries(q.counts).map(([k, n]) => `${k} ${n}`);
  lines.push(`${q.pass}: ${changes.join(', ') || 'nothing to quantize'}`);
  if (q.notes?.length) {
    lines.push('notes (left in float, skipped)');
    for (const n of q.notes.slice(0, 20)) lines.push(`  ${n}`);
    if (q.notes.length > 20) lines.push(`  … ${q.notes.length - 20} more (--json)`);
  }
  if (r.layers) {
    const db = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '∞');
    lines.push('', 'per-layer error against the float model (worst first: SNR the layer itself loses)');
    lines.push(
      table(
        [
          ['node', 'op', 'SNR dB', 'input SNR dB', 'loses dB', 'cosine'],
          ...r.layers.slice(0, 20).map((l) => {
            const inSnr = Number.isFinite(l.inputSnrDb) ? l.inputSnrDb : 100;
            return [l.node, l.opType, db(l.snrDb), db(l.inputSnrDb), (inSnr - l.snrDb).toFixed(1), l.cosine.toFixed(5)];
          }),
        ],
        { align: ['l', 'l', 'r', 'r', 'r', 'r'] },
      ),
    );
    if (r.layers.length > 20) lines.push(`  … ${r.layers.length - 20} more (--json)`);
  }
  lines.push(...measuredLines(r, 'quantized'));
  return lines.join('\n');
}

export async function quantizeCommand(input: string, f: QuantizeFlags): Promise<string> {
  if (!f.output) throw new UsageError('quantize needs -o <out.onnx>');
  const modes = Object.keys(QUANTIZE_MODES);
  if (!f.mode || !modes.includes(f.mode)) throw new UsageError(`--mode: choose one of ${modes.join(', ')}`);
  const mode = f.mode as QuantizeMode;
  const shared = compressOptions(f);
  if (mode === 'static' && !f.calib)
    throw new UsageError('--mode static needs --calib <data spec> (e.g. synthetic:count=100 to calibrate on noise)');
  const calibLimit = int('calib-limit', f.calibLimit);
  const calibBatch = int('calib-batch', f.calibBatch);
  const r = await quantizeModel(input, f.output, {
    ...shared,
    mode,
    passOptions: passOptionsFrom(mode, f),
    ...(f.calib ? { calib: f.calib } : {}),
    ...(calibLimit ? { calibLimit } : {}),
    ...(calibBatch ? { calibBatch } : {}),
    ...(f.analyze ? { analyze: true } : {}),
  });
  return finishCompress(r, f, human);
}
