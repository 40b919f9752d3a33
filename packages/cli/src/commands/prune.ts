import { pruneModel, PRUNE_METHODS, STORE_SPARSE, type PruneMethod, type PruneResult } from '@edgeforge/forge';
import { UsageError } from '../errors.js';
import { bytes, count, pct } from '../output.js';
import {
  compressOptions,
  finishCompress,
  flagOptions,
  measuredLines,
  type CompressFlags,
  type FlagTable,
} from './compress.js';

/** Flags as commander hands them over. */
export interface PruneFlags extends CompressFlags {
  method?: string;
  amount?: string;
  threshold?: string;
  pattern?: string;
  criterion?: string;
  opTypes?: string;
  nodes?: string;
  minSize?: string;
  minChannels?: string;
  multipleOf?: string;
  storeSparse?: boolean | string;
  json?: boolean;
}

const ALL: PruneMethod[] = ['l1', 'global', 'nm', 'channels', 'merge'];
const FLAG_OPTIONS: FlagTable<PruneMethod> = {
  amount: ['amount', 'number', ['l1', 'global', 'channels']],
  threshold: ['threshold', 'number', ['merge']],
  criterion: ['criterion', 'string', ['channels']],
  minChannels: ['minChannels', 'int', ['channels']],
  multipleOf: ['multipleOf', 'int', ['channels']],
  opTypes: ['opTypes', 'list', ALL],
  nodes: ['nodes', 'list', ALL],
  minSize: ['minSize', 'int', ['l1', 'global', 'nm', 'merge']],
};

function human(r: PruneResult): string {
  const ratio = r.bytesAfter / r.bytesBefore;
  const lines = [
    `${r.input} → ${r.output} (${r.method})`,
    `size ${bytes(r.bytesBefore)} → ${bytes(r.bytesAfter)} (${ratio.toFixed(3)}×), gzip ${bytes(r.gzipBefore)} → ${bytes(r.gzipAfter)} (${(r.gzipAfter / r.gzipBefore).toFixed(3)}×)`,
    `nodes ${r.nodesBefore} → ${r.nodesAfter}, parameters ${count(r.paramsBefore)} → ${count(r.paramsAfter)}, prunable weights ${pct(r.sparsity.sparsity)} zeros`,
  ];
  const ours = new Set<string>([...Object.values(PRUNE_METHODS), STORE_SPARSE]);
  for (const st of r.steps.filter((s) => ours.has(s.pass))) {
    const changes = Object.entries(st.counts).map(([k, n]) => `${k} ${n}`);
    lines.push(`${st.pass}: ${changes.join(', ') || 'nothing pruned'}`);
    for (const n of (st.notes ?? []).slice(0, 12)) lines.push(`  ${n}`);
    if ((st.notes?.length ?? 0) > 12) lines.push(`  … ${st.notes!.length - 12} more (--json)`);
  }
  const layers = r.sparsity.weights.filter((w) => w.zeros > 0);
  if (layers.length) {
    lines.push('', 'sparsity by weight (zeros / total)');
    for (const w of layers.slice(0, 15)) lines.push(`  ${w.name}  ${pct(w.sparsity)}  (${w.zeros}/${w.total})`);
    if (layers.length > 15) lines.push(`  … ${layers.length - 15} more (--json)`);
  }
  lines.push(...measuredLines(r, 'pruned'));
  return lines.join('\n');
}

/** `--pattern 2:4` → n, m. */
function pattern(p: string | undefined): { n: number; m: number } | undefined {
  if (p === undefined) return undefined;
  const m = /^(\d+):(\d+)$/.exec(p);
  if (!m) throw new UsageError(`--pattern '${p}': expected n:m, e.g. 2:4`);
  return { n: Number(m[1]), m: Number(m[2]) };
}

export async function pruneCommand(input: string, f: PruneFlags): Promise<string> {
  if (!f.output) throw new UsageError('prune needs -o <out.onnx>');
  const methods = Object.keys(PRUNE_METHODS);
  if (!f.method || !methods.includes(f.method)) throw new UsageError(`--method: choose one of ${methods.join(', ')}`);
  const method = f.method as PruneMethod;
  if ((method === 'l1' || method === 'global' || method === 'channels') && f.amount === undefined)
    throw new UsageError(`--method ${method} needs --amount <fraction in [0,1]>`);
  if (f.pattern !== undefined && method !== 'nm')
    throw new UsageError(`--pattern applies to --method nm, not ${method}`);
  const shared = compressOptions(f);
  const passOptions = { ...flagOptions(FLAG_OPTIONS, method, f, '--method'), ...pattern(f.pattern) };
  let storeSparse: boolean | { minSparsity: number } | undefined;
  if (f.storeSparse !== undefined && f.storeSparse !== false) {
    if (f.storeSparse === true) storeSparse = true;
    else {
      const v = Number(f.storeSparse);
      if (!(v >= 0 && v <= 1)) throw new UsageError(`--store-sparse '${f.storeSparse}': a sparsity in [0,1]`);
      storeSparse = { minSparsity: v };
    }
  }
  const r = await pruneModel(input, f.output, {
    ...shared,
    method,
    passOptions,
    ...(storeSparse ? { storeSparse } : {}),
  });
  return finishCompress(r, f, human);
}
