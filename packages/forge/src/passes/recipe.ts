import { parse as parseYaml } from 'yaml';

/** One step of a recipe: a pass and its options. */
export interface RecipeStep {
  pass: string;
  options: Record<string, unknown>;
}

export class RecipeError extends Error {
  override name = 'RecipeError';
}

/**
 * Parses a recipe file (JSON or YAML):
 *
 * ```yaml
 * passes:
 *   - eliminate-noops
 *   - fold-constants: { maxBytes: 1048576 }
 *   - pass: fuse-bn-into-conv
 *     options: {}
 * ```
 *
 * A bare list of steps is accepted too. Steps are names, `{ <name>: options }`, or
 * `{ pass: <name>, options }`.
 */
export function parseRecipe(text: string, source = 'recipe'): RecipeStep[] {
  let doc: unknown;
  try {
    doc = text.trimStart().startsWith('{') || text.trimStart().startsWith('[') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new RecipeError(`${source}: does not parse: ${(e as Error).message.split('\n')[0]}`);
  }
  const list = Array.isArray(doc) ? doc : (doc as { passes?: unknown } | null)?.passes;
  if (!Array.isArray(list)) throw new RecipeError(`${source}: expected a list of passes (or { passes: [...] })`);
  return list.map((step, i) => parseStep(step, `${source}: step ${i + 1}`));
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function parseStep(step: unknown, where: string): RecipeStep {
  if (typeof step === 'string' && step.trim()) return { pass: step.trim(), options: {} };
  if (isRecord(step)) {
    if (typeof step.pass === 'string') {
      const extra = Object.keys(step).filter((k) => k !== 'pass' && k !== 'options');
      if (extra.length) throw new RecipeError(`${where}: unexpected key ${extra.map((k) => `'${k}'`).join(', ')}`);
      if (step.options !== undefined && !isRecord(step.options))
        throw new RecipeError(`${where}: options must be a mapping`);
      return { pass: step.pass, options: (step.options as Record<string, unknown> | undefined) ?? {} };
    }
    const keys = Object.keys(step);
    if (keys.length === 1) {
      const options = step[keys[0]] ?? {};
      if (!isRecord(options)) throw new RecipeError(`${where}: options of '${keys[0]}' must be a mapping`);
      return { pass: keys[0], options };
    }
  }
  throw new RecipeError(`${where}: expected a pass name, { name: options } or { pass, options }`);
}

/** `--passes a,b,c` as steps without options. */
export function parsePassList(list: string): RecipeStep[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!names.length) throw new RecipeError('--passes: no pass names given');
  return names.map((pass) => ({ pass, options: {} }));
}
