import { readFileSync } from 'node:fs';
import { optimizeModel, parsePassList, parseRecipe, type OptimizeResult, type RecipeStep } from '@edgeforge/forge';
import { CliError, UsageError } from '../errors.js';
import { parseInputShapes } from '../load.js';
import { bytes, count, json, table } from '../output.js';
import { int } from './measure.js';

export interface OptimizeFlags {
  output?: string;
  passes?: string;
  recipe?: string;
  verify?: boolean;
  inputShape?: string[];
  data?: string;
  calib?: string;
  calibLimit?: string;
  json?: boolean;
}

function steps(f: OptimizeFlags): RecipeStep[] | undefined {
  if (f.passes && f.recipe) throw new UsageError('--passes and --recipe exclude each other');
  if (f.passes) return parsePassList(f.passes);
  if (f.recipe) {
    let text: string;
    try {
      text = readFileSync(f.recipe, 'utf8');
    } catch (e) {
      throw new CliError(
        `${f.recipe}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      );
    }
    return parseRecipe(text, f.recipe);
  }
  return undefined;
}

export async function optimizeCommand(input: string, f: OptimizeFlags): Promise<string> {
  if (!f.output) throw new UsageError('optimize needs -o <out.onnx>');
  const inputShapes = parseInputShapes(f.inputShape);
  const s = steps(f);
  const r: OptimizeResult = await optimizeModel(input, f.output, {
    ...(s ? { steps: s } : {}),
    verify: !!f.verify,
    ...(inputShapes ? { inputShapes } : {}),
    ...(f.data ? { data: f.data } : {}),
    ...(f.calib ? { calib: f.calib } : {}),
    ...(f.calibLimit !== undefined ? { calibLimit: int('calib-limit', f.calibLimit)! } : {}),
  });
  if (f.json) return json(r);
  const rows: (string | number)[][] = [
    ['pass', 'nodes', 'parameters', 'changes', ...(r.verified ? ['max rel err'] : [])],
  ];
  for (const st of r.steps) {
    const changes = Object.entries(st.counts)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    rows.push([
      st.pass,
      `${st.nodesBefore} → ${st.nodesAfter}`,
      `${count(st.paramsBefore)} → ${count(st.paramsAfter)}`,
      changes || '-',
      ...(r.verified ? [st.verifiedMaxRelError === undefined ? '-' : st.verifiedMaxRelError.toExponential(1)] : []),
    ]);
  }
  const notes = r.steps.flatMap((st) => (st.notes ?? []).map((n) => `  ${st.pass}: ${n}`));
  return [
    `${input} → ${f.output} (${bytes(r.saved.bytes)}${r.saved.externalTensors ? ` + ${bytes(r.saved.externalBytes)} external` : ''})`,
    `nodes ${r.nodesBefore} → ${r.nodesAfter}, parameters ${count(r.paramsBefore)} → ${count(r.paramsAfter)}${r.verified ? ', outputs verified after every pass' : ''}`,
    '',
    table(rows),
    ...(notes.length
      ? ['', 'notes', ...notes.slice(0, 20), ...(notes.length > 20 ? [`  … ${notes.length - 20} more (--json)`] : [])]
      : []),
  ].join('\n');
}
