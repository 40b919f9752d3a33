import { checkModel, loadModel, type CheckIssue, type Dim, type Model } from '@edgeforge/onnx';
import { CliError, UsageError } from './errors.js';

/**
 * Loads a model for a command and runs the checker: a model onnxruntime would refuse is reported
 * as one line naming the file and the first problem, unless the user asked for `--no-check`.
 */
export function loadChecked(path: string, check = true): { model: Model; issues: CheckIssue[] } {
  const model = loadModel(path);
  if (!check) return { model, issues: [] };
  const issues = checkModel(model);
  const errors = issues.filter((i) => i.severity === 'error');
  if (errors.length > 0) {
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? 's' : ''})` : '';
    throw new CliError(`${path}: ${errors[0].message} [${errors[0].rule}]${more}; --no-check skips the checker`);
  }
  return { model, issues };
}

/** Parses repeated `--input-shape name=1,3,H,224` options (numbers, or names for symbolic dims). */
export function parseInputShapes(specs: string[] | undefined): Record<string, Dim[]> | undefined {
  if (!specs || specs.length === 0) return undefined;
  const out: Record<string, Dim[]> = {};
  for (const spec of specs) {
    const m = /^([^=]+)=(.*)$/.exec(spec);
    if (!m) throw new UsageError(`--input-shape '${spec}': expected name=d1,d2,… (e.g. x=1,3,224,224)`);
    const dims = m[2] === '' ? [] : m[2].split(',').map((d) => d.trim());
    out[m[1]] = dims.map((d) => {
      if (/^\d+$/.test(d)) return Number(d);
      if (/^[A-Za-z_][\w.]*$/.test(d)) return d;
      throw new UsageError(`--input-shape '${spec}': '${d}' is neither a size nor a dimension name`);
    });
  }
  return out;
}
